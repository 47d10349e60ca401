"""Helpers for the sub-agent tests: running the CLI against the fake model server, reading
what each conversation sent, and `Meet`, which lets one scripted answer wait for another
request (so a test proves an order or an overlap without sleeping)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Cli, CliResult
from tests.fakes.script import mentions
from tests.fakes.server import FakeModelServer, Recorded

MODEL = "claude-sonnet-4-6"
Expect = Callable[[dict[str, Any]], None]


def run(cli: Cli, server: FakeModelServer, prompt: str, *args: str, fmt: str = "json",
        model: str = MODEL, env: dict[str, str] | None = None) -> CliResult:
    """`nano_claude -p PROMPT` on the Anthropic wire of the fake server."""
    return cli.run("-p", prompt, "-m", model, "--output-format", fmt, *args,
                   env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test", **(env or {})})


def text_of(content: Any) -> str:
    """All the text in a message's content (tool results' text included)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if block.get("type") == "text":
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            parts.append(text_of(block.get("content")))
    return "\n".join(parts)


def results(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The tool results in a request's last message: (text, is_error)."""
    last = body["messages"][-1]["content"]
    return [(text_of(b.get("content")), bool(b.get("is_error")))
            for b in (last if isinstance(last, list) else []) if b.get("type") == "tool_result"]


def every_result(server: FakeModelServer) -> list[tuple[str, bool]]:
    """Every tool result the model was sent, in order: (text, is_error)."""
    return [found for request in server.model_requests for found in results(request.body or {})]


def result(body: dict[str, Any]) -> tuple[str, bool]:
    found = results(body)
    assert len(found) == 1, f"expected one tool result in the last message, got {found}"
    return found[0]


def last_text(body: dict[str, Any]) -> str:
    return text_of(body["messages"][-1]["content"])


def system(body: dict[str, Any]) -> str:
    value = body.get("system") or ""
    return value if isinstance(value, str) else "\n".join(b.get("text", "") for b in value)


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body.get("tools") or []]


def plain(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A conversation as (role, text) pairs, for comparing histories."""
    return [(m["role"], text_of(m["content"])) for m in messages]


def conversation(server: FakeModelServer, fragment: str) -> list[Recorded]:
    """The requests of the conversation whose first user message holds `fragment`, in order."""
    check = mentions(fragment)
    return [r for r in server.model_requests if check(r.body or {})]


def everything_sent(server: FakeModelServer) -> str:
    return "\n".join(json.dumps(r.body) for r in server.model_requests)


class Meet:
    """Orders the fake model's answers across conversations. A step's `expect` runs in the
    server's thread for that request before the answer goes out, so it may wait: `mark`
    counts an arrival, `after` holds an answer until a mark was made, `barrier` holds
    `parties` requests until all have arrived (proof they were in flight at once), and
    `ticket` lets the n-th request through only once `mark_name` was made n times.
    A wait that times out fails the step, and with it the test."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self.marks: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._tickets: Counter[str] = Counter()

    def mark(self, name: str) -> Expect:
        def expect(body: dict[str, Any]) -> None:
            with self._cond:
                self.marks[name] += 1
                self._cond.notify_all()
        return expect

    def _wait(self, name: str, count: int, why: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.marks[name] >= count, self.timeout):
                raise AssertionError(f"{why}: waited {self.timeout:g}s for {name!r} #{count}, "
                                     f"which never came (marks: {dict(self.marks)})")

    def after(self, name: str, count: int = 1) -> Expect:
        return lambda body: self._wait(name, count, "an answer held for another request")

    def barrier(self, name: str, parties: int) -> Expect:
        def expect(body: dict[str, Any]) -> None:
            self.mark(name)(body)
            self._wait(name, parties, f"{parties} requests expected in flight at once")
        return expect

    def ticket(self, name: str, mark_name: str) -> Expect:
        def expect(body: dict[str, Any]) -> None:
            with self._cond:
                number = self._tickets[name]
                self._tickets[name] += 1
            self._wait(mark_name, number, f"request {number} of {name!r} held for its turn")
        return expect


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def git_repo(project: Path) -> None:
    """A repository with one commit, as a user's project would be."""
    git(project, "init", "-q")
    (project / "README.md").write_text("# project\n")
    git(project, "add", "README.md")
    git(project, "commit", "-q", "-m", "first")


def agent_file(folder: Path, name: str, front: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"---\n{front.strip()}\n---\n{body}\n")
    return path
