"""/mcp: the session's MCP servers (source, transport, status, tools, errors, logs), and
/mcp NAME | reload [NAME] | add ... | remove NAME | login NAME | approve [NAME...] | deny [NAME...].

`add` and `remove` edit the same files, with the same arguments, as `nano_claude mcp add|remove`
(extensions/mcp/edit.py), and the session follows at once: an added server starts now and its
tools join the next request. Also here: the question a project's .mcp.json servers wait on,
asked before the first message goes to the model (ui/repl.py).
"""

from __future__ import annotations

import asyncio
import difflib
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude.config import user_home
from nano_claude.core.errors import UsageError
from nano_claude.core.prompter import NoUserPresent, Option, Prompter, Question
from nano_claude.extensions.mcp import command as mcp_command
from nano_claude.extensions.mcp import edit
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    from nano_claude.extensions.mcp.config import Found, ServerConfig
    from nano_claude.extensions.mcp.manager import McpManager, ServerView

SUBCOMMANDS = ("add", "approve", "deny", "get", "login", "reload", "remove")
START_ALL, CHOOSE, NONE = "Start all", "Choose", "None"
HOW_TO_ADD = ("/mcp add NAME -- COMMAND [ARGS...] (a stdio server) or /mcp add --transport http NAME URL; "
              "or list them in .mcp.json or ~/.nano_claude/mcp.json")


async def run(state: ReplState, args: str) -> None:
    word, _, rest = args.partition(" ")
    rest = rest.strip()
    manager: McpManager | None = state.agent.mcp
    if word == "add":
        await add(state, rest)
    elif word == "remove":
        await remove(state, rest)
    elif manager is None or not word:
        show(state)
    elif word == "reload":
        await reload(state, manager, rest or None)
    elif word == "login":
        await login(state, manager, rest)
    elif word in ("approve", "deny"):
        await decide(state, manager, word, rest.split())
    elif (word == "get" and rest) or word in manager.found.servers:
        view = _view(state, manager, rest if word == "get" else word)
        for line in mcp_command.detail_lines(view, user_home(state.environ), repl=True):
            state.echo(line)
    else:
        near = difflib.get_close_matches(word, [*SUBCOMMANDS, *manager.found.servers], n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        raise UsageError(f"Unknown /mcp subcommand {word!r}.{hint} Usage: {COMMAND.usage}")


def show(state: ReplState) -> None:
    manager: McpManager | None = state.agent.mcp
    home = user_home(state.environ)
    if manager is None:
        state.echo(f"No MCP servers are configured. Add one: {HOW_TO_ADD}.", "dim")
        for line, style in mcp_command.found_notes(_reread(state, _project(state))):
            state.echo(line, style)
        return
    views = _views(state, manager)
    state.echo(f"MCP servers ({len(views)}):", "bold")
    for view in views:
        for line, style in mcp_command.server_lines(view, home, repl=True):
            state.echo(line, style)
    for line, style in mcp_command.found_notes(manager.found):
        state.echo(line, style)
    state.echo("/mcp NAME shows a server's tools · /mcp reload [NAME] · /mcp add … · /mcp remove NAME", "dim")


def _views(state: ReplState, manager: McpManager) -> list[ServerView]:
    """Every server now, its tools as the next request will have them."""
    agent = state.agent
    manager.sync(agent.tools, agent.ctx, agent.model.context_window, agent.policy.rules)
    return manager.views()


def _view(state: ReplState, manager: McpManager, name: str) -> ServerView:
    for view in _views(state, manager):
        if view.config.name == name:
            return view
    raise UsageError(_unknown(name, manager))


def _unknown(name: str, manager: McpManager | None) -> str:
    names = list(manager.found.servers) if manager else []
    near = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {near[0]}?" if near else ""
    return (f"No MCP server named {name!r}.{hint} "
            + (f"The servers are: {', '.join(names)}." if names else "None is configured."))


def _project(state: ReplState) -> Path:
    manager = state.agent.mcp
    return manager.project if manager is not None else state.agent.ctx.root


def _reread(state: ReplState, project: Path) -> Found:
    from nano_claude.extensions.mcp import config as mcp_config

    return mcp_config.load(state.paths, project, user_home(state.environ), state.environ,
                           read_claude=state.settings.read_claude_config, plugins=state.agent.plugins)


def _wait_for(state: ReplState) -> float:
    """How long a command waits for a server it started (the REPL must not hang on one)."""
    return max(state.settings.mcp_startup_timeout, 1.0)


async def _settle(state: ReplState, manager: McpManager, names: list[str]) -> None:
    """Wait (briefly) for these servers, then say how each one is doing."""
    waiting = [manager.connections[n] for n in names if n in manager.connections]
    if waiting:
        await asyncio.gather(*(c.wait(_wait_for(state)) for c in waiting))
    home = user_home(state.environ)
    for view in _views(state, manager):
        if view.config.name in names:
            line, style = mcp_command.server_lines(view, home, repl=True)[0]
            if view.status == "starting":
                line += " (still starting; /mcp shows when it is up)"
            state.echo(line, style)


# --- the subcommands ---------------------------------------------------------------------------

async def add(state: ReplState, text: str) -> None:
    from nano_claude.assemble import attach_mcp

    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"/mcp add: {exc} (check the quotes)") from None
    project = _project(state)
    added = edit.add(edit.parse_add(tokens), state.paths, project, state.environ)
    home = user_home(state.environ)
    for line in mcp_command.added_lines(added, home, repl=True):
        state.echo(line, "green" if line.startswith("Added") else None)
    manager: McpManager | None = state.agent.mcp
    if manager is None:  # the session had none: the files are read now, as at startup
        manager = attach_mcp(state.agent, state.settings, state.paths, project, state.environ, flags=(),
                             strict=False, interactive=True)
        state.agent.mcp = manager
        if manager is None:
            return
        manager.start()
    else:
        current = manager.found.servers.get(added.name)
        if current is not None and edit.RANK[current.scope] > edit.RANK[added.scope]:
            where = mcp_command.short(current.source, home)
            state.echo(f"This session keeps using {added.name} from {where}, which takes precedence.",
                       "yellow")
            return
        await manager.add_server(added.config)
    if manager.trust.get(added.name) == "pending":
        _said(state, manager.decide([added.name], []))  # you added it yourself: that is the approval
    await _settle(state, manager, [added.name])


async def remove(state: ReplState, text: str) -> None:
    tokens = text.split()
    scope = None
    for flag in ("--scope", "-s"):
        if flag in tokens:
            at = tokens.index(flag)
            if at + 1 >= len(tokens):
                raise UsageError("/mcp remove NAME --scope user|project")
            scope = tokens[at + 1]
            del tokens[at:at + 2]
    if len(tokens) != 1:
        raise UsageError("Usage: /mcp remove NAME [--scope user|project]")
    name = tokens[0]
    manager: McpManager | None = state.agent.mcp
    project = _project(state)
    home = user_home(state.environ)
    known = list(manager.found.servers) if manager else []
    path = edit.remove(name, scope, state.paths, project, home, known)
    state.echo(f"Removed MCP server {name} from {mcp_command.short(path, home)}.", "green")
    current = manager.found.servers.get(name) if manager else None
    if manager is None or current is None:
        return
    if current.source != str(path):
        state.echo(f"This session keeps using {name} from {mcp_command.short(current.source, home)}, "
                   "which takes precedence.", "yellow")
        return
    behind = _reread(state, project).servers.get(name)  # another file's entry of that name, if any
    if behind is not None:
        await manager.add_server(behind)
        state.echo(f"{name} now comes from {mcp_command.short(behind.source, home)}.", "yellow")
        await _settle(state, manager, [name])
    else:
        await manager.remove_server(name)
        state.echo(f"Stopped {name}; its tools leave from the next request.", "dim")


async def reload(state: ReplState, manager: McpManager, name: str | None) -> None:
    if name is not None:
        if name not in manager.found.servers:
            raise UsageError(_unknown(name, manager))
        if name not in manager.connections:
            raise UsageError(f"{name} is a project server you have not approved; /mcp approve {name} "
                             "starts it")
    names = [name] if name else list(manager.connections)
    if not names:
        state.echo("No MCP server is running; /mcp approve starts this project's servers.", "yellow")
        return
    state.echo(f"Reconnecting {', '.join(names)}…", "dim")
    reconnecting = asyncio.ensure_future(manager.reload(name))
    try:  # a hung server keeps reconnecting in the background; the REPL goes on
        await asyncio.wait_for(asyncio.shield(reconnecting), _wait_for(state))
    except asyncio.TimeoutError:
        pass
    await _settle(state, manager, names)


async def login(state: ReplState, manager: McpManager, text: str) -> None:
    words = text.split()
    browser = "--no-browser" not in words
    names = [w for w in words if w != "--no-browser"]
    if len(names) != 1:
        raise UsageError("Usage: /mcp login NAME [--no-browser]")
    server = manager.found.servers.get(names[0])
    if server is None:
        raise UsageError(_unknown(names[0], manager))
    await mcp_command.login(server, state.paths, browser=browser, say=state.echo)
    if server.name in manager.connections:
        await reload(state, manager, server.name)


async def decide(state: ReplState, manager: McpManager, verb: str, names: list[str]) -> None:
    """approve/deny project servers; no names: every one that the verb would change."""
    project = [n for n, trust in manager.trust.items() if trust != "trusted"]
    for name in names:
        if name not in manager.found.servers:
            raise UsageError(_unknown(name, manager))
        if name not in project:
            raise UsageError(f"{name} comes from your own config ({manager.found.servers[name].source}) and "
                             "needs no approval; /mcp remove takes it out")
    keep = "approved" if verb == "approve" else "denied"
    chosen = [n for n in (names or project) if manager.trust[n] != keep]
    if not chosen:
        state.echo(f"Nothing to {verb}: " + (", ".join(f"{n} is {manager.trust[n]}" for n in names or project)
                                             or "this project's .mcp.json has no servers") + ".", "dim")
        return
    if verb == "approve":
        _said(state, manager.decide(chosen, []))
        state.echo(f"Approved {', '.join(chosen)} for this project (remembered).", "green")
        await _settle(state, manager, chosen)
    else:
        _said(state, manager.decide([], chosen))
        state.echo(f"Kept off: {', '.join(chosen)} (remembered for this project; /mcp approve starts "
                   "them).", "yellow")


# --- the question before the first message ------------------------------------------------------

async def ask_approval(state: ReplState, prompter: Prompter) -> None:
    """A project's .mcp.json servers run code on this machine: they start only once the user
    says so (remembered per project). Nobody answering leaves them pending."""
    manager: McpManager | None = state.agent.mcp
    pending = manager.pending if manager is not None else []
    if manager is None or not pending:
        return
    listing = ", ".join(f"{s.name} ({_brief(s)})" for s in pending)
    question = Question(
        f"This project's .mcp.json wants to start {mcp_command.plural(len(pending), 'MCP server')}: "
        f"{listing}. They run on your machine.",
        (Option(START_ALL, "start them now and in later sessions here"),
         Option(CHOOSE, "say yes or no to each"),
         Option(NONE, "keep them off (remembered; /mcp approve starts them later)")),
        allow_freetext=False)
    try:
        answer = await prompter.ask(question)
        if answer == CHOOSE:
            approve = []
            for server in pending:
                yes = await prompter.ask(Question(f"Start {server.name}: {_brief(server)}?",
                                                  (Option("Yes"), Option("No")), allow_freetext=False))
                if yes == "Yes":
                    approve.append(server.name)
        else:
            approve = [s.name for s in pending] if answer == START_ALL else []
    except NoUserPresent:
        state.echo("No answer: this project's MCP servers stay off for now; /mcp approve starts them.",
                   "yellow")
        return
    deny = [s.name for s in pending if s.name not in approve]
    _said(state, manager.decide(approve, deny))
    if deny:
        state.echo(f"Kept off: {', '.join(deny)} (remembered for this project; /mcp approve starts them).",
                   "yellow")
    if approve:
        await _settle(state, manager, approve)


def _said(state: ReplState, unsaved: str) -> None:
    if unsaved:
        state.echo(unsaved, "yellow")


def _brief(server: ServerConfig) -> str:
    """All that decides what the server does: what runs (as written), and the environment,
    headers and folder it gets, with the variables of yours it reads."""
    raw = server.raw
    parts = [" ".join([str(raw.get("command", "")), *map(str, raw.get("args", []))]).strip()
             if server.transport == "stdio" else str(raw.get("url", ""))]
    for key, label in (("env", "env"), ("headers", "headers")):
        if isinstance(raw.get(key), dict) and raw[key]:
            parts.append(f"{label}: {', '.join(f'{k}={v}' for k, v in raw[key].items())}")
    if raw.get("cwd"):
        parts.append(f"cwd: {raw['cwd']}")
    return "; ".join(parts)


# --- Tab ------------------------------------------------------------------------------------------

def _secret(args: str) -> bool:
    """An added server's env and headers often hold a token: keep the line out of the history file."""
    words = args.split()
    return words[:1] == ["add"] and any(w.split("=")[0] in ("-e", "--env", "-H", "--header") for w in words)


def complete(state: ReplState, text: str) -> list[str]:
    manager: McpManager | None = state.agent.mcp
    servers = list(manager.found.servers) if manager else []
    words = text.split(" ")
    if len(words) == 1:
        return [f"{w} " for w in (*SUBCOMMANDS, *servers) if w.startswith(words[0])]
    verb, before, typed = words[0], " ".join(words[:-1]), words[-1]
    if verb == "add" and words[-2] in ("--transport", "-t"):
        choices = ["stdio", "sse", "http"]
    elif verb in ("add", "remove") and words[-2] in ("--scope", "-s"):
        choices = ["user", "project"]
    elif verb in ("get", "reload", "login", "remove"):
        choices = servers
    elif verb in ("approve", "deny") and manager is not None:
        keep = "approved" if verb == "approve" else "denied"
        choices = [n for n, t in manager.trust.items() if t not in ("trusted", keep)]
    else:
        choices = []
    return [f"{before} {c}" for c in choices if c.startswith(typed) and c not in words[1:-1]]


COMMAND = Command("mcp", "MCP servers: status, tools, errors; add, remove, reload, log in, approve", run,
                  usage="/mcp [NAME | reload [NAME] | add ... | remove NAME | login NAME | approve [NAME...] "
                        "| deny [NAME...]]", complete=complete, secret=_secret)
