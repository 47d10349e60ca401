"""/compact [focus]: summarise the older turns now and go on with [recap + recent turns].

The same compaction the loop runs past the threshold (core/compaction.py), on
demand and whatever the size; an optional focus tells the summary what to keep.
"""

from __future__ import annotations

from contextlib import aclosing

from nano_claude.core.events import Notice, Usage
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    if not state.session.messages:
        state.echo("Nothing to compact yet: the conversation is empty.")
        return
    compactor = state.agent.compactor(state.session)
    async with aclosing(compactor.compact(focus=args)) as events:
        async for event in events:
            if isinstance(event, Usage):
                state.record(event)  # the summary's cost counts like any request
            elif isinstance(event, Notice):
                state.echo(event.text, "dim")
    if compactor.shrunk:
        # The newest usage report described the old history: /context estimates until the next answer.
        state.context_tokens = 0


COMMAND = Command("compact", "summarise older turns to free context (optionally: what to focus on)",
                  run, usage="/compact [FOCUS]")
