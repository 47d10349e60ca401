"""What the REPL shows at 80 columns, in a real terminal (tmux) against the fake model server:
a line per tool call saying what it came to, an approved edit's diff once, and tables that
fit the width."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.conftest import terminal_env
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

WIDTH = 80
TESTS = """\
def add(a, b):
    return a + b


def test_one():
    assert add(1, 1) == 2


def test_two():
    assert add(2, 2) == 4


def test_three():
    assert add(1, 1) == 3
"""


@pytest.fixture
def term(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> Iterator[Terminal]:
    """At 80 columns, the width a newcomer's terminal often has."""
    terminal = Terminal(tmp_path, terminal_env(cli, fake_server), cli.project, width=WIDTH, height=40)
    try:
        yield terminal
    finally:
        terminal.close()


def test_tool_lines_say_what_each_call_came_to_and_an_approved_diff_shows_once(
        term: Terminal, fake_server: FakeModelServer, cli: Cli) -> None:
    (cli.project / "test_calc.py").write_text(TESTS)
    pytest_run = (f"echo 'DeprecationWarning: the old API is going away' >&2; "
                  f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider test_calc.py")
    fake_server.script(
        tool_call("Read", {"file_path": "test_calc.py"}),
        tool_call("Bash", {"command": pytest_run}),
        tool_call("Edit", {"file_path": "test_calc.py", "old_string": "add(1, 1) == 3",
                           "new_string": "add(1, 2) == 3"}),
        text("fixed the test"),
    )
    term.start().wait_prompt()
    term.type("fix the failing test")
    term.send("Enter")
    term.wait_for("Bash wants to run")
    term.send("y")
    term.wait_for("Edit needs permission")
    term.send("y")
    screen = term.wait_for("fixed the test")
    shown = f"screen:\n{screen}"
    assert "✓ Read 14 lines" in screen, shown
    assert "def add(a, b)" not in screen, shown  # no line of the file stands for the read
    assert re.search(r"^✗ exit 1 · 1 failed, 2 passed in [\d.]+s$", screen, re.M), shown
    assert "✓ Edited test_calc.py +1 −1" in screen, shown
    assert screen.count("+    assert add(1, 2) == 3") == 1, shown  # in the prompt, not again after
    assert screen.count("-    assert add(1, 1) == 3") == 1, shown
    assert all(len(line) <= WIDTH for line in screen.splitlines()), shown
    assert "assert add(1, 2) == 3" in (cli.project / "test_calc.py").read_text()


def test_help_and_model_fit_80_columns(term: Terminal) -> None:
    term.start().wait_prompt()
    term.type("/help")
    term.send("Enter")
    term.wait_for(r"Ctrl\+D, or Ctrl\+C twice")
    term.wait_prompt(2)
    term.type("/model")
    term.send("Enter")
    term.wait_for("Available models")
    screen = term.wait_prompt(3)
    shown = f"screen:\n{screen}"
    help_lines = screen[screen.index("Commands"):].split("❯", 1)[0].splitlines()
    model_lines = screen[screen.index("Available models"):].split("❯", 1)[0].splitlines()[1:]
    table = [line for line in help_lines + model_lines if line and line not in ("Commands", "Keys")]
    assert len(table) > 20, shown
    # capture-pane joins the lines the terminal wrapped, so a line that did not fit is longer
    # than 80; a line rich wrapped itself starts at column 0.
    assert all(len(line) <= WIDTH for line in table), shown
    assert all(line.startswith("  ") for line in table if not line.startswith("[")), shown
    assert re.search(r"^  /cloudsave \[setup TOKEN", screen, re.M), shown
