"""/thinking: ask the model to think before answering (and show it), for this session."""

from __future__ import annotations

from nano_claude.ui.commands import Command
from nano_claude.ui.commands.live import apply_setting
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    on = not state.settings.thinking
    await apply_setting(state, "thinking", on)
    state.echo(f"Thinking {'on' if on else 'off'} for this session "
               f"(/config thinking={'true' if on else 'false'} keeps it).", "green")
    model = state.agent.model
    if on and model.reasoning:
        state.echo(f"It has no effect for {model.qualified}: the model always reasons; "
                   "/config reasoning_effort=high asks it to reason more.", "yellow")
    elif on and not model.can_think:
        state.echo(f"It has no effect for {model.qualified}: the model has no thinking mode.", "yellow")


COMMAND = Command("thinking", "toggle extended thinking (for models that support it)", run,
                  usage="/thinking")
