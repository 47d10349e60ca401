"""Bash: run a shell command in the session's cwd, in its own process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import ClassVar

from pydantic import BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput

DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 600
MAX_OUTPUT = 30_000  # characters kept: the head and the tail, the middle elided


class BashInput(BaseModel):
    command: str = Field(description="The shell command to run")
    timeout: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT,
        description=f"Seconds before the command is killed (default {DEFAULT_TIMEOUT}, max {MAX_TIMEOUT})",
    )


class OutputBuffer:
    """Keeps the head and the tail of a stream of any size, and counts what it dropped."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.limit // 2 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        excess = len(self.tail) - self.limit // 2
        if excess > 0:
            self.dropped += excess
            del self.tail[:excess]

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if not self.dropped:
            return (head + tail).rstrip("\n")
        return f"{head}\n… [{self.dropped} bytes elided] …\n{tail}".rstrip("\n")


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """Stop the command and everything it started: TERM, a moment's grace, then KILL."""
    if proc.returncode is not None:
        return
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), grace)
            return
        except asyncio.TimeoutError:
            continue


async def _spawn(command: str, ctx: ToolContext) -> asyncio.subprocess.Process:
    """Start the command in its own process group.

    The fork happens before asyncio finishes wiring the pipes; a cancel in that
    window would leave asyncio to kill only `bash` and orphan what it started.
    So the start is shielded and, if cancelled, completed and the group stopped.
    """
    spawning = asyncio.ensure_future(asyncio.create_subprocess_exec(
        "bash", "-c", command,
        cwd=ctx.cwd, env=ctx.environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    ))
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        await kill_group(await spawning)
        raise


class BashTool:
    name: ClassVar[str] = "Bash"
    description: ClassVar[str] = (
        "Run a shell command (bash) in the project's working directory and return its "
        "output and exit code. Output is capped; prefer focused commands."
    )
    input_model: ClassVar[type[BaseModel]] = BashInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False

    def summary(self, args: BashInput) -> str:
        return args.command

    async def run(self, args: BashInput, ctx: ToolContext) -> ToolOutput:
        if not args.command.strip():
            raise ToolError("The command is empty.")
        timeout = args.timeout or DEFAULT_TIMEOUT
        proc = await _spawn(args.command, ctx)
        buffer = OutputBuffer()

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                buffer.feed(chunk)
            await proc.wait()

        timed_out = False
        try:
            await asyncio.wait_for(pump(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            await kill_group(proc)
        except asyncio.CancelledError:
            await kill_group(proc)
            raise
        text = buffer.text()
        if timed_out:
            return ToolOutput.text(
                f"{text}\n[killed after {timeout}s timeout; pass a larger timeout (max "
                f"{MAX_TIMEOUT}) or run something shorter]".lstrip(),
                is_error=True,
            )
        code = proc.returncode
        if code != 0:
            return ToolOutput.text(f"{text}\n[exit code {code}]".lstrip(), is_error=True)
        return ToolOutput.text(text or "[no output, exit code 0]")
