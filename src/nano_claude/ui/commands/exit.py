"""/exit and /quit: leave the REPL after this command."""

from __future__ import annotations

from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    state.running = False


COMMAND = Command("exit", "leave nano_claude", run, usage="/exit", aliases=("quit",))
