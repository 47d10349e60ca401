"""The tool seam: a name, a description, an input model, two flags and an async run."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.messages import ImageBlock, TextBlock

if TYPE_CHECKING:
    from nano_claude.core.events import Event
    from nano_claude.core.prompter import Prompter

# The id of the tool call a tool is running for (set by the loop around each call): a
# sub-agent's events are tagged with the call that started it.
current_call: ContextVar[str] = ContextVar("current_call", default="")


class ToolError(NanoClaudeError):
    """A failure the model can act on: becomes an error tool result, never a crash."""


@dataclass(frozen=True)
class FileStamp:
    mtime_ns: int
    size: int


@dataclass(frozen=True)
class Wakeup:
    """A wake-up prompt the agent scheduled (SleepTimer); the loop delivers it when due."""

    due: float  # time.monotonic() when it fires
    note: str
    seconds: float


@dataclass
class ToolContext:
    """The world a tool runs in, passed in so tests can fake nothing and isolate everything."""

    cwd: Path
    environ: dict[str, str]
    # path -> stamp at the time the model last read it (for the stale-edit check)
    read_files: dict[Path, FileStamp] = field(default_factory=dict)
    project: Path | None = None  # the project root; None: the cwd
    prompter: Prompter | None = None  # AskUserQuestion asks through it
    sandbox: bool = False  # run Bash inside bubblewrap
    images: bool = True  # the model accepts image blocks
    shells: dict[str, Any] = field(default_factory=dict)  # background commands by id
    wakeups: list[Wakeup] = field(default_factory=list)
    # files the permission rules keep from the model: Grep and Glob leave them out
    protected: Callable[[Path], bool] | None = None
    on_output: Callable[[str], None] | None = None  # a running command's output as it arrives (UI)
    # Called with a file's path right before a tool changes it (checkpoints for /rewind);
    # an OSError from it stops the change.
    before_change: Callable[[Path], None] | None = None
    # The session's folder for tool output too big to return whole (an MCP result saved
    # for the model to Read in parts); None: a folder under the system's temp dir.
    output_dir: Path | None = None
    # Where a running sub-agent's events go: the loop sets it while tools run, and yields what
    # arrives as part of its own run (core/events.Relayed)
    relay: Callable[[Event], None] | None = None
    agents: Any = None  # the sub-agents this agent may start (extensions/agents/runtime.py)
    # Where the session's own project files live (tasks.json) when `project` is elsewhere: a
    # sub-agent in a git worktree plans in its parent's task list, not one on its branch
    shared_root: Path | None = None

    @property
    def root(self) -> Path:
        return self.project or self.cwd

    def resolve(self, path: str) -> Path:
        # os.path.expanduser leaves `~nosuchuser/x` as written (Path.expanduser raises):
        # a path that names nothing, which the caller reports as such
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else (self.cwd / p)

    def stamp(self, path: Path) -> None:
        """Remember that the model has seen this file as it is now."""
        st = path.stat()
        self.read_files[path.resolve()] = FileStamp(st.st_mtime_ns, st.st_size)

    def keeps_out(self, paths: list[Path]) -> set[Path]:
        """Which of these files the permission rules keep from the model."""
        return {p for p in paths if self.protected(p)} if self.protected else set()

    async def aclose(self) -> None:
        """The session ends: stop what it left running in the background."""
        if self.shells:
            from nano_claude.tools.shells import stop_all

            await stop_all(self)


@dataclass(frozen=True)
class ToolOutput:
    content: tuple[TextBlock | ImageBlock, ...]
    is_error: bool = False
    display: str = ""  # for the UI only (never sent to the model): e.g. a unified diff
    # One line for people, never sent to the model: what the call came to ("Read 42 lines",
    # "exit 1 · 1 failed, 2 passed"). The model needs the whole output; a person scanning
    # the screen needs the gist. "": the UI falls back on the output itself.
    summary: str = ""

    @classmethod
    def text(cls, text: str, *, is_error: bool = False, display: str = "", summary: str = "") -> ToolOutput:
        return cls((TextBlock(text),), is_error, display, summary)


class Tool(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    read_only: ClassVar[bool]
    concurrency_safe: ClassVar[bool]

    async def run(self, args: Any, ctx: ToolContext) -> ToolOutput: ...

    def summary(self, args: Any) -> str:
        """A short description of a call for permission prompts and the UI."""
        ...


# Optional members a tool may define (looked up with getattr):
#   permission_kind: ClassVar[str]   "read" | "edit" | "shell" | "fetch": which rules judge it
#   def permission_target(self, args) -> str | None   the path, command or URL rules match
#   async def preview(self, args, ctx) -> str   what would change (a diff), for the prompt
