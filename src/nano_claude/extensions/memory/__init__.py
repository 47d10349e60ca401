"""Memory: notes the model keeps across sessions, in two scopes: the user's (~/.nano_claude/memory/,
for every project) and the project's (.nano_claude/memory/). store.py keeps the files and each
scope's index MEMORY.md, index.py writes the index and the system prompt's part, search.py
finds memories, tools.py gives the model MemorySave, MemoryDelete, MemorySearch and MemoryList."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nano_claude.extensions.memory.store import MemoryStore
    from nano_claude.tools.base import Tool


def default_scope(kind: str) -> str:
    """Where a memory goes when no scope is given: who the user is and how they like to work
    (user, feedback) holds in every project; the rest (project, reference) belongs to this one."""
    return "user" if kind in ("user", "feedback") else "project"


def stores_for(environ: Mapping[str, str], root: Path) -> dict[str, MemoryStore]:
    """The user's and the project's memories (user first): `environ` says where nano_claude's
    home is (NANO_CLAUDE_HOME), `root` is the project."""
    from nano_claude.extensions.memory.store import MemoryStore
    from nano_claude.paths import Paths

    home = Paths.from_env(environ, root).home
    return {"user": MemoryStore.user(home), "project": MemoryStore.project(root)}


def memory_prompt(home: Path, root: Path) -> tuple[str | None, list[str]]:
    """The system prompt's memory part (both indexes, user first; None when there are no
    memories) and what the user should hear about a memory folder that cannot be used."""
    from nano_claude.extensions.memory.index import prompt_section
    from nano_claude.extensions.memory.store import MemoryStore

    return prompt_section([MemoryStore.user(home), MemoryStore.project(root)])


def memory_tools() -> list[Tool]:
    """MemorySave, MemoryDelete, MemorySearch and MemoryList (imported here, on first use)."""
    from nano_claude.extensions.memory import tools

    kinds = (tools.MemorySaveTool, tools.MemoryDeleteTool, tools.MemorySearchTool, tools.MemoryListTool)
    return [kind() for kind in kinds]
