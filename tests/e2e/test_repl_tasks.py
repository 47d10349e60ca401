"""Tasks in the REPL, in a real terminal: /tasks and its subcommands, and the checklist of open
tasks under the spinner while a turn runs, hidden and shown again with Ctrl+T."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

RUNNING = r"◼ Running\s+the\s+tests…"  # an in-progress task's active form (\s+: a wrapped line)
RELEASE = "release.flag"  # the test creates it when it has seen what it waits for


def visible(term: Terminal) -> str:
    """What the screen shows now, without the scrollback: the live area included."""
    return term.screen(history=False)


def wait_visible(term: Terminal, pattern: str, *, shown: bool, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = visible(term)
        if bool(re.search(pattern, screen)) == shown:
            return screen
        if time.monotonic() > deadline:
            what = "never showed" if shown else "did not go"
            raise AssertionError(f"{pattern!r} {what}; screen:\n{screen}")
        time.sleep(0.05)


def test_tasks_command_creates_starts_lists_and_clears(term: Terminal, cli: Cli) -> None:
    term.start().wait_prompt()
    said = term.command("/tasks", 2)
    assert "No tasks yet" in said
    assert "Task #1 created: Write the parser" in term.command("/tasks create Write the parser", 3)
    assert "Task #2 created: Test it" in term.command("/tasks create Test it", 4)
    assert "Task #1 updated: status pending → in_progress." in term.command("/tasks start 1", 5)
    listed = term.command("/tasks", 6)
    assert re.search(r"#1 \[in_progress\] Write the parser\s*\n#2 \[pending\] Test it\s*\n"
                     r"2 tasks: 1 pending, 1 in progress\.", listed), listed
    done = term.command("/tasks done 1", 7)
    assert "status in_progress → completed" in done
    assert "Status: pending" in term.command("/tasks get 2", 8)
    assert "No task has id '9'. Existing ids: 1, 2." in term.command("/tasks start 9", 9)
    saved = json.loads((cli.project / ".nano_claude" / "tasks.json").read_text())
    assert [(t["id"], t["status"]) for t in saved["tasks"]] == [("1", "completed"), ("2", "pending")]
    assert "Removed 2 tasks (1 open)." in term.command("/tasks clear", 10)
    assert json.loads((cli.project / ".nano_claude" / "tasks.json").read_text())["tasks"] == []
    term.type("/tasks st")  # Tab completes the subcommand
    term.send("Tab")
    term.wait_for(r"❯ /tasks start\s*$")


def test_the_checklist_shows_open_tasks_while_a_turn_runs_and_ctrl_t_toggles_it(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    wait = f"while [ ! -e {RELEASE} ]; do sleep 0.05; done"
    fake_server.script(
        tool_call("TaskCreate", {"subject": "Run the tests", "description": "all of them",
                                 "activeForm": "Running the tests"}, id="c1"),
        tool_call("TaskCreate", {"subject": "Write the docs", "description": ""}, id="c2"),
        tool_call("TaskUpdate", {"taskId": "1", "status": "in_progress"}, id="c3"),
        tool_call("Bash", {"command": wait}, id="c4"),
        text("All set."),
    )
    term.start("--accept-all").wait_prompt()
    term.type("plan and run")
    term.send("Enter")
    screen = wait_visible(term, RUNNING, shown=True)
    assert "◻ Write the docs" in screen and "All set." not in screen
    term.send("C-t")
    screen = wait_visible(term, RUNNING, shown=False)
    assert "◻ Write the docs" not in screen and "All set." not in screen  # still running, list hidden
    term.send("C-t")
    wait_visible(term, RUNNING, shown=True)
    (cli.project / RELEASE).touch()
    term.wait_for("All set.")
    term.wait_prompt(2)
    assert not re.search(RUNNING, visible(term))  # the checklist goes with the turn
