"""The loop guard, through the real loop against the scripted model server: a model that
goes in circles is stopped (headless: by policy) or the user is asked whether to go on."""

from __future__ import annotations

from pathlib import Path

from nano_claude.config import Settings
from nano_claude.core.events import Error, TurnDone
from nano_claude.core.loop import LoopOptions
from tests.fakes.script import tool_calls
from tests.fakes.server import FakeModelServer
from tests.toolkit import Answers, Run, call, drive

GLOB = call("Glob", {"pattern": "*.txt"})


def stopped(run: Run) -> str:
    """The guard's error, which must end the run as a failure."""
    errors = [e for e in run.events if isinstance(e, Error)]
    assert len(errors) == 1 and errors[0].kind == "LoopStopped", run.events
    assert run.done.stop_reason == "error"
    return errors[0].message


async def test_the_same_call_three_times_in_a_row_stops_the_run(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    run = await drive(fake_server, tmp_path, GLOB, GLOB, GLOB, finish="")
    message = stopped(run)
    assert "same call 3 times in a row" in message and "Glob" in message and "*.txt" in message
    assert len(run.finished) == 3


async def test_a_call_whose_result_changes_is_no_loop(fake_server: FakeModelServer,
                                                     tmp_path: Path) -> None:
    """Polling a command's output (the same call, new output each time) is waiting."""
    count = call("Bash", {"command": "echo x >> log && wc -l < log"})
    run = await drive(fake_server, tmp_path, count, count, count, count)
    assert run.done.stop_reason == "end_turn"
    assert (tmp_path / "log").read_text() == "x\n" * 4


async def test_polling_a_quiet_background_command_is_waiting_not_a_loop(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    """A build that prints nothing for a while answers each poll the same way."""
    start = call("Bash", {"command": "sleep 5", "run_in_background": True})
    poll = call("BashOutput", {"bash_id": "bash_1"})
    run = await drive(fake_server, tmp_path, start, poll, poll, poll, poll, max_calls_without_progress=3)
    assert run.done.stop_reason == "end_turn", run.events
    assert not [e for e in run.events if isinstance(e, Error)]


async def test_calls_without_progress_stop_the_run_at_the_limit(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    searches = [call("Glob", {"pattern": f"*.{ext}"}) for ext in ("py", "md", "toml", "cfg")]
    run = await drive(fake_server, tmp_path, *searches, finish="", max_calls_without_progress=4)
    message = stopped(run)
    assert "4 tool calls without reading a new file" in message
    assert "max_calls_without_progress" in message


async def test_reading_new_files_and_writing_to_the_user_are_progress(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    for name in "abcd":
        (tmp_path / f"{name}.txt").write_text(name)
    reads = [call("Read", {"file_path": f"{name}.txt"}) for name in "abcd"]
    talks = [tool_calls(call("Glob", {"pattern": f"*.{n}"}), text=f"Looking for {n} files.")
             for n in ("py", "md", "toml")]
    edit = call("Edit", {"file_path": "a.txt", "old_string": "a", "new_string": "b"})
    searches = [call("Glob", {"pattern": f"*.{n}"}) for n in ("ini", "cfg")]
    run = await drive(fake_server, tmp_path, *reads, *talks, *searches, edit, *searches,
                      max_calls_without_progress=3)
    assert run.done.stop_reason == "end_turn", run.events
    assert (tmp_path / "a.txt").read_text() == "b"


async def test_the_user_is_asked_and_may_let_the_run_go_on(fake_server: FakeModelServer,
                                                          tmp_path: Path) -> None:
    answers = Answers(answers=["Go on"])
    run = await drive(fake_server, tmp_path, GLOB, GLOB, GLOB, GLOB, GLOB, prompter=answers)
    assert run.done.stop_reason == "end_turn" and run.done.text == "done"
    [question] = answers.questions  # counted afresh after the answer: not asked again at 4 and 5
    assert "same call 3 times in a row" in question.question and "Let it go on?" in question.question
    assert [o.label for o in question.options] == ["Go on", "Stop"]
    assert not question.allow_freetext


async def test_the_user_may_stop_the_run(fake_server: FakeModelServer, tmp_path: Path) -> None:
    answers = Answers(answers=["Stop"])
    run = await drive(fake_server, tmp_path, GLOB, GLOB, GLOB, finish="", prompter=answers)
    assert "same call 3 times in a row" in stopped(run)
    assert len(answers.questions) == 1
    assert isinstance(run.events[-1], TurnDone)


def test_the_limit_is_a_setting_of_25_by_default() -> None:
    assert Settings().max_calls_without_progress == 25
    assert LoopOptions().max_calls_without_progress == 25
    assert Settings(max_calls_without_progress=5).max_calls_without_progress == 5
