"""Sub-agents in the REPL, in a real terminal: a foreground child's activity indented under its
call, a background child that wakes the idle model with its result, its permission question
asked over an idle prompt, and /agents."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import Call, mentions, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


def send(term: Terminal, message: str) -> None:
    term.type(message)
    term.send("Enter")


def test_a_foreground_agents_tool_calls_show_under_its_call_and_agents_lists_it(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "notes.txt").write_text("alpha\nbeta\n")
    child = mentions("count the lines of notes.txt")
    fake_server.script(
        tool_call("Agent", {"prompt": "count the lines of notes.txt", "subagent_type": "Explore",
                            "name": "counter", "description": "count lines"}, id="call_agent_1"),
        tool_call("Read", {"file_path": "notes.txt"}, id="child_read", when=child),
        text("notes.txt has 2 lines", when=child),
        text("The file has two lines."),
    )
    term.start().wait_prompt()
    send(term, "how long is notes.txt?")
    screen = term.wait_for(r"The file has two lines\.")
    assert "⚙ Agent(" in screen
    assert "⎿ counter · ✓ Read(notes.txt)" in screen  # the child's call, indented under the parent's
    assert "counter (Explore) completed" in screen  # the call's one-line summary
    assert "notes.txt has 2 lines" not in screen  # the child's text is for the parent, not the screen
    term.wait_prompt(2)
    send(term, "/agents")
    listing = term.wait_for(r"Sub-agents \(1\):")
    assert "counter (Explore)  completed" in listing and "count lines" in listing


def test_a_background_agent_wakes_the_idle_model_with_its_result(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    child = mentions("summarise the project slowly")
    fake_server.script(
        tool_call("Agent", {"prompt": "summarise the project slowly", "run_in_background": True,
                            "name": "slowpoke"}, id="call_agent_bg"),
        text("Started it; I will report back."),
        text("the project is empty", delay=2, when=child),
        text("The background agent says: the project is empty."),
    )
    term.start().wait_prompt()
    send(term, "summarise in the background")
    term.wait_for(r"Started it; I will report back\.")
    term.wait_prompt(2)  # the prompt is back while the agent works
    screen = term.wait_for(r"background agent \w+ slowpoke \(general-purpose\) completed", timeout=60)
    screen = term.wait_for(r"The background agent says: the project is empty\.", timeout=60)
    assert "Woken: a background agent finished." in screen
    woken = fake_server.model_requests[-1].body["messages"][-1]
    assert "[Background agent finished]" in str(woken) and "the project is empty" in str(woken)


def test_a_background_agents_permission_question_is_asked_over_the_idle_prompt(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    child = mentions("write the marker file")
    fake_server.script(
        tool_call("Agent", {"prompt": "write the marker file", "run_in_background": True, "name": "writer"},
                  id="call_agent_w"),
        text("It is running."),
        tool_call("Write", {"file_path": "marker.txt", "content": "made by the agent\n"}, id="child_write",
                  when=child, delay=1),
        text("wrote marker.txt", when=child),
        text("The writer finished."),
    )
    term.start().wait_prompt()
    send(term, "make the marker in the background")
    term.wait_for(r"It is running\.")
    term.wait_prompt(2)
    screen = term.wait_for(r"Write needs permission", timeout=60)
    assert "sub-agent writer" in screen  # the question names the agent asking
    term.send("y")
    term.wait_for(r"The writer finished\.", timeout=60)
    assert (cli.project / "marker.txt").read_text() == "made by the agent\n"


def test_agents_kill_stops_a_background_agent(term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    child = mentions("wait for a long time")
    fake_server.script(
        tool_calls(Call("Agent", {"prompt": "wait for a long time", "run_in_background": True,
                                  "name": "sleeper"}, "call_agent_s")),
        text("Started."),
        tool_call("Bash", {"command": "sleep 30"}, id="child_sleep", when=child),
        text("The sleeper was stopped."),
    )
    cli.write_config(permissions={"allow": ["Bash(sleep:*)"]})
    term.start().wait_prompt()
    send(term, "start the sleeper")
    term.wait_for(r"Started\.")
    term.wait_prompt(2)
    send(term, "/agents")
    listing = term.wait_for(r"sleeper \(general-purpose\)  (running|queued)")
    found = re.search(r"^(\w+)  sleeper \(general-purpose\)  (running|queued)", listing, re.M)
    assert found is not None, listing
    agent_id = found.group(1)
    send(term, f"/agents kill {agent_id}")
    term.wait_for(r"Stopping sleeper")
    term.wait_for(r"background agent \w+ sleeper \(general-purpose\) cancelled", timeout=20)
    term.wait_for(r"The sleeper was stopped\.", timeout=20)


def test_esc_cancels_the_turn_and_its_foreground_agent(term: Terminal, cli: Cli,
                                                       fake_server: FakeModelServer) -> None:
    child = mentions("sleep in the foreground")
    fake_server.script(
        tool_call("Agent", {"prompt": "sleep in the foreground", "name": "napper"}, id="call_agent_f"),
        tool_call("Bash", {"command": "sleep 30"}, id="child_nap", when=child),
    )
    cli.write_config(permissions={"allow": ["Bash(sleep:*)"]})
    term.start().wait_prompt()
    send(term, "nap")
    term.wait_for(r"napper: Bash\(sleep 30\)")  # beside the spinner: what the child does now
    term.send("Escape")
    term.wait_for(r"Interrupted\. The conversation is kept")
    term.wait_prompt(2)
    send(term, "/agents")
    term.wait_for(r"napper \(general-purpose\)  cancelled")


def test_a_background_agents_question_asked_during_a_turn_is_asked_once_the_turn_ends(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    child = mentions("write the marker file at once")
    fake_server.script(
        tool_call("Agent", {"prompt": "write the marker file at once", "run_in_background": True,
                            "name": "writer"}, id="call_agent_now"),
        text("It is running.", delay=2),  # the parent's turn goes on while the child asks
        tool_call("Write", {"file_path": "marker.txt", "content": "made by the agent\n"},
                  id="child_write_now", when=child),
        text("wrote marker.txt", when=child),
        text("The writer finished."),
    )
    term.start().wait_prompt()
    send(term, "make the marker in the background")
    screen = term.wait_for(r"Write needs permission", timeout=60)
    # Asked under the turn, the question would have died with it: it waits for the idle prompt
    assert "It is running." in screen
    assert screen.index("It is running.") < screen.index("Write needs permission")
    assert "sub-agent writer" in screen
    term.send("y")
    term.wait_for(r"The writer finished\.", timeout=60)
    assert (cli.project / "marker.txt").read_text() == "made by the agent\n"
