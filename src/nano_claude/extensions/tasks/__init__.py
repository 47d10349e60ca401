"""Tasks: the model's plan as a task graph in `.nano_claude/tasks.json` (store.py), its tools
(tools.py), and the checklist the REPL shows while a turn runs (checklist.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nano_claude.tools.base import Tool


def task_tools() -> list[Tool]:
    """TaskCreate, TaskUpdate, TaskGet and TaskList (imported here, on first use)."""
    from nano_claude.extensions.tasks.tools import TaskCreateTool, TaskGetTool, TaskListTool, TaskUpdateTool

    return [TaskCreateTool(), TaskUpdateTool(), TaskGetTool(), TaskListTool()]
