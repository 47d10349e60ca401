"""/memory: the notes the model keeps across sessions (extensions/memory), read and changed by hand.

`/memory` lists both scopes, newest first, with each memory's age: one older than a day is
marked, since what it says may no longer hold. `/memory QUERY` searches by keyword. `/memory
edit NAME` opens the file in $VISUAL or $EDITOR (the terminal is the editor's until it exits),
then reads it again, stamps it updated and rebuilds the index; `/memory delete NAME` asks first.
A name both scopes have is given as `user:NAME` or `project:NAME`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import subprocess
import time

from nano_claude.core.errors import UsageError
from nano_claude.core.prompter import NoUserPresent, Option, Question
from nano_claude.extensions.memory.store import SCOPES, Memory, MemoryStore, MemoryStoreError
from nano_claude.extensions.memory.tools import age
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

USAGE = "/memory [QUERY | edit NAME | delete NAME]"
DAY = 86_400
OLD_NOTE = "* older than a day: check it still holds before relying on it"
FALLBACK_EDITORS = ("nano", "vim", "vi")
SHOWN_RESULTS = 10
PREVIEW_LINES = 3


def _stores(state: ReplState) -> dict[str, MemoryStore]:
    ctx = state.agent.ctx
    return {"user": MemoryStore.user(state.paths.home),
            "project": MemoryStore.project(ctx.shared_root or ctx.root)}


def _all(state: ReplState) -> list[Memory]:
    memories: list[Memory] = []
    for store in _stores(state).values():
        try:
            listing = store.list()
        except MemoryStoreError as exc:
            state.echo(str(exc), "red")
            continue
        memories += listing.memories
        for broken in listing.broken:
            state.echo(f"Not a readable memory: {broken.problem}", "yellow")
    return memories


def _line(memory: Memory, now: float) -> tuple[str, bool]:
    old = now - memory.updated_at > DAY
    about = f" — {memory.description}" if memory.description else ""
    when = age(now - memory.updated_at) + ("*" if old else "")
    return f"  {memory.name} ({memory.type}, {memory.scope}, {when}){about}", old


def _show(state: ReplState, memories: list[Memory]) -> None:
    now = time.time()
    marked = False
    for memory in memories:
        text, old = _line(memory, now)
        marked |= old
        state.echo(text, "yellow" if old else None)
    if marked:
        state.echo(OLD_NOTE, "dim")


def _list(state: ReplState) -> None:
    memories = _all(state)
    if not memories:
        state.echo("No memories yet. The model saves them with MemorySave; ask it to remember something.")
        return
    _show(state, memories)
    count = f"{len(memories)} memor{'y' if len(memories) == 1 else 'ies'}"
    state.echo(f"{count} · /memory QUERY searches · /memory edit NAME · /memory delete NAME", "dim")


def _search(state: ReplState, query: str) -> None:
    from nano_claude.extensions.memory.search import rank

    memories = _all(state)
    hits = rank(memories, query)
    if not hits:
        state.echo(f"No memory matches {query!r} ({len(memories)} searched).")
        return
    now = time.time()
    for hit in hits[:SHOWN_RESULTS]:
        text, old = _line(hit.memory, now)
        state.echo(text, "yellow" if old else "bold")
        for preview in hit.memory.content.splitlines()[:PREVIEW_LINES]:
            state.echo(f"      {preview}", "dim")
    if len(hits) > SHOWN_RESULTS:
        state.echo(f"… and {len(hits) - SHOWN_RESULTS} more", "dim")
    if any(now - h.memory.updated_at > DAY for h in hits[:SHOWN_RESULTS]):
        state.echo(OLD_NOTE, "dim")


def _find(state: ReplState, spec: str, verb: str) -> tuple[MemoryStore, str, Memory | None]:
    """The store, the file's name, and the memory (None: its file is there but unreadable) that
    `spec` (`NAME`, `user:NAME`, `project:NAME`) names."""
    if not spec:
        raise UsageError(f"usage: /memory {verb} NAME (/memory lists them)")
    scope, _, rest = spec.partition(":")
    stores = _stores(state)
    if scope in SCOPES and rest.strip():
        spec, chosen = rest.strip(), [stores[scope]]
    else:
        chosen = list(stores.values())
    found: list[tuple[MemoryStore, str, Memory | None]] = []
    for store in chosen:
        path = store.path_for(spec)
        try:
            memory = store.get(spec)
        except MemoryStoreError:
            memory = None  # a file the last edit broke: it can be edited again (the error says what is wrong)
            if not path.exists() or verb != "edit":
                raise
        if memory is not None:
            found.append((store, memory.path.name, memory))
        elif path.exists() and verb == "edit":
            found.append((store, path.name, None))
    if not found:
        raise UsageError(f"No memory is named {spec!r}. /memory lists them.")
    if len(found) > 1:
        raise UsageError(f"Both scopes have a memory named {spec!r}: /memory {verb} user:{spec} or "
                         f"project:{spec}")
    return found[0]


def _editor(environ: dict[str, str]) -> list[str]:
    chosen = environ.get("VISUAL") or environ.get("EDITOR")
    if chosen:
        return shlex.split(chosen)
    path = environ.get("PATH")
    for name in FALLBACK_EDITORS:
        if shutil.which(name, path=path):
            return [name]
    raise UsageError("No editor: set VISUAL or EDITOR (for example export EDITOR=nano) and try again.")


async def _edit(state: ReplState, spec: str) -> None:
    store, file, before = _find(state, spec, "edit")
    path = store.folder / file
    command = [*_editor(state.environ), str(path)]
    suspended = getattr(state.output, "suspended", None)  # the renderer lets go of the terminal
    with suspended() if suspended is not None else contextlib.nullcontext():
        try:
            done = await asyncio.to_thread(subprocess.run, command, env=state.environ, check=False)
        except OSError as exc:
            raise UsageError(f"Cannot run the editor {command[0]!r}: {exc.strerror or exc}. Set VISUAL or "
                             "EDITOR to one that is installed.") from exc
    if done.returncode != 0:
        state.echo(f"The editor exited with status {done.returncode}.", "yellow")
    try:
        after = await asyncio.to_thread(store.touch, path, before)
    except MemoryStoreError as exc:
        state.echo(f"The edit left {path} unreadable, so it is out of the index: {exc}", "red")
        state.echo(f"It was kept as you left it; /memory edit {spec} to fix it.", "red")
        return
    if before is not None and after.updated == before.updated:
        state.echo(f"Memory {after.name!r} unchanged.")
        return
    moved = f" (now {after.path.name})" if after.path != path else ""
    state.echo(f"Memory {after.name!r} saved{moved}; the {store.scope} index is rebuilt.", "green")


async def _delete(state: ReplState, spec: str) -> None:
    store, file, memory = _find(state, spec, "delete")
    assert memory is not None
    question = Question(f"Delete the {store.scope} memory {memory.name!r} ({file})?",
                        (Option("delete", "remove it for good"), Option("keep", "leave it as it is")),
                        allow_freetext=False)
    try:
        answer = await state.agent.prompter.ask(question)
    except NoUserPresent:
        answer = "keep"
    if answer != "delete":
        state.echo("Nothing deleted.")
        return
    gone, left = await asyncio.to_thread(store.delete, memory.name)
    state.echo(f"Deleted the {store.scope} memory {gone.name!r}; {left} left in that scope.", "green")


async def run(state: ReplState, args: str) -> None:
    verb, _, rest = args.partition(" ")
    rest = rest.strip()
    if verb.lower() in ("", "list") and not rest:
        _list(state)
    elif verb.lower() == "edit":
        await _edit(state, rest)
    elif verb.lower() in ("delete", "rm"):
        await _delete(state, rest)
    elif verb.lower() == "search":
        if not rest:
            raise UsageError("usage: /memory search QUERY")
        _search(state, rest)
    else:
        _search(state, args)


def complete(state: ReplState, text: str) -> list[str]:
    verb, space, typed = text.partition(" ")
    if not space:
        return [f"{v} " for v in ("edit", "delete") if v.startswith(verb.lower())]
    if verb.lower() not in ("edit", "delete", "rm"):
        return []
    names: dict[str, list[str]] = {}
    for store in _stores(state).values():
        try:
            for memory in store.list().memories:
                names.setdefault(memory.name, []).append(store.scope)
        except MemoryStoreError:  # an unusable folder: nothing to offer; /memory says why
            continue
    typed = typed.strip().lower()
    offered = [f"{scope}:{name}" if len(scopes) > 1 else name
               for name, scopes in names.items() for scope in scopes]
    return [f"{verb} {name}" for name in offered if name.lower().startswith(typed)
            or name.lower().partition(":")[2].startswith(typed)]


COMMAND = Command("memory", "the model's memories: list, search, edit in $EDITOR, delete", run,
                  usage=USAGE, complete=complete)
