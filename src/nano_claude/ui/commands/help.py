"""/help: every command, and the keys of the prompt."""

from __future__ import annotations

from nano_claude.ui.commands import Command, commands
from nano_claude.ui.state import ReplState

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send"),
    ("Alt+Enter, Esc Enter, or \\ at the end", "new line"),
    ("Ctrl+R", "search earlier prompts"),
    ("Tab", "complete commands, arguments and @paths"),
    ("@path", "attach a file to the prompt"),
    ("!cmd", "run a shell command yourself"),
    ("Esc or Ctrl+C", "cancel the running turn"),
    ("Ctrl+D, or Ctrl+C twice", "leave"),
)


async def run(state: ReplState, args: str) -> None:
    listed = commands()
    width = max(len(c.usage or f"/{c.name}") for c in listed)
    state.echo("Commands", "bold")
    for command in listed:
        aliases = "".join(f" (also /{a})" for a in command.aliases)
        state.echo(f"  {(command.usage or '/' + command.name):<{width}}  {command.help}{aliases}")
    state.echo()
    state.echo("Keys", "bold")
    width = max(len(key) for key, _ in KEYS)
    for key, does in KEYS:
        state.echo(f"  {key:<{width}}  {does}")


COMMAND = Command("help", "show commands and keys", run, usage="/help")
