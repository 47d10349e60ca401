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
    """`sh -c COMMAND` in its own process group, killed whole on timeout or cancellation."""
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", handler.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=cwd, env=dict(env), start_new_session=True)
    except OSError as exc:
        return Ran(None, failure=f"could not start: {exc.strerror or exc}",
                   seconds=time.monotonic() - started)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        await _kill(proc)
        return Ran(None, failure=f"timed out after {timeout:g}s and was stopped",
                   seconds=time.monotonic() - started)
    finally:
        if proc.returncode is None:  # cancelled (Esc): it stops with the turn
            await _kill(proc)
    return Ran(proc.returncode, _text(out), _text(err), seconds=time.monotonic() - started)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(proc.wait())


async def run_http(handler: Handler, body: bytes, *, environ: Mapping[str, str], timeout: float) -> Ran:
    """POST the JSON; a 2xx answer's body is read as a command's stdout would be (exit 0), any
    other status is a non-blocking error. `${VAR}` in headers reads only `allowedEnvVars`
    (the others become empty), so a settings file cannot ship a header that leaks a secret."""
    import httpx

    headers = {"Content-Type": "application/json",
               **{k: _expand(v, environ, handler.allowed_env) for k, v in handler.headers}}
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(handler.url, content=body, headers=headers)
    except httpx.TimeoutException:
        return Ran(None, failure=f"timed out after {timeout:g}s", seconds=time.monotonic() - started)
    except httpx.HTTPError as exc:
        return Ran(None, failure=f"could not reach it: {exc or type(exc).__name__}",
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
