"""`@path` in a message: the file (or directory listing) goes along with it.

One reading for the REPL, `-p` and Tab completion alike, so a mention that attaches in
one attaches in the others. What counts as a mention:

- `@` at the start of the text or after whitespace, so `a@b.com` and `x@y` are text;
- the path runs to the next whitespace (`@notes.md`), a space kept with a backslash
  (`@my\\ notes/a.txt`), or is quoted (`@"my notes/a.txt"`, `@'my notes/a.txt'`);
- punctuation right after a bare path (`see @notes.md.`) is not part of it unless a
  file of that name exists;
- nothing inside code (a ``` fence or a `span`), where `@decorator` and `git log @{u}` live.

`@server:uri` names a resource of a connected MCP server (`@docs:file:///guide.md`): its
contents go along instead.

A mention that cannot be attached (no such file, a broken link, unreadable, a special
file, denied by a Read rule) gets a one-line note. A bare word with no slash, dot or
tilde that names no file (`@alice`, `@property`) is left as text without a note: it is
far more often a name than a path.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nano_claude.core.messages import ImageBlock, TextBlock

if TYPE_CHECKING:
    from nano_claude.permissions.policy import Policy
    from nano_claude.tools.base import ToolContext

_RESOURCE = re.compile(r"^(?P<server>[A-Za-z0-9_.-]+):(?P<uri>[A-Za-z][A-Za-z0-9+.-]*:.+)$")
MAX_LISTED = 500  # directory entries shown for a mentioned directory
_TRAILING = ".,;:!?)]}'\""
_DOUBLE = r'"(?P<double>(?:[^"\\\n]|\\.)*)(?:"|$)'
_SINGLE = r"'(?P<single>[^'\n]*)(?:'|$)"
_BARE = r"(?P<bare>(?:\\.|[^\s\\\"'])(?:\\.|[^\s\\])*)"
_MENTION = re.compile(rf"(?<!\S)@(?:{_DOUBLE}|{_SINGLE}|{_BARE})", re.M)
_CODE = re.compile(r"^```.*?(?:^```[^\n]*$|\Z)|`[^`\n]+`", re.M | re.S)
# What is being typed at the cursor: an open quote, or a bare path (maybe ending in "\").
_PARTIAL = re.compile(r"(?<!\S)@(?P<typed>\"(?:[^\"\\\n]|\\.)*|'[^'\n]*"
                      r"|(?:\\.|[^\s\\\"'])?(?:\\.|[^\s\\])*\\?)\Z")


class Resources(Protocol):
    """MCP resources a message may mention (extensions/mcp/prompts.py)."""

    def names(self) -> list[str]:
        """Servers whose resources can be mentioned."""
        ...

    async def read(self, server: str, uri: str, ctx: ToolContext) -> list[TextBlock | ImageBlock]:
        """The resource as blocks; raises ToolError with the reason it cannot be read."""
        ...


@dataclass(frozen=True)
class Mention:
    written: str  # as typed, with its `@`: what notes quote back
    path: str  # quotes and escapes taken off
    quoted: bool  # quoted or escaped: the user meant a path, whatever it looks like
    escaped: bool = False

    @property
    def trimmed(self) -> Mention:
        """The mention without the punctuation that may follow a bare path."""
        if self.quoted or not self.path.endswith(tuple(_TRAILING)):
            return self
        return Mention(self.written.rstrip(_TRAILING), self.path.rstrip(_TRAILING), False, self.escaped)

    @property
    def looks_like_path(self) -> bool:
        return self.quoted or self.escaped or any(c in self.path for c in "/.~")


@dataclass
class Attachments:
    blocks: list[TextBlock | ImageBlock] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)  # paths as written, for "attached a, b"
    notes: list[str] = field(default_factory=list)  # one line for each mention that failed


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def escape(path: str) -> str:
    """A path written so it reads back as one mention (what Tab completion inserts)."""
    return re.sub(r"([\s\\\"'])", r"\\\1", path)


def find(text: str) -> list[Mention]:
    """The mentions in `text`, in order, outside code."""
    code = [m.span() for m in _CODE.finditer(text)]
    found = []
    for match in _MENTION.finditer(text):
        if any(start <= match.start() < end for start, end in code):
            continue
        double, single, bare = match.group("double", "single", "bare")
        if double is not None:
            found.append(Mention(match.group(0), unescape(double), True))
        elif single is not None:
            found.append(Mention(match.group(0), single, True))
        else:
            found.append(Mention(match.group(0), unescape(bare), False, "\\" in bare))
    return [m for m in found if m.path]


def partial(before_cursor: str) -> tuple[str, str, str] | None:
    """The mention being typed at the end of `before_cursor`, for completion:
    (what follows the `@` as typed, the path it spells so far, its quote or "")."""
    match = _PARTIAL.search(before_cursor)
    if match is None:
        return None
    typed = match.group("typed")
    if typed[:1] == '"':
        return typed, unescape(typed[1:]), '"'
    if typed[:1] == "'":
        return typed, typed[1:], "'"
    unfinished = (len(typed) - len(typed.rstrip("\\"))) % 2  # a lone "\\" escapes what comes next
    return typed, unescape(typed[:len(typed) - unfinished]), ""


def spell(path: str, quote: str, *, closed: bool) -> str:
    """`path` written as a mention in the user's chosen form (after the `@`)."""
    if quote == '"':
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + ('"' if closed else "")
    if quote == "'":
        return "'" + path + ("'" if closed else "")
    return escape(path)


async def attach(text: str, ctx: ToolContext, policy: Policy,
                 resources: Resources | None = None, *, unasked_only: bool = False) -> Attachments:
    """Read every file `text` mentions, as the Read tool would (a Read rule that denies
    it keeps it out), and every MCP resource; each one that fails is a note instead.
    `unasked_only`: the user did not write the text (a skill the model runs), so only what
    the policy lets the model read without asking is attached."""
    out = Attachments()
    seen: set[Path] = set()
    servers = resources.names() if resources is not None else []
    for said in find(text):
        named = _RESOURCE.match(said.trimmed.path) if servers else None
        if resources is not None and named and named["server"] in servers:
            await _resource(resources, said.trimmed, named["server"], named["uri"], ctx, out)
            continue
        mention, path = _existing(said, ctx)
        if path is None:
            if mention.path and (mention.looks_like_path or _is_link(ctx.resolve(mention.path))):
                out.notes.append(f"not attached: {mention.written}: {_missing(ctx.resolve(mention.path))}")
            continue
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        shown = str(path.relative_to(ctx.cwd)) if path.is_relative_to(ctx.cwd) else str(path)
        try:
            blocks = await _read(path, shown, ctx, policy, unasked_only=unasked_only)
        except _NotAttached as exc:
            out.notes.append(f"not attached: {mention.written}: {exc}")
            continue
        out.blocks.extend(blocks)
        out.attached.append(shown)
    return out


async def _resource(resources: Resources, mention: Mention, server: str, uri: str, ctx: ToolContext,
                    out: Attachments) -> None:
    from nano_claude.tools.base import ToolError

    if mention.path in out.attached:
        return
    try:
        out.blocks.extend(await resources.read(server, uri, ctx))
    except ToolError as exc:
        out.notes.append(f"not attached: {mention.written}: {exc}")
        return
    out.attached.append(mention.path)


class _NotAttached(Exception):
    """Why a mentioned file that exists was not attached (a note for the user)."""


def _existing(mention: Mention, ctx: ToolContext) -> tuple[Mention, Path | None]:
    """The mention as meant, and the file it names if there is one: punctuation after a
    bare path is part of it only when the path without it names nothing."""
    for meant in (mention, mention.trimmed):
        path = ctx.resolve(meant.path)
        if meant.path and _exists(path):
            return meant, path
    return mention.trimmed, None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte
        return False


def _is_link(path: Path) -> bool:
    """A broken link names a file that is not there: worth a note even as a bare word."""
    try:
        return path.is_symlink()
    except (OSError, ValueError):
        return False


def _missing(path: Path) -> str:
    try:
        if path.is_symlink():
            return f"broken symbolic link (it points to {os.readlink(path)}, which does not exist)"
        parent = next((p for p in path.parents if p.exists()), None)
    except (OSError, ValueError) as exc:
        return f"not a usable path ({getattr(exc, 'strerror', None) or exc})"
    if parent is not None and not parent.is_dir():
        return f"{parent.name} is a file, not a directory"
    return "no such file or directory"


async def _read(path: Path, shown: str, ctx: ToolContext, policy: Policy, *,
                unasked_only: bool = False) -> list[TextBlock | ImageBlock]:
    from nano_claude.permissions.policy import Call
    from nano_claude.tools.base import ToolError
    from nano_claude.tools.read import ReadInput, ReadTool

    ruling = policy.judge(Call("Read", "read", str(path), True))
    if ruling.decision == "deny":
        raise _NotAttached(f"denied by a permission rule ({ruling.rule or ruling.reason})")
    if ruling.decision == "ask" and unasked_only:
        raise _NotAttached(f"reading it needs permission ({ruling.reason}); use the Read tool, which asks")
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return [TextBlock(f'<directory path="{shown}">\n{_listing(path)}\n</directory>')]
    if not stat.S_ISREG(mode):
        raise _NotAttached("not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise _NotAttached("cannot be read (permission denied)")
    try:
        result = await ReadTool().run(ReadInput(file_path=str(path)), ctx)
    except ToolError as exc:
        raise _NotAttached(str(exc)) from exc
    return [TextBlock(f'<file path="{shown}">\n{block.text}\n</file>') if isinstance(block, TextBlock)
            else block for block in result.content]


def _listing(path: Path) -> str:
    try:
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    except OSError as exc:
        raise _NotAttached(f"cannot list the directory ({exc.strerror or exc})") from exc
    more = len(names) - MAX_LISTED
    return "\n".join(names[:MAX_LISTED]) + (f"\n… {more} more" if more > 0 else "")
