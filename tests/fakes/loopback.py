"""A real HTTP server on 127.0.0.1, in a thread, for the fake servers: each answers
requests in its own `_handle(handler, method)`."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, TypeVar

L = TypeVar("L", bound="Loopback")


class Loopback(ABC):
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")
    _httpd: ThreadingHTTPServer | None = None

    @abstractmethod
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        """Read the request from `h` and write the answer to it."""

    @abstractmethod
    def verify(self) -> None:
        """Fail the test for what the server saw go wrong."""

    @contextmanager
    def running(self: L) -> Iterator[L]:
        """Serving for the body of the `with` (a fixture's lifetime), then verified."""
        self.start()
        try:
            yield self
        finally:
            self.stop()
        self.verify()

    def start(self) -> str:
        server = self

        def answering(method: str) -> Any:
            return lambda h: server._handle(h, method)

        handler = type("Handler", (BaseHTTPRequestHandler,), {
            "protocol_version": "HTTP/1.1",
            "log_message": lambda h, *args: None,
            **{f"do_{method}": answering(method) for method in self.methods},
        })
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def read_body(h: BaseHTTPRequestHandler, invalid: Callable[[bytes], Any] = lambda raw: None) -> Any:
    """The request body parsed as JSON: None when empty, `invalid(raw)` when not JSON."""
    length = int(h.headers.get("content-length") or 0)
    raw = h.rfile.read(length) if length else b""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return invalid(raw)
