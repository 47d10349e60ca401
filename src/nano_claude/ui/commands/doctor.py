"""/doctor: the provider checks of `nano_claude doctor`, with the session's settings
(so a key just set with /config is the one checked)."""

from __future__ import annotations

import asyncio
import io

from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    from nano_claude import doctor  # httpx and the checks: only when asked for

    state.echo("Checking providers…", "dim")
    report = io.StringIO()
    # Blocking network checks (up to a few seconds each) run off the event loop.
    measure = args.strip() != "--quick"  # local models' prompt speed takes a few seconds
    failed = await asyncio.to_thread(lambda: doctor.run(state.settings, report, measure=measure))
    for line in report.getvalue().rstrip("\n").splitlines():
        style = "red" if "✗" in line else "green" if "✓" in line else None
        state.echo(line, style)
    if not failed:
        state.echo("All configured providers are usable.", "green")


COMMAND = Command("doctor", "check every configured provider: reachable, key accepted, model known, "
                  "and a local model's prompt speed", run, usage="/doctor [--quick]")
