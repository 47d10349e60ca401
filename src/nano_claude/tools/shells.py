"""Background commands: started by Bash(run_in_background), read by BashOutput, stopped by
KillShell or when the session ends.

They live in `ctx.shells` (id -> BackgroundShell) and keep running across turns, so
they need the event loop that runs the session; whatever stops that loop stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from typing import ClassVar

from pydantic import AliasChoices, BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.bash import (
    DRAIN_GRACE,
    MAX_OUTPUT,
    OutputBuffer,
    ProcessWatch,
    kill_group,
    signal_group,
    spawn,
)
from nano_claude.tools.files import n_lines
from nano_claude.tools.runners import last_line, runner_line

MAX_RUNNING = 8  # background commands running at once, per session
MAX_WAIT = 120  # seconds BashOutput may wait for output
STOP_GRACE = 2.0  # seconds a stopped command's jobs get to exit before KILL


def _split_incomplete(data: bytes) -> tuple[bytes, bytes]:
    """Hold back the start of a UTF-8 character whose remaining bytes have not arrived."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        need = 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2 if byte >= 0xC0 else 1
        return (data[:-back], data[-back:]) if need > back else (data, b"")
    return data, b""


class UnreadOutput:
    """Output the model has not read yet, within a cap (head and tail kept, the middle
    counted as dropped). A read takes all of it, so each read returns only new output."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        self.limit = limit
        self._buffer = OutputBuffer(limit)
        self._carry = b""  # a character split across two reads, kept for the second

    def feed(self, data: bytes) -> None:
        self._buffer.feed(data)

    @property
    def pending(self) -> bool:
        b = self._buffer
        return bool(b.head or b.tail or b.dropped)

    def peek(self) -> str:
        b = self._buffer
        return (self._carry + b.head + b.tail).decode("utf-8", errors="replace")

    def take(self, *, final: bool = False) -> tuple[str, int]:
        """The unread output as text, and how many bytes of it were dropped."""
        b, self._buffer = self._buffer, OutputBuffer(self.limit)
        head, tail = self._carry + bytes(b.head), bytes(b.tail)
        if b.dropped:
            tail, self._carry = (tail, b"") if final else _split_incomplete(tail)
            text = (f"{head.decode('utf-8', errors='replace')}\n… [{b.dropped} bytes dropped: more "
                    f"output than fits between two reads] …\n{tail.decode('utf-8', errors='replace')}")
        else:
            data, self._carry = (head + tail, b"") if final else _split_incomplete(head + tail)
            text = data.decode("utf-8", errors="replace")
        return text, b.dropped


class BackgroundShell:
    """One background command: its process group, its unread output and why it ended."""

    def __init__(self, id: str, command: str, proc: asyncio.subprocess.Process,
                 events: ProcessWatch, timeout: float | None) -> None:
        self.id = id
        self.command = command
        self.proc = proc
        self.output = UnreadOutput()
        self.ended = ""  # set when we ended it: "stopped by KillShell", "killed after ..."
        self.finished = asyncio.Event()  # exited, its output collected, its jobs stopped
        self._news = asyncio.Event()  # new output arrived, or it finished
        self._events = events  # exited; exited with its pipe closed
        self._reader = asyncio.ensure_future(self._pump())
        self._watcher = asyncio.ensure_future(self._watch(timeout))

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def status(self) -> str:
        if self.running:
            return "running"
        code = self.proc.returncode
        if self.ended:
            return self.ended
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with code {code}"

    async def _pump(self) -> None:
        assert self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.output.feed(chunk)
            self._news.set()

    async def _watch(self, timeout: float | None) -> None:
        try:
            try:
                await asyncio.wait_for(self._events.exited.wait(), timeout)
            except asyncio.TimeoutError:
                self.ended = f"killed after its {timeout:g}s timeout"
                await kill_group(self.proc)
            # bash is done; a job it left may still hold the pipe: collect a moment, then stop it
            await _settle(self._reader, DRAIN_GRACE)
            await kill_group(self.proc)
        except asyncio.CancelledError:
            # The event loop is going away without stop_all: nothing may outlive it.
            signal_group(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._events.closed.wait(), STOP_GRACE)
            raise
        finally:
            self._reader.cancel()
            self.finished.set()
            self._news.set()

    async def wait(self, seconds: float, pattern: re.Pattern[str] | None) -> None:
        """Until there is new output (matching `pattern`, if given), it finishes, or time is up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.running and not self._has_news(pattern):
            self._news.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._news.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _has_news(self, pattern: re.Pattern[str] | None) -> bool:
        if not self.output.pending:
            return False
        return pattern is None or any(pattern.search(line) for line in self.output.peek().splitlines())

    async def stop(self, reason: str) -> bool:
        """Stop the command and everything it started; False if it had already finished."""
        if not self.running:
            # Its jobs got TERM when it exited; whatever ignored that goes now.
            signal_group(self.proc.pid, signal.SIGKILL)
            return False
        self.ended = reason
        await kill_group(self.proc)
        await _settle(self._reader, STOP_GRACE)  # EOF: every job holding the pipe is gone
        signal_group(self.proc.pid, signal.SIGKILL)
        await self.finished.wait()
        return True


async def _settle(task: asyncio.Future[None], seconds: float) -> None:
    """Wait for a task a while without cancelling it."""
    if not task.done():
        await asyncio.wait({task}, timeout=seconds)


def _next_id(ctx: ToolContext) -> str:
    n = len(ctx.shells) + 1
    while f"bash_{n}" in ctx.shells:
        n += 1
    return f"bash_{n}"


async def start_background(command: str, ctx: ToolContext, timeout: float | None) -> ToolOutput:
    running = [s.id for s in ctx.shells.values() if isinstance(s, BackgroundShell) and s.running]
    if len(running) >= MAX_RUNNING:
        raise ToolError(f"{len(running)} background commands are already running ({', '.join(running)}); "
                        "stop one with KillShell before starting another.")
    proc, events = await spawn(command, ctx)
    shell = BackgroundShell(_next_id(ctx), command, proc, events, timeout)
    ctx.shells[shell.id] = shell
    limit = f" It is killed after {timeout}s." if timeout else ""
    return ToolOutput.text(
        f"Started in the background as {shell.id} (pid {proc.pid}).{limit} Read its new output with "
        f'BashOutput(id="{shell.id}"), with wait=N to wait up to N seconds for some; stop it with '
        f'KillShell(id="{shell.id}"). It keeps running across turns and is stopped when the session ends.',
        summary=f"started in the background as {shell.id}",
    )


def shell_of(ctx: ToolContext, id: str) -> BackgroundShell:
    shell = ctx.shells.get(id)
    if isinstance(shell, BackgroundShell):
        return shell
    if not ctx.shells:
        raise ToolError(f"No background command {id!r}: none has been started in this session "
                        "(start one with Bash and run_in_background=true).")
    known = ", ".join(f"{s.id} ({s.status()}: {_short(s.command)})" for s in ctx.shells.values())
    raise ToolError(f"No background command {id!r}. Known ids: {known}.")


def _short(command: str, width: int = 60) -> str:
    line = " ".join(command.split())
    return line if len(line) <= width else line[:width - 1] + "…"


def _kill_all(ctx: ToolContext) -> None:
    """Last resort when stopping them politely failed or was interrupted."""
    for shell in ctx.shells.values():
        if isinstance(shell, BackgroundShell):
            signal_group(shell.proc.pid, signal.SIGKILL)


async def stop_all(ctx: ToolContext) -> None:
    """The session ends: no background command outlives it."""
    shells = [s for s in ctx.shells.values() if isinstance(s, BackgroundShell)]
    try:
        await asyncio.gather(*(s.stop("stopped when the session ended") for s in shells))
    except BaseException:
        _kill_all(ctx)
        raise


# --- tools -------------------------------------------------------------------


class BashOutputInput(BaseModel):
    id: str = Field(validation_alias=AliasChoices("id", "bash_id"),
                    description="The background command's id, e.g. bash_1")
    filter: str | None = Field(None, description="Regex: return only matching lines (the rest are discarded)")
    wait: float = Field(0, ge=0, le=MAX_WAIT,
                        description=f"Seconds to wait for new (matching) output or the exit (max {MAX_WAIT})")


def _compile(filter: str | None) -> re.Pattern[str] | None:
    if filter is None:
        return None
    try:
        return re.compile(filter)
    except re.error as exc:
        raise ToolError(f"Invalid filter regex {filter!r}: {exc}. Fix it (Python re syntax) "
                        "or leave filter out.") from None


def _render(shell: BackgroundShell, pattern: re.Pattern[str] | None) -> tuple[str, str]:
    """The new output (filtered) and a status line saying what to do next; and, for people,
    how it ended (with a test runner's summary line) or how much new output came."""
    finished = not shell.running
    text, dropped = shell.output.take(final=finished)
    notes = []
    if pattern is not None:
        lines = text.splitlines()
        kept = [line for line in lines if pattern.search(line)]
        notes.append(f"{len(kept)} of {len(lines)} new lines matched /{pattern.pattern}/")
        if dropped:
            notes.append(f"{dropped} bytes were dropped before filtering")
        text = "\n".join(kept)
    text = text.rstrip("\n")
    new = len(text.splitlines())
    text = text or "[no new output]"
    if finished:
        notes.append(f"{shell.id} {shell.status()}")
        gist = (runner_line(text) or last_line(text)) if new else ""
        summary = f"{shell.id} {shell.status()}" + (f" · {gist}" if gist else "")
    else:
        notes.append(f"{shell.id} is still running; read again later (or use wait), "
                     "or stop it with KillShell")
        summary = f"{n_lines(new)} of new output; {shell.id} is still running"
    return f"{text}\n[{'; '.join(notes)}]", summary


class BashOutputTool:
    name: ClassVar[str] = "BashOutput"
    description: ClassVar[str] = (
        "Read the new output of a background command (started with Bash run_in_background): "
        "only what arrived since your last read, then its status: running, or how it ended. "
        "filter keeps only lines matching a regex. wait=N waits up to N seconds for new "
        "(matching) output or the exit, instead of polling again and again."
    )
    input_model: ClassVar[type[BaseModel]] = BashOutputInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: BashOutputInput) -> str:
        return args.id + (f" /{args.filter}/" if args.filter else "")

    async def run(self, args: BashOutputInput, ctx: ToolContext) -> ToolOutput:
        shell = shell_of(ctx, args.id)
        pattern = _compile(args.filter)
        if args.wait:
            await shell.wait(args.wait, pattern)
        text, summary = _render(shell, pattern)
        return ToolOutput.text(text, summary=summary)


class KillShellInput(BaseModel):
    id: str = Field(validation_alias=AliasChoices("id", "shell_id"),
                    description="The background command's id, e.g. bash_1")


class KillShellTool:
    name: ClassVar[str] = "KillShell"
    description: ClassVar[str] = (
        "Stop a background command (started with Bash run_in_background) and every process it "
        "started. Returns its unread output and final status. Stopping one that already "
        "finished is harmless."
    )
    input_model: ClassVar[type[BaseModel]] = KillShellInput
    read_only: ClassVar[bool] = True  # it only stops what this session started
    concurrency_safe: ClassVar[bool] = False

    def summary(self, args: KillShellInput) -> str:
        return args.id

    async def run(self, args: KillShellInput, ctx: ToolContext) -> ToolOutput:
        shell = shell_of(ctx, args.id)
        if await shell.stop("stopped by KillShell"):
            head = f"Stopped {shell.id} ({_short(shell.command)}) and everything it started."
        else:
            head = f"{shell.id} had already finished ({shell.status()}); nothing to stop."
        text, _ = shell.output.take(final=True)
        tail = f"Unread output:\n{text.rstrip(chr(10))}" if text.strip() else "No unread output."
        return ToolOutput.text(f"{head}\n{tail}")
