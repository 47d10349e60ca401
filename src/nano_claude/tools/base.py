"""The tool seam: a name, a description, an input model, two flags and an async run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.messages import ImageBlock, TextBlock


class ToolError(NanoClaudeError):
    """A failure the model can act on: becomes an error tool result, never a crash."""


@dataclass(frozen=True)
class FileStamp:
    mtime_ns: int
    size: int


@dataclass
class ToolContext:
    """The world a tool runs in, passed in so tests can fake nothing and isolate everything."""

    cwd: Path
    environ: dict[str, str]
    # path -> stamp at the time the model last read it (for the stale-edit check)
    read_files: dict[Path, FileStamp] = field(default_factory=dict)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.cwd / p)


@dataclass(frozen=True)
class ToolOutput:
    content: tuple[TextBlock | ImageBlock, ...]
    is_error: bool = False

    @classmethod
    def text(cls, text: str, *, is_error: bool = False) -> ToolOutput:
        return cls((TextBlock(text),), is_error)


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
