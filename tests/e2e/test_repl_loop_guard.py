"""The loop guard in a real terminal: a model that repeats one call is caught, and the
user decides whether it goes on."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


def _same_reads(first: int, times: int) -> list:
    return [tool_call("Read", {"file_path": "notes.txt"}, id=f"r{first + i}", expect=None)
            for i in range(times)]


def test_a_repeated_call_asks_whether_to_go_on_and_stop_ends_the_turn(
        term: Terminal, fake_server: FakeModelServer, cli: Cli) -> None:
    (cli.project / "notes.txt").write_text("pumpkin\n")
    fake_server.script(*_same_reads(0, 3), *_same_reads(3, 3), text("fine, stopping"))
    term.start().wait_prompt()
    term.type("read notes.txt")
    term.send("Enter")
    screen = term.wait_for(r"2\. Stop")  # the whole question, its choices drawn (they come last)
    assert "Let it go on?" in screen and "1. Go on" in screen and "2. Stop" in screen, screen
    term.type("1")
    term.send("Enter")
    # forgiven: the count starts afresh, and three more of the same are caught again
    term.wait_for(r"same call 3 times in a row", count=2)
    term.wait_for(r"2\. Stop", count=2)
    term.type("2")
    term.send("Enter")
    term.wait_for(r"stopped: the model made the same call 3 times")
    term.wait_prompt(2)
    term.type("then stop")
    term.send("Enter")
    term.wait_for("fine, stopping")
    term.wait_prompt(3)
    # the conversation was kept whole: the next request carries every call and its result
    sent = fake_server.model_requests[-1].body["messages"]
    results = [b for m in sent if isinstance(m["content"], list) for b in m["content"]
               if b.get("type") == "tool_result"]
    assert len(results) == 6
