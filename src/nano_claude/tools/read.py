"""Read: a file's lines numbered like `cat -n`, a window at a time; images as images,
notebooks cell by cell. What the model reads is stamped for the stale-edit check."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from nano_claude.core.messages import ImageBlock, TextBlock
from nano_claude.tools.base import FileStamp, ToolContext, ToolError, ToolOutput
from nano_claude.tools.files import (
    MAX_LINE,
    decode,
    describe_binary,
    n_lines,
    numbered,
    shown,
    split_lines,
)

DEFAULT_LIMIT = 2000  # lines per call
MAX_CHARS = 100_000  # characters per call (about 25k tokens), whatever the limit
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_BYTES = 3_750_000  # 5 MB once base64-encoded: the Anthropic API's limit per image
MAX_CELL_OUTPUT = 2000  # characters kept of each notebook cell output

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ReadInput(BaseModel):
    file_path: str = Field(description="Path of the file to read (absolute, or relative to the cwd)")
    offset: int | None = Field(None, ge=1, description="Line number to start from (1-based)")
    limit: int | None = Field(None, ge=1, description=f"How many lines to read (default {DEFAULT_LIMIT})")


class ReadTool:
    name: ClassVar[str] = "Read"
    description: ClassVar[str] = (
        f"Read a file. Text comes back as numbered lines (cat -n style), up to {DEFAULT_LIMIT} "
        "lines per call: use offset and limit to read a long file in parts. Longer lines are cut. "
        "Images (PNG, JPEG, GIF, WebP) come back as images; Jupyter notebooks as cells with "
        "their outputs. Read a file before you Edit or Write it."
    )
    input_model: ClassVar[type[BaseModel]] = ReadInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True
    permission_kind: ClassVar[str] = "read"

    def summary(self, args: ReadInput) -> str:
        if args.offset or args.limit:
            start = args.offset or 1
            return f"{args.file_path} (lines {start}-{start + (args.limit or DEFAULT_LIMIT) - 1})"
        return args.file_path

    def permission_target(self, args: ReadInput) -> str:
        return args.file_path

    async def run(self, args: ReadInput, ctx: ToolContext) -> ToolOutput:
        path = ctx.resolve(args.file_path)
        data, stamp = _read(path)
        media_type = image_type(data)
        if media_type:
            out = _image(path, data, media_type, ctx)
        else:
            text, summary = (_notebook(path, data, args) if path.suffix == ".ipynb"
                             else _text(path, data, args, ctx))
            out = ToolOutput.text(text, summary=summary)
        ctx.read_files[path.resolve()] = stamp
        return out


def _read(path: Path) -> tuple[bytes, FileStamp]:
    """The file's bytes and its stamp taken before reading: if it changes meanwhile,
    the stamp is the older one and a later edit is refused rather than let through."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{path} is a directory, not a file; list it with Bash (ls) or Glob.")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{path} is not a regular file (a device, socket or pipe); Read "
                            "reads files only.")
        if st.st_size > MAX_FILE_BYTES:
            raise ToolError(
                f"{path} is {st.st_size / 2**20:.1f} MB; Read loads files up to "
                f"{MAX_FILE_BYTES // 2**20} MB. Look at parts of it with Bash instead, e.g. "
                "`sed -n '1000,1100p' FILE`, `grep -n PATTERN FILE` or `tail -n 200 FILE`.")
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError:
        raise ToolError(f"File not found: {path}. Check the path (Glob or `ls` can find it).") from None
    except PermissionError:
        raise ToolError(f"Permission denied reading {path}.") from None
    except OSError as exc:
        raise ToolError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    return data, FileStamp(st.st_mtime_ns, st.st_size)


def image_type(data: bytes) -> str | None:
    """The media type of an image format models accept, from its first bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _image(path: Path, data: bytes, media_type: str, ctx: ToolContext) -> ToolOutput:
    kind = media_type.split("/")[1].upper()
    if not ctx.images:
        raise ToolError(
            f"{path} is a {kind} image and the current model does not accept images. "
            "Ask the user to switch to a model with vision, or inspect the file's metadata "
            "with Bash (e.g. `file`).")
    if len(data) > MAX_IMAGE_BYTES:
        raise ToolError(
            f"{path} is a {kind} image of {len(data) / 2**20:.1f} MB; Read sends images up to "
            f"{MAX_IMAGE_BYTES / 2**20:.1f} MB. Make a smaller copy with Bash (e.g. ImageMagick: "
            "`convert IN -resize 50% OUT.png`) and read that.")
    note = TextBlock(f"{path.name}: {kind} image, {len(data):,} bytes.")
    return ToolOutput((note, ImageBlock(media_type, base64.b64encode(data).decode("ascii"))),
                      summary=f"Read a {kind} image ({len(data):,} bytes)")


def _text(path: Path, data: bytes, args: ReadInput, ctx: ToolContext) -> tuple[str, str]:
    """The numbered lines for the model, and what was read for people."""
    file = decode(data)
    if file is None:
        raise ToolError(
            f"{path} is {describe_binary(data)} ({len(data):,} bytes). Read shows text files, "
            "images (PNG, JPEG, GIF, WebP) and notebooks; inspect this one with Bash "
            "(e.g. `file`, or a tool made for the format).")
    lines = split_lines(file.text)
    if not lines:
        return f"{shown(path, ctx)} exists and is empty.", "Read an empty file"
    text, summary = _window(lines, args, path, numbers=True)
    if file.encoding == "latin-1":
        text += "\n[not valid UTF-8: shown as latin-1; edits keep the file's bytes as they are]"
    return text, summary


def _window(lines: list[str], args: ReadInput, path: Path, *, numbers: bool) -> tuple[str, str]:
    """The lines asked for, within the line and character budgets, and how to read on;
    and which lines those were, for people ("Read 42 lines", "Read lines 10-40 of 300")."""
    start = (args.offset or 1) - 1
    if start >= len(lines):
        raise ToolError(f"offset {start + 1} is past the end: {path} has {len(lines)} lines.")
    window = lines[start:start + (args.limit or DEFAULT_LIMIT)]
    if numbers:
        window = numbered(window, start + 1)
    else:
        window = [line if len(line) <= MAX_LINE
                  else line[:MAX_LINE] + f"… [{len(line) - MAX_LINE} more characters]"
                  for line in window]
    out: list[str] = []
    size = 0
    for line in window:
        size += len(line) + 1
        if out and size > MAX_CHARS:
            break
        out.append(line)
    end = start + len(out)
    if end < len(lines):
        what = "lines" if numbers else "rendered lines"
        out.append(f"[{what} {start + 1}-{end} of {len(lines)}; read on with offset={end + 1}]")
    whole = start == 0 and end == len(lines)
    summary = f"Read {n_lines(end)}" if whole else f"Read lines {start + 1}-{end} of {len(lines)}"
    return "\n".join(out), summary


# --- notebooks ---------------------------------------------------------------


def _notebook(path: Path, data: bytes, args: ReadInput) -> tuple[str, str]:
    """Cells with index, id and type, then source and outputs, so the model can pick the
    cell NotebookEdit should change. A notebook that is not valid JSON is shown as text,
    so it can be repaired."""
    file = decode(data)
    if file is None:
        raise ToolError(f"{path} is {describe_binary(data)}, not a notebook.")
    try:
        nb = json.loads(file.text)
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("'cells' is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        text, summary = _window(split_lines(file.text), args, path, numbers=True)
        return (f"{text}\n[not a valid notebook ({type(exc).__name__}: {exc}); shown as text]",
                f"{summary} (not a valid notebook)")
    meta = nb.get("metadata") or {}
    language = ((meta.get("language_info") or {}).get("name")
                or (meta.get("kernelspec") or {}).get("language") or "unknown")
    lines = [f"[Jupyter notebook, nbformat {nb.get('nbformat')}.{nb.get('nbformat_minor')}, "
             f"{len(cells)} cells, language {language}; change cells with NotebookEdit]"]
    for index, cell in enumerate(cells):
        lines += _cell(index, cell)
    text, summary = _window(lines, args, path, numbers=False)
    cells_read = "1 cell" if len(cells) == 1 else f"{len(cells)} cells"
    if summary.startswith("Read lines"):  # part of it: which rendered lines, of how many cells
        return text, f"{summary} (notebook of {cells_read})"
    return text, f"Read {cells_read}"


def _cell(index: int, cell: Any) -> list[str]:
    if not isinstance(cell, dict):
        return [f'<cell index={index} invalid="not an object"/>']
    kind = cell.get("cell_type", "?")
    ident = f' id="{cell["id"]}"' if cell.get("id") else ""
    count = cell.get("execution_count")
    runs = f" execution_count={count}" if count is not None else ""
    out = [f"<cell index={index}{ident} type={kind}{runs}>", *_joined(cell.get("source")).split("\n")]
    for output in cell.get("outputs") or []:
        if isinstance(output, dict):
            label, text = _output(output)
            out += [f"<output {label}>", *_cut(text).split("\n"), "</output>"]
    out.append("</cell>")
    return out


def _output(output: dict[str, Any]) -> tuple[str, str]:
    kind = output.get("output_type", "?")
    if kind == "stream":
        return f"stream={output.get('name', 'stdout')}", _joined(output.get("text"))
    if kind == "error":
        trace = _ANSI.sub("", "\n".join(output.get("traceback") or []))
        return "error", f"{output.get('ename')}: {output.get('evalue')}\n{trace}".rstrip()
    bundle = output.get("data") or {}
    text = _joined(bundle.get("text/plain"))
    others = [mime for mime in bundle if mime != "text/plain"]
    if others:
        text += ("\n" if text else "") + f"[{', '.join(others)} not shown]"
    return kind, text


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)


def _cut(text: str) -> str:
    text = text.rstrip("\n")
    if len(text) <= MAX_CELL_OUTPUT:
        return text
    return text[:MAX_CELL_OUTPUT] + f"\n… [{len(text) - MAX_CELL_OUTPUT} more characters of output]"
