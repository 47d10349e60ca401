"""/help: every command, and the keys of the prompt."""

from __future__ import annotations

from nano_claude.ui.commands import Command, commands
from nano_claude.ui.state import ReplState
from nano_claude.ui.text import columns

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send"),
    ("Alt+Enter, Esc Enter, or \\ at the end", "new line"),
    ("Ctrl+R", "search earlier prompts"),
    ("Tab", "complete commands, arguments and @paths"),
    ("@path", "attach a file to the prompt"),
    ("!cmd", "run a shell command yourself"),
    ("Esc or Ctrl+C", "cancel the running turn"),
    ("Ctrl+T", "show or hide the task checklist while a turn runs"),
    ("Ctrl+D, or Ctrl+C twice", "leave"),
)


async def run(state: ReplState, args: str) -> None:
    """Both tables fit the terminal: a description wraps under itself, never to column 0."""
    rows = [(c.usage or f"/{c.name}", c.help + "".join(f" (also /{a})" for a in c.aliases))
            for c in commands()]
    state.echo("Commands", "bold")
    for row in columns(rows, state.width):
        state.echo(row)
    state.echo()
    state.echo("Keys", "bold")
    for row in columns(list(KEYS), state.width):
        state.echo(row)


COMMAND = Command("help", "show commands and keys", run, usage="/help")
