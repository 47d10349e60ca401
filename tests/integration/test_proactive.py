"""Proactive wake-ups in headless runs (`--proactive`, `--max-wakeups`) through the real CLI
against the fake model server: the run waits through quiet stretches, wakes the model with a
message saying so, and stops after the number of wake-ups asked for."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.conftest import Cli
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

MODEL = "claude-sonnet-4-6"


def run(cli: Cli, server: FakeModelServer, *args: str) -> Any:
    return cli.run("-p", *args, "-m", MODEL,
                   env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"})


def last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else json.dumps(content)


def test_a_headless_monitoring_loop_wakes_the_model_n_times_then_ends(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("Watching the log."), text("Nothing new."), text("Still nothing."))
    started = time.monotonic()
    result = run(cli, fake_server, "watch build.log", "--proactive", "1s", "--max-wakeups", "2",
                 "--output-format", "stream-json")
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    requests = [r.body for r in fake_server.model_requests]
    assert len(requests) == 3  # the prompt and two wake-ups, then the run ends
    first_wake, second_wake = last_user_text(requests[1]), last_user_text(requests[2])
    assert "[Wake-up] Proactive check-in after 1s" in first_wake and "1 more before they stop" in first_wake
    assert "0 more before they stop" in second_wake
    assert took >= 2.0  # each wake-up came after a second of quiet, not at once
    events = result.json_lines()
    woken = [e for e in events if e.get("type") == "user" and "Proactive check-in" in json.dumps(e)]
    assert len(woken) == 2  # stream-json shows each wake-up turn as the user message it is
    assert events[-1]["type"] == "result" and events[-1]["result"] == "Still nothing."


def test_a_model_timer_and_the_idle_timer_share_one_schedule(cli: Cli, fake_server: FakeModelServer) -> None:
    """The model's SleepTimer fires first (1 s), then the idle timer (2 s of quiet after that)."""
    fake_server.script(tool_call("SleepTimer", {"seconds": 1, "note": "look again"}, id="call_1"),
                       text("Timer set."), text("Looked again."), text("Idle check done."))
    result = run(cli, fake_server, "keep an eye on it", "--proactive", "2s", "--max-wakeups", "1")
    assert result.returncode == 0, result.stderr
    said = [last_user_text(r.body) for r in fake_server.model_requests]
    assert len(said) == 4
    assert "timer you set has fired: look again" in said[2]
    assert "Proactive check-in after 2s" in said[3]
    assert result.stdout.strip().endswith("Idle check done.")


def test_proactive_flags_that_cannot_work_say_how_to_fix_them(cli: Cli) -> None:
    alone = cli.run("-p", "hi", "--max-wakeups", "3")
    assert alone.returncode == 2 and "--max-wakeups works with --proactive" in alone.stderr
    bad = cli.run("-p", "hi", "--proactive", "soon")
    assert bad.returncode == 2
    assert "'soon' is not a duration: write 30s, 5m, 1h or plain seconds" in bad.stderr
    tiny = cli.run("-p", "hi", "--proactive", "0.2s")
    assert tiny.returncode == 2 and "out of range" in tiny.stderr
