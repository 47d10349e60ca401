"""The Bash sandbox: bubblewrap with the project writable, everything else read-only,
a private /tmp and no network.

The sandbox runs in its own PID namespace, so when bwrap goes (we kill its process
group; --die-with-parent takes its init down with it) the kernel ends every process
inside, even one that left our process group. There is no --new-session: the
command already runs in a session of its own with no controlling terminal (the
terminal-injection attack --new-session guards against needs one), and a new
session would take the command out of the group that a timeout or Ctrl+C kills.
"""

from __future__ import annotations

import asyncio
import shutil

from nano_claude.tools.base import ToolContext, ToolError

PROBE_TIMEOUT = 10.0
FIX = "install bubblewrap (apt install bubblewrap) or turn the sandbox off: --no-sandbox / sandbox: false"


def find_bwrap(environ: dict[str, str]) -> str:
    """bwrap on the session's PATH, or a ToolError that says how to get it."""
    found = shutil.which("bwrap", path=environ.get("PATH", ""))
    if found is None:
        raise ToolError(f"The Bash sandbox needs bubblewrap (bwrap), which is not on PATH: {FIX}.")
    return found


def bwrap_args(ctx: ToolContext) -> list[str]:
    """The bwrap options, without the program or the command. Order matters: later
    mounts go on top of earlier ones, so the project is bound after /tmp is replaced
    (projects under /tmp stay visible)."""
    root = ctx.root.resolve()
    cwd = ctx.cwd.resolve()
    args = [
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--bind", str(root), str(root),
    ]
    if not cwd.is_relative_to(root):
        args += ["--ro-bind", str(cwd), str(cwd)]  # still there if it lives under /tmp
    args += ["--unshare-net", "--unshare-pid", "--die-with-parent", "--chdir", str(cwd)]
    return args


async def sandboxed(argv: list[str], ctx: ToolContext) -> list[str]:
    """`argv` wrapped to run inside the sandbox. A dry run first: bwrap's own errors
    (user namespaces disabled, a mount refused) would otherwise look like the
    command's output."""
    bwrap = find_bwrap(ctx.environ)
    args = bwrap_args(ctx)
    await _probe(bwrap, args, ctx)
    return [bwrap, *args, "--", *argv]


async def _probe(bwrap: str, args: list[str], ctx: ToolContext) -> None:
    proc = await asyncio.create_subprocess_exec(
        bwrap, *args, "--", "true",
        cwd=ctx.cwd, env=ctx.environ,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise ToolError(f"The Bash sandbox ({bwrap}) did not start within {PROBE_TIMEOUT:.0f}s; "
                        f"{FIX}.") from None
    except asyncio.CancelledError:
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode != 0:
        detail = err.decode("utf-8", errors="replace").strip() or f"exit code {proc.returncode}"
        hint = ""
        if "namespace" in detail.lower():
            hint = (" Unprivileged user namespaces look disabled (sysctl "
                    "kernel.unprivileged_userns_clone=1, or an AppArmor profile for bwrap, enables them).")
        raise ToolError(
            f"The Bash sandbox ({bwrap}) cannot run on this machine: {detail}.{hint} "
            f"Fix that, or turn the sandbox off: --no-sandbox / sandbox: false. "
            "Tell the user; do not retry."
        )
