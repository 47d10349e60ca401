"""`nano_claude mcp list | get NAME | add | add-json | remove | login`, and the lines /mcp shows
too: the same servers, sources and statuses from the shell and in the REPL.

`list` and `get` connect to the servers they may start (never a project's server the user has
not approved: it shows as pending approval), wait for each to answer or fail, and stop them.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude.core.errors import NanoClaudeError, UsageError
from nano_claude.extensions.mcp import edit
from nano_claude.extensions.mcp.config import Found, ServerConfig

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.extensions.mcp.manager import ServerView
    from nano_claude.paths import Paths

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SYMBOLS = {"connected": "✔", "failed": "✘", "needs-auth": "!", "pending-approval": "⏸", "denied": "⊘",
           "starting": "…", "stopped": "·"}
STYLES = {"connected": "green", "failed": "red", "needs-auth": "yellow", "pending-approval": "yellow",
          "denied": "dim", "starting": "cyan", "stopped": "dim"}
HELP = f"""\
  nano_claude mcp list                      every server, where it is configured, and its health
  nano_claude mcp get NAME                  one server's whole entry, status and tools
  nano_claude mcp {edit.ADD_USAGE}
      e.g. nano_claude mcp add git -- uvx mcp-server-git --repository .
           nano_claude mcp add --transport http notion https://mcp.notion.com/mcp -H "X-Key: ${{KEY}}"
  nano_claude mcp add-json NAME '{{"command": "...", "args": [...]}}' [--scope user|project]
  nano_claude mcp remove NAME [--scope user|project]
  nano_claude mcp login NAME [--no-browser]  sign in to an http/sse server that needs it

Scopes: user (default) writes ~/.nano_claude/mcp.json (mode 0600); project writes ./.mcp.json,
which the project's other users are asked to approve. Servers configured for Claude Code in
~/.claude.json are used too, never written.
"""
_RETRY = re.compile(r"; reconnecting in [0-9.]+ s$")
_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")


# --- what the user sees, from the shell and in /mcp ------------------------------------------

def short(text: str | Path, home: Path) -> str:
    """A path (or a source naming one) with the home folder written as ~, as session lists do."""
    from nano_claude.sessions.command import short_path

    return short_path(str(text), home)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def status_text(view: ServerView, *, repl: bool) -> str:
    """`✔ connected · 2 tools`, `✘ failed: why`, `⏸ pending approval: how to approve`."""
    name = view.config.name
    status = view.status
    if status == "connected":
        left = f" ({len(view.left_out)} left out)" if view.left_out else ""
        error = f" · {view.error}" if view.error else ""  # a refresh that failed, say
        return f"✔ connected · {plural(len(view.tools), 'tool')}{left}{error}"
    if status == "failed":
        error = view.error if repl else _RETRY.sub("", view.error)  # the shell's check is over
        return f"✘ failed: {error or 'no reason given'}"
    if status == "needs-auth":
        how = f"/mcp login {name}" if repl else f"nano_claude mcp login {name}"
        return f"! needs authentication: {how}"
    if status == "pending-approval":
        how = (f"/mcp approve {name}" if repl
               else f"start nano_claude here and approve it (or /mcp approve {name} there)")
        return f"⏸ pending approval: this project's server runs only once you approve it; {how}"
    if status == "denied":
        where = "" if repl else " in nano_claude"
        return f"⊘ denied: you declined this project server; /mcp approve {name}{where} starts it"
    return f"{SYMBOLS.get(status, '·')} {status}" + (f": {view.error}" if view.error else "")


def server_lines(view: ServerView, home: Path, *, repl: bool) -> list[tuple[str, str | None]]:
    """A server's lines. The shell keeps Claude Code's `name: target (transport) - status`; the
    REPL puts the status next to the name, so a long command cannot wrap it out of sight."""
    config = view.config
    where = f"from {short(config.source, home)} ({config.scope})"
    if view.log is not None:
        where += f" · log {short(view.log, home)}"
    status = status_text(view, repl=repl)
    if repl:
        return [(f"{config.name}: {status}", STYLES.get(view.status)),
                (f"    {config.target} ({config.transport})", None),
                (f"    {where}", "dim")]
    return [(f"{config.name}: {config.target} ({config.transport}) - {status}", STYLES.get(view.status)),
            (f"    {where}", "dim")]


def detail_lines(view: ServerView, home: Path, *, repl: bool) -> list[str]:
    """Everything about one server, secrets masked: `get NAME`, `/mcp NAME`."""
    config = view.config
    raw = config.raw
    lines = [f"{config.name}:",
             f"  source:     {short(config.source, home)} ({config.scope} scope)",
             f"  transport:  {config.transport}"]
    if config.transport == "stdio":  # as written: a ${VAR} is shown by name, never its value
        lines.append(f"  command:    {raw.get('command', config.command)}")
        if config.args:
            lines.append(f"  args:       {' '.join(map(str, raw.get('args', config.args)))}")
        if config.env:
            lines.append(f"  env:        {_masked(config.env, raw.get('env'), '=')}")
        if config.cwd:
            lines.append(f"  cwd:        {config.cwd}")
    else:
        lines.append(f"  url:        {raw.get('url', config.url)}")
        if config.headers:
            lines.append(f"  headers:    {_masked(config.headers, raw.get('headers'), ': ')}")
    if config.timeout_ms:
        lines.append(f"  timeout:    {config.timeout_ms} ms a tool call")
    lines.append(f"  status:     {status_text(view, repl=repl)}")
    if view.log is not None:
        lines.append(f"  log:        {short(view.log, home)}")
    if view.status == "connected":
        lines.append(f"  tools ({len(view.tools)}):" + ("" if view.tools else " none"))
        lines.extend(f"    {tool}" for tool in view.tools)
        if view.left_out:
            lines.append(f"  left out ({len(view.left_out)}):")
            lines.extend(f"    {tool}: {why}" for tool, why in view.left_out.items())
        lines.append(f"  prompts:    {view.prompts} · resources: {view.resources}")
    if config.plugin:
        how = f"/plugin disable {config.plugin}" if repl else f"nano_claude plugin disable {config.plugin}"
        lines.append(f"  plugin:     {config.plugin} (turn it off with {how})")
    elif config.scope in ("user", "project") and config.source.endswith(("mcp.json", ".mcp.json")):
        scope = "user" if config.scope == "user" else "project"
        remove = f"/mcp remove {config.name}" if repl else f"nano_claude mcp remove {config.name}"
        lines.append(f"  remove it:  {remove} --scope {scope}")
    return lines


def _masked(pairs: tuple[tuple[str, str], ...], raw: object, sep: str) -> str:
    """Keys shown, values hidden, unless the file only names a variable (`${TOKEN}`)."""
    written = raw if isinstance(raw, dict) else {}
    shown = []
    for key, _ in pairs:
        value = written.get(key)
        shown.append(f"{key}{sep}{value if isinstance(value, str) and _REF.match(value) else '****'}")
    return ", ".join(shown)


def found_notes(found: Found) -> list[tuple[str, str]]:
    """The entries that were skipped, and what is off in the ones kept."""
    return [*((error, "red") for error in found.errors),
            *((f"warning: {warning}", "yellow") for warning in found.warnings)]


# --- the shell command -----------------------------------------------------------------------

def main(argv: list[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    action, rest = (argv[0], argv[1:]) if argv else ("list", [])
    if action in ("-h", "--help", "help"):
        print(f"usage: nano_claude mcp ACTION ...\n\n{HELP}")
        return EXIT_OK
    actions = {"list": _list, "get": _get, "add": _add, "add-json": _add_json, "remove": _remove,
               "login": _login}
    if action not in actions:
        near = difflib.get_close_matches(action, actions, n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        print(f"nano_claude mcp: unknown action {action!r}.{hint} Actions: {', '.join(actions)}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        return actions[action](rest, environ, cwd)
    except edit.NotFound as exc:
        print(f"nano_claude mcp: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except UsageError as exc:
        print(f"nano_claude mcp: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NanoClaudeError as exc:
        print(f"nano_claude mcp: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _parser(action: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"nano_claude mcp {action}", description=description)


class _World:
    """Settings, paths and every configured server, as a session here would see them."""

    def __init__(self, environ: Mapping[str, str], cwd: Path) -> None:
        from nano_claude.config import load_settings, user_home
        from nano_claude.extensions.mcp import config as mcp_config
        from nano_claude.paths import Paths

        self.environ, self.project, self.home = environ, cwd, user_home(environ)
        self.paths = Paths.from_env(environ, cwd)
        self.settings: Settings = load_settings(self.paths, environ)
        from nano_claude.extensions.plugins import load as load_plugins

        plugins = load_plugins(self.paths, cwd, self.settings, home=self.home).active
        self.found = mcp_config.load(self.paths, cwd, self.home, environ,
                                     read_claude=self.settings.read_claude_config, plugins=plugins)

    def server(self, name: str) -> ServerConfig:
        server = self.found.servers.get(name)
        if server is None:
            names = list(self.found.servers)
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" Did you mean {', '.join(near)}?" if near else ""
            known = f" The servers are: {', '.join(names)}." if names else " No server is configured."
            raise edit.NotFound(f"no MCP server named {name!r}.{hint}{known}")
        return server


def _list(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    _parser("list", "Every MCP server configured here, its source and its health.").parse_args(argv)
    world = _World(environ, cwd)
    if world.found.servers:
        print("Checking MCP server health…\n")
        for view in asyncio.run(check(world.found, world.paths, cwd, world.settings)):
            for line, _ in server_lines(view, world.home, repl=False):
                print(line)
    else:
        print("No MCP servers configured. Add one: nano_claude mcp add NAME -- COMMAND [ARGS...], or "
              "nano_claude mcp add --transport http NAME URL")
    for line, _ in found_notes(world.found):
        print(line)
    return EXIT_OK


def _get(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    p = _parser("get", "One MCP server: its whole entry (secrets masked), status and tools.")
    p.add_argument("name")
    args = p.parse_args(argv)
    world = _World(environ, cwd)
    server = world.server(args.name)
    only = Found(servers={server.name: server})
    (view,) = asyncio.run(check(only, world.paths, cwd, world.settings))
    for line in detail_lines(view, world.home, repl=False):
        print(line)
    return EXIT_OK


async def check(found: Found, paths: Paths, project: Path, settings: Settings) -> list[ServerView]:
    """Connect to every server that may run, wait until each is up or has failed, stop them."""
    from nano_claude.extensions.mcp.manager import McpManager, Options
    from nano_claude.permissions.rules import load_rules
    from nano_claude.tools.base import ToolContext
    from nano_claude.tools.registry import Registry

    options = Options(startup_wait=0.0, connect_timeout=settings.mcp_connect_timeout,
                      trust_project=settings.trust_project_mcp)
    manager = McpManager(found, paths=paths, project=project, options=options, interactive=False)
    manager.start()
    try:
        await asyncio.gather(*(c.wait(options.connect_timeout + 1) for c in manager.connections.values()))
        rules, _ = load_rules(paths)
        manager.sync(Registry(), ToolContext(cwd=project, environ={}), 1 << 30, rules)
        return manager.views()
    finally:
        await manager.aclose()


def _add(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: nano_claude mcp {edit.ADD_USAGE}\n\n{HELP}")
        return EXIT_OK
    return _write(edit.parse_add(argv), environ, cwd)


def _add_json(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    p = _parser("add-json", "Add a server from the JSON of its entry, as Claude Code's add-json.")
    p.add_argument("name")
    p.add_argument("json", help="the server's object, e.g. "
                                "'{\"command\": \"uvx\", \"args\": [\"mcp-server-time\"]}'")
    p.add_argument("-s", "--scope", default="user", help="user (default) or project")
    args = p.parse_args(argv)
    return _write(edit.parse_json_entry(args.name, args.json, args.scope), environ, cwd)


def _write(request: edit.AddRequest, environ: Mapping[str, str], cwd: Path) -> int:
    from nano_claude.config import user_home
    from nano_claude.paths import Paths

    added = edit.add(request, Paths.from_env(environ, cwd), cwd, environ)
    for line in added_lines(added, user_home(environ), repl=False):
        print(line)
    return EXIT_OK


def added_lines(added: edit.Added, home: Path, *, repl: bool) -> list[str]:
    config = added.config
    lines = [f"Added {config.transport} MCP server {added.name} to {short(added.path, home)} "
             f"({added.scope} scope): {config.target}"]
    lines.extend(f"warning: {w}" for w in added.warnings)
    if added.scope == "project":
        lines.append("The project's .mcp.json is shared with the repository: whoever opens the project "
                     "is asked before it starts.")
    if not repl:
        lines.append(f"It starts with the next nano_claude session here; nano_claude mcp get {added.name} "
                     "checks it now.")
    return lines


def _remove(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    p = _parser("remove", "Take a server out of ~/.nano_claude/mcp.json or the project's .mcp.json.")
    p.add_argument("name")
    p.add_argument("-s", "--scope", choices=("user", "project"),
                   help="the file to take it from (needed when both have it)")
    args = p.parse_args(argv)
    world = _World(environ, cwd)
    path = edit.remove(args.name, args.scope, world.paths, cwd, world.home, list(world.found.servers))
    print(f"Removed MCP server {args.name} from {short(path, world.home)}.")
    return EXIT_OK


def _login(argv: list[str], environ: Mapping[str, str], cwd: Path) -> int:
    p = _parser("login", "Sign in to an http or sse MCP server that needs authentication (OAuth).")
    p.add_argument("name")
    p.add_argument("--no-browser", action="store_true", help="print the sign-in URL instead of opening it")
    args = p.parse_args(argv)
    world = _World(environ, cwd)
    server = world.server(args.name)
    # flushed: with stdout a pipe, the address must show while the login waits for the browser
    asyncio.run(login(server, world.paths, browser=not args.no_browser,
                      say=lambda line: print(line, flush=True)))
    return EXIT_OK


async def login(server: ServerConfig, paths: Paths, *, browser: bool,
                say: Callable[[str], None]) -> None:
    """The OAuth flow for one remote server (extensions/mcp/oauth.py)."""
    if server.transport == "stdio":
        raise UsageError(f"login is for http/sse servers; {server.name!r} is a stdio server (it gets its "
                         "credentials from its env or arguments)")
    from nano_claude.extensions.mcp import oauth

    await oauth.login(server, paths, open_browser=browser, say=say)
