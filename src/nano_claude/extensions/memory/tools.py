"""MemorySave, MemoryDelete, MemorySearch and MemoryList: the model's notes across sessions.

Scopes: `user` (~/.nano_claude/memory/, for every project) and `project` (.nano_claude/memory/
in the project). MemorySave without a scope files the user's preferences and corrections
(types user, feedback) under user and everything else (project, reference) under project.

MemorySave and MemoryDelete write only inside the memory folders: the permission policy lets
them run unasked in auto mode and refuses them in plan mode (permission_kind "memory").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from nano_claude.extensions.memory import default_scope, stores_for
from nano_claude.extensions.memory.store import Memory, MemoryStore, MemoryStoreError
from nano_claude.tools.base import ToolContext, ToolError, ToolOutput

Scope = Literal["user", "project"]
Kind = Literal["user", "feedback", "project", "reference"]
CONTENT_SHOWN = 2_000  # characters of each found memory's content in a search result

_SCOPE = "user: for every project (~/.nano_claude/memory); project: this project's (.nano_claude/memory)"


class SaveInput(BaseModel):
    name: str = Field(description="A short title; saving under an existing name replaces that memory")
    type: Kind = Field(description="user: who the user is and how they work; feedback: their corrections "
                                   "and preferences about your work; project: facts and decisions about "
                                   "this project; reference: where to find things")
    description: str = Field(description="One line saying what it is about: the index shows it")
    content: str = Field(description="The memory itself (Markdown)")
    scope: Scope | None = Field(None, description=f"{_SCOPE}. Default: user for types user and feedback, "
                                                  "project otherwise")


class DeleteInput(BaseModel):
    name: str
    scope: Scope | None = Field(None, description="Needed only when both scopes have a memory of this name")


class SearchInput(BaseModel):
    query: str = Field(description="Words to look for")
    scope: Scope | None = Field(None, description="Default: both")
    use_ai: bool = Field(False, description="Let the model rank the memories by meaning (one extra request); "
                                            "for when the words may differ from the memory's")
    max_results: int = Field(5, ge=1, le=50)


class ListInput(BaseModel):
    scope: Scope | None = Field(None, description="Default: both")


def age(seconds: float) -> str:
    """`just now`, `5m ago`, `3h ago`, `2d ago`."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return "just now"


def where(memory: Memory, ctx: ToolContext) -> str:
    """The memory's file, relative to the project when inside it."""
    try:
        return str(memory.path.relative_to(ctx.shared_root or ctx.root))
    except ValueError:
        return str(memory.path)


def _stores(ctx: ToolContext, scope: str | None) -> list[MemoryStore]:
    found = stores_for(ctx.environ, ctx.shared_root or ctx.root)
    return [found[scope]] if scope else list(found.values())


async def _call(work: Any, *args: Any) -> Any:
    """A store call off the event loop (it may wait for another process's lock)."""
    try:
        return await asyncio.to_thread(work, *args)
    except MemoryStoreError as exc:
        raise ToolError(str(exc)) from exc


def _listed(stores: Sequence[MemoryStore]) -> tuple[list[Memory], list[str]]:
    """Every memory of these scopes, and a line for each file that is none."""
    memories: list[Memory] = []
    problems: list[str] = []
    for store in stores:
        try:
            listing = store.list()
        except MemoryStoreError as exc:  # one scope's folder unusable: the other still answers
            problems.append(f"The {store.scope} memories cannot be read: {exc}")
            continue
        memories += listing.memories
        problems += [f"Not a readable memory: {b.problem}" for b in listing.broken]
    return memories, problems


class MemorySaveTool:
    name: ClassVar[str] = "MemorySave"
    description: ClassVar[str] = (
        "Save a memory for later sessions (or replace the one of that name): what the user told you about "
        "themselves or how they want you to work, project facts and decisions the code does not show, where "
        "to find things. Not what the code or git history says. Later sessions see its name and description "
        "in the system prompt."
    )
    input_model: ClassVar[type[BaseModel]] = SaveInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "memory"  # writes only the memory folders: unasked in auto mode

    def summary(self, args: SaveInput) -> str:
        return f"{args.name} ({args.scope or default_scope(args.type)})"

    def permission_target(self, args: SaveInput) -> str:
        return args.name

    async def run(self, args: SaveInput, ctx: ToolContext) -> ToolOutput:
        scope = args.scope or default_scope(args.type)
        store = _stores(ctx, scope)[0]
        saved = await _call(store.save, args.name, args.type, args.description, args.content)
        memory = saved.memory
        verb = "Saved" if saved.created else f"Updated (first saved {memory.created})"
        count = f"{saved.count} memor{'y' if saved.count == 1 else 'ies'}"
        return ToolOutput.text(f"{verb} {scope} memory {memory.name!r} ({memory.type}) in "
                               f"{where(memory, ctx)}; the {scope} index lists {count}.",
                               summary=f"{'saved' if saved.created else 'updated'} · {scope}")


class MemoryDeleteTool:
    name: ClassVar[str] = "MemoryDelete"
    description: ClassVar[str] = "Delete a memory that is wrong or no longer holds."
    input_model: ClassVar[type[BaseModel]] = DeleteInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "memory"

    def summary(self, args: DeleteInput) -> str:
        return args.name + (f" ({args.scope})" if args.scope else "")

    def permission_target(self, args: DeleteInput) -> str:
        return args.name

    async def run(self, args: DeleteInput, ctx: ToolContext) -> ToolOutput:
        stores = _stores(ctx, args.scope)
        if len(stores) > 1:
            holding = [s for s in stores if await _call(s.get, args.name) is not None]
            if len(holding) > 1:
                raise ToolError(f"Both scopes have a memory named {args.name!r}: call MemoryDelete again "
                                "with scope user or project.")
            if not holding:
                raise ToolError(f"No memory is named {args.name!r} (MemoryList lists them).")
            stores = holding
        memory, left = await _call(stores[0].delete, args.name)
        return ToolOutput.text(f"Deleted {memory.scope} memory {memory.name!r} ({where(memory, ctx)}); "
                               f"{left} left in the {memory.scope} index.",
                               summary=f"deleted · {memory.scope}")


class MemorySearchTool:
    name: ClassVar[str] = "MemorySearch"
    description: ClassVar[str] = (
        "Find memories by keywords in their name, description and content; returns them in full, best "
        "first. use_ai: true lets the model rank them by meaning instead."
    )
    input_model: ClassVar[type[BaseModel]] = SearchInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: SearchInput) -> str:
        return args.query + (" (ai)" if args.use_ai else "")

    async def run(self, args: SearchInput, ctx: ToolContext) -> ToolOutput:
        from nano_claude.extensions.memory import search

        memories, problems = await _call(_listed, _stores(ctx, args.scope))
        if not memories:
            where_ = f"{args.scope} " if args.scope else ""
            return ToolOutput.text("\n".join([f"There are no {where_}memories yet (MemorySave adds one).",
                                              *problems]), summary="no memories")
        note = ""
        found = [hit.memory for hit in search.rank(memories, args.query)]
        if args.use_ai:
            agent = ctx.agents.agent if ctx.agents is not None else None
            if agent is None:
                note = "No model could be asked in this session: ranked by keywords instead."
            else:
                try:
                    found = await search.ask_model(agent, args.query, search.candidates(memories, args.query))
                    note = "Ranked by the model."
                except Exception as exc:  # a model that fails to rank still leaves the keyword search
                    why = str(exc) or type(exc).__name__
                    note = f"The model could not rank them ({why}): ranked by keywords."
        shown = found[:args.max_results]
        if not shown:
            lines = [f"No memory matches {args.query!r} ({len(memories)} searched; MemoryList lists them)."]
        else:
            more = f" (showing {len(shown)})" if len(found) > len(shown) else ""
            lines = [f"{len(found)} memor{'y' if len(found) == 1 else 'ies'} match {args.query!r}{more}:"]
            now = time.time()
            for memory in shown:
                content = memory.content
                if len(content) > CONTENT_SHOWN:
                    content = content[:CONTENT_SHOWN] + f"\n[… cut: Read {memory.path} for the rest]"
                lines += ["", f"## {memory.name} ({memory.scope} memory, {memory.type}, updated "
                              f"{age(now - memory.updated_at)}; {where(memory, ctx)})",
                          memory.description, "", content]
        return ToolOutput.text("\n".join([*([note] if note else []), *lines, *problems]).strip(),
                               summary=f"{len(shown)} found")


class MemoryListTool:
    name: ClassVar[str] = "MemoryList"
    description: ClassVar[str] = "List the memories: name, scope, type, age and description, newest first."
    input_model: ClassVar[type[BaseModel]] = ListInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: ListInput) -> str:
        return args.scope or ""

    async def run(self, args: ListInput, ctx: ToolContext) -> ToolOutput:
        memories, problems = await _call(_listed, _stores(ctx, args.scope))
        if not memories:
            which = f"{args.scope} " if args.scope else ""
            return ToolOutput.text("\n".join([f"There are no {which}memories yet (MemorySave adds one).",
                                              *problems]), summary="no memories")
        now = time.time()
        lines = [f"- {m.name} ({m.scope}, {m.type}, updated {age(now - m.updated_at)}) — {m.description}"
                 for m in memories]
        count = f"{len(memories)} memor{'y' if len(memories) == 1 else 'ies'}"
        return ToolOutput.text("\n".join([*lines, *problems]), summary=count)
