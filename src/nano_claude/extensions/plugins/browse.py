"""Finding and checking plugins, for `nano_claude plugin` and /plugin (command.py runs them):
`validate` reads a plugin folder (or a marketplace) as a session would, `recommend` ranks the
curated catalog and says what the project recommends, `marketplace` adds, lists, updates and
removes marketplaces."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude.core.errors import UsageError
from nano_claude.extensions.plugins.command import (
    EXIT_FAILED,
    EXIT_OK,
    Io,
    Parser,
    World,
    content_lines,
    how,
    plural,
)

if TYPE_CHECKING:
    from nano_claude.extensions.plugins.manifest import Plugin


def validate(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Check a plugin folder (or a marketplace) the way loading it would.")
    p.add_argument("path")
    args = p.parse(argv)
    folder = (world.cwd / Path(args.path).expanduser()).resolve()
    if (folder / ".claude-plugin" / "marketplace.json").is_file() and not (folder / ".claude-plugin" /
                                                                          "plugin.json").is_file():
        return _validate_marketplace(folder, world, io)
    errors, warnings, plugin = check(folder, world)
    if plugin is not None:
        io.line(f"{plugin.name} {plugin.version}".strip() + f" ({folder})", "bold")
        for line in content_lines(plugin):
            io.line(line)
    for line in warnings:
        io.line(f"warning: {line}", "yellow")
    for line in errors:
        io.line(f"error: {line}", "red")
    if errors:
        io.line(f"✘ {plural(len(errors), 'error')}: the parts named above would not load.", "red")
        return EXIT_FAILED
    io.line("✔ valid" + (f" ({plural(len(warnings), 'warning')})" if warnings else ""), "green")
    return EXIT_OK


def check(folder: Path, world: World) -> tuple[list[str], list[str], Plugin | None]:
    """(errors, warnings, the plugin): every part parsed as a session would parse it."""
    from nano_claude.extensions.agents.types import plugin_agents
    from nano_claude.extensions.hooks.config import plugin_hooks
    from nano_claude.extensions.mcp.config import Found, plugin_servers
    from nano_claude.extensions.plugins import Active
    from nano_claude.extensions.plugins.manifest import PluginError, read_plugin
    from nano_claude.extensions.skills.loader import plugin_skills

    try:
        plugin = read_plugin(folder)
    except PluginError as exc:
        return [str(exc)], [], None
    active = Active(plugin, "user", world.store.data_dir(plugin.name), code=True)
    errors: list[str] = []
    plugin_skills(active, errors)
    plugin_agents(active, errors)
    plugin_hooks(active, errors)
    found = Found()
    plugin_servers(active, dict(world.environ), found)
    errors += found.errors
    warnings = list(plugin.problems) + found.warnings
    for module in plugin.tools:
        base = plugin.root / Path(*module.split("."))
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            path = module.replace(".", "/")
            errors.append(f"{plugin.manifest}: \"tools\" names {module!r}, but there is no {path}.py or "
                          f"{path}/__init__.py in the plugin")
    if not any(plugin.contents().values()):
        errors.append(f"{folder}: holds no skills, commands, agents, hooks, MCP servers or Python tools; "
                      "nothing would load (is it the plugin's own folder?)")
    if plugin.manifest is None:
        warnings.append(f"{folder}: no manifest (.claude-plugin/plugin.json, plugin.json or PLUGIN.md); "
                        f"the folder's name {plugin.name!r} is its name")
    return errors, warnings, plugin


def _validate_marketplace(folder: Path, world: World, io: Io) -> int:
    from nano_claude.extensions.plugins.marketplace import read_marketplace

    market = read_marketplace(folder)
    io.line(f"marketplace {market.name} ({folder}): {len(market.entries)} plugins", "bold")
    for entry in market.entries:
        io.line(f"  {'✘' if entry.problem else '✔'} {entry.name}: {entry.problem or entry.source.shown}",
                "red" if entry.problem else None)
    for line in market.errors:
        io.line(f"error: {line}", "red")
    bad = market.errors or any(e.problem for e in market.entries)
    return EXIT_FAILED if bad else EXIT_OK


# --- recommend, marketplaces ------------------------------------------------------------------

def recommend(argv: list[str], world: World, io: Io, prog: str) -> int:
    p = Parser(prog, io, "Plugins from a curated catalog that suit this project (or the keywords).")
    p.add_argument("keywords", nargs="*")
    args = p.parse(argv)
    from nano_claude.extensions.plugins.recommend import lines, load_catalog, recommend

    installed = {i.name for i in world.store.installed()}
    found = recommend(world.cwd, " ".join(args.keywords), installed)
    _say_declared(world, io, installed)
    if not found:
        tags = sorted({t for entry in load_catalog() for t in entry.tags})
        io.line("Nothing in the catalog matches" + (f" {' '.join(args.keywords)!r}" if args.keywords else
                                                    " this project's files") + ".", "dim")
        io.line(f"Try a keyword: {', '.join(tags[:24])}", "dim")
        return EXIT_OK
    for line in lines(found):
        io.line(line)
    return EXIT_OK


def _say_declared(world: World, io: Io, installed: set[str]) -> None:
    """What the project's settings recommend (installing asks the user, as any install does)."""
    from nano_claude.extensions.plugins.declared import declared

    wanted = declared(world.cwd, world.settings, installed, world.markets)
    if not wanted.marketplaces and not wanted.plugins:
        return
    io.line("This project recommends:", "bold")
    for name, source in wanted.marketplaces.items():
        io.line(f"  marketplace {name}: {how(io, 'marketplace add', source.shown)}")
    for name, market in wanted.plugins:
        io.line(f"  {name}@{market}: {how(io, 'install', f'{name}@{market}')}")
    io.line(f"  all of them, each asked about: {how(io, 'install', '--recommended')}", "dim")
    for line in wanted.problems:
        io.line(f"  warning: {line}", "yellow")


def marketplace(argv: list[str], world: World, io: Io, prog: str) -> int:
    action, rest = (argv[0], argv[1:]) if argv else ("list", [])
    markets = world.markets
    if action == "add":
        p = Parser(f"{prog} add", io, "Add a marketplace: owner/repo, a git URL, a folder or the URL of "
                    "a marketplace.json.")
        p.add_argument("source")
        market = markets.add(p.parse(rest).source, world.cwd)
        io.line(f"Added marketplace {market.name} ({plural(len(market.entries), 'plugin')}) from "
                f"{market.source.shown}.", "green")
        io.line(f"Install from it: {how(io, 'install', f'NAME@{market.name}')}", "dim")
    elif action in ("list", "ls"):
        Parser(f"{prog} list", io, "Known marketplaces and their plugins.").parse(rest)
        listed = markets.list()
        if not listed:
            io.line("No marketplaces. Add one: " + how(io, "marketplace add", "owner/repo"), "dim")
        for market in listed:
            io.line(f"{market.name} · {market.source.shown} · {len(market.entries)} plugins", "bold")
            for entry in market.entries:
                text = f"  {entry.name}" + (f" {entry.version}" if entry.version else "")
                if entry.problem or entry.description:
                    text += f": {entry.problem}" if entry.problem else f" · {entry.description}"
                io.line(text, "red" if entry.problem else None)
            for line in market.errors:
                io.line(f"  error: {line}", "red")
    elif action == "update":
        p = Parser(f"{prog} update", io, "Fetch marketplaces again (all without NAME).")
        p.add_argument("name", nargs="?")
        failed = False
        for name, change in markets.update(p.parse(rest).name):
            failed = failed or change.startswith("error")
            io.line(f"  {'✘' if change.startswith('error') else '✔'} {name}: {change}",
                    "red" if change.startswith("error") else "green")
        return EXIT_FAILED if failed else EXIT_OK
    elif action in ("remove", "rm"):
        p = Parser(f"{prog} remove", io, "Forget a marketplace (installed plugins stay).")
        p.add_argument("name")
        name = p.parse(rest).name
        markets.remove(name)
        io.line(f"Removed marketplace {name}.", "green")
    else:
        raise UsageError(f"unknown marketplace action {action!r}; use add, list, update or remove")
    return EXIT_OK


