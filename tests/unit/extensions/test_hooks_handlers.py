"""One hook's handler run for real: a command that leaves a job in the background still
answers as soon as it exits, and an HTTP hook that cannot even be sent fails visibly
instead of breaking the call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from pathlib import Path

from nano_claude.core.messages import ToolUseBlock
from nano_claude.extensions.hooks.config import Handler
from nano_claude.extensions.hooks.handlers import run_command, run_http
from nano_claude.extensions.hooks.runner import HookFailed
from tests.processes import alive
from tests.unit.extensions.test_hooks_runner import command, make_agent, with_hooks

DENY = json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                          "permissionDecisionReason": "not on Fridays"}})


async def test_a_hook_that_leaves_a_job_behind_answers_when_it_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"PreToolUse": [command(f"sleep 30 & echo $! > {pid_file}; echo '{DENY}'",
                                                      "Bash", timeout=3)]})
    started = time.monotonic()
    try:
        decision = await hooks.pre_tool_use(ToolUseBlock("c1", "Bash", {"command": "ls"}))
    finally:
        job = int(pid_file.read_text())
        was_alive = alive(job)
        os.kill(job, signal.SIGKILL)
    assert time.monotonic() - started < 2.5
    assert decision.notices == []
    assert decision.permission == "deny" and decision.permission_reason == "not on Fridays"
    assert was_alive  # a job a hook starts on purpose (a sound, a notifier) is left to run


async def test_a_command_that_exits_keeps_its_exit_code_and_both_outputs(tmp_path: Path) -> None:
    handler = Handler(type="command", command="cat; echo oops >&2; (sleep 20 &); exit 3")
    ran = await run_command(handler, b"the event", cwd=tmp_path, env=dict(os.environ), timeout=10)
    assert (ran.code, ran.stdout, ran.stderr, ran.failure) == (3, "the event", "oops\n", "")
    assert ran.seconds < 5


async def test_an_http_hook_whose_headers_cannot_be_sent_fails_visibly(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "http", "url": "http://127.0.0.1:9/hook", "headers": {"X-Who": "é${WHO}"}}]}]})
    decision = await hooks.pre_tool_use(ToolUseBlock("c1", "Bash", {"command": "ls"}))
    [failed] = decision.notices
    assert isinstance(failed, HookFailed)
    assert "PreToolUse hook `http://127.0.0.1:9/hook` failed" in failed.text
    assert decision.permission is None  # a hook that renders no decision leaves the call to the rules


async def test_an_http_hook_that_answers_slowly_is_cut_at_its_whole_timeout(tmp_path: Path) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(100):  # a byte now and then: no single read waits past the timeout
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    handler = Handler(type="http", url=f"http://127.0.0.1:{port}/hook", timeout=1)
    started = time.monotonic()
    async with server:
        ran = await run_http(handler, b"{}", environ={}, timeout=1)
    assert time.monotonic() - started < 5
    assert ran.code is None and ran.failure == "timed out after 1s"
