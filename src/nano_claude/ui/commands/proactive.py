"""/proactive: wake the agent after a stretch of quiet, for monitoring loops without prompts.

`/proactive 5m` (also `30s`, `1h`, plain seconds) turns it on, `/proactive off` off, and
`/proactive` says which it is and when the next wake-up is due. The idle timer lives in
the loop's scheduler (core/schedule.py) beside the model's SleepTimer timers; the REPL
wakes the model only once no turn runs and nothing is typed, and never after it is left.
"""

from __future__ import annotations

from nano_claude.core.errors import UsageError
from nano_claude.core.schedule import parse_duration, say_duration
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

USAGE = "/proactive [DURATION | off]"


def status(state: ReplState) -> str:
    schedule = state.agent.schedule
    if schedule.idle_after is None:
        return "Proactive wake-ups: off. /proactive 5m wakes the agent after 5 minutes of quiet."
    left = max(0.0, schedule.last_active + schedule.idle_after - schedule.clock())
    woken = f"; {schedule.woken} so far" if schedule.woken else ""
    return (f"Proactive wake-ups: on, after every {say_duration(schedule.idle_after)} without activity "
            f"(next in {say_duration(left)}{woken}). /proactive off stops them.")


async def run(state: ReplState, args: str) -> None:
    schedule = state.agent.schedule
    if not args:
        state.echo(status(state))
    elif args.lower() in ("off", "stop", "0"):
        was_on = schedule.idle_after is not None
        schedule.proactive(None)
        state.echo("Proactive wake-ups: off." if was_on else "Proactive wake-ups were already off.")
    else:
        try:
            seconds = parse_duration(args)
        except ValueError as exc:
            raise UsageError(f"{exc}; usage: {USAGE}, e.g. /proactive 5m") from None
        schedule.proactive(seconds)
        state.echo(f"Proactive wake-ups: on. After {say_duration(seconds)} without activity from you or the "
                   "agent, the agent is woken to carry on (never during a turn or while you type).", "green")


def _complete(state: ReplState, typed: str) -> list[str]:
    return [w for w in ("off", "30s", "5m", "15m", "1h") if w.startswith(typed.lower())]


COMMAND = Command("proactive", "wake the agent after a stretch of quiet (30s, 5m, 1h); off; or its state",
                  run, usage=USAGE, complete=_complete)
