"""Glob and Grep: find files by name and by content, seeing the files ripgrep sees.

Grep runs ripgrep (`rg`) when it finds it (on ctx.environ's PATH, else next to
sys.executable, where the `ripgrep` wheel installs it) and otherwise scans in Python with
the same file selection (tools/ignore.py). Both engines' results go through one
formatter, so the model cannot tell them apart by the output's shape.

Regex dialects differ. rg takes Rust regex syntax: no look-around, no backreferences.
The fallback takes Python's `re`, which accepts those, and lacks \\p{..} classes,
[[:alpha:]] POSIX classes and \\z. Literals, classes, \\b \\w \\d \\s, quantifiers,
groups, alternation and inline flags such as (?i) behave the same in both. Both refuse a
newline in the pattern unless multiline is on.

Known differences besides the dialect: binary files (with a NUL byte) are skipped when
walking a directory, but ripgrep prints the matches it found before a NUL that comes late
in a file. And ripgrep 14.1 misapplies patterns containing a slash that sit in ignore files
*above* the searched directory (it matches them against "<searched dir>/<file name>"), so
searching a subdirectory can hide or show a few files git would not; the fallback and Glob
follow git.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.ignore import Overrides, glob_to_regex, has_magic, type_names, type_pattern, walk

GLOB_LIMIT = 100  # paths Glob lists
DEFAULT_HEAD_LIMIT = 250  # lines or entries Grep returns unless told otherwise
MAX_OUTPUT = 20_000  # characters of Grep output, whatever head_limit says
MAX_LINE = 500  # characters of one matching line
TIMEOUT = 60.0  # seconds a search may take
MAX_RG_BYTES = 32 * 2**20  # ripgrep output read before giving up on the rest

Mode = Literal["content", "files_with_matches", "count"]
T = TypeVar("T")


def type_filter(name: str) -> re.Pattern[str]:
    pattern = type_pattern(name)
    if pattern is None:
        raise _unknown_type(name)
    return pattern


def _unknown_type(name: str) -> ToolError:
    known = ", ".join(type_names())
    return ToolError(f"Unknown file type {name!r} for Grep's type. Known types include: {known}. "
                     'For anything else use glob instead, e.g. "*.ext".')


def find_rg(environ: dict[str, str]) -> str | None:
    """rg on the session's PATH, else the one the `ripgrep` wheel put beside this interpreter
    (a virtualenv's bin directory is often not on PATH)."""
    found = shutil.which("rg", path=environ.get("PATH") or os.defpath)
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "rg.exe" if os.name == "nt" else "rg")
    return beside if os.access(beside, os.X_OK) else None


def split_globs(text: str | None) -> tuple[str, ...]:
    """Grep's glob may hold several, split at spaces and commas outside braces."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    for c in text or "":
        depth += (c == "{") - (c == "}" and depth > 0)
        if depth == 0 and (c == "," or c.isspace()):
            if current:
                out.append("".join(current))
            current = []
        else:
            current.append(c)
    if current:
        out.append("".join(current))
    return tuple(out)


def display_prefix(base: str, cwd: Path) -> str:
    """What goes before a path relative to `base`: relative to the cwd when inside it (Read
    and Edit resolve against the cwd), absolute otherwise."""
    rel = os.path.relpath(base, cwd)
    if rel == ".":
        return ""
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return base.rstrip(os.sep) + "/"
    return rel.replace(os.sep, "/") + "/"


def _printable(path: str) -> str:
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:  # undecodable bytes in a file name
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _limit_note(left: int, unit: str, reason: str, limit: int | None) -> str:
    if reason == "limit":
        return f"[{left} more {unit} not shown (head_limit {limit}); narrow the search or raise head_limit]"
    return (f"[{left} more {unit} not shown: output is capped at {MAX_OUTPUT} characters; "
            "narrow the search with path, glob or type]")


def _kept_note(count: int, sep: str) -> str:
    if not count:
        return ""
    files, them = ("1 file", "it") if count == 1 else (f"{count} files", "them")
    return f"{sep}[{files} left out: the permission rules keep {them} from being read]"


def _take(lines: Iterable[str], limit: int | None) -> tuple[list[str], str]:
    """The lines that fit under head_limit and the character cap, and which cap cut them."""
    shown: list[str] = []
    size = 0
    for line in lines:
        if limit and len(shown) >= limit:
            return shown, "limit"
        size += len(line) + 1
        if size > MAX_OUTPUT:
            return shown, "size"
        shown.append(line)
    return shown, ""


# ---------------------------------------------------------------- Glob


class GlobInput(BaseModel):
    pattern: str = Field(description='Glob matched against paths under path: "**/*.py", "src/**/*.{ts,tsx}"')
    path: str | None = Field(None, description="Directory to search (default: the cwd)")


def split_pattern(pattern: str, root: str) -> tuple[str, str]:
    """The directory a pattern's literal leading components name, and the rest of it:
    "src/**/*.py" searches src; an absolute pattern carries its own root."""
    pattern = os.path.expanduser(pattern)
    base = "/" if pattern.startswith("/") else root
    parts = [p for p in pattern.split("/") if p]
    while len(parts) > 1 and not has_magic(parts[0]):
        base = os.path.join(base, parts.pop(0))
    return os.path.normpath(base), "/".join(parts) or "*"


def glob_files(base: str, rest: str, stop: threading.Event) -> list[tuple[int, str]]:
    """(mtime_ns, path relative to base) of the files the pattern matches."""
    if not has_magic(rest):  # a literal name: it is there or it is not, ignored or not
        path = os.path.join(base, rest)
        return [(_mtime(path), rest)] if os.path.isfile(path) else []
    if not os.path.isdir(base):
        return []
    regex = re.compile(glob_to_regex(rest), re.S)
    depth = None if "**" in rest else rest.count("/") + 1
    found = []
    for rel, entry in walk(base, max_depth=depth, stop=stop.is_set):
        if regex.fullmatch(rel):
            with contextlib.suppress(OSError):
                found.append((entry.stat(follow_symlinks=False).st_mtime_ns, rel))
    return found


def _search_root(path: str | None, ctx: ToolContext, tool: str) -> str:
    if path is None:
        return str(ctx.cwd)
    root = os.path.normpath(ctx.resolve(path))
    if not os.path.exists(root):
        raise ToolError(f"Path not found: {path} (cwd is {ctx.cwd}). Check the path; "
                        f"{tool} without path searches the cwd.")
    return root


async def _in_thread(fn: Callable[..., T], *args: object, narrow: str) -> T:
    """Run a walk off the event loop; on timeout or cancel, tell it to stop."""
    stop = threading.Event()
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn, *args, stop), TIMEOUT)
    except asyncio.TimeoutError:
        raise ToolError(f"The search took longer than {TIMEOUT:.0f}s and was stopped; "
                        f"narrow it with {narrow}.") from None
    finally:
        stop.set()


class GlobTool:
    name: ClassVar[str] = "Glob"
    description: ClassVar[str] = (
        'Find files by name pattern, e.g. "**/*.py" or "src/**/*.{ts,tsx}". The pattern matches '
        'paths relative to path (default: the cwd): "*" stays within one directory, "**" spans '
        f'any depth, so "*.py" finds top-level files only. Respects .gitignore. Lists up to {GLOB_LIMIT} '
        "files, most recently modified first. Use Grep to search file contents."
    )
    input_model: ClassVar[type[BaseModel]] = GlobInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True
    permission_kind: ClassVar[str] = "read"

    def summary(self, args: GlobInput) -> str:
        return f"{args.pattern} in {args.path}" if args.path else args.pattern

    def permission_target(self, args: GlobInput) -> str | None:
        return args.path

    async def run(self, args: GlobInput, ctx: ToolContext) -> ToolOutput:
        root = _search_root(args.path, ctx, "Glob")
        if not os.path.isdir(root):
            raise ToolError(f"{args.path} is a file, not a directory; Glob searches directories "
                            "(read the file with Read).")
        base, rest = split_pattern(args.pattern, root)
        found = await _in_thread(glob_files, base, rest, narrow="a more specific path or pattern")
        kept = ctx.keeps_out([Path(base, rel) for _, rel in found])
        found = [(mtime, rel) for mtime, rel in found if Path(base, rel) not in kept]
        prefix = display_prefix(base, ctx.cwd)
        paths = sorted((-mtime, _printable(prefix + rel)) for mtime, rel in found)
        if not paths:
            hint = ""
            if os.path.isdir(os.path.join(base, rest)):
                hint = f' ({rest} is a directory; "{rest}/**" lists the files in it)'
            elif "/" not in rest and "**" not in rest:
                hint = f' ("{rest}" matches top-level files only; "**/{rest}" searches subdirectories)'
            where = display_prefix(root, ctx.cwd).rstrip("/") or "the current directory"
            return ToolOutput.text(f"No files found matching {args.pattern!r} in {where}{hint}."
                                   + _kept_note(len(kept), " "), summary="No files found")
        lines = [p for _, p in paths[:GLOB_LIMIT]]
        if len(paths) > GLOB_LIMIT:
            lines.append(f"[{len(paths) - GLOB_LIMIT} more files not shown: these are the {GLOB_LIMIT} "
                         "most recently modified; narrow the pattern or path]")
        return ToolOutput.text("\n".join(lines) + _kept_note(len(kept), "\n"),
                               summary=f"Found {_files(len(paths))}")


# ---------------------------------------------------------------- Grep


class GrepInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pattern: str = Field(description="Regular expression (ripgrep syntax)")
    path: str | None = Field(None, description="File or directory to search (default: the cwd)")
    glob: str | None = Field(
        None, description='Only files matching this glob: "*.py" (any depth), "src/**/*.{ts,tsx}"')
    type: str | None = Field(None, description="File type: py, js, ts, rust, go, java, ...")
    output_mode: Mode = Field(
        "files_with_matches",
        description="files_with_matches: paths; content: matching lines; count: matches per file")
    case_insensitive: bool = Field(False, alias="-i", description="Ignore case")
    line_numbers: bool = Field(True, alias="-n", description="Line numbers (content mode)")
    after: int = Field(0, alias="-A", ge=0, description="Lines after each match (content mode)")
    before: int = Field(0, alias="-B", ge=0, description="Lines before each match (content mode)")
    context: int = Field(0, alias="-C", ge=0, description="Lines before and after each match (content mode)")
    multiline: bool = Field(False, description="Let patterns span lines (. matches newlines)")
    head_limit: int = Field(DEFAULT_HEAD_LIMIT, ge=0, description="Max lines/entries returned (0: no limit)")


@dataclass(frozen=True)
class Query:
    """One search, engine-neutral."""

    pattern: str
    mode: Mode
    base: str  # the directory searched, or the searched file's directory
    file: str | None  # the name of the one file searched, if path is a file
    globs: tuple[str, ...] = ()
    type: str | None = None
    ignore_case: bool = False
    multiline: bool = False
    before: int = 0
    after: int = 0


@dataclass
class Hit:
    """One file's results. `body` (content mode) holds rg --heading lines without the path:
    "12:text" for a match, "12-text" for context, "--" between groups."""

    rel: str  # relative to Query.base
    count: int = 0
    body: str | bytes = ""
    binary: bool = False

    def rows(self) -> int:
        return 1 if self.binary else self.body.count("\n" if isinstance(self.body, str) else b"\n") + 1


_NEWLINE = re.compile(r"\n|(?<!\\)(?:\\\\)*\\n")


def _newline_error(pattern: str) -> ToolError:
    return ToolError(f"The pattern {pattern!r} contains a newline, which a line-by-line search never "
                     "matches; set multiline to true to match across lines.")


# ripgrep


def rg_args(q: Query) -> list[str]:
    args = ["--no-config", "--no-messages", "--color=never", "--hidden", "--no-ignore-global",
            "--null", "--with-filename"]
    if q.ignore_case:
        args.append("--ignore-case")
    if q.multiline:
        args += ["--multiline", "--multiline-dotall"]
    for glob in (*q.globs, "!.git"):
        args += ["--glob", glob]
    if q.type:
        args += ["--type", q.type]
    if q.mode == "files_with_matches":
        args.append("--files-with-matches")
    elif q.mode == "count":
        args.append("--count")
    else:
        # Lines beyond 4 * MAX_LINE bytes are over MAX_LINE characters: the formatter cuts them.
        args += ["--heading", "--line-number", f"--max-columns={4 * MAX_LINE}", "--max-columns-preview"]
        if q.before:
            args += ["--before-context", str(q.before)]
        if q.after:
            args += ["--after-context", str(q.after)]
    # "./", not ".": given ".", rg 14.1 drops the dot of hidden names when matching the ignore
    # files of directories above it, so ".venv" escapes a parent's ".venv" rule.
    return [*args, "--regexp", q.pattern, "--", q.file or "./"]


def _rel(raw: bytes) -> str:
    path = os.fsdecode(raw)
    return path[2:] if path.startswith("./") else path


def parse_rg(mode: Mode, out: bytes, partial: bool) -> list[Hit]:
    if mode == "files_with_matches":
        names = out.split(b"\0")
        return [Hit(_rel(n)) for n in names[:-1] if n]  # the last piece is empty, or cut short
    if mode == "count":
        lines = out.split(b"\n")
        hits = []
        for line in lines[:-1] if partial else lines:
            name, sep, count = line.rpartition(b"\0")
            if sep and count.isdigit():
                hits.append(Hit(_rel(name), int(count)))
        return hits
    if partial:
        out = out[:out.rfind(b"\n\n")]  # drop the file that was cut short
    hits = []
    for chunk in out.split(b"\n\n"):
        if b" byte around offset " in chunk:
            hits.extend(_binary_chunk(chunk))
            continue
        name, sep, body = chunk.partition(b"\0")
        if sep:
            hits.append(Hit(_rel(name), body=body.rstrip(b"\n")))
    return hits


_RG_ROW = re.compile(rb"\d+[:-]|--$")
_RG_NOTE = re.compile(rb': (binary file matches|WARNING: stopped searching binary file after match) '
                      rb'\(found ".*" byte around offset \d+\)$')


def _binary_chunk(chunk: bytes) -> list[Hit]:
    """ripgrep's notes on binary files, mixed with the lines it printed before finding a NUL."""
    hits: list[Hit] = []
    current: Hit | None = None
    body: list[bytes] = []
    for line in chunk.split(b"\n"):
        name, sep, rest = line.partition(b"\0")
        note = None if sep else _RG_NOTE.search(line)
        if sep or note:
            if current is not None:
                current.body = b"\n".join(body)
                hits.append(current)
            current, body = (Hit(_rel(name)), [rest]) if sep else (None, [])
            if note and note.group(1) == b"binary file matches":
                hits.append(Hit(_rel(line[:note.start()]), binary=True))
        elif current is not None and _RG_ROW.match(line):
            body.append(line)
    if current is not None:
        current.body = b"\n".join(body)
        hits.append(current)
    return hits


def _rg_error(stderr: bytes, q: Query) -> ToolError:
    message = stderr.decode("utf-8", errors="replace").strip()
    if 'literal "\\n" is not allowed' in message:
        return _newline_error(q.pattern)
    if "unrecognized file type" in message and q.type:
        return _unknown_type(q.type)
    if "regex parse error" in message or "error parsing" in message:
        return ToolError(f"Invalid regex {q.pattern!r} (ripgrep syntax):\n{message}\nEscape literal "
                         "( ) [ ] { } . * + ? | with a backslash; look-around and backreferences "
                         "are not supported.")
    return ToolError(f"ripgrep failed: {message}")


async def _collect(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes, bool]:
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.ensure_future(proc.stderr.read())
    chunks: list[bytes] = []
    size, partial = 0, False
    try:
        while chunk := await proc.stdout.read(2**20):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RG_BYTES:
                partial = True
                proc.kill()
                break
        stderr = await errors
    finally:
        errors.cancel()
    await proc.wait()
    return b"".join(chunks), stderr, partial


async def rg_search(rg: str, q: Query, environ: dict[str, str]) -> tuple[list[Hit], bool]:
    """Raises OSError when `rg` cannot be started."""
    proc = await asyncio.create_subprocess_exec(
        rg, *rg_args(q), cwd=q.base, env=environ, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=2**20)
    try:
        out, stderr, partial = await asyncio.wait_for(_collect(proc), TIMEOUT)
    except asyncio.TimeoutError:
        raise ToolError(f"The search took longer than {TIMEOUT:.0f}s and was stopped; "
                        "narrow it with path, glob or type.") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: rg must not outlive the call
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode == 2 and not out and stderr.strip():
        raise _rg_error(stderr, q)
    return parse_rg(q.mode, out, partial), partial


# the Python fallback


def _compile(q: Query) -> re.Pattern[str]:
    if not q.multiline and _NEWLINE.search(q.pattern):
        raise _newline_error(q.pattern)
    flags = re.MULTILINE | (re.IGNORECASE if q.ignore_case else 0) | (re.DOTALL if q.multiline else 0)
    try:
        return re.compile(q.pattern, flags)
    except re.error as exc:
        raise ToolError(f"Invalid regex {q.pattern!r} (Python re syntax; ripgrep is not installed): "
                        f"{exc}. Escape literal ( ) [ ] {{ }} . * + ? | with a backslash.") from None


def python_search(q: Query, stop: threading.Event) -> tuple[list[Hit], bool]:
    regex = _compile(q)
    names = type_filter(q.type) if q.type else None  # an unknown type is an error, as with rg
    if q.file is not None:  # a file named outright is searched whatever the filters say
        files: Iterable[tuple[str, str, bool]] = [(q.file, os.path.join(q.base, q.file), True)]
    else:
        overrides = Overrides(q.globs) if q.globs else None
        files = ((rel, entry.path, False)
                 for rel, entry in walk(q.base, overrides=overrides, name_filter=names, stop=stop.is_set))
    hits: list[Hit] = []
    size = 0
    for rel, path, explicit in files:
        if stop.is_set():
            break
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        binary = b"\0" in data
        if binary:
            if not explicit:
                continue
            data = data.replace(b"\0", b"\n")  # as rg does for a file it was asked to search
        hit = search_text(regex, data.decode("utf-8", errors="replace"), q, rel)
        if hit is not None:
            hits.append(Hit(rel, hit.count, binary=True) if binary else hit)
            size += len(rel) + len(hit.body)
            if size > MAX_RG_BYTES:  # as with rg: stop rather than hold it all in memory
                return hits, True
    return hits, False


def search_text(regex: re.Pattern[str], text: str, q: Query, rel: str) -> Hit | None:
    if regex.search(text) is None:  # cheap: most files do not match at all
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if q.multiline:
        matched, count = _multiline_matches(regex, text, lines)
    elif q.mode == "files_with_matches":
        return Hit(rel) if any(regex.search(line) for line in lines) else None
    else:
        matched = [i for i, line in enumerate(lines) if regex.search(line)]
        count = len(matched)
    if not matched:
        return None
    if q.mode != "content":
        return Hit(rel, count)
    return Hit(rel, count, body=_body(lines, matched, q.before, q.after))


def _multiline_matches(regex: re.Pattern[str], text: str, lines: list[str]) -> tuple[list[int], int]:
    """The lines the matches cover, and how many runs of lines they make (rg's count)."""
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line) + 1
    runs: list[list[int]] = []
    for m in regex.finditer(text):
        first = bisect_right(starts, m.start()) - 1
        if m.start() >= offset or first < 0:  # an empty match past the last line
            continue
        last = bisect_right(starts, m.end() - 1) - 1 if m.end() > m.start() else first
        if runs and first <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], last)
        else:
            runs.append([first, last])
    return [i for a, b in runs for i in range(a, min(b, len(lines) - 1) + 1)], len(runs)


def _body(lines: list[str], matched: list[int], before: int, after: int) -> str:
    hit = set(matched)
    shown = matched
    if before or after:
        end = len(lines)
        shown = sorted({j for i in matched for j in range(max(0, i - before), min(end, i + after + 1))})
    out: list[str] = []
    previous = None
    for i in shown:
        if previous is not None and i != previous + 1 and (before or after):
            out.append("--")
        out.append(f"{i + 1}{':' if i in hit else '-'}{lines[i][:4 * MAX_LINE]}")
        previous = i
    return "\n".join(out)


# the formatter


_ROW = re.compile(r"(\d+)([:-])(.*)", re.S)


def _clip(text: str) -> str:
    if text.endswith("\r"):
        text = text[:-1]
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + " …[line cut]"


def _content_lines(hits: list[tuple[str, Hit]], context: bool, numbers: bool) -> Iterator[str]:
    for n, (path, hit) in enumerate(hits):
        if context and n:
            yield "--"
        if hit.binary:
            yield f"{path}: binary file matches (lines not shown)"
            continue
        body = hit.body.decode("utf-8", errors="replace") if isinstance(hit.body, bytes) else hit.body
        for row in body.split("\n"):
            m = _ROW.match(row)
            if m is None:
                if row == "--":
                    yield row
                continue
            number, sep, text = m.groups()
            yield f"{path}{sep}{number}{sep}{_clip(text)}" if numbers else f"{path}{sep}{_clip(text)}"


def render(q: Query, hits: list[Hit], prefix: str, head_limit: int, numbers: bool = True) -> str:
    """Files newest first (the likeliest to matter), then head_limit and the character cap."""
    keyed = sorted(((-_mtime(os.path.join(q.base, h.rel)), _printable(prefix + h.rel), h) for h in hits),
                   key=lambda k: (k[0], k[1]))
    ordered = [(path, hit) for _, path, hit in keyed]
    limit = head_limit or None
    s = "" if len(hits) == 1 else "s"
    if q.mode == "files_with_matches":
        shown, cut = _take((path for path, _ in ordered), limit)
        head, total, unit, tail = [f"Found {len(hits)} file{s}"], len(hits), "files", []
    elif q.mode == "count":
        shown, cut = _take((f"{path}:{hit.count}" for path, hit in ordered), limit)
        matches = sum(h.count for h in hits)
        head, total, unit = [], len(hits), "files"
        tail = [f"Found {matches} matching line{'' if matches == 1 else 's'} in {len(hits)} file{s}."]
    else:
        context = bool(q.before or q.after)
        shown, cut = _take(_content_lines(ordered, context, numbers), limit)
        head, total, unit, tail = [], sum(h.rows() for h in hits) + context * (len(hits) - 1), "lines", []
    notes = [_limit_note(total - len(shown), unit, cut, limit)] if cut else []
    return "\n".join(head + shown + notes + tail)


def _files(n: int) -> str:
    return "1 file" if n == 1 else f"{n} files"


def _found(mode: Mode, hits: list[Hit]) -> str:
    """What a search found, for people: `Found 3 files`, `Found 7 matching lines in 3 files`."""
    if mode == "files_with_matches":
        return f"Found {_files(len(hits))}"
    if mode == "count":
        lines = sum(h.count for h in hits)
    else:  # content: the match rows, not the context rows around them
        bodies = (h.body.decode("utf-8", "replace") if isinstance(h.body, bytes) else h.body for h in hits)
        rows = (_ROW.match(row) for body in bodies for row in body.split("\n"))
        lines = sum(1 for m in rows if m and m[2] == ":")
    return f"Found {lines} matching line{'' if lines == 1 else 's'} in {_files(len(hits))}"


class GrepTool:
    name: ClassVar[str] = "Grep"
    description: ClassVar[str] = (
        "Search file contents with a regular expression (ripgrep). Respects .gitignore; skips "
        "binary files. output_mode: files_with_matches (default; paths, newest first), content "
        "(matching lines as path:line:text; -A/-B/-C add context), count (matching lines per file). "
        "Narrow with glob or type. Regex syntax is ripgrep's: escape literal braces and parens "
        r"(interface\{\}); set multiline to match across lines. head_limit caps the lines or "
        f"entries returned (default {DEFAULT_HEAD_LIMIT})."
    )
    input_model: ClassVar[type[BaseModel]] = GrepInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True
    permission_kind: ClassVar[str] = "read"

    def __init__(self, rg: str | None = "auto") -> None:
        """rg: "auto" finds ripgrep per call; a path uses that binary; None scans in Python."""
        self.rg = rg

    def summary(self, args: GrepInput) -> str:
        where = f" in {args.path}" if args.path else ""
        narrow = ", ".join(x for x in (args.glob, args.type) if x)
        return f"{args.pattern!r}{where}" + (f" ({narrow})" if narrow else "")

    def permission_target(self, args: GrepInput) -> str | None:
        return args.path

    async def run(self, args: GrepInput, ctx: ToolContext) -> ToolOutput:
        target = _search_root(args.path, ctx, "Grep")
        base, file = (target, None) if os.path.isdir(target) else os.path.split(target)
        q = Query(args.pattern, args.output_mode, base, file, split_globs(args.glob), args.type or None,
                  args.case_insensitive, args.multiline,
                  before=args.before or args.context, after=args.after or args.context)
        hits, partial = await self._search(q, ctx)
        kept = ctx.keeps_out([Path(base, h.rel) for h in hits])
        hits = [h for h in hits if Path(base, h.rel) not in kept]
        prefix = display_prefix(base, ctx.cwd)
        if not hits:
            where = _printable(prefix + file) if file else (prefix.rstrip("/") or "the current directory")
            narrow = ", ".join(f"{k} {v}" for k, v in (("glob", args.glob), ("type", args.type)) if v)
            return ToolOutput.text(f"No matches found for pattern {args.pattern!r} in {where}"
                                   + (f" ({narrow})" if narrow else "") + "." + _kept_note(len(kept), " "),
                                   summary="No matches")
        text = render(q, hits, prefix, args.head_limit, args.line_numbers) + _kept_note(len(kept), "\n")
        if partial:
            text += (f"\n[the search stopped after {MAX_RG_BYTES // 2**20} MB of matches, so these results "
                     "are partial; narrow the pattern, path, glob or type]")
        return ToolOutput.text(text, summary=_found(q.mode, hits) + (" (partial)" if partial else ""))

    async def _search(self, q: Query, ctx: ToolContext) -> tuple[list[Hit], bool]:
        rg = find_rg(ctx.environ) if self.rg == "auto" else self.rg
        if rg is not None:
            try:
                return await rg_search(rg, q, ctx.environ)
            except OSError:  # not there after all, or not runnable: scan in Python
                pass
        return await _in_thread(python_search, q, narrow="path, glob or type")
