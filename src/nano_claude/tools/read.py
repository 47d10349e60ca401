"""Read: a file's lines, numbered like `cat -n`, a window at a time."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from nano_claude.tools.base import FileStamp, ToolContext, ToolError, ToolOutput

DEFAULT_LIMIT = 2000
MAX_LINE = 2000


class ReadInput(BaseModel):
    file_path: str = Field(description="Path of the file to read (absolute, or relative to the cwd)")
    offset: int | None = Field(None, ge=1, description="Line number to start from (1-based)")
    limit: int | None = Field(None, ge=1, description=f"How many lines to read (default {DEFAULT_LIMIT})")


class ReadTool:
    name: ClassVar[str] = "Read"
    description: ClassVar[str] = (
        "Read a text file. Returns numbered lines (cat -n style). Use offset and limit "
        "to read a long file in parts."
    )
    input_model: ClassVar[type[BaseModel]] = ReadInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: ReadInput) -> str:
        return args.file_path

    async def run(self, args: ReadInput, ctx: ToolContext) -> ToolOutput:
        path = ctx.resolve(args.file_path)
        if path.is_dir():
            raise ToolError(f"{path} is a directory, not a file; list it with Bash (ls) instead.")
        try:
            data = path.read_bytes()
            stat = path.stat()
        except FileNotFoundError:
            raise ToolError(f"File not found: {path} (cwd is {ctx.cwd}).") from None
        except PermissionError:
            raise ToolError(f"Permission denied reading {path}.") from None
        if b"\x00" in data[:8192]:
            raise ToolError(f"{path} is a binary file ({len(data)} bytes); Read shows text files only.")
        ctx.read_files[path.resolve()] = FileStamp(stat.st_mtime_ns, stat.st_size)
        text = data.decode("utf-8", errors="replace")
        lines = text.splitlines()
        if not lines:
            return ToolOutput.text(f"{path} is empty.")
        start = (args.offset or 1) - 1
        limit = args.limit or DEFAULT_LIMIT
        if start >= len(lines):
            raise ToolError(f"offset {start + 1} is past the end: {path} has {len(lines)} lines.")
        window = lines[start:start + limit]
        width = len(str(start + len(window)))
        out = []
        for number, line in enumerate(window, start + 1):
            if len(line) > MAX_LINE:
                line = line[:MAX_LINE] + f"… [{len(line) - MAX_LINE} more characters]"
            out.append(f"{number:>{width}}\t{line}")
        end = start + len(window)
        if end < len(lines):
            out.append(
                f"[lines {start + 1}-{end} of {len(lines)}; read on with offset={end + 1}]"
            )
        return ToolOutput.text("\n".join(out))
