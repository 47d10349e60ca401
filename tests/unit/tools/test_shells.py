"""Bash in the background, BashOutput and KillShell: unit tests and runs through the loop.

Output is made to appear by the test (a command waits for a file the test creates),
and reads use BashOutput's wait, so nothing depends on how fast a command runs.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.bash import BashInput, BashTool
from nano_claude.tools.shells import (
    MAX_RUNNING,
    BackgroundShell,
    BashOutputInput,
    BashOutputTool,
    KillShellInput,
    KillShellTool,
    UnreadOutput,
    stop_all,
)
from tests.fakes.server import FakeModelServer
from tests.processes import alive
from tests.toolkit import call, drive

WAIT_FOR_GO = "echo first; while [ ! -e go ]; do sleep 0.05; done; echo second"
TOOLS = [BashTool(), BashOutputTool(), KillShellTool()]


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ToolContext]:
    ctx = ToolContext(cwd=tmp_path, environ=dict(os.environ))
    yield ctx
    await ctx.aclose()


async def start(ctx: ToolContext, command: str, timeout: int | None = None) -> BackgroundShell:
    await BashTool().run(BashInput(command=command, run_in_background=True, timeout=timeout), ctx)
    shell = list(ctx.shells.values())[-1]
    assert isinstance(shell, BackgroundShell)
    return shell


async def read(ctx: ToolContext, id: str = "bash_1", **kw: object) -> str:
    out = await BashOutputTool().run(BashOutputInput.model_validate({"id": id, **kw}), ctx)
    assert not out.is_error
    return out.content[0].text


def dies(pid: int) -> bool:
    """A signal was sent: the kernel takes a moment to deliver it and tear the process
    down (bounded, for the kernel; nothing of ours runs meanwhile)."""
    for _ in range(250):
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


# --- starting -----------------------------------------------------------------


async def test_background_bash_returns_an_id_at_once_and_says_how_to_read_it(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="sleep 30", run_in_background=True), ctx)
    text = out.content[0].text
    assert not out.is_error
    assert "bash_1" in text and 'BashOutput(id="bash_1")' in text and "KillShell" in text
    assert ctx.shells["bash_1"].running
    await BashTool().run(BashInput(command="sleep 31", run_in_background=True), ctx)
    assert list(ctx.shells) == ["bash_1", "bash_2"]


async def test_bash_declares_shell_permission_on_its_command() -> None:
    args = BashInput(command="npm test", run_in_background=True)
    assert BashTool.permission_kind == "shell"
    assert BashTool().permission_target(args) == "npm test"


async def test_too_many_running_background_commands_are_refused(ctx: ToolContext) -> None:
    for i in range(MAX_RUNNING):
        await start(ctx, f"sleep {60 + i}")
    with pytest.raises(ToolError, match="KillShell"):
        await BashTool().run(BashInput(command="sleep 1", run_in_background=True), ctx)


# --- reading ------------------------------------------------------------------


async def test_bash_output_returns_only_output_new_since_the_last_read(ctx: ToolContext) -> None:
    await start(ctx, WAIT_FOR_GO)
    first = await read(ctx, wait=30)
    assert first.startswith("first\n") and "still running" in first
    (ctx.cwd / "go").touch()
    second = await read(ctx, wait=30)
    assert second.startswith("second") and "first" not in second
    last = await read(ctx, wait=30)  # nothing new: waits for the exit
    assert last == "[no new output]\n[bash_1 exited with code 0]"


async def test_bash_output_reports_how_the_command_ended(ctx: ToolContext) -> None:
    shell = await start(ctx, "echo oops; exit 3")
    await shell.finished.wait()
    assert await read(ctx) == "oops\n[bash_1 exited with code 3]"


async def test_bash_output_filter_keeps_only_matching_lines(ctx: ToolContext) -> None:
    shell = await start(ctx, "printf 'ok 1\\nerror 2\\nok 3\\n'")
    await shell.finished.wait()
    text = await read(ctx, filter="^ok")
    assert text.splitlines() == [
        "ok 1", "ok 3", "[2 of 3 new lines matched /^ok/; bash_1 exited with code 0]"]
    assert (await read(ctx)).startswith("[no new output]")  # the unmatched lines were consumed


async def test_bash_output_wait_with_a_filter_returns_once_a_line_matches(ctx: ToolContext) -> None:
    await start(ctx, "echo noise; sleep 0.2; echo ready on 8080; sleep 30")
    text = await read(ctx, filter="ready", wait=30)
    assert text.startswith("ready on 8080\n") and "noise" not in text and "still running" in text


async def test_bash_output_rejects_an_invalid_filter(ctx: ToolContext) -> None:
    await start(ctx, "sleep 30")
    with pytest.raises(ToolError, match="Invalid filter regex"):
        await BashOutputTool().run(BashOutputInput(id="bash_1", filter="("), ctx)


async def test_unknown_ids_are_errors_that_list_the_known_ones(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="none has been started"):
        await BashOutputTool().run(BashOutputInput(id="bash_1"), ctx)
    await start(ctx, "sleep 30")
    with pytest.raises(ToolError, match=r"Known ids: bash_1 \(running: sleep 30\)"):
        await BashOutputTool().run(BashOutputInput(id="bash_7"), ctx)
    with pytest.raises(ToolError, match="Known ids: bash_1"):
        await KillShellTool().run(KillShellInput(id="shell_2"), ctx)


def test_ids_also_accept_claude_code_parameter_names() -> None:
    assert BashOutputInput.model_validate({"bash_id": "bash_3"}).id == "bash_3"
    assert KillShellInput.model_validate({"shell_id": "bash_4"}).id == "bash_4"


def test_unread_output_keeps_head_and_tail_and_says_what_was_dropped() -> None:
    out = UnreadOutput(limit=100)
    for i in range(1000):
        out.feed(f"{i:04d}\n".encode())
    text, dropped = out.take()
    assert text.startswith("0000\n") and text.endswith("0999\n") and dropped > 4000
    assert f"[{dropped} bytes dropped" in text
    assert out.take() == ("", 0)  # a read takes everything


def test_unread_output_keeps_a_character_split_between_reads_whole() -> None:
    out = UnreadOutput()
    data = "café".encode()
    out.feed(data[:-1])
    assert out.take() == ("caf", 0)
    out.feed(data[-1:])
    assert out.take() == ("é", 0)


# --- stopping -----------------------------------------------------------------


async def test_kill_shell_stops_the_whole_process_group(ctx: ToolContext) -> None:
    shell = await start(ctx, "sleep 50 & echo $!; sleep 51")
    child = int((await read(ctx, wait=30)).splitlines()[0])
    assert alive(child)
    out = await KillShellTool().run(KillShellInput(id="bash_1"), ctx)
    assert not out.is_error and out.content[0].text.startswith("Stopped bash_1 (sleep 50 & echo")
    assert dies(child) and not alive(shell.proc.pid)
    assert (await read(ctx)).endswith("[bash_1 stopped by KillShell]")


async def test_kill_shell_on_a_finished_command_says_so_and_returns_its_unread_output(
        ctx: ToolContext) -> None:
    shell = await start(ctx, "echo bye")
    await shell.finished.wait()
    out = await KillShellTool().run(KillShellInput(id="bash_1"), ctx)
    assert not out.is_error
    assert out.content[0].text == (
        "bash_1 had already finished (exited with code 0); nothing to stop.\nUnread output:\nbye")


async def test_background_timeout_kills_the_command(ctx: ToolContext) -> None:
    shell = await start(ctx, "sleep 40 & echo $!; wait", timeout=1)
    child = int((await read(ctx, wait=30)).splitlines()[0])
    await shell.finished.wait()
    assert shell.status() == "killed after its 1s timeout"
    assert dies(child)


async def test_jobs_left_behind_by_a_finished_background_command_are_stopped(ctx: ToolContext) -> None:
    shell = await start(ctx, "sleep 45 & echo $!")
    await shell.finished.wait()
    child = int((await read(ctx)).splitlines()[0])
    assert dies(child)


async def test_stop_all_stops_every_background_command(ctx: ToolContext) -> None:
    shells = [await start(ctx, f"sleep {52 + i} & echo $!; wait") for i in range(2)]
    children = [int((await read(ctx, s.id, wait=30)).splitlines()[0]) for s in shells]
    await stop_all(ctx)
    for shell, child in zip(shells, children, strict=True):
        assert shell.status() == "stopped when the session ended"
        assert dies(child) and not alive(shell.proc.pid)


# --- through the loop ---------------------------------------------------------


async def test_background_command_read_and_killed_through_the_loop(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(
        fake_server, tmp_path,
        call("Bash", {"command": WAIT_FOR_GO + "; sleep 53", "run_in_background": True}),
        call("BashOutput", {"id": "bash_1", "wait": 30}, id="read_1"),
        call("Bash", {"command": "touch go"}),
        call("BashOutput", {"bash_id": "bash_1", "wait": 30}, id="read_2"),
        call("KillShell", {"shell_id": "bash_1"}),
        tools=TOOLS,
    )
    started, first, _, second, killed = (run.result(i) for i in range(1, 6))
    assert not started.is_error and "bash_1" in started.text
    assert first.text.startswith("first\n")
    assert second.text.startswith("second\n") and "first" not in second.text
    assert not killed.is_error and killed.text.startswith("Stopped bash_1")
    assert run.ctx.shells["bash_1"].status() == "stopped by KillShell"


async def test_session_end_stops_background_commands(fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(
        fake_server, tmp_path,
        call("Bash", {"command": "sleep 54 & echo $!; sleep 55", "run_in_background": True}),
        call("BashOutput", {"id": "bash_1", "wait": 30}),
        tools=TOOLS,
    )
    child = int(run.result(2).text.splitlines()[0])
    shell = run.ctx.shells["bash_1"]
    assert shell.status() == "stopped when the session ended"
    assert dies(child) and not alive(shell.proc.pid)


async def test_unknown_id_through_the_loop_is_an_error_result(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(fake_server, tmp_path, call("KillShell", {"id": "bash_9"}), tools=TOOLS)
    assert run.result().is_error and "none has been started" in run.result().text


def test_background_commands_die_with_the_event_loop_even_without_stop_all(tmp_path: Path) -> None:
    async def leave_running() -> int:
        ctx = ToolContext(cwd=tmp_path, environ=dict(os.environ))
        await start(ctx, "sleep 56 & echo $!; sleep 57")
        return int((await read(ctx, wait=30)).splitlines()[0])

    child = asyncio.run(leave_running())  # ends the loop: its tasks are cancelled
    assert dies(child)
