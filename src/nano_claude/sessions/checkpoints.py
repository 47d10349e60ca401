"""Checkpoints: what files looked like before the agent changed them, kept with the
session, so /rewind can put them back without git.

    sessions/checkpoints/<session id>/log.jsonl    what happened, in order (below)
    sessions/checkpoints/<session id>/files/<sha>  a file's content before a change (0600)

Before Write, Edit or NotebookEdit changes a file, the tool calls the ToolContext's
`before_change` hook and the file's bytes (or the fact that it did not exist) are kept,
once per file per user turn. The log is append-only JSON Lines, like a transcript:

    turn   a user turn began: its id (the prompt's meta["turn"]), its index in the
           session's messages and its time. Written for every turn, changes or not: the
           log's order is what says which changes came after which message.
    file   a file as it was before the turn first changed it: its mode and the sha256 of
           its content, whose copy is in files/ unless it was over MAX_FILE_BYTES
    state  the content the agent left a file with (at the end of a turn, or after a
           restore): a file that differs from it later was changed outside the agent

Turns are found by the id their prompt carries rather than by position, because
compaction and conversation rewinds move messages: a turn whose message was rewound
away keeps its place in the log, so rewinding further back still undoes its changes.
Changes made by shell commands cannot be known and are not kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.core.compaction import is_prompt
from nano_claude.core.messages import Message
from nano_claude.sessions.transcript import stamp

if TYPE_CHECKING:
    from nano_claude.core.loop import Session
    from nano_claude.tools.base import ToolContext

MAX_FILE_BYTES = 5 * 1024 * 1024  # a bigger file is not copied: rewinding says it cannot restore it
TURN_KEY = "turn"  # the prompt's meta key holding its turn id

State = str | None  # a file's content as its sha256, None when it does not exist


def new_turn_id() -> str:
    return uuid.uuid4().hex[:16]


def turn_id(message: Message) -> str:
    return str(message.meta.get(TURN_KEY) or "")


@dataclass(frozen=True)
class Before:
    """A file as it was before a turn first changed it."""

    path: Path
    existed: bool
    sha: str = ""
    kept: bool = True  # a copy is in files/ (not when the file was over MAX_FILE_BYTES)
    mode: int | None = None
    size: int = 0

    @property
    def state(self) -> State:
        return self.sha if self.existed else None


@dataclass
class Turn:
    """One user turn in the log: the files it changed, and what the agent left them as."""

    id: str
    index: int
    time: str
    files: list[Before] = field(default_factory=list)
    after: dict[Path, State] = field(default_factory=dict)


@dataclass
class Restored:
    """What putting files back did, for the user to read."""

    written: list[Path] = field(default_factory=list)
    deleted: list[Path] = field(default_factory=list)  # created by the agent: they did not exist before
    outside: list[Path] = field(default_factory=list)  # changed outside the agent since: restored anyway
    too_big: list[Before] = field(default_factory=list)  # no copy was kept
    unchanged: list[Path] = field(default_factory=list)  # already as they were
    failed: list[tuple[Path, str]] = field(default_factory=list)


class Checkpoints:
    """One session's checkpoints. `turn()` wraps a turn in the REPL; /rewind reads and restores."""

    def __init__(self, folder: Path, clock: Callable[[], datetime] = datetime.now) -> None:
        self.folder = folder
        self.clock = clock
        self._turn = ""
        self._pending: dict[str, Any] | None = None  # the turn's record, until it is on disk
        self._kept: set[Path] = set()

    @property
    def log(self) -> Path:
        return self.folder / "log.jsonl"

    @property
    def copies(self) -> Path:
        return self.folder / "files"

    # --- while a turn runs ---------------------------------------------------------------

    @contextlib.contextmanager
    def turn(self, ctx: ToolContext, session: Session, prompt: Message) -> Iterator[None]:
        """Keep files as they were before the tools of this turn change them. `prompt` is
        the message about to be appended to `session`."""
        self.begin(prompt, len(session.messages))
        ctx.before_change = self.keep
        try:
            yield
        finally:
            ctx.before_change = None
            self.settle()

    def begin(self, prompt: Message, index: int) -> None:
        self._turn, self._kept = turn_id(prompt), set()
        self._pending = {"type": "turn", "id": self._turn, "index": index, "time": stamp(self.clock())}
        # A log that cannot be written now is tried again before the first file is kept.
        with contextlib.suppress(OSError):
            self._write_pending()

    def keep(self, path: Path) -> None:
        """The hook: `path` is about to change. Raises OSError when the file cannot be kept
        (the tool then leaves it alone)."""
        target = path.resolve()
        if target in self._kept:
            return
        self._write_pending()
        self._append(self._before(target))
        self._kept.add(target)

    def settle(self) -> None:
        """The turn is over: note what the agent left each file it changed as."""
        kept, self._kept, self._pending = self._kept, set(), None
        # Without this note a later outside change goes unnoticed; the files are still kept.
        with contextlib.suppress(OSError):
            for path in sorted(kept):
                self._append({"type": "state", "path": str(path), "sha": state_of(path)})

    def _write_pending(self) -> None:
        if self._pending is not None:
            self._append(self._pending)
            self._pending = None

    def _before(self, path: Path) -> dict[str, Any]:
        record: dict[str, Any] = {"type": "file", "turn": self._turn, "path": str(path)}
        try:
            info = path.stat()
        except FileNotFoundError:
            return {**record, "existed": False}
        record.update(existed=True, mode=info.st_mode & 0o7777, size=info.st_size)
        if info.st_size > MAX_FILE_BYTES:
            return {**record, "sha": state_of(path), "kept": False}
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        copy = self.copies / sha
        if not copy.exists():  # the same content kept in another turn is one copy
            _write_private(copy, data)
        return {**record, "sha": sha, "kept": True}

    def _append(self, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.log, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a line cut short by a crash stays alone on its line
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- reading back --------------------------------------------------------------------

    def turns(self) -> list[Turn]:
        """Every turn in the log, oldest first (a line cut short by a crash is skipped)."""
        turns: list[Turn] = []
        try:
            lines = self.log.read_bytes().splitlines()
        except FileNotFoundError:
            return turns
        for raw in lines:
            try:
                _apply(turns, json.loads(raw))
            except (ValueError, KeyError, TypeError):
                continue
        return turns

    def prompts(self, messages: list[Message]) -> list[tuple[int, Turn | None]]:
        """The user's messages (their index in `messages`) with their turn in the log."""
        by_id = {t.id: t for t in self.turns() if t.id}
        return [(i, by_id.get(turn_id(m))) for i, m in enumerate(messages) if is_prompt(m)]

    def changes_since(self, messages: list[Message], index: int) -> list[tuple[Before, bool]]:
        """Each file changed since the message at `index` was sent, as it was then, and
        whether it was changed outside the agent since."""
        turns = self.turns()
        start = _start(turns, messages, index)
        first: dict[Path, Before] = {}
        for turn in turns[start:]:
            for before in turn.files:
                first.setdefault(before.path, before)
        return [(before, _outside(turns[start:], before.path)) for before in first.values()]

    # --- putting files back --------------------------------------------------------------

    def restore(self, messages: list[Message], index: int) -> Restored:
        """Put every file the agent changed since the message at `index` back as it was
        then (deleting the ones it created), each in one atomic step."""
        report = Restored()
        for before, outside in self.changes_since(messages, index):
            path = before.path
            if before.existed and not before.kept:
                report.too_big.append(before)
                continue
            try:
                done = self._put_back(before)
            except OSError as exc:
                report.failed.append((path, exc.strerror or str(exc)))
                continue
            if done is None:
                report.unchanged.append(path)
                continue
            (report.written if done else report.deleted).append(path)
            if outside:
                report.outside.append(path)
            with contextlib.suppress(OSError):  # only the outside-change check loses from this
                self._append({"type": "state", "path": str(path), "sha": before.state})
        return report

    def _put_back(self, before: Before) -> bool | None:
        """True: written; False: deleted; None: it already was as it was."""
        path = before.path
        if not before.existed:
            if path.is_dir() and not path.is_symlink():
                raise IsADirectoryError(0, "it is a folder now; left alone")
            if not os.path.lexists(path):
                return None
            path.unlink()
            return False
        if state_of(path) == before.sha and _mode(path) == before.mode:
            return None
        try:
            data = (self.copies / before.sha).read_bytes()
        except FileNotFoundError:
            raise FileNotFoundError(0, f"its copy {self.copies / before.sha} is gone") from None
        _write_file(path, data, before.mode)
        return True


def state_of(path: Path) -> State:
    """The sha256 of a file's content, None when there is no such file."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return digest.hexdigest()


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None


def _apply(turns: list[Turn], record: dict[str, Any]) -> None:
    kind = record["type"]
    if kind == "turn":
        turns.append(Turn(str(record["id"]), int(record["index"]), str(record.get("time", ""))))
    elif kind == "file" and turns:
        turns[-1].files.append(Before(Path(record["path"]), bool(record["existed"]),
                                      str(record.get("sha", "")), bool(record.get("kept", True)),
                                      record.get("mode"), int(record.get("size", 0))))
    elif kind == "state" and turns:
        turns[-1].after[Path(record["path"])] = record["sha"]


def _start(turns: list[Turn], messages: list[Message], index: int) -> int:
    """Where in the log the turn of the message at `index` begins. A message with no
    record there (sent by a -p run) begins before the first recorded one after it."""
    wanted = turn_id(messages[index])
    later = {turn_id(m) for m in messages[index + 1:] if is_prompt(m) and turn_id(m)}
    for position, turn in enumerate(turns):
        if (wanted and turn.id == wanted) or turn.id in later:
            return position
    return len(turns)


_UNKNOWN = "?"  # no state was noted (a turn killed before it ended)


def _outside(turns: list[Turn], path: Path) -> bool:
    """Whether the file was changed by something other than the agent's tools during or
    after these turns: a turn found it other than the one before left it, or it is not
    what the agent left it as now."""
    expected: State = _UNKNOWN
    for turn in turns:
        for before in turn.files:
            if before.path == path:
                if expected != _UNKNOWN and before.state != expected:
                    return True
                expected = _UNKNOWN
        if path in turn.after:
            expected = turn.after[path]
    return expected != _UNKNOWN and state_of(path) != expected


def _write_private(path: Path, data: bytes) -> None:
    """A copy only this user can read (it holds their code), written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_file(path: Path, data: bytes, mode: int | None) -> None:
    """The user's file back as it was, in one step, with its permission bits."""
    from nano_claude.tools.base import ToolError
    from nano_claude.tools.files import atomic_write

    try:
        atomic_write(path, data)
    except ToolError as exc:
        raise OSError(0, str(exc)) from None
    if mode is not None:
        os.chmod(path.resolve(), mode)
