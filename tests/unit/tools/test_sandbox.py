"""Bash inside bubblewrap: the project writable, the rest read-only, no network, and
timeouts and KillShell still end everything the command started.

Tests that need a working bwrap skip (with the reason) where it is missing or cannot
create namespaces; the errors for those two cases are tested everywhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.bash import BashInput, BashTool
from nano_claude.tools.sandbox import bwrap_args
from nano_claude.tools.shells import BashOutputInput, BashOutputTool, KillShellInput, KillShellTool
from tests.fakes.server import FakeModelServer
from tests.processes import alive
from tests.toolkit import call, drive


def _bwrap_problem() -> str | None:
    """Why the sandbox cannot run here, or None when it can."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    with tempfile.TemporaryDirectory() as tmp:
        ctx = ToolContext(cwd=Path(tmp), environ=dict(os.environ))
        probe = subprocess.run([bwrap, *bwrap_args(ctx), "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bwrap cannot create its sandbox here: {probe.stderr.strip()}"
    return None


BWRAP_PROBLEM = _bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=BWRAP_PROBLEM or "")


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ToolContext]:
    project = tmp_path / "project"
    project.mkdir()
    ctx = ToolContext(cwd=project, environ=dict(os.environ), project=project, sandbox=True)
    yield ctx
    await ctx.aclose()


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A directory the user may write to that is neither the project nor under /tmp."""
    try:
        path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="nano_claude_sandbox_"))
    except OSError as exc:
        pytest.skip(f"/var/tmp is not writable here: {exc}")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def bash(ctx: ToolContext, command: str, timeout: int | None = None) -> tuple[str, bool]:
    out = await BashTool().run(BashInput(command=command, timeout=timeout), ctx)
    return out.content[0].text, out.is_error


def marked(marker: str) -> list[int]:
    """Live processes whose argv[0] is `marker` (they may be in another PID namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
            except OSError:
                continue
            if argv0 == marker.encode() and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def all_gone(marker: str) -> bool:
    """They were killed: the kernel takes a moment to tear them down (bounded)."""
    for _ in range(250):
        if not marked(marker):
            return True
        time.sleep(0.02)
    return False


# --- bwrap missing or unusable (always run) ----------------------------------


async def test_missing_bwrap_is_an_error_naming_the_fix(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    ctx.environ["PATH"] = str(tmp_path / "empty")
    for background in (False, True):
        with pytest.raises(ToolError, match=r"apt install bubblewrap.*--no-sandbox / sandbox: false"):
            await BashTool().run(BashInput(command="true", run_in_background=background), ctx)
    assert ctx.shells == {}


async def test_missing_bwrap_through_the_loop_is_an_error_result(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    run = await drive(fake_server, tmp_path, call("Bash", {"command": "touch made"}), tools=[BashTool()],
                      ctx=ToolContext(cwd=tmp_path, environ=env, project=tmp_path, sandbox=True))
    assert run.result().is_error and "install bubblewrap" in run.result().text
    assert not (tmp_path / "made").exists()


async def test_unusable_bwrap_reports_its_own_error(ctx: ToolContext, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because "
                    "the kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n")
    fake.chmod(0o755)
    ctx.environ["PATH"] = f"{bin_dir}:{os.environ.get('PATH', '')}"
    with pytest.raises(ToolError) as caught:
        await BashTool().run(BashInput(command="touch made"), ctx)
    message = str(caught.value)
    assert "No permissions to creating new namespace" in message and "--no-sandbox" in message
    assert not (ctx.cwd / "made").exists()


# --- inside the sandbox ------------------------------------------------------


@needs_bwrap
async def test_sandboxed_command_writes_in_the_project(ctx: ToolContext) -> None:
    text, is_error = await bash(ctx, "mkdir -p sub && echo hi > sub/f && cat sub/f && pwd")
    assert not is_error and text.splitlines() == ["hi", str(ctx.cwd)]
    assert (ctx.cwd / "sub" / "f").read_text() == "hi\n"


@needs_bwrap
async def test_sandboxed_command_cannot_write_outside_the_project(
        ctx: ToolContext, tmp_path: Path, outside_tmp: Path) -> None:
    (tmp_path / "beside").mkdir()  # outside the project, under /tmp: hidden by the private /tmp
    for target in (outside_tmp / "f", tmp_path / "beside" / "f"):
        text, is_error = await bash(ctx, f"echo x > {target}")
        assert is_error and not target.exists(), text
    text, _ = await bash(ctx, f"echo x > {outside_tmp}/f")
    assert "Read-only file system" in text


@needs_bwrap
async def test_sandbox_has_no_network(ctx: ToolContext) -> None:
    connections: list[str] = []

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer.get_extra_info("peername")[0])
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    connect = f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"
    try:
        ctx.sandbox = False
        text, is_error = await bash(ctx, connect)
        assert not is_error and text == "connected"  # the probe works outside the sandbox
        ctx.sandbox = True
        text, is_error = await bash(ctx, connect)
        assert is_error and "connected" not in text
    finally:
        server.close()
        await server.wait_closed()
    assert len(connections) == 1


@needs_bwrap
async def test_sandbox_timeout_kills_the_commands_children_even_those_in_a_new_session(
        ctx: ToolContext) -> None:
    marker = f"nano_claude_test_{uuid.uuid4().hex[:8]}"
    text, is_error = await bash(
        ctx, f"(exec -a {marker} sleep 40) & setsid bash -c 'exec -a {marker} sleep 41' & "
             "echo started; wait", timeout=1)
    assert is_error and text.startswith("started") and "timeout" in text
    assert all_gone(marker)


@needs_bwrap
async def test_sandboxed_background_command_is_sandboxed_and_killed_whole(
        ctx: ToolContext, outside_tmp: Path) -> None:
    marker = f"nano_claude_test_{uuid.uuid4().hex[:8]}"
    await BashTool().run(BashInput(
        command=f"echo x > {outside_tmp}/f; (exec -a {marker} sleep 40) & echo started; wait",
        run_in_background=True), ctx)
    out = await BashOutputTool().run(BashOutputInput(id="bash_1", filter="started", wait=30), ctx)
    assert out.content[0].text.startswith("started")
    assert not (outside_tmp / "f").exists()
    for _ in range(250):  # the subshell execs `sleep` a moment after `started` (bounded)
        if marked(marker):
            break
        await asyncio.sleep(0.02)
    assert len(marked(marker)) == 1
    killed = await KillShellTool().run(KillShellInput(id="bash_1"), ctx)
    assert killed.content[0].text.startswith("Stopped bash_1")
    assert all_gone(marker)
