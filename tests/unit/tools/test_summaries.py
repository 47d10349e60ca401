"""The one line each tool gives people about a call (ToolOutput.summary): what a Read read,
what a command came to, what a search found, what an edit changed. The model never sees
it; the REPL shows it under the call."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext
from nano_claude.tools.bash import BashInput, BashTool
from nano_claude.tools.files import EditTool, WriteTool
from nano_claude.tools.interact import SleepInput, SleepTimerTool
from nano_claude.tools.read import ReadInput, ReadTool
from nano_claude.tools.runners import command_summary, runner_line
from nano_claude.tools.search import GlobInput, GlobTool, GrepInput, GrepTool, find_rg
from nano_claude.tools.shells import BashOutputInput, BashOutputTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import call, drive

RG = find_rg(dict(os.environ))
ENGINES = [pytest.param(RG, id="rg", marks=pytest.mark.skipif(RG is None, reason="no ripgrep")),
           pytest.param(None, id="python")]


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(cwd=tmp_path, environ=dict(os.environ))


def lines(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(1, n + 1))


# --- Read ------------------------------------------------------------------------


async def test_read_says_how_many_lines_it_read_not_the_first_of_them(ctx: ToolContext) -> None:
    (ctx.cwd / "calc.py").write_text("def add(a, b):\n    return a + b\n" + lines(40))
    out = await ReadTool().run(ReadInput(file_path="calc.py"), ctx)
    assert out.summary == "Read 42 lines"
    assert "def add" in out.content[0].text  # the model still gets the lines


async def test_read_of_a_window_says_which_lines_of_how_many(ctx: ToolContext) -> None:
    (ctx.cwd / "big.txt").write_text(lines(300))
    out = await ReadTool().run(ReadInput(file_path="big.txt", offset=10, limit=31), ctx)
    assert out.summary == "Read lines 10-40 of 300"
    out = await ReadTool().run(ReadInput(file_path="big.txt", offset=290), ctx)
    assert out.summary == "Read lines 290-300 of 300"


async def test_read_of_an_empty_file_an_image_and_a_notebook(ctx: ToolContext) -> None:
    (ctx.cwd / "empty.txt").write_text("")
    assert (await ReadTool().run(ReadInput(file_path="empty.txt"), ctx)).summary == "Read an empty file"
    (ctx.cwd / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 24)
    image = await ReadTool().run(ReadInput(file_path="dot.png"), ctx)
    assert image.summary == "Read a PNG image (32 bytes)"
    (ctx.cwd / "nb.ipynb").write_text('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": ['
                                      '{"cell_type": "code", "source": "1", "metadata": {}, "outputs": []},'
                                      '{"cell_type": "markdown", "source": "# t", "metadata": {}}]}')
    assert (await ReadTool().run(ReadInput(file_path="nb.ipynb"), ctx)).summary == "Read 2 cells"


# --- Bash --------------------------------------------------------------------------


PYTEST_TESTS = """\
def test_one():
    assert 1 + 1 == 2

def test_two():
    assert 2 + 2 == 4

def test_three():
    assert 1 + 1 == 3
"""


async def test_bash_running_pytest_shows_its_counts_and_the_exit_code(ctx: ToolContext) -> None:
    (ctx.cwd / "test_calc.py").write_text(PYTEST_TESTS)
    command = (f"echo 'DeprecationWarning: the old API is going away' >&2; "
               f"{sys.executable} -m pytest -q -p no:cacheprovider test_calc.py")
    out = await BashTool().run(BashInput(command=command), ctx)
    assert out.is_error and out.content[0].text.startswith("DeprecationWarning")
    assert out.summary.startswith("exit 1 · 1 failed, 2 passed in "), out.summary


async def test_bash_running_unittest_shows_its_verdict(ctx: ToolContext) -> None:
    (ctx.cwd / "test_u.py").write_text("import unittest\n\nclass T(unittest.TestCase):\n"
                                       "    def test_ok(self):\n        self.assertTrue(True)\n"
                                       "    def test_bad(self):\n        self.assertEqual(1, 2)\n")
    out = await BashTool().run(BashInput(command=f"{sys.executable} -m unittest test_u"), ctx)
    assert out.summary.startswith("exit 1 · FAILED (failures=1) · Ran 2 tests in "), out.summary


async def test_bash_without_a_runner_shows_its_last_line(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="echo building; echo '  wrote  dist/app.js  '"), ctx)
    assert not out.is_error and out.summary == "wrote dist/app.js"
    out = await BashTool().run(BashInput(command="true"), ctx)
    assert out.summary == "done, no output"
    out = await BashTool().run(BashInput(command="echo oops >&2; exit 3"), ctx)
    assert out.summary == "exit 3 · oops"


async def test_bash_timeout_says_it_was_killed(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="echo started; sleep 30", timeout=1), ctx)
    assert out.summary == "killed after 1s timeout · started"


async def test_background_commands_say_their_id_then_how_they_ended(ctx: ToolContext) -> None:
    started = await BashTool().run(BashInput(command="echo one; echo '3 passed in 0.01s'",
                                             run_in_background=True), ctx)
    assert started.summary == "started in the background as bash_1"
    await ctx.shells["bash_1"].finished.wait()
    out = await BashOutputTool().run(BashOutputInput(id="bash_1"), ctx)
    assert out.summary == "bash_1 exited with code 0 · 3 passed in 0.01s"
    again = await BashOutputTool().run(BashOutputInput(id="bash_1"), ctx)
    assert again.summary == "bash_1 exited with code 0"
    await ctx.aclose()


async def test_a_running_background_command_says_how_much_new_output_came(ctx: ToolContext) -> None:
    await BashTool().run(BashInput(command="echo a; echo b; sleep 30", run_in_background=True), ctx)
    out = await BashOutputTool().run(BashOutputInput(id="bash_1", filter="b", wait=20), ctx)
    assert out.summary == "1 line of new output; bash_1 is still running"
    await ctx.aclose()


@pytest.mark.parametrize(("output", "line"), [
    ("collected 3 items\n\n..F\n==== 1 failed, 2 passed, 1 warning in 0.12s ====\n",
     "1 failed, 2 passed, 1 warning in 0.12s"),
    ("..\n2 passed in 0.01s\n", "2 passed in 0.01s"),
    ("\n====== no tests ran in 0.01s ======\n", "no tests ran in 0.01s"),
    ("Ran 3 tests in 0.001s\n\nOK (skipped=1)\n", "OK (skipped=1) · Ran 3 tests in 0.001s"),
    ("Test Suites: 1 failed, 1 total\nTests:       1 failed, 2 passed, 3 total\nTime: 1 s\n",
     "Tests: 1 failed, 2 passed, 3 total"),
    ("\x1b[32m Test Files \x1b[0m 1 passed (1)\n      Tests  1 failed | 2 passed (3)\n   Duration  1s\n",
     "Tests 1 failed | 2 passed (3)"),
    ("running 2 tests\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; finished in 0.00s\n\n"
     "error: test failed, to rerun pass `--lib`\n",
     "test result: FAILED. 1 passed; 1 failed; 0 ignored; finished in 0.00s"),
    ("--- FAIL: TestAdd (0.00s)\nFAIL\nFAIL\texample.com/calc\t0.004s\nok  \texample.com/util\t0.002s\n",
     "FAIL example.com/calc 0.004s"),
    ("ok  \texample.com/calc\t0.003s\n", "ok example.com/calc 0.003s"),
    ('npm error Missing script: "test"\nnpm error\nnpm error A complete log of this run can be found in: x\n',
     'npm error Missing script: "test"'),
    ("a.py:1:8: F401 unused\nFound 1 error.\n[*] 1 fixable with the `--fix` option.\n", "Found 1 error."),
    ("cc -o app app.c\napp.c:1: error\nmake: *** [Makefile:2: app] Error 1\n",
     "make: *** [Makefile:2: app] Error 1"),
    ("just some output\nand more\n", ""),
])
def test_runner_line_finds_each_runners_summary(output: str, line: str) -> None:
    assert runner_line(output) == line


def test_command_summary_puts_a_failing_exit_code_first() -> None:
    assert command_summary("x\n1 failed in 0.1s\n", 1) == "exit 1 · 1 failed in 0.1s"
    assert command_summary("", 2) == "exit 2, no output"
    assert command_summary("Traceback (most recent call last):\nZeroDivisionError: division by zero\n", 1) \
        == "exit 1 · ZeroDivisionError: division by zero"


# --- Grep and Glob ------------------------------------------------------------------


@pytest.mark.parametrize("rg", ENGINES)
async def test_grep_says_how_many_files_and_lines_it_found(ctx: ToolContext, rg: str | None) -> None:
    (ctx.cwd / "a.py").write_text("token = 1\nother\ntoken = 2\n")
    (ctx.cwd / "b.py").write_text("token = 3\n")
    (ctx.cwd / "c.py").write_text("nothing\n")
    grep = GrepTool(rg=rg)
    assert (await grep.run(GrepInput(pattern="token"), ctx)).summary == "Found 2 files"
    content = await grep.run(GrepInput(pattern="token", output_mode="content", context=1), ctx)
    assert content.summary == "Found 3 matching lines in 2 files"
    count = await grep.run(GrepInput(pattern="token", output_mode="count"), ctx)
    assert count.summary == "Found 3 matching lines in 2 files"
    assert (await grep.run(GrepInput(pattern="absent"), ctx)).summary == "No matches"


async def test_glob_says_how_many_files_it_found(ctx: ToolContext) -> None:
    for name in ("a.py", "b.py", "c.txt"):
        (ctx.cwd / name).write_text("x\n")
    assert (await GlobTool().run(GlobInput(pattern="*.py"), ctx)).summary == "Found 2 files"
    assert (await GlobTool().run(GlobInput(pattern="*.rs"), ctx)).summary == "No files found"


# --- Edit and Write, through the loop (the summary rides on ToolCallFinished) -----------------


async def test_edit_and_write_say_lines_added_and_removed_and_the_path(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\ny = 2\n")
    run = await drive(fake_server, tmp_path,
                      call("Read", {"file_path": "app.py"}),
                      call("Edit", {"file_path": "app.py", "old_string": "x = 1",
                                    "new_string": "x = 4\nz = 5"}),
                      call("Write", {"file_path": "new.py", "content": "a\nb\nc\n"}),
                      call("Read", {"file_path": "new.py"}),
                      call("Write", {"file_path": "new.py", "content": "a\nc\n"}),
                      tools=[ReadTool(), EditTool(), WriteTool()])
    summaries = [event.summary for event in run.finished]
    assert summaries == ["Read 2 lines", "Edited app.py +2 −1", "Created new.py (3 lines)", "Read 3 lines",
                         "Wrote new.py +0 −1"]
    assert "Edited app.py: 1 replacement" in run.result(2).text  # the model's text is its own


async def test_an_edit_error_comes_whole(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "app.py"}),
                      call("Edit", {"file_path": "app.py", "old_string": "x = 2", "new_string": "x = 3"}),
                      tools=[ReadTool(), EditTool()])
    failed = run.finished[1]
    assert failed.is_error and failed.summary == ""  # the UI shows the error's whole text
    assert "old_string was not found" in failed.result.text


async def test_sleep_timer_says_when_it_fires(ctx: ToolContext) -> None:
    out = await SleepTimerTool().run(SleepInput(seconds=90, note="check the build"), ctx)
    assert out.summary == "Timer set for 90s"
