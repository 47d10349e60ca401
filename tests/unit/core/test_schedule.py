"""The loop's scheduler of timed wake-ups (core/schedule.py): durations as users write them,
the model's timers before the idle timer, and the idle timer's count and restarts."""

from __future__ import annotations

import asyncio

import pytest

from nano_claude.core.schedule import Schedule, parse_duration, say_duration
from nano_claude.tools.base import Wakeup


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("written", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("90", 90),
                                                  ("1.5h", 5400), (" 2 min ", 120), ("10sec", 10)])
def test_durations_as_users_write_them(written: str, seconds: float) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize(("written", "why"), [("soon", "is not a duration"), ("5d", "is not a duration"),
                                              ("0", "out of range"), ("8d", "is not a duration"),
                                              ("200h", "out of range")])
def test_durations_that_cannot_be_used_say_why(written: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_duration(written)


def test_durations_said_back() -> None:
    assert [say_duration(s) for s in (300, 90, 3600, 3725, 2)] == ["5m", "1m 30s", "1h", "1h 2m 5s", "2s"]


def test_a_timer_fires_before_the_idle_timer_and_each_is_taken_once() -> None:
    clock = Clock()
    timers: list[Wakeup] = []
    schedule = Schedule(timers, clock)
    assert not schedule.pending() and schedule.next_due() is None and schedule.due() is None
    schedule.proactive(60)
    timers.append(Wakeup(due=clock.now + 10, note="look at CI", seconds=10))
    assert schedule.pending() and schedule.next_due() == clock.now + 10
    clock.now += 10
    timer = schedule.due()
    assert timer is not None and "10s timer you set has fired: look at CI" in timer.text
    assert timer.meta == {"wakeup": "timer"} and timers == []
    assert schedule.due() is None  # the idle timer counts from the last activity: 50 s to go
    clock.now += 50
    idle = schedule.due()
    assert idle is not None and idle.meta == {"wakeup": "proactive"}
    assert "after 1m with no activity" in idle.text and "every 1m of quiet" in idle.text
    assert schedule.due() is None  # it starts again from the wake-up


def test_activity_restarts_the_idle_timer_and_max_wakeups_ends_it() -> None:
    clock = Clock()
    schedule = Schedule([], clock)
    schedule.proactive(30, max_wakeups=2)
    clock.now += 20
    schedule.active()
    clock.now += 20
    assert schedule.due() is None  # 20 s since the activity, not 40 since it was set
    clock.now += 10
    first = schedule.due()
    assert first is not None and "(1 more before they stop)" in first.text
    clock.now += 30
    second = schedule.due()
    assert second is not None and "(0 more before they stop)" in second.text
    clock.now += 300
    assert schedule.due() is None and not schedule.pending()
    schedule.proactive(None)
    assert schedule.idle_after is None and schedule.next_due() is None


async def test_wait_returns_when_the_schedule_changes() -> None:
    schedule = Schedule([])
    waiting = asyncio.ensure_future(schedule.wait())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing scheduled: it waits for a change
    schedule.proactive(1)
    await asyncio.wait_for(waiting, 1)
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(schedule.wait(), 3)  # then until the idle timer is due
    assert asyncio.get_running_loop().time() - started >= 0.9 and schedule.ready()
