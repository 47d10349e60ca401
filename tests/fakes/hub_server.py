"""A fake Hugging Face Hub on 127.0.0.1, for the model download tests (HF_ENDPOINT points here).

It speaks what huggingface_hub 2.4's `get_hf_file_metadata`, `http_get` and
`hf_hub_download` ask of the real Hub for a file stored with Git LFS:
`HEAD /{owner}/{repo}/resolve/{revision}/{file}` answers 200 with X-Repo-Commit, ETag,
X-Linked-Etag (the file's sha256, quoted), X-Linked-Size and Content-Length, as the
Hub does for a file it serves directly; `GET` the same path streams the bytes, and a
`Range: bytes=N-` request gets 206 with Content-Range. A file or repository it does not
serve gets 404 with the X-Error-Code the Hub sends (EntryNotFound, RepoNotFound).
`GET /api/agent-harnesses` (the registry huggingface_hub reads for its user agent) gets
an empty registry.

Faults, each for the next GET of a file: `drop_after(n)` sends n bytes of the body and
closes the connection (a network drop: the client resumes with Range); `stall_after(n)`
sends n bytes, sets `stalled` and holds the connection until `release()` (a pull the
user interrupts). `serve(..., sha256=...)` claims another checksum than the bytes have.

Every request is recorded; one for a path the Hub would not be asked is a failure that
`verify()` raises.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from tests.fakes.loopback import Loopback

COMMIT = "5f3c2a0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased


@dataclass
class HubFile:
    data: bytes
    sha256: str


@dataclass
class FakeHub(Loopback):
    methods = ("GET", "HEAD")
    files: dict[tuple[str, str], HubFile] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)
    _drop: int | None = None
    _stall: int | None = None

    def serve(self, repo: str, file: str, data: bytes, sha256: str | None = None) -> None:
        self.files[(repo, file)] = HubFile(data, sha256 or hashlib.sha256(data).hexdigest())

    def drop_after(self, size: int) -> None:
        self._drop = size

    def stall_after(self, size: int) -> None:
        self._stall = size

    def release(self) -> None:
        self._release.set()

    def gets(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "GET"]

    def verify(self) -> None:
        if self.problems:
            raise AssertionError("the fake Hub saw: " + "; ".join(self.problems))

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlsplit(h.path).path)
        self.requests.append(Recorded(method, path, {k.lower(): v for k, v in h.headers.items()}))
        if path == "/api/agent-harnesses" and method == "GET":  # huggingface_hub's user-agent registry
            return self._json(h, 200, b'{"standardEnvVars": [], "harnesses": {}}')
        found = RESOLVE.match(path)
        if found is None:
            self.problems.append(f"{method} {path}: not a path the Hub is asked for a file")
            return self._error(h, 404, "EntryNotFound")
        if found["revision"] != "main" and found["revision"] != COMMIT:
            return self._error(h, 404, "RevisionNotFound")
        repo, file = found["repo"], found["file"]
        if not any(r == repo for r, _ in self.files):
            return self._error(h, 401, "RepoNotFound")
        served = self.files.get((repo, file))
        if served is None:
            return self._error(h, 404, "EntryNotFound")
        start = self._range_start(h.headers.get("Range"), len(served.data))
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", COMMIT)
        h.send_header("ETag", f'"{served.sha256}"')
        h.send_header("X-Linked-Etag", f'"{served.sha256}"')
        h.send_header("X-Linked-Size", str(len(served.data)))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("Content-Length", str(len(served.data) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
        h.end_headers()
        if method == "HEAD":
            return None
        body = memoryview(served.data)[start:]
        cut, self._drop, stall, self._stall = self._drop, None, self._stall, None
        if cut is None and stall is None:
            h.wfile.write(body)
            return None
        h.wfile.write(body[: cut if cut is not None else stall])
        h.wfile.flush()
        if stall is not None:
            self.stalled.set()
            self._release.wait(timeout=60)
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)
        return None

    @staticmethod
    def _range_start(header: str | None, size: int) -> int:
        found = re.fullmatch(r"bytes=(\d+)-", header or "")
        return int(found.group(1)) if found and int(found.group(1)) < size else 0

    @classmethod
    def _error(cls, h: BaseHTTPRequestHandler, status: int, code: str) -> None:
        cls._json(h, status, b'{"error": "' + code.encode() + b'"}', {"X-Error-Code": code})

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, body: bytes,
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
