"""Trust in a project's hooks: they come with the repository and run commands on this
machine, so they run only once the user says so. The answer is kept beside the approvals of
the project's MCP servers (`projectApprovals` in ~/.nano_claude/mcp.json), tied to a digest of
the project's hooks: a changed hook is asked about again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from nano_claude.config import atomic_write, read_json
from nano_claude.core.errors import ConfigError
from nano_claude.paths import Paths

Trust = Literal["approved", "denied", "pending"]
KEY = "hooks"


def _file(paths: Paths) -> Path:
    from nano_claude.extensions.mcp.config import user_file

    return user_file(paths)


def decision(paths: Paths, project: Path, digest: str, key: str = KEY) -> Trust:
    try:
        approvals = read_json(_file(paths)).get("projectApprovals")
    except ConfigError:
        return "pending"
    mine: Any = approvals.get(str(project)) if isinstance(approvals, dict) else None
    entry = mine.get(key) if isinstance(mine, dict) else None
    if not isinstance(entry, dict) or entry.get("digest") != digest:
        return "pending"
    return "approved" if entry.get("trusted") is True else "denied"


def remember(paths: Paths, project: Path, digest: str, trusted: bool, key: str = KEY) -> None:
    """Keep the answer for this exact set of hooks (`key`: or of skills). Raises ConfigError
    when the file is broken (it is never overwritten)."""
    path = _file(paths)
    data = read_json(path)
    approvals = data.setdefault("projectApprovals", {})
    if not isinstance(approvals, dict):
        raise ConfigError(f"{path}: \"projectApprovals\" is not an object; "
                          "fix the file (nothing was changed)")
    mine = approvals.setdefault(str(project), {})
    if not isinstance(mine, dict):
        raise ConfigError(f"{path}: projectApprovals[{str(project)!r}] is not an object; fix the file "
                          "(nothing was changed)")
    mine[key] = {"digest": digest, "trusted": trusted}
    atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)
