"""Bash: run a shell command in the session's cwd, in its own process group."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
from typing import ClassVar

from pydantic import BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.runners import command_summary, last_line, runner_line

DEFAULT_TIMEOUT = 120
MAX_TIMEOUT = 600
MAX_OUTPUT = 30_000  # characters kept: the head and the tail, the middle elided


class BashInput(BaseModel):
    command: str = Field(description="The shell command to run")
    timeout: int | None = Field(
        None, ge=1, le=MAX_TIMEOUT,
        description=f"Seconds before the command is killed (default {DEFAULT_TIMEOUT}, max {MAX_TIMEOUT}; "
                    "background commands: no limit unless given)",
    )
    run_in_background: bool = Field(
        False, description="Start it and return at once with an id (for servers, watchers, long builds)",
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


DRAIN_GRACE = 0.5  # seconds to collect output after bash exits, if something still holds the pipe


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _exit_of(proc: asyncio.subprocess.Process) -> None:
    # Not proc.wait(): before 3.12 it also waits for pipes an escaped child may hold.
    while proc.returncode is None:
        await asyncio.sleep(0.02)


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    """Stop the command and everything it started, background jobs included:
    TERM, a moment's grace, then KILL."""
    signal_group(proc.pid, signal.SIGTERM)
    if proc.returncode is None:
        try:
            await asyncio.wait_for(_exit_of(proc), 2.0)
        except asyncio.TimeoutError:
            signal_group(proc.pid, signal.SIGKILL)
            await _exit_of(proc)
    # Whatever ignored TERM in the background gets KILL shortly, without holding us up.
    asyncio.get_running_loop().call_later(2.0, signal_group, proc.pid, signal.SIGKILL)


class ProcessWatch(asyncio.subprocess.SubprocessStreamProtocol):
    """Signals when bash exits, and when its output pipe has closed as well. Before
    Python 3.12, Process.wait() also waits for the pipe, which a job left in the
    background keeps open indefinitely."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()  # exited and the pipe closed: nothing is left to clean up
        self._pipe_open = True

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()
        self._check_closed()

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        super().pipe_connection_lost(fd, exc)
        if fd == 1:
            self._pipe_open = False
            self._check_closed()

    def _check_closed(self) -> None:
        if self.exited.is_set() and not self._pipe_open:
            self.closed.set()


async def _start(argv: list[str], ctx: ToolContext) -> tuple[asyncio.subprocess.Process, ProcessWatch]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: ProcessWatch(2**16, loop), *argv,
        cwd=ctx.cwd, env=ctx.environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    return asyncio.subprocess.Process(transport, protocol, loop), protocol


async def spawn(command: str, ctx: ToolContext) -> tuple[asyncio.subprocess.Process, ProcessWatch]:
    """Start the command in its own process group (inside bubblewrap when the session
    is sandboxed: the group is then bwrap's, and killing it ends the sandbox).

    The fork happens before asyncio finishes wiring the pipes; a cancel in that
    window would leave asyncio to kill only `bash` and orphan what it started.
    So the start is shielded and, if cancelled, completed and the group stopped.
    """
    argv = ["bash", "-c", command]
    if ctx.sandbox:
        from nano_claude.tools.sandbox import sandboxed

        argv = await sandboxed(argv, ctx)
    spawning = asyncio.ensure_future(_start(argv, ctx))
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        proc, _ = await spawning
        await kill_group(proc)
        raise


class BashTool:
    name: ClassVar[str] = "Bash"
    description: ClassVar[str] = (
        "Run a shell command (bash) in the project's working directory and return its "
        "output and exit code. Output is capped; prefer focused commands. With "
        "run_in_background the command keeps running across turns: read its new output "
        "with BashOutput, stop it with KillShell. Never end a command with & (such jobs "
        "are stopped when the command returns): use run_in_background instead."
    )
    input_model: ClassVar[type[BaseModel]] = BashInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "shell"

    def summary(self, args: BashInput) -> str:
        return f"{args.command} (background)" if args.run_in_background else args.command

    def permission_target(self, args: BashInput) -> str:
        return args.command

    async def run(self, args: BashInput, ctx: ToolContext) -> ToolOutput:
        if not args.command.strip():
            raise ToolError("The command is empty.")
        if args.run_in_background:
            from nano_claude.tools.shells import start_background

            return await start_background(args.command, ctx, args.timeout)
        timeout = args.timeout or DEFAULT_TIMEOUT
        proc, watch = await spawn(args.command, ctx)
        buffer = OutputBuffer()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")

        async def pump() -> None:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                buffer.feed(chunk)
                if ctx.on_output is not None:  # the UI shows a long command's tail as it runs
                    ctx.on_output(decoder.decode(chunk))

        reader = asyncio.ensure_future(pump())
        timed_out = False
        try:
            await asyncio.wait_for(watch.exited.wait(), timeout)
        except asyncio.TimeoutError:
            timed_out = True
            await kill_group(proc)
        except asyncio.CancelledError:
            reader.cancel()
            await kill_group(proc)
            raise
        # bash is done; a job it left in the background may still hold the pipe open.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader, DRAIN_GRACE)
        if not timed_out:
            await kill_group(proc)  # nothing the command started outlives it
        text = buffer.text()
        if timed_out:
            gist = runner_line(text) or last_line(text)
            return ToolOutput.text(
                f"{text}\n[killed after {timeout}s timeout; pass a larger timeout (max "
                f"{MAX_TIMEOUT}) or run something shorter]".lstrip(),
                is_error=True, summary=f"killed after {timeout}s timeout" + (f" · {gist}" if gist else ""),
            )
        code = proc.returncode
        summary = command_summary(text, code)
        if code != 0:
            return ToolOutput.text(f"{text}\n[exit code {code}]".lstrip(), is_error=True, summary=summary)
        return ToolOutput.text(text or "[no output, exit code 0]", summary=summary)
