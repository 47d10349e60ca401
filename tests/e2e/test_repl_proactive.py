"""/proactive in the real REPL in tmux: the agent is woken after a stretch of quiet, never
during a turn or while a message is typed, and no more once it is turned off."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

RELEASE = "release.flag"
WOKEN = "⏰ Proactive wake-up"


def said_last(server: FakeModelServer, index: int) -> str:
    return json.dumps(server.model_requests[index].body["messages"][-1]["content"])


def quiet_for(server: FakeModelServer, seconds: float) -> None:
    """No request reaches the model for `seconds`."""
    before = len(server.model_requests)
    time.sleep(seconds)
    assert len(server.model_requests) == before


def test_proactive_wakes_the_idle_agent_but_never_a_turn_or_a_typed_line(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    wait = f"while [ ! -e {RELEASE} ]; do sleep 0.05; done"
    fake_server.script(
        text("Nothing to report yet."),  # the first wake-up
        tool_call("Bash", {"command": wait}, id="c1"),  # a turn longer than the idle time
        text("Check done."),
        text("Still quiet."),  # the wake-up after that turn
        text("Quiet again."),  # after a typed line was wiped
    )
    term.start("--accept-all").wait_prompt()
    term.type("/proactive")
    term.send("Enter")
    term.wait_for("Proactive wake-ups: off")
    term.type("/proactive 2s")
    term.send("Enter")
    term.wait_for("Proactive wake-ups: on. After 2s without activity")
    term.wait_for(WOKEN)
    term.wait_for("Nothing to report yet.")
    assert "[Wake-up] Proactive check-in after 2s" in said_last(fake_server, 0)

    term.type("run the check")
    term.send("Enter")
    term.wait_for(r"Bash\(")
    quiet_for(fake_server, 3.0)  # the turn runs past the idle time: no wake-up meanwhile
    assert len(fake_server.model_requests) == 2
    (cli.project / RELEASE).touch()
    term.wait_for("Check done.")
    term.wait_for("Still quiet.")  # woken once the turn was over and quiet again
    assert "Proactive check-in" in said_last(fake_server, 3)

    term.type("half a thought")  # typed, not sent: the wake-up waits for it
    quiet_for(fake_server, 3.0)
    term.send("C-u")
    term.wait_for("Quiet again.")
    term.type("/proactive")
    term.send("Enter")
    term.wait_for(r"Proactive wake-ups: on, after every 2s without activity \(next in .*; 3 so far\)")
    term.type("/proactive off")
    term.send("Enter")
    term.wait_for(r"Proactive wake-ups: off\.")
    quiet_for(fake_server, 3.0)
    assert len(fake_server.model_requests) == 5


def test_a_model_timer_gives_the_prompt_back_and_wakes_the_model_when_it_fires(
        term: Terminal, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("SleepTimer", {"seconds": 2, "note": "check the deploy"}, id="c1"),
                       text("I will look again in 2 seconds."), text("The deploy finished."))
    term.start().wait_prompt()
    term.type("watch the deploy")
    term.send("Enter")
    term.wait_for("I will look again in 2 seconds.")
    term.wait_prompt(2)  # the prompt is back while the timer runs
    term.wait_for("Woken: the timer the model set has fired.")
    term.wait_for("The deploy finished.")
    assert "timer you set has fired: check the deploy" in said_last(fake_server, 2)
