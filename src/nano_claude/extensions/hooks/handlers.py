"""Running one hook's handler: a shell command fed the event's JSON on stdin, or a POST of
the same JSON to a URL. What it came to is a `Ran`; a handler that cannot start, times out
or fails says why in `failure`, never by raising."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nano_claude.extensions.hooks.config import Handler

DRAIN_GRACE = 0.5  # seconds to read what is left in the pipes once the hook has exited
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Ran:
    """`code`: the exit code (an HTTP hook's 2xx counts as 0); None when it did not finish."""

    code: int | None
    stdout: str = ""
    stderr: str = ""
    failure: str = ""  # why it did not finish (could not start, timed out, unreachable)
    seconds: float = 0.0
    status: int | None = None  # an HTTP hook's status

    @property
    def outcome(self) -> str:
        """How it ended, in a few words (for /hooks)."""
        if self.status is not None:
            return f"HTTP {self.status}"
        return f"exit {self.code}" if self.code is not None else "did not finish"


async def run_command(handler: Handler, stdin: bytes, *, cwd: Path, env: Mapping[str, str],
                      timeout: float) -> Ran:
    """`sh -c COMMAND` in its own process group. Its answer is in when the shell exits: a job
    it left in the background (`notify-send … &`) may hold the pipes open far longer, so what
    is still in them is read for DRAIN_GRACE and then our ends are closed; the job itself is
    left to run (a hook may start a sound or a notifier on purpose). On timeout or
    cancellation the whole group is killed."""
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        transport, watch = await loop.subprocess_exec(
            lambda: _Watch(loop), "sh", "-c", handler.command, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd, env=dict(env),
            start_new_session=True)
    except OSError as exc:
        return Ran(None, failure=f"could not start: {exc.strerror or exc}",
                   seconds=time.monotonic() - started)
    proc = asyncio.subprocess.Process(transport, watch, loop)
    out, err = bytearray(), bytearray()
    feeding = asyncio.ensure_future(_feed(proc, stdin))
    reading = [asyncio.ensure_future(_read(proc.stdout, out)), asyncio.ensure_future(_read(proc.stderr, err))]
    try:
        await asyncio.wait_for(watch.exited.wait(), timeout)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*reading), DRAIN_GRACE)
    except asyncio.TimeoutError:
        await _kill(proc, watch)
        return Ran(None, failure=f"timed out after {timeout:g}s and was stopped",
                   seconds=time.monotonic() - started)
    finally:
        if proc.returncode is None:  # cancelled (Esc): it stops with the turn
            await _kill(proc, watch)
        for task in (feeding, *reading):
            task.cancel()
        transport.close()
    return Ran(proc.returncode, _text(bytes(out)), _text(bytes(err)), seconds=time.monotonic() - started)


class _Watch(asyncio.subprocess.SubprocessStreamProtocol):
    """Says when the shell exits. Not Process.wait(): before Python 3.12 that also waits for
    the pipes, which a background job keeps open."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a hook need not read its input
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()


async def _read(stream: asyncio.StreamReader | None, into: bytearray) -> None:
    assert stream is not None
    while chunk := await stream.read(65536):
        into += chunk


async def _kill(proc: asyncio.subprocess.Process, watch: _Watch) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await asyncio.shield(watch.exited.wait())


async def run_http(handler: Handler, body: bytes, *, environ: Mapping[str, str], timeout: float) -> Ran:
    """POST the JSON; a 2xx answer's body is read as a command's stdout would be (exit 0), any
    other status is a non-blocking error. `${VAR}` in headers reads only `allowedEnvVars`
    (the others become empty), so a settings file cannot ship a header that leaks a secret.
    `timeout` is for the whole exchange: a server that answers a byte at a time is cut too."""
    import httpx

    started = time.monotonic()
    try:
        headers = {"Content-Type": "application/json",
                   **{k: _expand(v, environ, handler.allowed_env) for k, v in handler.headers}}
        async with httpx.AsyncClient(timeout=timeout) as client:
            posting = client.post(handler.url, content=body, headers=headers)
            response = await asyncio.wait_for(posting, timeout)
    except (httpx.TimeoutException, asyncio.TimeoutError):
        return Ran(None, failure=f"timed out after {timeout:g}s", seconds=time.monotonic() - started)
    except httpx.HTTPError as exc:
        return Ran(None, failure=f"could not reach it: {exc or type(exc).__name__}",
                   seconds=time.monotonic() - started)
    except Exception as exc:  # e.g. a header that is not ASCII: the hook fails, the call goes on
        return Ran(None, failure=f"could not send it: {type(exc).__name__}: {exc}",
                   seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    if not response.is_success:
        return Ran(None, stderr=response.text[:500], failure=f"answered HTTP {response.status_code}",
                   seconds=seconds, status=response.status_code)
    return Ran(0, response.text, seconds=seconds, status=response.status_code)


def _expand(value: str, environ: Mapping[str, str], allowed: tuple[str, ...]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ.get(name, "") if name in allowed else ""
    return _VAR.sub(one, value)


def _text(data: Any) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""
