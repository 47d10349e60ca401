"""Evaluated prompt prefixes of the embedded model, kept on disk across runs.

Evaluating the fixed start of every conversation (the tools and the system prompt)
costs a small CPU model most of its first answer: about 170 tokens a second on two
cores, so 20 s for the full profile. llama.cpp can hand out the context's state once
that prefix is evaluated; it is stored here and loaded on the next start, so only
the tokens after it are evaluated again.

An entry is one file, `<key>.prefix`, where the key hashes what makes a state
valid: this file format, the llama-cpp-python version, the model file (path, size,
modification time), the context size and the prefix tokens. The file holds a
header line (JSON: those facts, the tokens, the state's size and SHA-256) and then
the state bytes. An entry is written to a temporary file and renamed into place,
so a reader sees a whole entry or none; a torn or corrupt one fails its checksum
and is deleted, never handed to llama.cpp. Entries are not fsynced: losing one to a
crash only costs the next start its evaluation.

A start whose prefix has no exact entry still takes the entry of the same model
and context size that shares the longest token prefix with it: a prompt whose date
or git status changed keeps the tools' part. Loading touches the file's time;
saving evicts the least recently used entries beyond the size cap.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
MAGIC = b"nano-claude prefix state\n"
SUFFIX = ".prefix"
HEADER_CAP = 4 << 20  # a header line longer than this is not ours
STALE_TEMP = 3600.0  # seconds after which a left-over temporary file is removed


def cache_root(environ: Mapping[str, str]) -> Path:
    """The user's cache folder for nano_claude: $XDG_CACHE_HOME or ~/.cache, then nano_claude.
    Everything in it can be rebuilt; deleting it only costs the next start some time."""
    base = environ.get("XDG_CACHE_HOME") or ""
    root = Path(base).expanduser() if base else Path(environ.get("HOME") or Path.home()) / ".cache"
    return root / "nano_claude"


def cache_folder(environ: Mapping[str, str]) -> Path:
    """The folder for prefix states, inside the user's cache folder."""
    return cache_root(environ) / "prefix"


def user_cache(megabytes: int) -> PrefixCache | None:
    """The user's prefix cache with a cap of `megabytes` (the local_prefix_cache_mb
    setting), or None when that is 0: no cache."""
    return PrefixCache(cache_folder(os.environ), megabytes << 20) if megabytes else None


@dataclass(frozen=True)
class Entry:
    path: Path
    tokens: tuple[int, ...]
    state: bytes


@dataclass(frozen=True)
class ModelIdentity:
    """What a state depends on besides its tokens."""

    model: str  # resolved path, size and modification time of the GGUF
    n_ctx: int
    runtime: str  # llama-cpp-python's version: the state layout is its own

    @classmethod
    def of(cls, model: Path, n_ctx: int, runtime: str) -> ModelIdentity:
        info = model.stat()
        return cls(f"{model.resolve()}:{info.st_size}:{info.st_mtime_ns}", n_ctx, runtime)

    def fields(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.model, "n_ctx": self.n_ctx, "runtime": self.runtime}


class PrefixCache:
    def __init__(self, folder: Path, cap_bytes: int) -> None:
        self.folder = folder
        self.cap_bytes = cap_bytes

    def key(self, identity: ModelIdentity, tokens: Sequence[int]) -> str:
        digest = hashlib.sha256(json.dumps(identity.fields(), sort_keys=True).encode())
        digest.update(b"\0" + ",".join(map(str, tokens)).encode())
        return digest.hexdigest()[:40]

    def find(self, identity: ModelIdentity, tokens: Sequence[int], minimum: int) -> Entry | None:
        """The entry for exactly these tokens, else the one sharing the longest prefix
        with them (at least `minimum` tokens); corrupt entries are deleted on the way."""
        exact = self.folder / (self.key(identity, tokens) + SUFFIX)
        candidates = [exact] if exact.is_file() and len(tokens) >= minimum else []
        best: tuple[int, Path] | None = None
        if not candidates:
            for path in self.entries():
                header = _read_header(path)
                if header is None or not _same_identity(header, identity):
                    continue
                shared = common_prefix(header.get("tokens", ()), tokens)
                if shared >= minimum and (best is None or shared > best[0]):
                    best = (shared, path)
            candidates = [best[1]] if best else []
        for path in candidates:
            entry = self._load(path, identity)
            if entry is not None:
                with contextlib.suppress(OSError):
                    os.utime(path)  # least recently used goes first
                return entry
        return None

    def save(self, identity: ModelIdentity, tokens: Sequence[int], state: bytes) -> Path | None:
        """Store a state atomically, then evict beyond the cap. Failing to write (a full
        disk, a read-only home) only loses the cache: None, and nothing half-written."""
        if len(state) > self.cap_bytes:
            return None
        header = {**identity.fields(), "tokens": list(tokens), "size": len(state),
                  "sha256": hashlib.sha256(state).hexdigest()}
        target = self.folder / (self.key(identity, tokens) + SUFFIX)
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=SUFFIX)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(MAGIC)
                out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
                out.write(state)
            os.replace(temp, target)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            return None
        self.evict(keep=target)
        return target

    def evict(self, keep: Path | None = None) -> None:
        """Delete least recently used entries until the rest fit the cap, and stale temporaries."""
        now = time.time()
        entries = []
        try:
            listing = list(os.scandir(self.folder))
        except OSError:
            return
        for item in listing:
            try:
                info = item.stat(follow_symlinks=False)
            except OSError:
                continue
            if item.name.startswith(".tmp-") and now - info.st_mtime > STALE_TEMP:
                with contextlib.suppress(OSError):
                    os.unlink(item.path)
            elif item.name.endswith(SUFFIX) and not item.name.startswith(".") and item.is_file(
                    follow_symlinks=False):
                entries.append((info.st_mtime, info.st_size, Path(item.path)))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.cap_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size

    def entries(self) -> list[Path]:
        try:
            return [p for p in self.folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith(".")]
        except OSError:
            return []

    def _load(self, path: Path, identity: ModelIdentity) -> Entry | None:
        try:
            header, state = _read(path, state=True)
            tokens = tuple(int(t) for t in header["tokens"])
            if not _same_identity(header, identity):
                return None  # someone else's entry under a colliding name: leave it
            if len(state) != header["size"] or hashlib.sha256(state).hexdigest() != header["sha256"]:
                raise ValueError("checksum mismatch")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.discard(path)
            return None
        return Entry(path, tokens, state)

    def discard(self, path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path, *, state: bool) -> tuple[dict[str, Any], bytes]:
    """An entry's header, and its state bytes if asked for; ValueError if it is not one."""
    with path.open("rb") as file:
        if file.read(len(MAGIC)) != MAGIC:
            raise ValueError("not a prefix state")
        header = json.loads(file.readline(HEADER_CAP))
        if not isinstance(header, dict):
            raise ValueError("not a prefix state header")
        return header, file.read() if state else b""


def _read_header(path: Path) -> dict[str, Any] | None:
    try:
        return _read(path, state=False)[0]
    except (OSError, ValueError):
        return None


def _same_identity(header: dict[str, Any], identity: ModelIdentity) -> bool:
    return all(header.get(name) == value for name, value in identity.fields().items())


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    same = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        same += 1
    return same
