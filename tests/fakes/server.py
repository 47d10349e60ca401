"""A scripted model server on 127.0.0.1 that speaks each provider's wire protocol.

Strict, like pydantic-ai's TestModel: a request with no step left, or one the
step does not expect, is answered with HTTP 599 and recorded as a failure;
`verify()` (called by the fixture at teardown) fails the test on any failure
or on steps never consumed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import Loopback, read_body
from tests.fakes.script import Reply, Step

# path fragment -> wire module (tests/fakes/<name>_wire.py, each with render(step, body, path))
PROTOCOLS: tuple[tuple[str, str], ...] = (
    ("/v1/messages", "anthropic"),
    ("/chat/completions", "openai"),
    ("/api/chat", "ollama"),
    (":streamGenerateContent", "gemini"),
    (":generateContent", "gemini"),
)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    protocol: str = ""


@dataclass
class FakeModelServer(Loopback):
    steps: list[Step] = field(default_factory=list)
    # (method, path) -> (status, JSON body): probes such as /api/show or /models
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # (method, path) the server accepts and never answers: a server too busy to reply
    held: set[tuple[str, str]] = field(default_factory=set)
    # Chat Completions requests for one token after tool results: the provider asking
    # whether the model sees them, answered apart from the script (openai_wire.is_probe).
    probes: list[Recorded] = field(default_factory=list)
    drops_tool_results: bool = False  # count prompts as llama-cpp-python's template renders them

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    # --- scripting ---------------------------------------------------------
    def script(self, *steps: Step) -> FakeModelServer:
        with self._lock:
            self.steps.extend(steps)
        return self

    def route(self, method: str, path: str, body: Any, status: int = 200) -> FakeModelServer:
        self.routes[(method.upper(), path)] = (status, body)
        return self

    def hold(self, method: str, path: str) -> FakeModelServer:
        """Requests to `path` are recorded and never answered, until the client gives up."""
        self.held.add((method.upper(), path))
        return self

    @property
    def model_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.protocol]

    # --- lifecycle ---------------------------------------------------------
    def _hold(self, h: BaseHTTPRequestHandler) -> None:
        """Keep the stream open, sending nothing, until the client closes it."""
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.settimeout(0.1)
            while not self._stopped.is_set():
                try:
                    if not h.connection.recv(1):
                        return  # the client hung up
                except TimeoutError:
                    continue

    def stop(self) -> None:
        self._stopped.set()  # held streams end
        super().stop()

    def verify(self) -> None:
        problems = list(self.failures)
        if self.steps:
            problems.append(f"{len(self.steps)} scripted step(s) never requested")
        if problems:
            raise AssertionError("fake model server: " + "; ".join(problems))

    # --- serving -----------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = read_body(h)
        path = h.path
        protocol = next((name for frag, name in PROTOCOLS if frag in path), "")
        rec = Recorded(method, path, {k.lower(): v for k, v in h.headers.items()}, body, protocol)
        openai = importlib.import_module("tests.fakes.openai_wire") if protocol == "openai" else None
        if openai is not None and openai.is_probe(body or {}):
            with self._lock:
                self.probes.append(rec)
            self._send(h, openai.probe_reply(body or {}, drops_tool_results=self.drops_tool_results))
            return
        with self._lock:
            self.requests.append(rec)
        if (method, path.split("?")[0]) in self.held:
            self._hold(h)
            return
        route = self.routes.get((method, path.split("?")[0]))
        if route is not None:
            status, payload = route
            self._send(h, Reply(status, {"content-type": "application/json"},
                                (json.dumps(payload).encode(),)))
            return
        if not protocol or method != "POST":
            self._fail(h, f"unexpected request {method} {path}")
            return
        with self._lock:
            # A step routed to this request (its `when` accepts it) before any step for anyone
            step = (next((s for s in self.steps if s.when is not None and s.when(body or {})), None)
                    or next((s for s in self.steps if s.when is None), None))
            if step is not None:
                self.steps.remove(step)
        if step is None:
            self._fail(h, f"unexpected {protocol} request {path}: no scripted step left")
            return
        try:
            if step.path_contains and step.path_contains not in path:
                raise AssertionError(f"expected a path containing {step.path_contains!r}, got {path}")
            if step.expect is not None:
                step.expect(body or {})
            if step.delay:
                time.sleep(step.delay)
            wire = importlib.import_module(f"tests.fakes.{protocol}_wire")
            reply = wire.render(step, body or {}, path)
        except Exception:
            self._fail(h, f"step for {path} failed:\n{traceback.format_exc()}")
            return
        self._send(h, reply)
        if step.hang:
            self._hold(h)

    def _fail(self, h: BaseHTTPRequestHandler, message: str) -> None:
        with self._lock:
            self.failures.append(message)
        payload = json.dumps({"error": {"message": "fake server: " + message}}).encode()
        self._send(h, Reply(599, {"content-type": "application/json"}, (payload,)))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        h.send_response(reply.status)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.send_header("transfer-encoding", "chunked")
        h.send_header("connection", "close")
        h.end_headers()
        try:
            for chunk in reply.chunks:
                if chunk:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    h.wfile.flush()
            if reply.complete:
                h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True


def sse(events: Iterable[tuple[str | None, Any]]) -> tuple[bytes, ...]:
    """Server-sent events: (event name or None, JSON-able data or a raw string)."""
    out = []
    for name, data in events:
        payload = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {name}\n" if name else ""
        out.append(f"{head}data: {payload}\n\n".encode())
    return tuple(out)


def chunks_of(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] if text else []
