"""`nano_claude plugin ...` and /plugin: one set of actions, from the shell and in the REPL.

The actions print through `Io.say` and ask through `Io.confirm`, so the shell (input() on a
terminal; --yes otherwise) and the REPL (its prompter) share every line and every check.
Installing shows what the plugin brings and asks before its hooks, MCP servers or Python
code may run; refused, the plugin is installed with only its skills, commands and agents.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.core.errors import ConfigError, NanoClaudeError, UsageError
from nano_claude.extensions.plugins.manifest import CODE_KINDS
from nano_claude.extensions.plugins.store import Installed, InstallError, Scope, Store

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.extensions.plugins.manifest import Plugin
    from nano_claude.extensions.plugins.marketplace import Marketplaces
    from nano_claude.extensions.plugins.sources import Source
    from nano_claude.paths import Paths

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
HELP = """\
  install NAME@SOURCE | SOURCE | NAME[@MARKETPLACE] [--scope user|project] [--yes]
                                  SOURCE: a folder, a git URL (#ref), or owner/repo
  list                            installed plugins, their scope, state and contents
  info NAME                       one plugin's manifest, source and everything it brings
  enable NAME [--yes] | disable NAME | disable-all
  update [NAME]                   fetch again (all plugins without NAME); a failure keeps the old one
  uninstall NAME [--keep-data]
  validate PATH                   check a plugin folder (or a marketplace) without installing it
  recommend [KEYWORDS...]         plugins from a curated catalog that suit this project
  marketplace add SOURCE | list | update [NAME] | remove NAME
                                  SOURCE: owner/repo, a git URL, a folder or a marketplace.json URL

Scopes: user (default) installs into ~/.nano_claude/plugins/, project into .nano_claude/plugins/
(for everyone working on the project; each of them allows its code once). Which plugins are on
lives in the settings, enabled_plugins.
"""
_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)@(?P<rest>.+)$")


@dataclass
class Io:
    say: Callable[[str, str | None], None]
    confirm: Callable[[str, list[str]], bool]  # (question, lines shown before it) -> yes?
    repl: bool = False

    def line(self, text: str = "", style: str | None = None) -> None:
        self.say(text, style)


class World:
    """Settings, paths, installed plugins and marketplaces, as a session here would see them."""

    def __init__(self, environ: Mapping[str, str], cwd: Path) -> None:
        from nano_claude.config import load_settings
        from nano_claude.paths import Paths

        self.environ, self.cwd = environ, cwd
        self.paths: Paths = Paths.from_env(environ, cwd)
        self.settings: Settings = load_settings(self.paths, environ)
        self.store = Store(self.paths, cwd, self.settings.enabled_plugins)
        self._markets: Marketplaces | None = None

    @property
    def markets(self) -> Marketplaces:
        if self._markets is None:
            from nano_claude.extensions.plugins.marketplace import Marketplaces

            self._markets = Marketplaces(self.paths)
        return self._markets

    def reload(self) -> None:
        from nano_claude.config import load_settings

        self.settings = load_settings(self.paths, self.environ)
        self.store.enabled_setting = dict(self.settings.enabled_plugins)


def main(argv: list[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    io = Io(lambda text, style=None: print(text, flush=True), _ask_on_terminal)
    try:
        world = World(environ, cwd)
    except ConfigError as exc:
        print(f"nano_claude plugin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run(argv, world, io, prog="nano_claude plugin")
    except BrokenPipeError:  # `plugin list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def run(argv: list[str], world: World, io: Io, *, prog: str) -> int:
    action, rest = (argv[0], argv[1:]) if argv else ("list", [])
    if action in ("-h", "--help", "help"):
        io.line(f"usage: {prog} ACTION ...\n\n{HELP}")
        return EXIT_OK
    from nano_claude.extensions.plugins.browse import marketplace, recommend, validate

    actions: dict[str, Callable[[list[str], World, Io, str], int]] = {
        "install": _install, "list": _list, "info": _info, "enable": _enable, "disable": _disable,
        "disable-all": _disable_all, "update": _update, "uninstall": _uninstall, "remove": _uninstall,
        "validate": validate, "recommend": recommend, "marketplace": marketplace, "market": marketplace}
    if action not in actions:
        near = difflib.get_close_matches(action, actions, n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        io.line(f"{prog}: unknown action {action!r}.{hint} Actions: install, list, info, enable, disable, "
                "disable-all, update, uninstall, validate, recommend, marketplace", "red")
        return EXIT_USAGE
    try:
        return actions[action](rest, world, io, f"{prog} {action}")
    except _Exit as done:
        return done.code
    except UsageError as exc:
        io.line(f"{prog} {action}: {exc}", "red")
        return EXIT_USAGE
    except NanoClaudeError as exc:
        io.line(f"{prog} {action}: {exc}", "red")
        return EXIT_FAILED


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse that speaks through Io and never calls sys.exit (the REPL must stay up)."""

    def __init__(self, prog: str, io: Io, description: str) -> None:
        super().__init__(prog=prog, description=description, add_help=False)
        self.io = io
        self.add_argument("-h", "--help", action="store_true", help="show this help")

    def parse(self, argv: list[str]) -> argparse.Namespace:
        args = self.parse_args(argv)
        if args.help:
            self.io.line(self.format_help())
            raise _Exit(EXIT_OK)
        return args

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (usage: {self.format_usage().strip().removeprefix('usage: ')})")


# --- install ------------------------------------------------------------------------------------

def _install(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Install a plugin from a folder, a git repository or a marketplace.")
    p.add_argument("spec", metavar="NAME@SOURCE|SOURCE|NAME@MARKETPLACE", nargs="?")
    p.add_argument("-s", "--scope", choices=("user", "project"), default="user")
    p.add_argument("-y", "--yes", "--accept-all", action="store_true", dest="yes",
                   help="allow the plugin's hooks, MCP servers and Python code without asking")
    p.add_argument("--recommended", action="store_true",
                   help="the marketplaces and plugins this project's settings recommend, each asked about")
    args = p.parse(argv)
    if args.recommended:
        return _install_recommended(world, io, args.scope, args.yes)
    if not args.spec:
        raise UsageError("name the plugin: install NAME@SOURCE, SOURCE or NAME@MARKETPLACE "
                         "(or --recommended)")
    return _install_one(args.spec, world, io, args.scope, args.yes)


def _install_one(spec: str, world: World, io: Io, scope: Scope, yes: bool) -> int:
    name, source, marketplace, manifest = resolve(spec, world)
    io.line(f"Installing {name or spec} from {source.shown}…", "dim")
    item, allowed = world.store.install(source, scope, name=name, marketplace=marketplace,
                                        confirm=_confirmer(io, yes), manifest=manifest)
    assert item.plugin is not None
    io.line(f"Installed {_title(item)} ({item.scope} scope) into {short(item.folder, world)}.", "green")
    for line in content_lines(item.plugin):
        io.line(line)
    for problem in item.plugin.problems:
        io.line(f"warning: {problem}", "yellow")
    if item.plugin.runs_code and not allowed:
        _still_off(item, io)
    _say_effective(world, item, io)
    return EXIT_OK


def _install_recommended(world: World, io: Io, scope: Scope, yes: bool) -> int:
    """What the project's settings recommend: each marketplace and plugin is asked about first
    (--yes: all of them); nothing is added because a repository said so."""
    from nano_claude.extensions.plugins.declared import declared

    wanted = declared(world.cwd, world.settings, {i.name for i in world.store.installed()}, world.markets)
    for line in wanted.problems:
        io.line(f"warning: {line}", "yellow")
    if not wanted.marketplaces and not wanted.plugins:
        io.line("This project recommends nothing that is not installed already.", "dim")
        return EXIT_OK
    failed = 0
    for name, source in wanted.marketplaces.items():
        if yes or io.confirm(f"Add the marketplace {name} from {source.shown}?", []):
            try:
                market = world.markets.add_source(source, name=name)
                count = plural(len(market.entries), "plugin")
                io.line(f"Added marketplace {market.name} ({count}).", "green")
            except NanoClaudeError as exc:
                failed += 1
                io.line(f"✘ marketplace {name}: {exc}", "red")
    for plugin, market in wanted.plugins:
        if not (yes or io.confirm(f"Install {plugin}@{market}, which this project recommends?", [])):
            continue
        try:
            _install_one(f"{plugin}@{market}", world, io, scope, yes)
        except NanoClaudeError as exc:
            failed += 1
            io.line(f"✘ {plugin}@{market}: {exc}", "red")
    return EXIT_FAILED if failed else EXIT_OK


def resolve(spec: str, world: World) -> tuple[str | None, Source, str, dict[str, Any] | None]:
    """(name wanted, where from, marketplace, manifest from a strict:false entry) for what the
    user typed: NAME@SOURCE, SOURCE, NAME@MARKETPLACE or a bare NAME found in a marketplace."""
    from nano_claude.extensions.plugins.sources import SourceError, looks_like_source, parse

    spec = spec.strip()
    match = _SPEC.match(spec)
    try:
        if match:
            name, rest = match["name"], match["rest"]
            if rest in list(world.markets.records()):
                entry = world.markets.find(name, rest)
                return name, entry.source, entry.marketplace, entry.manifest
            if looks_like_source(rest) or "/" in rest:
                try:
                    return name, parse(rest, world.cwd), "", None
                except SourceError:
                    if not looks_like_source(spec):
                        raise
            elif not looks_like_source(spec):
                known = ", ".join(world.markets.records()) or "none yet (plugin marketplace add …)"
                raise UsageError(f"{rest!r} is neither a marketplace nor a source; marketplaces: {known}; "
                                 "a source is a folder, a git URL or owner/repo")
        if looks_like_source(spec) or "/" in spec:  # ./fmt, /abs, ~/p, a URL, owner/repo
            return None, parse(spec, world.cwd), "", None
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    try:  # a bare name is a plugin in the marketplaces, even where a folder has that name
        entry = world.markets.find(spec)
    except NanoClaudeError as exc:
        if (world.cwd / spec).is_dir():
            raise UsageError(f"{exc} (to install the folder {spec!r} here, write ./{spec})") from None
        raise
    return entry.name, entry.source, entry.marketplace, entry.manifest


def _confirmer(io: Io, yes: bool) -> Callable[[Plugin], bool]:
    def confirm(plugin: Plugin) -> bool:
        if yes:
            return True
        shown = [f"{plugin.name} {plugin.version}".strip() + " brings code that runs on this machine:"]
        for kind, names in plugin.contents().items():
            if kind in CODE_KINDS and names:
                shown += [f"  {kind}:"] + [f"    {n}" for n in _code_details(plugin, kind, names)]
        shown.append("Only allow plugins you trust: they run with your permissions.")
        return io.confirm(f"Allow {plugin.name}'s {plugin.code_parts}?", shown)
    return confirm


def _code_details(plugin: Plugin, kind: str, names: list[str]) -> list[str]:
    if kind != "MCP servers":
        return names
    out = []
    for name, (_, entry) in sorted(plugin.mcp_servers.items()):
        if isinstance(entry, dict):
            words = [entry.get("command", ""), *entry.get("args", [])]
            target = entry.get("url") or " ".join(str(w) for w in words)
            out.append(f"{name}: {target}")
        else:
            out.append(name)
    return out


def _still_off(item: Installed, io: Io) -> None:
    assert item.plugin is not None
    io.line(f"Its {item.plugin.code_parts} stay off until you allow them: "
            f"{how(io, 'enable', item.name)}.", "yellow")


def _ask_on_terminal(question: str, shown: list[str]) -> bool:
    for line in shown:
        print(line)
    if not sys.stdin.isatty():
        print(f"{question} No: nobody is at a terminal to answer (pass --yes to allow it).", flush=True)
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


# --- list, info -----------------------------------------------------------------------------

def _list(argv: list[str], world: World, io: Io, prog: str) -> int:
    Parser(prog, io, "Installed plugins, their scope, state and contents.").parse(argv)
    items = world.store.installed()
    claude = _claude_code_lines(world, items)
    if not items:
        io.line("No plugins installed. Install one: " + how(io, "install", "NAME@SOURCE") +
                ", or see what suits this project: " + how(io, "recommend", ""), "dim")
        for line, style in claude:
            io.line(line, style)
        return EXIT_OK
    io.line(f"Installed plugins ({len(items)}):", "bold")
    for item in items:
        symbol, style, state = _state(world, item)
        head = f"  {symbol} {_title(item)} ({item.scope}) · {state}"
        io.line(head, style)
        if item.plugin is not None:
            counts = _counts(item.plugin)
            if counts:
                io.line(f"      {counts}", "dim")
    for line, style in claude:
        io.line(line, style)
    return EXIT_OK


def _claude_code_lines(world: World, items: list[Installed]) -> list[tuple[str, str | None]]:
    """Claude Code's own installs that this project sees (used here too; managed there)."""
    from nano_claude.config import user_home
    from nano_claude.extensions.plugins.claude_code import installed

    if not world.settings.read_claude_config:
        return []
    errors: list[str] = []
    found = installed(user_home(world.environ), world.cwd, errors)
    if not found and not errors:
        return []
    ours = {i.name for i in items if i.enabled and not i.shadowed_by}
    lines: list[tuple[str, str | None]] = [
        (f"Installed with Claude Code ({len(found)}; managed with claude plugin …):", "bold")]
    for plugin in found:
        state = ("hidden by the plugin installed here" if plugin.name in ours else
                 "enabled" if plugin.enabled else "disabled in Claude Code's enabledPlugins")
        lines.append((f"  {'✔' if plugin.enabled and plugin.name not in ours else '·'} {plugin.key} "
                      f"{plugin.version} ({plugin.scope}) · {state}", None))
    lines += [(f"  warning: {error}", "yellow") for error in errors]
    return lines


def _state(world: World, item: Installed) -> tuple[str, str | None, str]:
    if item.error:
        return "✘", "red", f"cannot be read: {item.error}"
    if item.shadowed_by:
        return "·", "dim", f"hidden by the {item.shadowed_by} scope's {item.name}"
    if not item.enabled:
        return "⊘", "dim", "disabled"
    assert item.plugin is not None
    if item.plugin.runs_code and not world.store.trusted(item):
        return "⏸", "yellow", f"on, but its {item.plugin.code_parts} are not allowed yet (enable it)"
    return "✔", "green", "enabled"


def _info(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "One plugin: its manifest, source, state and everything it brings.")
    p.add_argument("name")
    args = p.parse(argv)
    item = world.store.find(args.name)
    _, style, state = _state(world, item)
    io.line(_title(item), "bold")
    rows = [("State", state), ("Scope", item.scope), ("Folder", short(item.folder, world))]
    source = item.source
    rows.append(("Source", source.shown if source else "not recorded (copied in by hand)"))
    if item.record.get("marketplace"):
        rows.append(("Marketplace", item.record["marketplace"]))
    if item.record.get("commit"):
        rows.append(("Commit", str(item.record["commit"])[:12]))
    if item.record.get("updated_at"):
        rows.append(("Updated", str(item.record["updated_at"])))
    plugin = item.plugin
    if plugin is not None:
        rows += [(label, value) for label, value in (
            ("Description", plugin.description), ("Author", plugin.author), ("Homepage", plugin.homepage),
            ("Repository", plugin.repository), ("License", plugin.license),
            ("Keywords", ", ".join(plugin.keywords)), ("Format", "Claude Code" if plugin.format == "claude"
                                                       else "nano_claude"),
            ("Data", short(world.store.data_dir(item.name, item.scope), world))) if value]
    for label, value in rows:
        io.line(f"  {label + ':':<13}{value}", style if label == "State" else None)
    if plugin is not None:
        for line in content_lines(plugin):
            io.line(line)
        for problem in plugin.problems:
            io.line(f"  warning: {problem}", "yellow")
    return EXIT_OK


def content_lines(plugin: Plugin) -> list[str]:
    """`  skills: /fmt:check, /fmt:fix` and so on, for what the plugin brings."""
    lines = []
    for kind, names in plugin.contents().items():
        if not names:
            continue
        if kind in ("skills", "commands"):
            names = [f"/{plugin.name}:{n}" for n in names]
        elif kind == "agents":
            names = [f"{plugin.name}:{n}" for n in names]
        elif kind == "MCP servers":
            names = [f"{n} (tools mcp__plugin_{_safe(plugin.name)}_{_safe(n)}__*)" for n in names]
        lines.append(f"  {kind}: {', '.join(names)}")
    return lines or ["  (it brings nothing nano_claude can use)"]


# --- enable, disable ------------------------------------------------------------------------

def _enable(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Turn a plugin on; its hooks, MCP servers and Python code are asked about first.")
    p.add_argument("name")
    p.add_argument("-y", "--yes", "--accept-all", action="store_true", dest="yes")
    args = p.parse(argv)
    item = world.store.find(args.name)
    if item.plugin is None:
        raise InstallError(f"{item.name} cannot be read: {item.error}")
    allowed = True
    if item.plugin.runs_code and not world.store.trusted(item):
        allowed = _confirmer(io, args.yes)(item.plugin)
        if allowed:
            world.store.allow(item)
    _set_enabled(world, item, True)
    io.line(f"Enabled {item.name}.", "green")
    if not allowed:
        _still_off(item, io)
    _say_effective(world, item, io)
    return EXIT_OK


def _disable(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Turn a plugin off without uninstalling it.")
    p.add_argument("name")
    args = p.parse(argv)
    item = world.store.find(args.name)
    _set_enabled(world, item, False)
    io.line(f"Disabled {item.name}.", "green")
    _say_effective(world, item, io, wanted=False)
    return EXIT_OK


def _disable_all(argv: list[str], world: World, io: Io, prog: str) -> int:
    Parser(prog, io, "Turn every installed plugin off.").parse(argv)
    items = [i for i in world.store.installed() if i.enabled]
    for item in items:
        _set_enabled(world, item, False)
    io.line(f"Disabled {len(items)} plugin{'s' * (len(items) != 1)}." if items else "No plugin was enabled.",
            "green")
    return EXIT_OK


def _set_enabled(world: World, item: Installed, on: bool | None) -> None:
    """A user plugin's state goes into ~/.nano_claude/config.json; a project plugin's into the
    project's settings.local.json (this machine's, not the repository's). None takes the
    plugin's entry out (uninstall); a broken file raises and is never overwritten."""
    from nano_claude.config import atomic_write, read_json, save_user_setting

    path = world.paths.user_config if item.scope == "user" else world.paths.project_local
    data = read_json(path)
    current = data.get("enabled_plugins")
    states = {k: v for k, v in (current.items() if isinstance(current, dict) else ()) if k != item.name}
    if on is not None:
        states[item.name] = on
    elif not isinstance(current, dict) or item.name not in current:
        return  # nothing to take out
    if item.scope == "user":
        save_user_setting(world.paths, "enabled_plugins", states or None)
    else:
        data["enabled_plugins"] = states
        atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)
    world.reload()


def _say_effective(world: World, item: Installed, io: Io, wanted: bool = True) -> None:
    """Settings of a higher level can keep a plugin in the other state: say which file does."""
    from nano_claude.config import read_json

    if world.settings.enabled_plugins.get(item.name, True) != wanted:
        for path in reversed(world.paths.files):
            try:
                states = read_json(path).get("enabled_plugins")
            except ConfigError:
                continue
            if isinstance(states, dict) and item.name in states:
                state = "on" if states[item.name] else "off"
                io.line(f"Note: {short(path, world)} turns {item.name} {state} and wins over this; "
                        "edit enabled_plugins there.", "yellow")
                break
    if io.repl:
        io.line("It takes effect in the next session (restart nano_claude).", "dim")


# --- update, uninstall ----------------------------------------------------------------------

def _update(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Fetch plugins again from where they came from; a failed update keeps the old one.")
    p.add_argument("name", nargs="?")
    p.add_argument("-y", "--yes", "--accept-all", action="store_true", dest="yes")
    args = p.parse(argv)
    items = [world.store.find(args.name)] if args.name else [
        i for i in world.store.installed() if i.source is not None]
    if not items:
        io.line("No plugin to update (plugins copied in by hand have no source to update from).", "dim")
        return EXIT_OK
    failed = 0
    refreshed: set[str] = set()
    for item in items:
        source, manifest = None, None
        market = str(item.record.get("marketplace") or "")
        try:
            if market and market in world.markets.records():  # it may point somewhere new: follow it
                if market not in refreshed:
                    refreshed.add(market)
                    for _, change in world.markets.update(market):
                        if change.startswith("error"):
                            io.line(f"  marketplace {market}: {change}", "yellow")
                entry = world.markets.find(item.name, market)
                source, manifest = entry.source, entry.manifest
            elif market and market not in refreshed:
                refreshed.add(market)
                io.line(f"  marketplace {market} is no longer added: its plugins update from where they were "
                        "installed from", "dim")
            _, change = world.store.update(item, confirm=_confirmer(io, args.yes), source=source,
                                               manifest=manifest)
        except NanoClaudeError as exc:
            failed += 1
            io.line(f"  ✘ {item.name}: {exc} (the installed version was kept)", "red")
            continue
        io.line(f"  ✔ {item.name}: {'updated ' + change if change else 'already up to date'}", "green")
    return EXIT_FAILED if failed else EXIT_OK


def _uninstall(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Remove a plugin (and its data folder, unless --keep-data).")
    p.add_argument("name")
    p.add_argument("-s", "--scope", choices=("user", "project"))
    p.add_argument("--keep-data", action="store_true")
    args = p.parse(argv)
    item = world.store.find(args.name, args.scope)
    world.store.uninstall(item, keep_data=args.keep_data)
    try:
        _set_enabled(world, item, None)
    except ConfigError:
        pass  # a settings file that cannot be read keeps its stale entry; the plugin is gone
    io.line(f"Uninstalled {item.name} ({item.scope} scope).", "green")
    if io.repl:
        io.line("Its skills, agents, hooks and tools stay in this session until you restart.", "dim")
    return EXIT_OK


# --- lines --------------------------------------------------------------------------------------

def _title(item: Installed) -> str:
    return f"{item.name} {item.version}".strip()


def _counts(plugin: Plugin) -> str:
    words = {"skills": "skill", "commands": "command", "agents": "agent", "hooks": "hook",
             "MCP servers": "MCP server", "Python tools": "Python tool module", "dependencies": "dependency"}
    parts = [f"{len(names)} {words[kind]}{'s' * (len(names) != 1)}".replace("dependencys", "dependencies")
             for kind, names in plugin.contents().items() if names and kind in words]
    return ", ".join(parts)


def how(io: Io, action: str, args: str) -> str:
    return (f"/plugin {action} {args}" if io.repl else f"nano_claude plugin {action} {args}").strip()


def short(path: Path, world: World) -> str:
    from nano_claude.config import user_home
    from nano_claude.sessions.command import short_path

    return short_path(str(path), user_home(world.environ))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)

