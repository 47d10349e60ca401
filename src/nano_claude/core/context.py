"""The system prompt: who the agent is, what it may do, and where it is.

Kept small and stable so providers can cache it; anything that changes within a
session belongs in messages, not here.
"""

from __future__ import annotations

import platform
from datetime import date
from pathlib import Path

BASE_PROMPT = """\
You are nano-claude, a coding agent working in the user's terminal. You help with \
software engineering: reading, changing and running code in the user's project.

- Use the tools to look before you answer: read files, run commands. Do not guess \
file contents or command output.
- Keep answers short and concrete. Show code only when it helps.
- When a tool call fails, read the error and fix the call; do not repeat the same call.
- Never invent tool results. If you cannot do something, say so and why."""


def git_root(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            return folder
    return None


def git_branch(root: Path) -> str | None:
    """The checked-out branch, read from .git/HEAD (no subprocess: start-up stays fast)."""
    head = root / ".git" / "HEAD"
    try:
        text = head.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return text[len(prefix):] if text.startswith(prefix) else f"(detached at {text[:12]})"


def environment_section(cwd: Path, today: date) -> str:
    lines = [
        "# Environment",
        f"- Working directory: {cwd}",
        f"- Platform: {platform.system()} {platform.release()}",
        f"- Date: {today.isoformat()}",
    ]
    root = git_root(cwd)
    if root is None:
        lines.append("- Not a git repository")
    else:
        branch = git_branch(root)
        lines.append(f"- Git repository at {root}" + (f", branch {branch}" if branch else ""))
    return "\n".join(lines)


def build_system_prompt(cwd: Path, today: date, *, override: str | None = None,
                        append: str | None = None) -> str:
    """--system-prompt replaces the base prompt; --append-system-prompt adds to the end."""
    parts = [override if override is not None else BASE_PROMPT, environment_section(cwd, today)]
    if append:
        parts.append(append)
    return "\n\n".join(parts)
