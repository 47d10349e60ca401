"""MEMORY.md, one scope's index: a line per memory, newest first, and what goes into the system prompt.

    - [prefers uv](prefers-uv.md) (user) — The user runs Python tools through uv, never pip

It is capped (MAX_LINES lines, MAX_BYTES bytes) because every session's first request carries
it: past the cap the oldest memories are summarised in one last line by name, cut to fit.
MemorySearch and MemoryList still find every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nano_claude.extensions.memory.store import Memory, MemoryStore, MemoryStoreError

MAX_LINES = 200
MAX_BYTES = 25_000
DESCRIPTION_CAP = 200  # characters of a description in its line
SUMMARY_MIN = 400  # bytes kept for the summary line when the cap is reached

HEADER = """\
# Memory

Notes saved in earlier sessions with MemorySave, listed below newest first as \
`- [name](file) (type) — description`. MemorySearch returns a note in full (MemoryList lists \
them all); MemorySave under the same name updates one; MemoryDelete removes one that no longer \
holds. A note says what was true when it was written: check it against the project before \
relying on it. Save what a later session needs and cannot read from the code or git history: \
the user's preferences and corrections (types user, feedback), project facts and decisions \
(project), where to find things (reference)."""


def line(memory: Memory) -> str:
    name = memory.name.replace("[", "\\[").replace("]", "\\]")
    description = memory.description
    if len(description) > DESCRIPTION_CAP:
        description = description[:DESCRIPTION_CAP].rstrip() + "…"
    entry = f"- [{name}]({memory.path.name}) ({memory.type})"
    return f"{entry} — {description}" if description else entry


def render(memories: Sequence[Memory]) -> str:
    """The index of `memories` (newest first), within MAX_LINES and MAX_BYTES."""
    lines = [line(m) for m in memories]
    if len(lines) <= MAX_LINES and _size(lines) <= MAX_BYTES:
        return "\n".join(lines) + "\n"
    kept = lines[:MAX_LINES - 1]
    while kept and _size(kept) + SUMMARY_MIN > MAX_BYTES:
        kept.pop()
    older = memories[len(kept):]
    room = MAX_BYTES - _size(kept) - 1
    return "\n".join([*kept, _summary(older, room)]) + "\n"


def _summary(older: Sequence[Memory], room: int) -> str:
    """`- … and 37 older memories (MemorySearch finds them): a, b, c, … 34 more`, within `room` bytes."""
    head = f"- … and {len(older)} older memories (MemorySearch finds them)"
    best, listed = head, ""
    for shown, memory in enumerate(older, 1):
        listed += (", " if listed else ": ") + memory.name
        more = f", … {len(older) - shown} more" if shown < len(older) else ""
        if len((head + listed + more).encode()) > room:
            break
        best = head + listed + more
    return best


def _size(lines: Sequence[str]) -> int:
    return sum(len(text.encode()) + 1 for text in lines)


def prompt_section(stores: Sequence[MemoryStore]) -> tuple[str | None, list[str]]:
    """The system prompt's memory part: each scope's MEMORY.md (user first) under HEADER, or
    None when there is none; and what the user should hear (a folder that cannot be used)."""
    parts: list[str] = []
    notes: list[str] = []
    for store in stores:
        try:
            text = store.read_index()
        except MemoryStoreError as exc:
            notes.append(f"Memory not loaded: {exc}")
            continue
        if not text:
            continue
        text = _cut(text)
        whose = "for every project" if store.scope == "user" else "this project's"
        parts.append(f"## {store.scope.capitalize()} memory ({whose}): {_shown(store.folder)}\n\n{text}")
    if not parts:
        return None, notes
    return "\n\n".join([HEADER, *parts]), notes


def _cut(text: str) -> str:
    """A hand-edited index over the cap is cut, whole lines kept."""
    lines = text.splitlines()[:MAX_LINES]
    while lines and _size(lines) > MAX_BYTES:
        lines.pop()
    return "\n".join(lines)


def _shown(folder: Path) -> str:
    return str(folder) + "/"
