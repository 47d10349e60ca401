"""/verbose: show or hide token counts and tool details, for this session."""

from __future__ import annotations

from nano_claude.ui.commands import Command
from nano_claude.ui.commands.live import apply_setting
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    on = not state.settings.verbose
    await apply_setting(state, "verbose", on)
    state.echo(f"Verbose output {'on' if on else 'off'} for this session "
               f"(/config verbose={'true' if on else 'false'} keeps it).", "green")


COMMAND = Command("verbose", "toggle verbose output (token counts, tool details)", run, usage="/verbose")
