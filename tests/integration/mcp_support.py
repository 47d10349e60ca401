"""What the MCP integration tests share: server entries, running the CLI against the fake
model with them, and reading what the model was sent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import Cli, CliResult
from tests.fakes.server import FakeModelServer, Recorded
from tests.toolkit import ToolResult

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "tests" / "fakes" / "mcp_servers.py")
BIN = Path(sys.executable).parent
EVERYTHING = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "mcp-server-everything"
SECRET = "sk-ant-test-secret-0123456789"
MODEL = "claude-sonnet-4-6"


def fake(mode: str = "normal", *args: str, **extra: Any) -> dict[str, Any]:
    """A stdio entry running tests/fakes/mcp_servers.py in `mode`."""
    return {"command": sys.executable, "args": [SCRIPT, mode, *args], **extra}


def remote(url: str, kind: str = "http", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "url": url, **extra}


def servers(**entries: dict[str, Any]) -> str:
    """A --mcp-config value: inline JSON."""
    return json.dumps({"mcpServers": entries})


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def run(cli: Cli, model: FakeModelServer, *args: str, prompt: str = "go", env: dict[str, str] | None = None,
        timeout: float = 60) -> CliResult:
    """`nano_claude -p PROMPT -m claude-sonnet-4-6 ARGS...` against the fake model."""
    return cli.run("-p", prompt, "-m", MODEL, *args, timeout=timeout,
                   env={"ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": SECRET, **(env or {})})


def tool_names(request: Recorded) -> list[str]:
    """The tools a request offered the model, in order."""
    return [t["name"] for t in (request.body or {}).get("tools", [])]


def mcp_tools(request: Recorded) -> list[str]:
    return [n for n in tool_names(request) if n.startswith("mcp__")]


def results(request: Recorded) -> list[ToolResult]:
    """The tool results a request (Anthropic shape) sends back, in the order of the calls."""
    last = (request.body or {})["messages"][-1]
    return [ToolResult(b) for b in last["content"] if b.get("type") == "tool_result"]


def result(request: Recorded) -> ToolResult:
    found = results(request)
    assert len(found) == 1, f"expected one tool result, got {[r.block for r in found]}"
    return found[0]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- servers on 127.0.0.1 ---------------------------------------------------------------------

@dataclass
class HttpServer:
    url: str
    port: int
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, limit: float = 30) -> None:
    """Poll until the server takes connections (or fail with what it said)."""
    deadline = time.monotonic() + limit
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}: {log.read_text()[-2000:]}") from None
            time.sleep(0.02)  # polling the port, with a deadline: not a wait for an event


@contextmanager
def serving(command: list[str], path: str, log: Path, env: dict[str, str] | None = None,
            port: int | None = None) -> Iterator[HttpServer]:
    """An MCP server on a free port of 127.0.0.1, for the `with` body; `path` is its endpoint."""
    port = port or free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*command], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PORT": str(port), **(env or {})})
    try:
        wait_for_port(port, proc, log)
        yield HttpServer(f"http://127.0.0.1:{port}{path}", port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fake_http(mode: str, transport: str, log: Path) -> Any:
    """tests/fakes/mcp_servers.py over `transport` (sse | streamable-http)."""
    port = free_port()
    return serving([sys.executable, SCRIPT, mode, "--transport", transport, "--port", str(port)],
                   "/sse" if transport == "sse" else "/mcp", log, port=port)
