"""The task graph: a project's plan as tasks with blocking edges, kept in `.nano_claude/tasks.json`.

Every change takes a file lock, re-reads the file, applies itself and replaces the file
atomically (temp file, fsync, rename), so two sessions in one project, or a session and its
sub-agents, lose nothing (the product's earlier version, which read once and wrote back whole,
lost 8 to 20 of 40 tasks two runs created at once). Reads take no lock: a reader sees the old file or the new
one, never half of one.

A file that is not a task list is never overwritten: a read reports it and leaves it alone; a
change moves it aside (`tasks.json.corrupt-<time>`) and says where, so nothing is lost silently.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nano_claude.config import atomic_write
from nano_claude.core.errors import NanoClaudeError
from nano_claude.permissions.rules import keep_out_of_git

STATUSES = ("pending", "in_progress", "completed", "cancelled")
OPEN = frozenset({"pending", "in_progress"})
DONE = frozenset({"completed", "cancelled"})  # a done blocker blocks no more
DELETED = "deleted"  # a status the model may set: it removes the task
VERSION = 1
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's change
SHOWN_IDS = 30  # ids listed in an unknown-id error

T = TypeVar("T")


class TaskError(NanoClaudeError):
    """A task look-up or change that cannot be done; the message says why and what to do instead."""


class TaskFileError(TaskError):
    """The tasks file is not a task list. `moved_to`: where a change put it aside (None: left in place)."""

    def __init__(self, message: str, moved_to: Path | None = None) -> None:
        super().__init__(message)
        self.moved_to = moved_to


@dataclass
class Task:
    id: str
    subject: str
    description: str = ""
    active_form: str = ""  # "Running the tests": shown while the task is in progress
    status: str = "pending"
    owner: str = ""
    blocks: list[str] = field(default_factory=list)  # tasks waiting for this one
    blocked_by: list[str] = field(default_factory=list)  # tasks this one waits for
    metadata: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "subject": self.subject, "description": self.description,
                "active_form": self.active_form, "status": self.status, "owner": self.owner,
                "blocks": self.blocks, "blocked_by": self.blocked_by, "metadata": self.metadata,
                "created": self.created, "updated": self.updated}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Task:
        """A task as stored; ValueError naming the entry and the field when it is not one."""
        if not isinstance(raw, dict):
            raise ValueError(f"{where} is not an object")
        task_id = raw.get("id")
        if not isinstance(task_id, str) or not task_id.isdigit():
            raise ValueError(f"{where} has no id (a string of digits)")
        where = f"task {task_id}"
        strings = {name: raw.get(name) or "" for name in
                   ("subject", "description", "active_form", "owner", "created", "updated")}
        for name, value in strings.items():
            if not isinstance(value, str):
                raise ValueError(f"{where}: {name} is not a string")
        status = raw.get("status", "pending")
        if status not in STATUSES:
            raise ValueError(f"{where}: unknown status {status!r}")
        edges = {name: raw.get(name) or [] for name in ("blocks", "blocked_by")}
        for name, ids in edges.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ValueError(f"{where}: {name} is not a list of ids")
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"{where}: metadata is not an object")
        return cls(id=task_id, status=status, metadata=metadata, **strings, **edges)


@dataclass
class TaskGraph:
    """Tasks by id, in id order, and the next id to hand out (ids are never reused)."""

    tasks: dict[str, Task] = field(default_factory=dict)
    next_id: int = 1

    def get(self, task_id: str | int) -> Task:
        key = normal_id(task_id)
        task = self.tasks.get(key)
        if task is None:
            raise TaskError(f"No task has id {key!r}. {self.existing()}")
        return task

    def existing(self) -> str:
        if not self.tasks:
            return "There are no tasks yet (TaskCreate adds one)."
        ids = list(self.tasks)
        more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
        return f"Existing ids: {', '.join(ids[:SHOWN_IDS])}{more}."

    def open_blockers(self, task: Task) -> list[Task]:
        """The tasks that still hold this one up: completed and cancelled ones do not."""
        found = (self.tasks.get(b) for b in task.blocked_by)
        return [b for b in found if b is not None and b.status not in DONE]

    def add_edge(self, blocker: Task, blocked: Task) -> bool:
        """`blocker` blocks `blocked`, recorded on both; False if it already did. A cycle is refused."""
        if blocked.id in blocker.blocks:
            return False
        back = self._path(blocked.id, blocker.id)
        if back is not None:
            cycle = " → ".join([blocker.id, *back])
            raise TaskError(f"#{blocker.id} cannot block #{blocked.id}: that would make a cycle, "
                            f"{cycle} (each blocks the next). Nothing was changed.")
        blocker.blocks.append(blocked.id)
        blocked.blocked_by.append(blocker.id)
        return True

    def remove(self, task_id: str) -> Task:
        task = self.tasks.pop(task_id)
        for other in self.tasks.values():
            other.blocks = [i for i in other.blocks if i != task_id]
            other.blocked_by = [i for i in other.blocked_by if i != task_id]
        return task

    def _path(self, start: str, goal: str) -> list[str] | None:
        """The ids from `start` to `goal` following `blocks` edges (both ends included), or None."""
        came_from: dict[str, str | None] = {start: None}
        frontier = [start]
        while frontier:
            current = frontier.pop(0)
            if current == goal:
                path = [current]
                while (previous := came_from[path[-1]]) is not None:
                    path.append(previous)
                return path[::-1]
            for nxt in self.tasks[current].blocks:
                if nxt in self.tasks and nxt not in came_from:
                    came_from[nxt] = current
                    frontier.append(nxt)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "next_id": self.next_id,
                "tasks": [t.to_json() for t in self.tasks.values()]}

    @classmethod
    def from_json(cls, raw: Any) -> TaskGraph:
        """The graph as stored; ValueError saying what is wrong. Edges are made whole (both
        directions, no id that names nothing) so a hand-edited file still reads."""
        if not isinstance(raw, dict) or not isinstance(raw.get("tasks"), list):
            raise ValueError('the top level is not an object with a "tasks" list')
        next_id = raw.get("next_id", 1)
        if not isinstance(next_id, int) or isinstance(next_id, bool):
            raise ValueError("next_id is not a number")
        tasks: dict[str, Task] = {}
        for n, entry in enumerate(raw["tasks"]):
            task = Task.from_json(entry, f"entry {n + 1} of tasks")
            if task.id in tasks:
                raise ValueError(f"id {task.id} is used twice")
            tasks[task.id] = task
        graph = cls(dict(sorted(tasks.items(), key=lambda kv: int(kv[0]))), next_id)
        graph.next_id = max([next_id, *(int(i) + 1 for i in tasks)])
        for task in tasks.values():
            task.blocks = [i for i in dict.fromkeys(task.blocks) if i in tasks and i != task.id]
            task.blocked_by = [i for i in dict.fromkeys(task.blocked_by) if i in tasks and i != task.id]
        for task in tasks.values():
            for other in task.blocks:
                if task.id not in tasks[other].blocked_by:
                    tasks[other].blocked_by.append(task.id)
            for other in task.blocked_by:
                if task.id not in tasks[other].blocks:
                    tasks[other].blocks.append(task.id)
        return graph


@dataclass(frozen=True)
class Updated:
    """What an update did: the task as it is now (None: deleted), what changed, and what the
    caller should know (a reopened task, tasks it unblocked, blockers still open)."""

    id: str
    task: Task | None
    changes: tuple[str, ...]
    notes: tuple[str, ...] = ()


def normal_id(task_id: str | int) -> str:
    """`3`, `"3"` and `"#3"` name the same task."""
    return str(task_id).strip().lstrip("#").strip()


def check_status(status: str) -> str:
    if status not in (*STATUSES, DELETED):
        raise TaskError(f"Unknown status {status!r}. Valid statuses: {', '.join(STATUSES)}, "
                        f"or {DELETED} to remove the task.")
    return status


class TaskStore:
    """The task graph in one file. Each call reads the file afresh: another process may have changed it."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    @classmethod
    def of(cls, root: Path) -> TaskStore:
        """The project's task list."""
        return cls(root / ".nano_claude" / "tasks.json")

    # --- reading -------------------------------------------------------------------------

    def read(self) -> TaskGraph:
        """The graph as the file holds it now; TaskFileError, the file left as it is, if it is none."""
        problem, graph = self._load()
        if problem:
            raise TaskFileError(f"{self.path} is not a valid task list ({problem}). It was left as it is: "
                                "fix it by hand, or make a change (create or update a task) to move it "
                                "aside and start a new list.")
        return graph

    def _load(self) -> tuple[str, TaskGraph]:
        """("", graph), or (what is wrong, an empty graph)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return "", TaskGraph()
        except UnicodeDecodeError as exc:
            return f"not UTF-8 text: {exc.reason}", TaskGraph()
        except OSError as exc:
            raise TaskError(f"Cannot read {self.path}: {exc.strerror or exc}.") from exc
        if not text.strip():
            return "", TaskGraph()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"bad JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", TaskGraph()
        version = raw.get("version", VERSION) if isinstance(raw, dict) else VERSION
        if isinstance(version, int) and version > VERSION:
            raise TaskError(f"{self.path} was written by a newer nano_claude (format {version}); "
                            "update nano_claude to use it.")
        try:
            return "", TaskGraph.from_json(raw)
        except ValueError as exc:
            return str(exc), TaskGraph()

    # --- changes -------------------------------------------------------------------------

    def create(self, subject: str, description: str = "", *, active_form: str | None = None,
               metadata: Mapping[str, Any] | None = None, owner: str | None = None) -> Task:
        subject = subject.strip()
        if not subject:
            raise TaskError("A task needs a subject: a short title such as 'Run the tests'.")

        def apply(graph: TaskGraph) -> Task:
            now = self._now()
            task = Task(id=str(graph.next_id), subject=subject, description=description.strip(),
                        active_form=(active_form or "").strip(), owner=(owner or "").strip(),
                        metadata=_merged({}, metadata), created=now, updated=now)
            graph.tasks[task.id] = task
            graph.next_id += 1
            return task

        return self._change(apply)

    def update(self, task_id: str | int, *, subject: str | None = None, description: str | None = None,
               status: str | None = None, owner: str | None = None, active_form: str | None = None,
               add_blocks: Iterable[str | int] = (), add_blocked_by: Iterable[str | int] = (),
               metadata: Mapping[str, Any] | None = None) -> Updated:
        """Change one task; all of it or nothing (an unknown id or a cycle anywhere changes nothing)."""
        if status is not None:
            check_status(status)
        blocks, blocked_by = [normal_id(i) for i in add_blocks], [normal_id(i) for i in add_blocked_by]
        fields = {"subject": subject, "description": description, "owner": owner, "active_form": active_form}
        if status is None and metadata is None and not blocks and not blocked_by and \
                all(v is None for v in fields.values()):
            raise TaskError("Nothing to update: give at least one of status, subject, description, owner, "
                            "active_form, add_blocks, add_blocked_by or metadata.")
        if subject is not None and not subject.strip():
            raise TaskError("The subject cannot be empty.")

        def apply(graph: TaskGraph) -> Updated:
            task = graph.get(task_id)
            if status == DELETED:
                graph.remove(task.id)
                return Updated(task.id, None, ("deleted",))
            changes: list[str] = []
            for name, value in fields.items():
                if value is not None and value.strip() != getattr(task, name):
                    setattr(task, name, value.strip())
                    changes.append(name.replace("_", " "))
            for other in blocks:
                if graph.add_edge(task, graph.get(other)):
                    changes.append(f"blocks #{other}")
            for other in blocked_by:
                if graph.add_edge(graph.get(other), task):
                    changes.append(f"blocked by #{other}")
            if metadata is not None:
                task.metadata = _merged(task.metadata, metadata)
                changes.append("metadata")
            notes = self._status(graph, task, status, changes) if status is not None else []
            if changes:
                task.updated = self._now()
            return Updated(task.id, task, tuple(changes), tuple(notes))

        return self._change(apply)

    def clear(self) -> int:
        """Remove every task; ids go on from where they were. Returns how many were removed."""

        def apply(graph: TaskGraph) -> int:
            count = len(graph.tasks)
            graph.tasks.clear()
            return count

        return self._change(apply)

    @staticmethod
    def _status(graph: TaskGraph, task: Task, status: str, changes: list[str]) -> list[str]:
        before = task.status
        if status == before:
            return []
        task.status = status
        changes.append(f"status {before} → {status}")
        notes = []
        if before in DONE and status in OPEN:
            notes.append(f"#{task.id} was {before} and is open again.")
        if status == "in_progress":
            waiting = graph.open_blockers(task)
            if waiting:
                names = ", ".join(f"#{b.id} ({b.status})" for b in waiting)
                notes.append(f"#{task.id} is still blocked by {names}.")
        if status in DONE and before not in DONE:
            freed = [graph.tasks[i] for i in task.blocks
                     if graph.tasks[i].is_open and not graph.open_blockers(graph.tasks[i])]
            if freed:
                notes.append("Now unblocked: " + ", ".join(f"#{t.id} {t.subject}" for t in freed) + ".")
        return notes

    def _change(self, apply: Callable[[TaskGraph], T]) -> T:
        """Lock, read afresh, apply, write atomically. A file that is no task list is moved
        aside first, and the change is not made: the caller hears where the old file went."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TaskError(f"Cannot create {self.path.parent}: {exc.strerror or exc}.") from exc
        from filelock import FileLock, Timeout  # here: a run that never changes a task never imports it

        lock_path = self.path.with_name(self.path.name + ".lock")
        if not lock_path.exists():
            keep_out_of_git(lock_path)  # the lock is this machine's, never the repository's
        lock = FileLock(lock_path, timeout=LOCK_TIMEOUT)
        try:
            with lock:
                problem, graph = self._load()
                if problem:
                    moved = self._move_aside()
                    raise TaskFileError(f"{self.path} was not a valid task list ({problem}). It was moved to "
                                        f"{moved}, and nothing was changed: try again to start a new list "
                                        "(the old tasks stay in that file).", moved)
                result = apply(graph)
                try:
                    atomic_write(self.path, json.dumps(graph.to_json(), indent=2, ensure_ascii=False) + "\n")
                except OSError as exc:
                    raise TaskError(f"Cannot write {self.path}: {exc.strerror or exc}; nothing was "
                                    "changed.") from exc
                return result
        except Timeout as exc:
            raise TaskError(f"Another process has held {lock.lock_file} for {LOCK_TIMEOUT:g}s; try again "
                            "(if no nano_claude is running, delete that lock file).") from exc

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.clock()))
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        os.replace(self.path, target)
        return target

    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))


def _merged(old: Mapping[str, Any], new: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata keys set to null are removed (as Claude Code does); others are set."""
    merged = dict(old)
    for key, value in (new or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
