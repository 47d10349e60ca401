"""/cwd: where tools work (commands run, relative paths resolve); /cwd PATH moves them.
The project root (permission rules, instruction files) stays where the session began."""

from __future__ import annotations

import os
from pathlib import Path

from nano_claude.config import user_home
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


def _target(state: ReplState, text: str) -> Path:
    path = Path(text)
    if text == "~" or text.startswith("~/"):
        path = user_home(state.environ) / text[2:]
    return path if path.is_absolute() else state.agent.ctx.cwd / path


async def run(state: ReplState, args: str) -> None:
    ctx = state.agent.ctx
    if not args:
        state.echo(f"Working directory: {ctx.cwd} (project root: {ctx.root})")
        return
    target = _target(state, args)
    if not target.exists():
        state.echo(f"No such directory: {target}. The working directory stays {ctx.cwd}.", "red")
        return
    if not target.is_dir():
        state.echo(f"Not a directory: {target}. The working directory stays {ctx.cwd}.", "red")
        return
    real = Path(os.path.realpath(target))
    ctx.project = ctx.root  # pinned before the cwd moves
    ctx.cwd = real
    state.agent.policy.cwd = real
    state.echo(f"Working directory: {real} (project root stays {ctx.root})", "green")


def complete(state: ReplState, text: str) -> list[str]:
    head, sep, stem = text.rpartition("/")
    prefix = head + sep
    try:
        entries = sorted(_target(state, prefix or ".").iterdir())
    except OSError:
        return []
    return [f"{prefix}{e.name}/" for e in entries
            if e.name.startswith(stem) and (stem.startswith(".") or not e.name.startswith("."))
            and e.is_dir()]


COMMAND = Command("cwd", "show or change the directory tools work in", run, usage="/cwd [PATH]",
                  complete=complete)
