"""A protocol-neutral script of model turns for the fake model server.

A test writes what the model should do (`text("hi")`, `tool_call("Read", {...})`,
`error(429)`, `broken()`); each wire module renders a step in its own protocol,
so one script drives the Anthropic, OpenAI, Ollama and Gemini paths alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    name: str
    input: dict[str, Any]
    id: str = ""
    raw_arguments: str | None = None  # sent instead of json.dumps(input): malformed JSON tests
    signature: str = ""  # Gemini thought signature to attach


@dataclass(frozen=True)
class Usage:
    input: int = 10
    output: int = 5
    cache_read: int = 0
    cache_write: int = 0


@dataclass
class Step:
    """One response of the fake model.

    kind: "reply" (text / thinking / tool calls), "error" (HTTP status with a body),
    "broken" (stream cut after `break_after` chunks).
    `expect` inspects the recorded request and raises AssertionError to fail the test.
    """

    kind: str = "reply"
    text: str = ""
    thinking: str = ""
    thinking_signature: str = ""
    calls: tuple[Call, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = ""  # "" = derived: tool_use when calls, else end_turn
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    break_after: int = 0
    chunk_size: int = 8  # characters of text per streamed delta
    hang: bool = False  # broken, but the connection stays open until the client leaves
    path_contains: str = ""  # the request path must contain this
    whole: bool = False  # answer with one JSON body even to a streaming request
    expect: Callable[[dict[str, Any]], None] | None = None
    # Only a request this accepts takes the step, and before any step without a `when`:
    # concurrent conversations (sub-agents) each get their own steps in whatever order their
    # requests come; steps without one serve the rest in order.
    when: Callable[[dict[str, Any]], bool] | None = None
    delay: float = 0.0  # seconds before the answer starts: a model that takes its time


def text(t: str, *, usage: Usage | None = None, thinking: str = "", **kw: Any) -> Step:
    return Step(text=t, thinking=thinking, usage=usage or Usage(), **kw)


def tool_call(name: str, input: dict[str, Any], *, text: str = "", id: str = "",
              **kw: Any) -> Step:
    return Step(text=text, calls=(Call(name, input, id or f"call_{name.lower()}_1"),), **kw)


def tool_calls(*calls: Call, text: str = "", **kw: Any) -> Step:
    return Step(text=text, calls=tuple(calls), **kw)


def error(status: int, message: str = "", *, headers: dict[str, str] | None = None,
          body: str = "", **kw: Any) -> Step:
    return Step(kind="error", status=status, body=body or message or f"error {status}",
                headers=headers or {}, **kw)


def broken(text: str = "", *, after: int = 0, **kw: Any) -> Step:
    """A stream that starts and is cut after `after` content chunks."""
    return Step(kind="broken", text=text, break_after=after, **kw)


def hanging(text: str = "", **kw: Any) -> Step:
    """A stream that sends `text` and then nothing more, holding the connection open
    until the client goes away (or the server stops): a turn to cancel."""
    return Step(kind="broken", text=text, break_after=10**6, hang=True, **kw)


@dataclass(frozen=True)
class Reply:
    """What a wire module produces for one step: status, headers and body chunks.

    `complete=False` closes the connection without finishing the chunked body,
    as a dropped connection would.
    """

    status: int
    headers: dict[str, str]
    chunks: tuple[bytes, ...]
    complete: bool = True


def mentions(fragment: str) -> Callable[[dict[str, Any]], bool]:
    """A `when` for requests whose first user message (or system prompt) holds `fragment`:
    the conversation a sub-agent started with that prompt, say."""
    import json

    def check(body: dict[str, Any]) -> bool:
        messages = body.get("messages") or body.get("contents") or []
        first = next((m for m in messages if m.get("role") == "user"), None)
        return fragment in json.dumps(first, ensure_ascii=False) if first is not None else False
    return check
