"""Slash commands: the registry the REPL asks, one module per command.

Each module in `MODULES` defines `COMMAND = Command(...)`. A later feature adds its
command the same way: write `ui/commands/<name>.py` with a `COMMAND` and add the name
to `MODULES`. Modules are imported on the first lookup, not when the REPL starts.
They register through the `register_commands` hook (nano_claude/builtin_plugin.py), the
one an installed package's Python plugin implements to add its own (a built-in's name wins).
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache

from nano_claude.core.errors import NanoClaudeError
from nano_claude.extensions.expand import split
from nano_claude.ui.state import ReplState

MODULES: tuple[str, ...] = (
    "agents", "clear", "cloudsave", "compact", "config", "context", "cost", "cwd", "doctor", "exit", "help",
    "history", "hooks", "load", "mcp", "memory", "model", "permissions", "proactive", "resume", "rewind",
    "plugin", "save", "skills", "tasks", "thinking", "verbose", "voice",
)


@dataclass(frozen=True)
class Command:
    name: str  # "model" (typed as /model)
    help: str  # one line for /help
    run: Callable[[ReplState, str], Awaitable[None]]  # args: the text after the name, stripped
    usage: str = ""  # "/model [NAME]"
    aliases: tuple[str, ...] = ()  # ("quit",) for exit
    # Completions for the argument text typed so far; each replaces that whole text.
    complete: Callable[[ReplState, str], list[str]] | None = None
    # Does this argument text carry a secret (a key, a token)? Such lines stay out of the
    # input history file.
    secret: Callable[[str], bool] | None = None


@cache
def _collected() -> tuple[tuple[Command, ...], tuple[str, ...]]:
    """Every command the register_commands hook returns, and why some were left out."""
    from nano_claude.extensions.plugins.python import manager, results

    notes: list[str] = []
    found: list[Command] = []
    taken: set[str] = set()
    for who, command in results(manager(notes), "register_commands", notes):
        names = (command.name, *command.aliases) if isinstance(command, Command) else ()
        if not names:
            notes.append(f"{who}: returned {command!r:.60}, not a Command (from nano_claude.plugin import "
                         "Command); it was left out")
        elif taken.intersection(names):
            notes.append(f"{who}: the command /{command.name} has a name already taken "
                         f"({', '.join(sorted(taken.intersection(names)))}); it was left out")
        else:
            taken.update(names)
            found.append(command)
    return tuple(sorted(found, key=lambda c: c.name)), tuple(notes)


def _registered() -> tuple[Command, ...]:
    return _collected()[0]


def problems() -> list[str]:
    """Why a Python plugin's command is missing (for /plugin to show)."""
    return list(_collected()[1])


def commands() -> list[Command]:
    """Every command, sorted by name."""
    return list(_registered())


def find(name: str) -> Command | None:
    """The command called `name` (or aliased so), without the slash."""
    name = name.lower()
    return next((c for c in _registered() if name == c.name or name in c.aliases), None)


def suggest(name: str, more: tuple[str, ...] = ()) -> str | None:
    """The known name nearest to a mistyped one (among the commands and `more`), if any is near enough."""
    names = [n for c in _registered() for n in (c.name, *c.aliases)] + list(more)
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    return close[0] if close else None


def is_secret(line: str) -> bool:
    """A command line that carries a key or token (kept out of the input history file)."""
    parsed = split(line)
    command = find(parsed[0]) if parsed and parsed[0] else None
    return bool(command and command.secret and command.secret(parsed[1]))  # type: ignore[index]


def is_builtin(line: str) -> bool:
    """Does the line name one of these commands? In the REPL they win over a skill or custom
    command of the same name."""
    parsed = split(line)
    return bool(parsed and parsed[0] and find(parsed[0]))


async def dispatch(state: ReplState, line: str) -> bool:
    """Run the command a line names. False: the line is not a command (send it to the model)."""
    parsed = split(line)
    if parsed is None:
        return False
    name, args = parsed
    if not name:
        state.echo("Type a command after the slash; /help lists them.")
        return True
    command = find(name)
    if command is None:
        near = suggest(name, _skill_names(state))
        hint = f" Did you mean /{near}?" if near else ""
        state.echo(f"Unknown command /{name}.{hint} (/help lists commands)", "red")
        return True
    try:
        await command.run(state, args)
    except NanoClaudeError as exc:  # a command's domain failure: say it, keep the REPL going
        state.echo(str(exc), "red")
    return True


def _skill_names(state: ReplState) -> tuple[str, ...]:
    from nano_claude.extensions.skills.catalog import skills_of

    skills = skills_of(state.agent)
    return tuple(skills.found.by_name) if skills is not None else ()
