"""Write and Edit, and what every tool that changes a file shares: text files written back
in the encoding, byte-order mark and line endings they came in, atomic replacement, and
the rule that the model must have read the current version of a file before changing it.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.diff import counts, line_count, unified_diff

MAX_LINE = 2000  # characters shown of one line, here and in Read

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Formats that are binary even when their first bytes happen to hold no NUL.
_MAGIC = (
    (b"%PDF-", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or .docx/.xlsx/.jar/.whl)"),
    (b"\x1f\x8b", "gzip-compressed data"), (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "an ELF executable or library"), (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"\x00asm", "a WebAssembly module"), (b"\xca\xfe\xba\xbe", "a Java class or Mach-O file"),
)
_SAMPLE = 8192
_CONTROL = frozenset(range(0x20)) - frozenset(b"\t\n\r\x0b\x0c\x1b\x08")


@dataclass(frozen=True)
class TextFile:
    """A file's text as stored (line endings untouched) and how to store it again."""

    text: str
    encoding: str = "utf-8"
    bom: bytes = b""

    @property
    def newline(self) -> str:
        """The line ending most of the file uses; new lines get the same."""
        crlf = self.text.count("\r\n")
        return "\r\n" if crlf and crlf * 2 >= self.text.count("\n") else "\n"

    def encode(self, text: str, path: Path) -> bytes:
        try:
            return self.bom + text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            bad = "".join(sorted(set(exc.object[exc.start:exc.end])))[:10]
            raise ToolError(
                f"{path} is stored as {self.encoding}, which cannot hold {bad!r}. "
                "Keep to characters that encoding has (e.g. ASCII equivalents); nothing was written."
            ) from None


def decode(data: bytes) -> TextFile | None:
    """The text of a file, or None when it is binary.

    Text without a byte-order mark that is not valid UTF-8 is shown as latin-1,
    which maps every byte to a character: it reads and writes back unchanged.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return TextFile(data[len(bom):].decode(encoding), encoding, bom)
            except UnicodeDecodeError:
                return None
    if looks_binary(data):
        return None
    try:
        return TextFile(data.decode("utf-8"))
    except UnicodeDecodeError:
        return TextFile(data.decode("latin-1"), "latin-1")


def looks_binary(data: bytes) -> bool:
    sample = data[:_SAMPLE]
    if any(sample.startswith(magic) for magic, _ in _MAGIC) or b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte in _CONTROL)
    return bool(sample) and control * 10 > len(sample)


def describe_binary(data: bytes) -> str:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    nul = data.find(b"\x00", 0, _SAMPLE)
    if nul >= 0:
        return f"binary data (a NUL byte at offset {nul})"
    return "binary data (mostly control characters)"


def split_lines(text: str) -> list[str]:
    """Lines as editors and `cat -n` number them: split at LF only, CR of CRLF dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def numbered(lines: list[str], first: int) -> list[str]:
    """`cat -n` style lines starting at number `first`, each cut at MAX_LINE characters."""
    width = len(str(first + len(lines) - 1))
    out = []
    for number, line in enumerate(lines, first):
        if len(line) > MAX_LINE:
            line = line[:MAX_LINE] + f"… [{len(line) - MAX_LINE} more characters]"
        out.append(f"{number:>{width}}\t{line}")
    return out


def n_lines(n: int) -> str:
    return "1 line" if n == 1 else f"{n} lines"


def changed(verb: str, name: str, diff: str) -> str:
    """What a change did, for people: `Edited app.py +3 −1` (lines added and removed)."""
    added, removed = counts(diff)
    return f"{verb} {name} +{added} −{removed}"


def shown(path: Path, ctx: ToolContext) -> str:
    """How a path appears in messages and diff headers: relative inside the cwd."""
    try:
        return str(path.relative_to(ctx.cwd))
    except ValueError:
        return str(path)


def load(path: Path, tool: str) -> TextFile:
    """The text of an existing file, or a ToolError saying why it has none."""
    if path.is_dir():
        raise ToolError(f"{path} is a directory; {tool} works on files.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"File not found: {path}.") from None
    except OSError as exc:
        raise ToolError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    file = decode(data)
    if file is None:
        raise ToolError(f"{path} is {describe_binary(data)}; {tool} changes text files only.")
    return file


def check_fresh(ctx: ToolContext, path: Path, tool: str) -> None:
    """Refuse to change a file the model has not seen as it is now: it would overwrite
    work it does not know about (the user's edits, a formatter's)."""
    seen = ctx.read_files.get(path.resolve())
    if seen is None:
        raise ToolError(
            f"{path} has not been read in this session. Read it first, then retry the {tool} "
            "(changes must be based on the file's current content)."
        )
    stat = path.stat()
    if (stat.st_mtime_ns, stat.st_size) != (seen.mtime_ns, seen.size):
        raise ToolError(
            f"{path} has changed on disk since you last read it (the user, a formatter or "
            f"another tool wrote to it). Read it again, then retry the {tool}."
        )


def atomic_write(path: Path, data: bytes) -> None:
    """Replace the file in one step: readers see the old or the new content, never half,
    and a failure leaves the old file intact and no temporary file behind.

    A symlink keeps pointing where it did (its target is replaced); an existing
    file keeps its permission bits, a new one gets the usual ones (0666 less umask).
    """
    target = path.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode: int | None = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        tmp = target.parent / f".{target.name}.{os.urandom(4).hex()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ToolError(f"Cannot write {path}: {exc.strerror or exc}. Nothing was written.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if mode is not None:
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ToolError(
                f"Cannot write {path}: {exc.strerror or exc}. The file is unchanged."
            ) from None
        raise
    _sync_dir(target.parent)


def _sync_dir(folder: Path) -> None:
    # The rename itself survives a crash only once the directory is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Change:
    """A write worked out but not yet done: enough to preview it or to carry it out."""

    path: Path
    name: str  # as shown in messages and diff headers
    file: TextFile  # the old content and its encoding
    new_text: str
    created: bool = False

    def diff(self) -> str:
        return unified_diff(self.file.text.replace("\r\n", "\n"), self.new_text.replace("\r\n", "\n"),
                            self.name, created=self.created)

    def apply(self, ctx: ToolContext) -> str:
        """Writes the change; returns its diff for the UI ("" for a new file: its summary,
        `Created app.py (12 lines)`, says all a glance needs)."""
        data = self.file.encode(self.new_text, self.path)
        if ctx.before_change is not None:
            try:
                ctx.before_change(self.path)
            except OSError as exc:
                raise ToolError(f"Cannot keep a checkpoint of {self.path} before changing it "
                                f"({exc.strerror or exc}), so it was not changed.") from None
        atomic_write(self.path, data)
        ctx.stamp(self.path)
        return "" if self.created else self.diff()


# --- Write -------------------------------------------------------------------


class WriteInput(BaseModel):
    file_path: str = Field(description="Path of the file (absolute, or relative to the cwd)")
    content: str = Field(description="The complete new content of the file")


class WriteTool:
    name: ClassVar[str] = "Write"
    description: ClassVar[str] = (
        "Create a file, or replace all of an existing file's content. Parent folders are created. "
        "An existing file must have been Read first in this session and not changed since. "
        "Prefer Edit for changing part of a file: it sends only the change."
    )
    input_model: ClassVar[type[BaseModel]] = WriteInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "edit"

    def summary(self, args: WriteInput) -> str:
        return args.file_path

    def permission_target(self, args: WriteInput) -> str:
        return args.file_path

    async def preview(self, args: WriteInput, ctx: ToolContext) -> str:
        return self._plan(args, ctx).diff()

    async def run(self, args: WriteInput, ctx: ToolContext) -> ToolOutput:
        change = self._plan(args, ctx)
        display = change.apply(ctx)
        size = line_count(change.new_text)
        if change.created:
            created = f"Created {change.name} ({n_lines(size)})"
            return ToolOutput.text(f"{created}.", summary=created)
        if not display:
            return ToolOutput.text(f"{change.name} already had this content; nothing changed.",
                                   summary=f"{change.name} unchanged")
        added, removed = counts(display)
        return ToolOutput.text(f"Wrote {change.name}: {n_lines(size)} (+{added} -{removed}).",
                               display=display, summary=changed("Wrote", change.name, display))

    def _plan(self, args: WriteInput, ctx: ToolContext) -> Change:
        path = ctx.resolve(args.file_path)
        name = shown(path, ctx)
        if not path.exists():
            return Change(path, name, TextFile(""), args.content, created=True)
        if path.is_dir():
            raise ToolError(f"{path} is a directory; give Write the path of a file.")
        check_fresh(ctx, path, "Write")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ToolError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        old = decode(data) or TextFile("")  # a binary file is replaced wholesale, as UTF-8
        content = args.content
        if old.newline == "\r\n" and "\r\n" not in content:
            content = content.replace("\n", "\r\n")
        return Change(path, name, old, content)


# --- Edit --------------------------------------------------------------------


class EditInput(BaseModel):
    file_path: str = Field(description="Path of the file (absolute, or relative to the cwd)")
    old_string: str = Field(
        description="The exact text to replace, as in the file (no line-number prefixes); "
        "empty to create a new file")
    new_string: str = Field(description="The text to put in its place")
    replace_all: bool = Field(False, description="Replace every occurrence (default: exactly one)")


class EditTool:
    name: ClassVar[str] = "Edit"
    description: ClassVar[str] = (
        "Replace exact text in a file. old_string must match the file exactly, including "
        "indentation, and occur once (add surrounding lines to make it unique) unless "
        "replace_all is set. Read the file first in this session. Encoding and line endings "
        "are kept. An empty old_string creates a new file."
    )
    input_model: ClassVar[type[BaseModel]] = EditInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "edit"

    def summary(self, args: EditInput) -> str:
        return args.file_path

    def permission_target(self, args: EditInput) -> str:
        return args.file_path

    async def preview(self, args: EditInput, ctx: ToolContext) -> str:
        return self._plan(args, ctx)[0].diff()

    async def run(self, args: EditInput, ctx: ToolContext) -> ToolOutput:
        change, spans = self._plan(args, ctx)
        display = change.apply(ctx)
        if change.created:
            created = f"Created {change.name} ({n_lines(line_count(change.new_text))})"
            return ToolOutput.text(f"{created}.", summary=created)
        summary = changed("Edited", change.name, display)
        times = "1 replacement" if len(spans) == 1 else f"{len(spans)} replacements"
        start, end = spans[0]
        first = change.new_text.count("\n", 0, start) + 1
        last = first + change.new_text.count("\n", start, max(start, end - 1))
        text_lines = split_lines(change.new_text)
        if not text_lines:
            return ToolOutput.text(f"Edited {change.name}: {times}. The file is now empty.",
                                   display=display, summary=summary)
        low, high = max(1, first - 3), min(len(text_lines), last + 3, first + 30)
        where = "" if len(spans) == 1 else " (around the first)"
        snippet = "\n".join(numbered(text_lines[low - 1:high], low))
        return ToolOutput.text(
            f"Edited {change.name}: {times}. Lines {low}-{high} now read{where}:\n{snippet}",
            display=display, summary=summary)

    def _plan(self, args: EditInput, ctx: ToolContext) -> tuple[Change, list[tuple[int, int]]]:
        path = ctx.resolve(args.file_path)
        name = shown(path, ctx)
        if args.old_string == args.new_string:
            raise ToolError("old_string and new_string are the same; there is nothing to change.")
        if path.suffix == ".ipynb":
            raise ToolError(f"{path} is a Jupyter notebook; change its cells with NotebookEdit.")
        if not path.exists():
            if args.old_string:
                raise ToolError(f"File not found: {path}. To create a file, use Write "
                                "(or Edit with an empty old_string).")
            return Change(path, name, TextFile(""), args.new_string, created=True), []
        if path.is_dir():
            raise ToolError(f"{path} is a directory; give Edit the path of a file.")
        check_fresh(ctx, path, "Edit")
        file = load(path, "Edit")
        if not args.old_string:
            if file.text.strip():
                raise ToolError(
                    f"old_string is empty but {path} already has content. Give the text to "
                    "replace (or the text next to where yours goes), or use Write to replace it all.")
            new = args.new_string.replace("\r\n", "\n").replace("\n", file.newline)
            return Change(path, name, file, new), [(0, len(new))]
        matches = list(_pattern(args.old_string).finditer(file.text))
        if not matches:
            raise ToolError(_not_found(args.old_string, file.text, path))
        if len(matches) > 1 and not args.replace_all:
            at = ", ".join(str(file.text.count("\n", 0, m.start()) + 1) for m in matches[:10])
            raise ToolError(
                f"old_string occurs {len(matches)} times in {path} (at lines {at}). Include more "
                "surrounding lines to pick one, or set replace_all=true to replace every occurrence.")
        new_text, spans = _replace(file, matches, args.new_string)
        return Change(path, name, file, new_text), spans


def _pattern(old: str) -> re.Pattern[str]:
    """old_string as a pattern in which each line break matches LF or CRLF: the model sees
    lines, not line endings, so its text matches a CRLF file (or a mixed one) too."""
    parts = old.replace("\r\n", "\n").split("\n")
    return re.compile(r"\r?\n".join(re.escape(part) for part in parts))


def _replace(file: TextFile, matches: list[re.Match[str]], new: str) -> tuple[str, list[tuple[int, int]]]:
    """The new text and where each replacement landed in it. Line breaks in `new` take the
    ending of the text they replace (or the file's usual one)."""
    new = new.replace("\r\n", "\n")
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    last = size = 0
    for match in matches:
        out.append(file.text[last:match.start()])
        size += match.start() - last
        found = match.group()
        ending = "\r\n" if "\r\n" in found else "\n" if "\n" in found else file.newline
        piece = new.replace("\n", ending)
        out.append(piece)
        spans.append((size, size + len(piece)))
        size += len(piece)
        last = match.end()
    out.append(file.text[last:])
    return "".join(out), spans


_LINE_NUMBER = re.compile(r"^\s*\d+\t")


def _not_found(old: str, text: str, path: Path) -> str:
    """Why old_string did not match, with the likeliest cause when we can tell."""
    message = f"old_string was not found in {path}."
    lines = [line for line in old.split("\n") if line.strip()]
    if lines and all(_LINE_NUMBER.match(line) for line in lines):
        return (f"{message} It starts with line numbers as Read shows them; "
                "leave out the number and tab before each line.")
    words = old.split()
    if words:
        loose = re.compile(r"\s+".join(re.escape(word) for word in words))
        match = loose.search(text)
        if match:
            line = text.count("\n", 0, match.start()) + 1
            return (f"{message} Text that differs only in whitespace (indentation, tabs or line "
                    f"breaks) starts at line {line}: Read it again and copy it exactly.")
    return (f"{message} It must match exactly, including indentation; Read the file again "
            "to copy the current text.")
