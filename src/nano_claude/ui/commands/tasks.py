"""/tasks: the project's task list (the one TaskCreate and TaskUpdate keep), read and changed by hand.

`clear` removes every task at once and says how many it removed (ids go on from where they
were, so an old id in the conversation never names a new task).
"""

from __future__ import annotations

from nano_claude.core.errors import UsageError
from nano_claude.extensions.tasks.store import TaskError, TaskGraph, TaskStore
from nano_claude.extensions.tasks.tools import details, list_line, tally, updated_text
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

USAGE = "/tasks [create SUBJECT | start ID | done ID | cancel ID | delete ID | get ID | clear]"
STATUS_OF = {"start": "in_progress", "done": "completed", "cancel": "cancelled", "delete": "deleted"}
SUBCOMMANDS = ("list", "create", "start", "done", "cancel", "delete", "get", "clear")
STYLE = {"in_progress": "bold", "pending": None, "completed": "dim", "cancelled": "dim"}


def _store(state: ReplState) -> TaskStore:
    return TaskStore.of(state.agent.ctx.root)


def _show(state: ReplState, graph: TaskGraph) -> None:
    if not graph.tasks:
        state.echo("No tasks yet. /tasks create SUBJECT adds one; the model adds them with TaskCreate.")
        return
    for task in graph.tasks.values():
        state.echo(list_line(task, graph), STYLE[task.status])
    state.echo(tally(graph), "dim")


async def run(state: ReplState, args: str) -> None:
    verb, _, rest = args.partition(" ")
    verb, rest = verb.lower(), rest.strip()
    store = _store(state)
    if verb in ("", "list"):
        _show(state, store.read())
    elif verb == "create":
        if not rest:
            raise UsageError("usage: /tasks create SUBJECT")
        task = store.create(rest)
        state.echo(f"Task #{task.id} created: {task.subject}", "green")
    elif verb in STATUS_OF or verb == "get":
        if not rest or " " in rest:
            raise UsageError(f"usage: /tasks {verb} ID (one id; /tasks lists them)")
        if verb == "get":
            graph = store.read()
            state.echo(details(graph.get(rest), graph))
        else:
            state.echo(updated_text(store.update(rest, status=STATUS_OF[verb])), "green")
    elif verb == "clear":
        graph = store.read()
        open_count = sum(t.is_open for t in graph.tasks.values())
        removed = store.clear()
        if removed:
            state.echo(f"Removed {removed} task{'s' if removed != 1 else ''} ({open_count} open).", "green")
        else:
            state.echo("There were no tasks to remove.")
    else:
        raise UsageError(f"Unknown /tasks action {verb!r}. Usage: {USAGE}")


def complete(state: ReplState, text: str) -> list[str]:
    verb, space, typed = text.partition(" ")
    if not space:
        return [v if v in ("list", "clear") else f"{v} " for v in SUBCOMMANDS if v.startswith(verb.lower())]
    if verb.lower() not in (*STATUS_OF, "get"):
        return []
    try:
        graph = _store(state).read()
    except TaskError:  # an unreadable file: nothing to offer; /tasks says why
        return []
    return [f"{verb} {t.id}" for t in graph.tasks.values() if t.id.startswith(typed.strip())]


COMMAND = Command("tasks", "the project's task list: show, create, start, finish, cancel, delete, clear", run,
                  usage=USAGE, complete=complete)
