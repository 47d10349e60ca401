"""~/.nano_claude/sessions/: where sessions are kept, and how they are found again.

    transcripts/<id>.jsonl                     every session as it happened: the source of truth
    checkpoints/<id>/                          files as they were before the agent changed them
                                               (checkpoints.py); they go with the transcript
    history.json                               the index: one entry per session, newest first,
                                               capped at session_history_limit (a session that
                                               falls off it loses its transcript too)
    mr_sessions/session_latest.json            a snapshot of the session saved last (/resume FILE)
    daily/YYYY-MM-DD/session_HHMMSS_<id>.json  snapshots by day, capped at session_daily_limit
    <name>.json                                /save NAME
    search.db                                  the full-text index (search.py)

Snapshots keep the seed's shape ({"session_id", "saved_at", "turn_count", "messages", ...}),
so files users kept or wrote scripts against still load. history.json keeps the seed's
name and `total_turns`, but lists metadata only: the messages are in the transcripts. The
index is derived data: when it is lost, or stale because a process was killed before it
saved, it is brought up to date from the transcripts whenever it is read. Every write
except a transcript's appends is atomic (temp file + rename).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.config import atomic_write
from nano_claude.core.errors import UsageError
from nano_claude.core.messages import Message, message_from_dict, message_to_dict
from nano_claude.sessions.recorder import write_new, writer_for
from nano_claude.sessions.repair import repair
from nano_claude.sessions.transcript import read_transcript, stamp, title, turn_count

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.sessions.session import RecordedSession

SHORT_ID = 8
# 2: titles and turn counts outlive compaction (version 1 entries of compacted sessions
# were titled with the recap and counted only the turns it kept).
INDEX_VERSION = 2
SNAPSHOT_SUFFIX = ".json"


class SessionError(UsageError):
    """A session that cannot be found or read: the message says which and what to do."""


@dataclass
class Entry:
    """One session in the index."""

    session_id: str
    title: str = ""
    started_at: str = ""
    saved_at: str = ""
    cwd: str = ""
    model: str = ""
    turn_count: int = 0
    message_count: int = 0
    size: int = 0  # of the transcript when this entry was made: another size means stale

    @property
    def short_id(self) -> str:
        return self.session_id[:SHORT_ID]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Loaded:
    """A session read back, and what the user should know about it."""

    session: RecordedSession
    notes: list[str] = field(default_factory=list)  # what was interrupted, what was repaired
    warnings: list[str] = field(default_factory=list)  # lines that could not be read


@dataclass(frozen=True)
class Saved:
    entry: Entry
    sessions: int  # in the index after this save
    total_turns: int


class SessionStore:
    def __init__(self, root: Path, *, daily_limit: int = 5, history_limit: int = 100,
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.root = root
        self.daily_limit = daily_limit
        self.history_limit = history_limit
        self.clock = clock

    @classmethod
    def of(cls, home: Path, settings: Settings, clock: Callable[[], datetime] = datetime.now) -> SessionStore:
        """The store under the user data folder (`Paths.home`), with the settings' caps."""
        return cls(home / "sessions", daily_limit=settings.session_daily_limit,
                   history_limit=settings.session_history_limit, clock=clock)

    @property
    def transcripts(self) -> Path:
        return self.root / "transcripts"

    @property
    def index_path(self) -> Path:
        return self.root / "history.json"

    @property
    def latest_path(self) -> Path:
        return self.root / "mr_sessions" / "session_latest.json"

    @property
    def daily_root(self) -> Path:
        return self.root / "daily"

    def transcript(self, session_id: str) -> Path:
        return self.transcripts / f"{session_id}.jsonl"

    def checkpoints(self, session_id: str) -> Path:
        return self.root / "checkpoints" / session_id

    # --- the index -----------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """Every saved session, newest first, brought up to date with the transcripts."""
        with self._locked():
            stored = self._read_index()
            current = self._reconcile(stored)
            if current != stored:
                self._write_index(current)
        return current

    def find(self, ref: str) -> Entry:
        """The session with this id, or the only one whose id starts with it."""
        ref = ref.strip()
        entries = self.entries()
        exact = [e for e in entries if e.session_id == ref]
        found = exact or [e for e in entries if ref and e.session_id.startswith(ref)]
        if not found:
            raise SessionError(f"no saved session has the id {ref!r}; `nano_claude sessions list` "
                               "shows them")
        if len(found) > 1:
            ids = ", ".join(e.short_id for e in found[:5])
            raise SessionError(f"{ref!r} starts {len(found)} session ids ({ids}); give more of it")
        return found[0]

    def latest(self, cwd: Path | None = None, exclude: str = "") -> Entry | None:
        """The session saved last (in `cwd`, when given), other than `exclude`."""
        for entry in self.entries():
            if entry.session_id != exclude and (cwd is None or _same_dir(entry.cwd, cwd)):
                return entry
        return None

    def _read_index(self) -> list[Entry]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            entries = [Entry.from_dict(d) for d in data["sessions"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []  # lost or unreadable: rebuilt from the transcripts
        if data.get("version") != INDEX_VERSION:  # made by older rules: each entry re-read once
            for entry in entries:
                entry.size = -1
        return entries

    def _write_index(self, entries: list[Entry]) -> None:
        data = {"version": INDEX_VERSION, "total_turns": sum(e.turn_count for e in entries),
                "sessions": [asdict(e) for e in entries]}
        atomic_write(self.index_path, json.dumps(data, ensure_ascii=False, indent=1) + "\n", mode=0o600)

    def _reconcile(self, stored: list[Entry]) -> list[Entry]:
        """The index as the transcripts on disk say it should be: entries for deleted
        transcripts dropped, stale and missing ones re-read."""
        on_disk: dict[str, os.stat_result] = {}
        with contextlib.suppress(FileNotFoundError):
            for path in self.transcripts.glob("*.jsonl"):
                with contextlib.suppress(OSError):
                    on_disk[path.stem] = path.stat()
        known = {e.session_id: e for e in stored}
        current: list[Entry] = []
        for session_id in [*known, *(i for i in on_disk if i not in known)]:  # ties keep the index's order
            stat = on_disk.get(session_id)
            entry = known.get(session_id)
            if stat is not None and (entry is None or entry.size != stat.st_size):
                entry = self._summarize(session_id, stat)
            if stat is not None and entry is not None:
                current.append(entry)
        current.sort(key=lambda e: e.saved_at, reverse=True)
        return current

    def _summarize(self, session_id: str, stat: os.stat_result) -> Entry | None:
        try:
            replay = read_transcript(self.transcript(session_id))
        except OSError:
            return None
        header, messages = replay.header, replay.messages
        modified = stamp(datetime.fromtimestamp(stat.st_mtime))
        return Entry(session_id, title=title(messages), started_at=str(header.get("started_at") or modified),
                     saved_at=modified, cwd=str(header.get("cwd", "")),
                     model=_model(messages) or str(header.get("model", "")), turn_count=turn_count(messages),
                     message_count=len(messages), size=stat.st_size)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time reads-modifies-writes the index (two REPLs exiting at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # not POSIX: atomic writes still keep the file whole
            yield
            return
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # --- saving --------------------------------------------------------------------

    def sync(self, session: RecordedSession, model: str) -> None:
        """Write what the session's transcript does not have yet (a recorder usually did)."""
        writer = writer_for(self.transcript(session.id), session, model, self.clock)
        try:
            write_new(session, writer.write)
        finally:
            writer.close()

    def save(self, session: RecordedSession, model: str) -> Saved:
        """Bring the transcript, the index, the latest snapshot and today's snapshots up to
        date with a session, and apply the caps."""
        self.sync(session, model)
        now = self.clock()
        path = self.transcript(session.id)
        size = path.stat().st_size if path.exists() else 0
        messages = session.messages
        entry = Entry(session.id, title(messages), session.started_at, stamp(now), session.cwd, model,
                      turn_count(messages), len(messages), size)
        with self._locked():
            others = [e for e in self._reconcile(self._read_index()) if e.session_id != session.id]
            kept = [entry, *others][:self.history_limit]
            for dropped in others[self.history_limit - 1:]:
                self.transcript(dropped.session_id).unlink(missing_ok=True)
                if self.checkpoints(dropped.session_id).exists():
                    shutil.rmtree(self.checkpoints(dropped.session_id))
            self._write_index(kept)
        snapshot = _snapshot(entry, messages)
        atomic_write(self.latest_path, snapshot, mode=0o600)
        self._save_daily(entry, snapshot, now)
        session.unsaved = False
        return Saved(entry, len(kept), sum(e.turn_count for e in kept))

    def _save_daily(self, entry: Entry, snapshot: str, now: datetime) -> None:
        folder = self.daily_root / now.strftime("%Y-%m-%d")
        started = entry.started_at[-8:].replace(":", "") or now.strftime("%H%M%S")
        path = folder / f"session_{started}_{entry.short_id}{SNAPSHOT_SUFFIX}"
        atomic_write(path, snapshot, mode=0o600)
        files = sorted(folder.glob(f"session_*{SNAPSHOT_SUFFIX}"),
                       key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        for old in files[self.daily_limit:]:
            old.unlink(missing_ok=True)

    def save_named(self, session: RecordedSession, name: str, model: str) -> tuple[Path, Saved]:
        """/save NAME: a snapshot under the sessions folder (the index is saved too)."""
        saved = self.save(session, model)
        name = name or f"session_{self.clock():%Y%m%d_%H%M%S}_{saved.entry.short_id}"
        path = self.root / snapshot_name(name)
        atomic_write(path, _snapshot(saved.entry, session.messages), mode=0o600)
        return path, saved

    # --- loading -------------------------------------------------------------------

    def open(self, cwd: Path, *, resume: str | None = None, latest_here: bool = False) -> Loaded:
        """The session a run starts with: `--resume ID`, `--continue` (the latest saved in
        `cwd`), or a new one."""
        if resume:
            return self.load(self.find(resume).session_id)
        if latest_here:
            entry = self.latest(cwd)
            if entry is None:
                raise SessionError(f"no saved session in {cwd} to continue; `nano_claude sessions list` "
                                   "shows the others (continue one with --resume ID)")
            return self.load(entry.session_id)
        from nano_claude.sessions.session import RecordedSession

        return Loaded(RecordedSession.new(cwd, self.clock))

    def load(self, session_id: str) -> Loaded:
        """A saved session, to be continued: later messages go to its own transcript."""
        from nano_claude.sessions.session import RecordedSession

        try:
            replay = read_transcript(self.transcript(session_id))
        except OSError as exc:
            raise SessionError(f"cannot read the transcript of session {session_id[:SHORT_ID]}: "
                               f"{exc.strerror or exc}") from exc
        repaired = repair(replay.messages, replay.calls)
        head = replay.header
        session = RecordedSession(messages=repaired.messages, id=session_id, loaded=len(repaired.messages),
                                  started_at=str(head.get("started_at", "")), cwd=str(head.get("cwd", "")))
        session.mark_written(replay.messages, len(replay.messages))
        self.sync(session, str(head.get("model", "")))  # the repairs, on disk at once
        session.unsaved = False
        return Loaded(session, repaired.notes, replay.warnings)

    def merge(self, session_ids: list[str], cwd: Path) -> Loaded:
        """Several sessions as one new conversation, the one saved first first (a copy: they
        stay as they are)."""
        newest_first = [e.session_id for e in self.entries()]
        ordered = sorted(session_ids, key=lambda i: -newest_first.index(i) if i in newest_first else 0)
        messages: list[Message] = []
        warnings: list[str] = []
        for session_id in ordered:
            part = self.load(session_id)
            messages.extend(part.session.messages)
            warnings.extend(part.warnings)
        return Loaded(self._fork(messages, cwd, tuple(ordered)), [], warnings)

    def load_file(self, path: Path, cwd: Path) -> Loaded:
        """A snapshot file (/save NAME, daily/, mr_sessions/, or the seed's), as a new session."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SessionError(f"no session file {path}") from None
        except (OSError, ValueError) as exc:
            raise SessionError(f"{path} is not a session file: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            raise SessionError(f"{path} is not a session file (it has no \"messages\" list)")
        messages, bad = [], 0
        for item in data["messages"]:
            try:
                messages.append(message_from_dict(item))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad += 1
        warnings = [f"{path}: skipped {bad} message(s) that could not be read"] if bad else []
        repaired = repair(messages, {})
        origin = (str(data["session_id"]),) if data.get("session_id") else ()
        return Loaded(self._fork(repaired.messages, cwd, origin), repaired.notes, warnings)

    def _fork(self, messages: list[Message], cwd: Path, origin: tuple[str, ...]) -> RecordedSession:
        from nano_claude.sessions.session import RecordedSession

        session = RecordedSession.new(cwd, self.clock, messages, forked_from=origin)
        session.loaded = len(messages)
        return session

    def snapshot_file(self, name: str, folder: Path | None = None) -> Path | None:
        """The snapshot a user names: a path, or a file in `folder` (default: the sessions
        folder, then mr_sessions/ and daily/), with or without ".json"."""
        given = Path(name).expanduser()
        if given.is_absolute():
            return given if given.is_file() else None
        folders = [folder] if folder else [self.root, self.latest_path.parent,
                                            *sorted(self.daily_root.glob("*"), reverse=True)]
        for where in folders:
            for candidate in (where / name, where / snapshot_name(name)):
                if candidate.is_file():
                    return candidate
        return None

    def named(self) -> list[str]:
        """Names of the snapshots in the sessions folder (/save NAME), for completion."""
        return sorted(p.stem for p in self.root.glob(f"*{SNAPSHOT_SUFFIX}") if p.name != self.index_path.name)


def snapshot_name(name: str) -> str:
    name = name.strip()
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise SessionError(f"{name!r} cannot be a session name: use letters, digits, '-', '_' "
                           "and '.', without a slash or a leading dot")
    return name if name.endswith(SNAPSHOT_SUFFIX) else name + SNAPSHOT_SUFFIX


def _snapshot(entry: Entry, messages: list[Message]) -> str:
    data = {**{k: v for k, v in asdict(entry).items() if k != "size"},
            "messages": [message_to_dict(m) for m in messages]}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def _model(messages: list[Message]) -> str:
    """provider/model of the newest answer."""
    for message in reversed(messages):
        meta = message.meta
        if message.role == "assistant" and meta.get("model"):
            return f"{meta['provider']}/{meta['model']}" if meta.get("provider") else str(meta["model"])
    return ""


def _same_dir(recorded: str, cwd: Path) -> bool:
    if not recorded:
        return False
    try:
        return Path(recorded).resolve() == cwd.resolve()
    except OSError:
        return False
