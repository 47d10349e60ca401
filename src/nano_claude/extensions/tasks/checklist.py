"""The open tasks as a short checklist, drawn under the spinner while a turn runs.

The REPL redraws its live area eight times a second; the checklist stats tasks.json each
time and parses it only when it changed (a new file replaces it on every change), so tasks
another process or a sub-agent adds show up at the next redraw for the cost of a stat.
"""

from __future__ import annotations

import os
from pathlib import Path

from nano_claude.extensions.tasks.store import Task, TaskError, TaskGraph, TaskStore

MAX_ROWS = 5
_RANK = {"in_progress": 0, "pending": 1, "completed": 2}

Row = tuple[str, str]  # (text, rich style)


class Checklist:
    """`rows()` for the live area; `shown` is what Ctrl+T toggles."""

    def __init__(self, path: Path, *, shown: bool = True) -> None:
        self.store = TaskStore(path)
        self.shown = shown
        self._stamp: tuple[int, int, int] | None = None
        self._graph = TaskGraph()
        self._done_before: set[str] = set()  # completed before this turn: not ticked off again

    @property
    def path(self) -> Path:
        return self.store.path

    def toggle(self) -> None:
        self.shown = not self.shown

    def begin_turn(self) -> None:
        """Tasks completed from now on show ticked (✔) for the rest of the turn."""
        self._done_before = {t.id for t in self._read().tasks.values() if t.status == "completed"}

    def rows(self) -> list[Row]:
        if not self.shown:
            return []
        graph = self._read()
        tasks = [t for t in graph.tasks.values()
                 if t.is_open or (t.status == "completed" and t.id not in self._done_before)]
        picked = sorted(tasks, key=lambda t: (_RANK[t.status], int(t.id)))[:MAX_ROWS]
        rows = [_row(t, graph) for t in sorted(picked, key=lambda t: int(t.id))]
        if len(tasks) > MAX_ROWS:
            rows.append((f"  … {len(tasks) - MAX_ROWS} more", "dim"))
        return rows

    def _read(self) -> TaskGraph:
        """The graph as of the file's last change; empty when there is no file or it is unreadable
        (the task tools report that; the checklist just shows nothing)."""
        try:
            st = os.stat(self.store.path)
        except OSError:
            self._stamp, self._graph = None, TaskGraph()
            return self._graph
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                self._graph = self.store.read()
            except TaskError:
                self._graph = TaskGraph()
            self._stamp = stamp
        return self._graph


def _row(task: Task, graph: TaskGraph) -> Row:
    if task.status == "in_progress":
        doing = task.active_form or task.subject
        return f"  ◼ {doing if doing.endswith(('…', '...')) else doing + '…'}", "bold"
    if task.status == "completed":
        return f"  ✔ {task.subject}", "dim"
    blocked = graph.open_blockers(task)
    if blocked:
        return f"  ◻ {task.subject} (blocked by {', '.join('#' + b.id for b in blocked)})", "dim"
    return f"  ◻ {task.subject}", ""
