from __future__ import annotations

import os
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext
from nano_claude.tools.bash import BashInput, BashTool, OutputBuffer
from tests.processes import alive


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(cwd=tmp_path, environ=dict(os.environ))


async def test_bash_runs_in_cwd_and_reports_exit_code(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="pwd; exit 3"), ctx)
    assert out.is_error and str(ctx.cwd) in out.content[0].text
    assert "[exit code 3]" in out.content[0].text


async def test_bash_timeout_kills_the_group_and_keeps_output(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="echo started; sleep 30", timeout=1), ctx)
    text = out.content[0].text
    assert out.is_error and "started" in text and "timeout" in text


def test_output_buffer_keeps_head_and_tail() -> None:
    buf = OutputBuffer(limit=100)
    for i in range(1000):
        buf.feed(f"{i:04d}\n".encode())
    text = buf.text()
    assert text.startswith("0000\n") and text.endswith("0999")
    assert "bytes elided" in text and len(text) < 200


async def test_bash_returns_when_the_command_ends_and_stops_its_background_jobs(
        ctx: ToolContext) -> None:
    import time

    start = time.monotonic()
    out = await BashTool().run(BashInput(command="echo hi; sleep 37 & echo $! > bg.pid", timeout=30), ctx)
    assert time.monotonic() - start < 10  # not the 30 s timeout
    assert not out.is_error and out.content[0].text.startswith("hi")
    pid = int((ctx.cwd / "bg.pid").read_text())
    import asyncio

    for _ in range(100):  # TERM was sent; give the kernel a moment to deliver it
        if not alive(pid):
            break
        await asyncio.sleep(0.02)
    assert not alive(pid)


async def test_bash_timeout_kills_the_commands_children(ctx: ToolContext) -> None:
    out = await BashTool().run(BashInput(command="sleep 40 & echo $! > c.pid; wait", timeout=1), ctx)
    assert out.is_error and "timeout" in out.content[0].text
    assert not alive(int((ctx.cwd / "c.pid").read_text()))
