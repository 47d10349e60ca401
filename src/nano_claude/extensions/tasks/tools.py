"""TaskCreate, TaskUpdate, TaskGet and TaskList: the model plans its work as a task graph.

The field names are ours (snake_case) and Claude Code's (taskId, activeForm, addBlocks,
addBlockedBy) alike, and ids come as strings or numbers, so a model trained on either
calls them right. They write only the project's own planning file, never a user file: they
count as read-only for the permission policy (no question in auto or plan mode), but they
change state, so they never run in parallel with each other.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from nano_claude.extensions.tasks.store import DONE, STATUSES, Task, TaskError, TaskGraph, TaskStore, Updated
from nano_claude.tools.base import ToolContext, ToolError, ToolOutput

_ID = "The task's id, e.g. \"3\""


class _Input(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)  # ids as numbers: 3 is "3"


class CreateInput(_Input):
    subject: str = Field(description="A short imperative title, e.g. \"Run the tests\"")
    description: str = Field(description="What needs doing and how to know it is done")
    active_form: str | None = Field(None, validation_alias=AliasChoices("active_form", "activeForm"),
                                    description="The subject as an ongoing action, shown while the task "
                                                "is in progress, e.g. \"Running the tests\"")
    metadata: dict[str, Any] | None = Field(None, description="Extra key/value data to keep with the task")


class UpdateInput(_Input):
    task_id: str = Field(validation_alias=AliasChoices("task_id", "taskId"), description=_ID)
    subject: str | None = None
    description: str | None = None
    status: str | None = Field(None, description=f"One of {', '.join(STATUSES)}; or deleted to remove "
                                                 "the task and its edges")
    owner: str | None = Field(None, description="Who works on it (an agent's name)")
    active_form: str | None = Field(None, validation_alias=AliasChoices("active_form", "activeForm"))
    add_blocks: list[str] | None = Field(None, validation_alias=AliasChoices("add_blocks", "addBlocks"),
                                         description="Ids of tasks that cannot start until this one is done")
    add_blocked_by: list[str] | None = Field(
        None, validation_alias=AliasChoices("add_blocked_by", "addBlockedBy"),
        description="Ids of tasks that must be done before this one")
    metadata: dict[str, Any] | None = Field(None, description="Keys to set; a key set to null is removed")


class GetInput(_Input):
    task_id: str = Field(validation_alias=AliasChoices("task_id", "taskId"), description=_ID)


class ListInput(_Input):
    pass


def _store(ctx: ToolContext) -> TaskStore:
    return TaskStore.of(ctx.shared_root or ctx.root)


async def _call(work: Any, *args: Any, **kwargs: Any) -> Any:
    """A store call off the event loop (it may wait for another process's lock); its
    failures become tool errors the model reads."""
    try:
        return await asyncio.to_thread(work, *args, **kwargs)
    except TaskError as exc:
        raise ToolError(str(exc)) from exc


# --- what the model reads ---------------------------------------------------------------------

def list_line(task: Task, graph: TaskGraph) -> str:
    """`#3 [pending] Write the tests (owner: coder) (blocked by #2)`: open blockers only."""
    line = f"#{task.id} [{task.status}] {task.subject}"
    if task.owner:
        line += f" (owner: {task.owner})"
    waiting = graph.open_blockers(task)
    if waiting and task.status not in DONE:
        line += f" (blocked by {', '.join('#' + b.id for b in waiting)})"
    return line


def tally(graph: TaskGraph) -> str:
    counts = {s: sum(t.status == s for t in graph.tasks.values()) for s in STATUSES}
    parts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
    total = len(graph.tasks)
    return f"{total} task{'s' if total != 1 else ''}: {parts}."


def details(task: Task, graph: TaskGraph) -> str:
    def named(ids: list[str]) -> str:
        return ", ".join(f"#{i} [{graph.tasks[i].status}]" for i in ids if i in graph.tasks) or "none"

    lines = [f"Task #{task.id}: {task.subject}", f"Status: {task.status}"]
    if task.active_form:
        lines.append(f"Active form: {task.active_form}")
    if task.owner:
        lines.append(f"Owner: {task.owner}")
    lines += [f"Blocked by: {named(task.blocked_by)}", f"Blocks: {named(task.blocks)}"]
    waiting = graph.open_blockers(task)
    if waiting and task.status not in DONE:
        lines.append(f"Waiting for: {', '.join('#' + b.id for b in waiting)}")
    if task.metadata:
        lines.append(f"Metadata: {task.metadata}")
    lines.append(f"Created {task.created}, updated {task.updated}")
    lines.append(f"Description:\n{task.description or '(none)'}")
    return "\n".join(lines)


def updated_text(done: Updated) -> str:
    if done.task is None:
        return f"Task #{done.id} deleted, with its edges."
    if not done.changes:
        return f"Task #{done.id} unchanged: it already was so ([{done.task.status}] {done.task.subject})."
    return "\n".join([f"Task #{done.id} updated: {'; '.join(done.changes)}.", *done.notes])


# --- the tools --------------------------------------------------------------------------------

class TaskCreateTool:
    name: ClassVar[str] = "TaskCreate"
    description: ClassVar[str] = (
        "Add a task to this project's task list, to plan and track work of several steps (three "
        "or more, or what the user lists). Give a short imperative subject, a description, and "
        "an active_form shown while it runs. New tasks are pending; use TaskUpdate to start, "
        "finish or link them. Ids are sequential strings."
    )
    input_model: ClassVar[type[BaseModel]] = CreateInput
    read_only: ClassVar[bool] = True  # writes only the project's planning file, no user file
    concurrency_safe: ClassVar[bool] = False

    def summary(self, args: CreateInput) -> str:
        return args.subject

    async def run(self, args: CreateInput, ctx: ToolContext) -> ToolOutput:
        task = await _call(_store(ctx).create, args.subject, args.description, active_form=args.active_form,
                           metadata=args.metadata)
        return ToolOutput.text(f"Task #{task.id} created: {task.subject}", summary=f"Task #{task.id} created")


class TaskUpdateTool:
    name: ClassVar[str] = "TaskUpdate"
    description: ClassVar[str] = (
        "Change a task: status (pending → in_progress → completed, or cancelled; deleted removes "
        "it), subject, description, active_form, owner, metadata, and blocking edges "
        "(add_blocks / add_blocked_by; a cycle is refused). Mark a task in_progress before you "
        "start it and completed as soon as it is done."
    )
    input_model: ClassVar[type[BaseModel]] = UpdateInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = False

    def summary(self, args: UpdateInput) -> str:
        return f"#{args.task_id}" + (f" → {args.status}" if args.status else "")

    async def run(self, args: UpdateInput, ctx: ToolContext) -> ToolOutput:
        done = await _call(_store(ctx).update, args.task_id, subject=args.subject,
                           description=args.description, status=args.status, owner=args.owner,
                           active_form=args.active_form, add_blocks=args.add_blocks or (),
                           add_blocked_by=args.add_blocked_by or (), metadata=args.metadata)
        short = f"#{done.id} {done.task.status}" if done.task is not None else f"#{done.id} deleted"
        return ToolOutput.text(updated_text(done), summary=short)


class TaskGetTool:
    name: ClassVar[str] = "TaskGet"
    description: ClassVar[str] = ("Show one task in full: status, description, owner, and what it blocks "
                                  "and waits for.")
    input_model: ClassVar[type[BaseModel]] = GetInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: GetInput) -> str:
        return f"#{args.task_id}"

    async def run(self, args: GetInput, ctx: ToolContext) -> ToolOutput:
        graph = await _call(_store(ctx).read)
        try:
            task = graph.get(args.task_id)
        except TaskError as exc:
            raise ToolError(str(exc)) from exc
        return ToolOutput.text(details(task, graph), summary=f"#{task.id} [{task.status}]")


class TaskListTool:
    name: ClassVar[str] = "TaskList"
    description: ClassVar[str] = (
        "List this project's tasks: id, status, subject, owner, and the open tasks each one waits "
        "for. Check it to pick the next task (one that is pending and not blocked)."
    )
    input_model: ClassVar[type[BaseModel]] = ListInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: ListInput) -> str:
        return ""

    async def run(self, args: ListInput, ctx: ToolContext) -> ToolOutput:
        graph = await _call(_store(ctx).read)
        if not graph.tasks:
            return ToolOutput.text("No tasks yet (TaskCreate adds one).", summary="no tasks")
        lines = [list_line(t, graph) for t in graph.tasks.values()]
        return ToolOutput.text("\n".join([*lines, tally(graph)]), summary=tally(graph).rstrip("."))
