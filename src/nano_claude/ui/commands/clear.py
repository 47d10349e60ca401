"""/clear: a new, empty conversation with the same model, tools and settings."""

from __future__ import annotations

from nano_claude.core.loop import Session
from nano_claude.sessions.session import RecordedSession
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    dropped = len(state.session.messages)
    # recorded from the start: hooks and ${CLAUDE_SESSION_ID} see its id before its first turn
    # (the REPL saves the one before it when the next turn starts)
    state.session = RecordedSession.adopt(Session(), state.agent.ctx.cwd)
    state.turns = []
    state.context_tokens = 0
    # The model of the new conversation has read no file: an edit must read it first.
    state.agent.ctx.read_files.clear()
    state.echo(f"Started a new conversation ({dropped} messages cleared).", "green")


COMMAND = Command("clear", "start a new, empty conversation", run, usage="/clear")
