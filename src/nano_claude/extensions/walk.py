"""The folders Claude Code reads `.claude/…` files from: the working directory and each
parent up to the repository root (agents, skills and commands alike)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


def repo_root(cwd: Path) -> Path:
    """The nearest folder holding `.git`, walking up from cwd; cwd itself outside a repository."""
    return next((level for level in (cwd, *cwd.parents) if (level / ".git").exists()), cwd)


def levels(cwd: Path, top: Path) -> Iterator[Path]:
    """cwd and its parents up to `top`, nearest first; cwd alone when `top` is not above it."""
    if top != cwd and top not in cwd.parents:
        yield cwd
        return
    level = cwd
    while True:
        yield level
        if level == top:
            return
        level = level.parent
