"""Memories of one scope: Markdown files with YAML front matter in one folder, and its index.

    ---
    name: prefers uv
    description: The user runs Python tools through uv, never pip
    type: user
    created: '2025-06-01T09:30:00Z'
    updated: '2025-06-03T17:02:11Z'
    ---
    Run `uv run pytest`, not `python -m pytest`: ...

The file's name comes from the memory's name (`prefers-uv.md`, see `slug`): only lowercase
letters, digits, `-` and `_`, so no name can reach another folder. A name that looks like a
path is refused outright rather than quietly turned into a file name: whoever wrote it meant
something else. The folder itself must be a real folder (a symbolic link could lead
anywhere), and a project's must lie inside the project; a memory file that is a link is
neither read nor written through.

Every change takes the folder's lock, reads afresh, writes the memory and then the index
(`MEMORY.md`) atomically (temp file in the folder, rename), so two sessions saving at once
lose nothing. Reads take no lock: they see a file before or after a rename, never half of one.
"""

from __future__ import annotations

import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nano_claude.core.errors import NanoClaudeError

TYPES = ("user", "feedback", "project", "reference")
SCOPES = ("user", "project")
INDEX = "MEMORY.md"
LOCK = ".lock"
LOCK_TIMEOUT = 10.0  # seconds to wait for another process's change
NAME_CAP = 100  # characters of a name
SLUG_CAP = 80  # characters of a file name's stem
_NOT_SLUG = re.compile(r"[^a-z0-9_-]+")


class MemoryStoreError(NanoClaudeError):
    """A memory cannot be read, written or found; the message says why and what to do instead."""


@dataclass(frozen=True)
class Memory:
    name: str
    description: str
    type: str
    content: str
    created: str  # ISO 8601, UTC
    updated: str
    scope: str
    path: Path

    @property
    def updated_at(self) -> float:
        """`updated` as seconds since the epoch (the file's mtime when it cannot be read)."""
        return epoch(self.updated) or _mtime(self.path)


@dataclass(frozen=True)
class Broken:
    """A file in the folder that is not a readable memory, and why."""

    path: Path
    problem: str


@dataclass(frozen=True)
class Listing:
    memories: tuple[Memory, ...]  # newest first
    broken: tuple[Broken, ...] = ()


@dataclass(frozen=True)
class Saved:
    memory: Memory
    created: bool  # False: an existing memory was replaced
    count: int  # memories in the scope now


def slug(name: str) -> str:
    """The file name's stem for a memory name: `Prefers UV!` -> `prefers-uv`. Accents are
    dropped (`café` -> `cafe`); whatever is not a letter, digit, `-` or `_` becomes one `-`.
    "" when nothing is left (the caller refuses such a name)."""
    ascii_only = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = _NOT_SLUG.sub("-", ascii_only.lower()).strip("-_")
    return stem[:SLUG_CAP].rstrip("-_")


def check_name(name: str) -> str:
    """The name stripped, or MemoryStoreError saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise MemoryStoreError("A memory needs a name: a short title such as 'prefers uv' or 'deploy steps'.")
    if any(c in name for c in "/\\\0") or re.match(r"^[A-Za-z]:(?!\s)", name) or name.startswith("~"):
        raise MemoryStoreError(
            f"{name!r} looks like a path: a memory's name is a short title (its file is made from it "
            "inside the memory folder); use words such as 'test command' instead.")
    if "\n" in name or "\r" in name:
        raise MemoryStoreError("A memory's name is one line; put details in its description or content.")
    if len(name) > NAME_CAP:
        raise MemoryStoreError(f"A memory's name is at most {NAME_CAP} characters (this one has "
                               f"{len(name)}); put details in its description or content.")
    stem = slug(name)
    if not stem:
        raise MemoryStoreError(f"{name!r} has no letters or digits to name a file with; use a name with "
                               "some (a-z, 0-9).")
    if stem == INDEX.removesuffix(".md").lower():
        raise MemoryStoreError(f"{name!r} would share its file with the index {INDEX}; choose another name.")
    return name


def check_type(kind: str) -> str:
    if kind not in TYPES:
        raise MemoryStoreError(f"Unknown memory type {kind!r}: use one of {', '.join(TYPES)}.")
    return kind


def epoch(iso: str) -> float:
    """Seconds since the epoch for an ISO 8601 time (UTC if it names no zone); 0.0 if it is none."""
    try:
        when = datetime.fromisoformat(iso.strip().replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


class MemoryStore:
    """One scope's memories. Every call reads the folder afresh: another process may have changed it."""

    def __init__(self, scope: str, folder: Path, *, boundary: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.scope = scope
        self.folder = folder
        self.boundary = boundary  # the folder must lie inside it (a project's memory: the project)
        self.clock = clock

    @classmethod
    def user(cls, home: Path, clock: Callable[[], float] = time.time) -> MemoryStore:
        """`home` is nano_claude's own folder (~/.nano_claude)."""
        return cls("user", home / "memory", clock=clock)

    @classmethod
    def project(cls, root: Path, clock: Callable[[], float] = time.time) -> MemoryStore:
        return cls("project", root / ".nano_claude" / "memory", boundary=root, clock=clock)

    @property
    def index_path(self) -> Path:
        return self.folder / INDEX

    # --- where files are --------------------------------------------------------------

    def check_folder(self) -> bool:
        """Is the folder there (False: not yet)? MemoryStoreError when it may not be used."""
        if self.folder.is_symlink():
            raise MemoryStoreError(
                f"{self.folder} is a symbolic link (to {os.readlink(self.folder)}): memories are kept only "
                "in a real folder. Replace the link with a folder (move the files into it).")
        if self.boundary is not None:
            real, inside = self.folder.resolve(), self.boundary.resolve()
            if real != inside and inside not in real.parents:
                raise MemoryStoreError(f"{self.folder} leads to {real}, outside {self.boundary}: a project's "
                                       "memories stay inside the project. Remove the link on the way.")
        if not self.folder.exists():
            return False
        if not self.folder.is_dir():
            raise MemoryStoreError(f"{self.folder} is not a folder; move it away to keep memories there.")
        return True

    def path_for(self, name: str) -> Path:
        """The file a memory of this name lives in (it may not exist yet)."""
        path = self.folder / f"{slug(check_name(name))}.md"
        self._check_file(path)
        return path

    def _check_file(self, path: Path) -> None:
        if path.is_symlink():
            raise MemoryStoreError(f"{path} is a symbolic link: a memory is never read or written through "
                                   "one. Replace it with the file itself.")
        if path.parent.resolve() != self.folder.resolve():  # never true after the checks; kept as a guard
            raise MemoryStoreError(f"{path} is not inside {self.folder}.")

    # --- reading --------------------------------------------------------------------------

    def list(self) -> Listing:
        """Every memory, newest first, and the files that are not readable memories."""
        if not self.check_folder():
            return Listing(())
        memories: list[Memory] = []
        broken: list[Broken] = []
        for path in sorted(self.folder.glob("*.md")):
            if path.name == INDEX or path.name.startswith("."):
                continue
            try:
                memories.append(self.read(path))
            except MemoryStoreError as exc:
                broken.append(Broken(path, str(exc)))
        memories.sort(key=lambda m: (m.updated_at, _mtime(m.path), m.name), reverse=True)
        return Listing(tuple(memories), tuple(broken))

    def get(self, name: str) -> Memory | None:
        """The memory of this name (its file, else one whose front matter has this name), or None."""
        path = self.path_for(name)
        if not self.check_folder():
            return None
        if path.exists():
            return self.read(path)
        wanted = name.strip().lower()
        return next((m for m in self.list().memories if m.name.lower() == wanted), None)

    def read(self, path: Path) -> Memory:
        """One memory file; MemoryStoreError naming the file and the problem when it is none."""
        from nano_claude.extensions import frontmatter

        self._check_file(path)
        try:
            text = _read_nofollow(path)
        except UnicodeDecodeError as exc:
            raise MemoryStoreError(f"{path} is not UTF-8 text ({exc.reason}).") from exc
        except OSError as exc:
            raise MemoryStoreError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
        try:
            data, body = frontmatter.parse(text, str(path))
        except frontmatter.FrontMatterError as exc:
            raise MemoryStoreError(str(exc)) from exc
        if not data:
            raise MemoryStoreError(f"{path} has no front matter: it must start with a --- block holding "
                                   "name, description and type.")
        return self._memory(path, data, body)

    def _memory(self, path: Path, data: dict[str, Any], body: str) -> Memory:
        name, description, kind = data.get("name"), data.get("description", ""), data.get("type")
        if not isinstance(name, str) or not name.strip():
            raise MemoryStoreError(f"{path}: the front matter has no name (name: a short title).")
        if not isinstance(description, str):
            raise MemoryStoreError(f"{path}: description is not one line of text.")
        if kind not in TYPES:
            raise MemoryStoreError(f"{path}: type is {kind!r}; it must be one of {', '.join(TYPES)}.")
        stamps = {key: _iso(data.get(key)) for key in ("created", "updated")}
        fallback = self._iso(_mtime(path))
        return Memory(name=name.strip(), description=_one_line(description), type=kind, content=body.strip(),
                      created=stamps["created"] or stamps["updated"] or fallback,
                      updated=stamps["updated"] or stamps["created"] or fallback,
                      scope=self.scope, path=path)

    def read_index(self) -> str:
        """MEMORY.md as it is ("" when there is none)."""
        if not self.check_folder():
            return ""
        self._check_file(self.index_path)
        try:
            return _read_nofollow(self.index_path).strip()
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as exc:
            raise MemoryStoreError(f"Cannot read {self.index_path}: {exc}.") from exc

    # --- changes --------------------------------------------------------------------------

    def save(self, name: str, kind: str, description: str, content: str) -> Saved:
        """Create the memory, or replace the one of this name (keeping when it was created)."""
        name, kind = check_name(name), check_type(kind)
        with self._locked():
            path = self.path_for(name)
            now = self._iso(self.clock())
            old = self._existing(path)
            memory = Memory(name=name, description=_one_line(description), type=kind, content=content.strip(),
                            created=old.created if old is not None else now, updated=now,
                            scope=self.scope, path=path)
            self._write(memory)
            count = self._rebuild()
        return Saved(memory, old is None, count)

    def delete(self, name: str) -> tuple[Memory, int]:
        """Remove the memory of this name; returns it and how many are left."""
        with self._locked():
            memory = self.get(name)
            if memory is None:
                raise MemoryStoreError(f"No {self.scope} memory is named {name.strip()!r}. {self._names()}")
            memory.path.unlink()
            return memory, self._rebuild()

    def touch(self, path: Path, before: Memory | None = None) -> Memory:
        """After a person edited a memory's file: read it again, stamp it updated (when it
        changed) and rebuild the index. MemoryStoreError (the index rebuilt all the same) when
        the edit left no readable memory; the file is then kept as it was left."""
        with self._locked():
            try:
                memory = self.read(path)
            finally:
                self._rebuild()
            if before is not None and _same(memory, before):
                return memory
            memory = replace(memory, updated=self._iso(self.clock()))
            wanted = self.folder / f"{slug(memory.name)}.md" if slug(memory.name) else path
            if wanted != path and not wanted.exists() and not wanted.is_symlink():
                self._write(replace(memory, path=wanted))
                path.unlink()
                memory = replace(memory, path=wanted)
            else:
                self._write(memory)
            self._rebuild()
            return memory

    def rebuild(self) -> int:
        """Write the index afresh from the files; returns how many memories it lists."""
        with self._locked():
            return self._rebuild()

    def _existing(self, path: Path) -> Memory | None:
        if not path.exists():
            return None
        try:
            return self.read(path)
        except MemoryStoreError:
            return None  # a broken file of that name: the new memory replaces it

    def _rebuild(self) -> int:
        from nano_claude.config import atomic_write
        from nano_claude.extensions.memory.index import render

        memories = self.list().memories
        self._check_file(self.index_path)
        if memories:
            atomic_write(self.index_path, render(memories))
        else:
            self.index_path.unlink(missing_ok=True)
        return len(memories)

    def _write(self, memory: Memory) -> None:
        from nano_claude.config import atomic_write

        self._check_file(memory.path)
        try:
            atomic_write(memory.path, render_file(memory))
        except OSError as exc:
            raise MemoryStoreError(f"Cannot write {memory.path}: {exc.strerror or exc}; nothing was "
                                   "changed.") from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The folder's lock, around a change and the index rebuild that follows it."""
        self.check_folder()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MemoryStoreError(f"Cannot create {self.folder}: {exc.strerror or exc}.") from exc
        self.check_folder()  # mkdir followed no link: a link made meanwhile is refused here
        from filelock import FileLock, Timeout  # here: a run that never saves a memory never imports it

        lock_path = self.folder / LOCK
        self._check_file(lock_path)
        if self.scope == "project" and not lock_path.exists():
            from nano_claude.permissions.rules import keep_out_of_git

            keep_out_of_git(lock_path)  # the lock is this machine's, never the repository's
        lock = FileLock(lock_path, timeout=LOCK_TIMEOUT)
        try:
            with lock:
                yield
        except Timeout as exc:
            raise MemoryStoreError(f"Another process has held {lock_path} for {LOCK_TIMEOUT:g}s; try again "
                                   "(if no nano_claude is running, delete that lock file).") from exc

    def _names(self) -> str:
        names = [m.name for m in self.list().memories]
        if not names:
            return f"There are no {self.scope} memories."
        more = " …" if len(names) > 30 else ""
        return "Its memories: " + ", ".join(repr(n) for n in names[:30]) + more + "."

    def _iso(self, seconds: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def render_file(memory: Memory) -> str:
    import yaml

    head = {"name": memory.name, "description": memory.description, "type": memory.type,
            "created": memory.created, "updated": memory.updated}
    front = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1_000_000)
    return f"---\n{front}---\n\n{memory.content.strip()}\n"


def _read_nofollow(path: Path) -> str:
    """The file's text; never through a symbolic link (a link put there after the check)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as file:
        return file.read().decode("utf-8")


def _iso(value: Any) -> str:
    """A front matter time as ISO text: YAML reads an unquoted one as a datetime."""
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.strip() if isinstance(value, str) else ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _same(a: Memory, b: Memory) -> bool:
    return (a.name, a.description, a.type, a.content) == (b.name, b.description, b.type, b.content)
