"""The loop's one scheduler of wake-ups that come with time: the timers the model sets
(SleepTimer) and the user's proactive idle timer (`/proactive 5m`, `--proactive 5m`).

It is a `Waker` (core/loop.py) like the background agents: a headless run waits for it
after the model ends its turn; the REPL gives the prompt back and watches it, waking the
model once the prompt is idle. A timer fires at its time; the idle timer fires after that
long without activity from the user or the agent, and starts again from each wake-up, so
a quiet session is woken every interval (at most `max_wakeups` times, when given).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from nano_claude.core.messages import Message, TextBlock
from nano_claude.tools.base import Wakeup

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?)?")
_UNIT = {"s": 1, "m": 60, "h": 3600}
MIN_IDLE = 1.0  # seconds: a shorter idle timer would wake the model as fast as it can answer
MAX_IDLE = 7 * 24 * 3600.0


def parse_duration(text: str) -> float:
    """`30s`, `5m`, `1h`, `90` (seconds), `1.5h`; a ValueError that says what is accepted."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write 30s, 5m, 1h or plain seconds")
    seconds = float(match.group(1)) * _UNIT[(match.group(2) or "s")[0]]
    if not MIN_IDLE <= seconds <= MAX_IDLE:
        raise ValueError(f"{text!r} is out of range: give between {MIN_IDLE:g}s and 7 days")
    return seconds


def say_duration(seconds: float) -> str:
    """300 → "5m", 90 → "1m 30s", 3600 → "1h"."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return " ".join(p for p in parts if p) or f"{seconds:.1f}s"


class Schedule:
    """SleepTimer's timers (the list the tool appends to: ToolContext.wakeups) and the idle timer."""

    def __init__(self, timers: list[Wakeup], clock: Callable[[], float] = time.monotonic) -> None:
        self.timers = timers
        self.clock = clock
        self.idle_after: float | None = None  # None: proactive wake-ups are off
        self.max_wakeups: int | None = None
        self.woken = 0  # proactive wake-ups delivered since it was set
        self.last_active = clock()
        self._changed = asyncio.Event()

    def proactive(self, seconds: float | None, max_wakeups: int | None = None) -> None:
        """Turn the idle timer on (every `seconds` of inactivity) or off (None)."""
        self.idle_after, self.max_wakeups, self.woken = seconds, max_wakeups, 0
        self.active()

    def active(self) -> None:
        """The user or the agent did something: the idle time starts again from now."""
        self.last_active = self.clock()
        self._changed.set()

    def _idle_on(self) -> bool:
        return self.idle_after is not None and (self.max_wakeups is None or self.woken < self.max_wakeups)

    def next_due(self) -> float | None:
        """When the next wake-up is due (the clock's time), or None: nothing is scheduled."""
        times = [t.due for t in self.timers]
        if self._idle_on():
            assert self.idle_after is not None
            times.append(self.last_active + self.idle_after)
        return min(times, default=None)

    def ready(self) -> bool:
        due = self.next_due()
        return due is not None and due <= self.clock()

    # --- the Waker protocol --------------------------------------------------------------

    def due(self) -> Message | None:
        now = self.clock()
        timer = min(self.timers, key=lambda t: t.due, default=None)
        if timer is not None and timer.due <= now:
            self.timers.remove(timer)
            note = f": {timer.note}" if timer.note else ""
            said = f"[Wake-up] The {timer.seconds:g}s timer you set has fired{note}"
            return Message("user", (TextBlock(said),), {"wakeup": "timer"})
        if self._idle_on() and self.idle_after is not None and now - self.last_active >= self.idle_after:
            idle = say_duration(now - self.last_active)
            self.woken += 1
            self.active()
            left = ("" if self.max_wakeups is None
                    else f" ({self.max_wakeups - self.woken} more before they stop)")
            return Message("user", (TextBlock(
                f"[Wake-up] Proactive check-in after {idle} with no activity from the user or you "
                f"(the user asked to be checked on every {say_duration(self.idle_after)} of quiet{left}). "
                "Carry on with what you were asked to watch or do; if nothing needs doing, say so in "
                "one line."),), {"wakeup": "proactive"})
        return None

    def pending(self) -> bool:
        return bool(self.timers) or self._idle_on()

    async def wait(self) -> None:
        """Return when a wake-up may be due, or when the schedule changed (activity, a new
        idle timer): the caller looks again either way."""
        self._changed.clear()
        when = self.next_due()
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            if when is None:
                await changed
            else:
                await asyncio.wait({changed}, timeout=max(0.0, when - self.clock()))
        finally:
            changed.cancel()
