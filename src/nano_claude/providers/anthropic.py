"""Anthropic Messages API, spoken over httpx and server-sent events.

The neutral conversation model mirrors Anthropic's content blocks, so most of
this module is bookkeeping: prompt-cache breakpoints so a follow-up request
reads the previous one from cache, thinking blocks that must travel back with
their signatures, and dropping what Anthropic would reject (empty blocks,
thinking another provider produced).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from httpx_sse import EventSource

from nano_claude.core.errors import ProviderError, StreamBroken
from nano_claude.core.events import (
    ProviderEvent,
    Response,
    TextDelta,
    ThinkingDelta,
    TokenUsage,
)
from nano_claude.core.messages import (
    Block,
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    parse_tool_arguments,
)
from nano_claude.providers.base import Request
from nano_claude.providers.catalog import ModelInfo, lookup
from nano_claude.providers.http import (
    HttpProvider,
    raise_for_status,
)

ANTHROPIC_VERSION = "2023-06-01"
ORIGIN = "anthropic"
_CACHE = {"type": "ephemeral"}
_MIN_THINKING_BUDGET = 1024  # the API refuses smaller budgets
_ANSWER_ROOM = 4096  # output tokens left for the answer after a full thinking budget
# Mid-stream error types that mean "try again": the same conditions as HTTP 529 and 500.
_RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error"})


class AnthropicProvider(HttpProvider):
    """One Anthropic endpoint and key; see the module docstring for what it takes care of."""

    async def _attempt(self, request: Request) -> AsyncIterator[ProviderEvent]:
        body = build_body(request, lookup(self.name, request.model))
        headers = {
            "x-api-key": self._endpoint.api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream",
        }
        url = f"{self._endpoint.base_url}/v1/messages"
        reader = StreamReader(self.name)
        async with self._http().stream("POST", url, json=body, headers=headers) as response:
            await raise_for_status(response, self._endpoint)
            async for sse in EventSource(response).aiter_sse():
                for event in reader.feed(sse.data):
                    yield event
                if reader.done:
                    break
        if not reader.done:
            raise StreamBroken(
                f"{self.name} ended the stream before message_stop",
                provider=self.name, retryable=True,
            )
        yield reader.response()


# --- request -------------------------------------------------------------------


def build_body(request: Request, info: ModelInfo) -> dict[str, Any]:
    """The JSON body of one streaming Messages request, with cache breakpoints."""
    messages = wire_messages(request.messages)
    body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
    if request.system:
        body["system"] = [{"type": "text", "text": request.system, "cache_control": _CACHE}]
    _mark_newest_message(messages)
    body["messages"] = messages
    if request.tools:
        tools = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
        tools[-1]["cache_control"] = _CACHE
        body["tools"] = tools
    thinks = info.can_think and _thinking_allowed(request, messages)
    limits = _thinking_limits(request, info.max_output) if thinks else None
    if limits is not None:
        body["max_tokens"], budget = limits
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    elif request.temperature is not None:  # thinking only runs at the default temperature
        body["temperature"] = request.temperature
    body["stream"] = True
    return body


def _thinking_limits(request: Request, max_output: int) -> tuple[int, int] | None:
    """(max_tokens, budget): the budget must stay below max_tokens, which the model caps."""
    budget = max(_MIN_THINKING_BUDGET, request.thinking_budget)
    wanted = max(request.max_tokens, budget + _ANSWER_ROOM)
    max_tokens = max(request.max_tokens, min(wanted, max_output))
    budget = min(budget, max_tokens - _ANSWER_ROOM)
    if budget < _MIN_THINKING_BUDGET:
        return None  # too little room to think and still answer
    return max_tokens, budget


def _thinking_allowed(request: Request, messages: list[dict[str, Any]]) -> bool:
    """Whether thinking may be switched on for this request.

    With thinking on, Anthropic requires the assistant message whose tool calls
    are being answered to start with a thinking block. A tool loop begun by
    another provider (or with thinking off) has none, so thinking waits for
    the next user turn instead of failing the request.
    """
    if not request.thinking:
        return False
    if not messages or messages[-1]["role"] != "user":
        return True
    answers_tools = any(b.get("type") == "tool_result" for b in messages[-1]["content"])
    previous = messages[-2] if len(messages) > 1 else None
    if not answers_tools or previous is None or previous["role"] != "assistant":
        return True
    return previous["content"][0]["type"] in ("thinking", "redacted_thinking")


def _mark_newest_message(messages: list[dict[str, Any]]) -> None:
    """Cache up to the end of the conversation, so the next request reads it back."""
    if not messages:
        return
    for block in reversed(messages[-1]["content"]):
        if block["type"] not in ("thinking", "redacted_thinking"):  # these cannot carry it
            block["cache_control"] = _CACHE
            return


def wire_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Neutral messages as Anthropic messages; a message left with no content is dropped."""
    out = []
    for message in messages:
        content = [
            part for block in message.content
            if (part := _wire_block(block, message.role)) is not None
        ]
        if content:  # an empty content list is invalid
            out.append({"role": message.role, "content": content})
    return out


def _wire_block(block: Block, role: str) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        return _wire_text(block)
    if isinstance(block, ThinkingBlock):
        # Only Anthropic can verify its own signature; other providers' reasoning is dropped.
        if role != "assistant" or block.origin != ORIGIN or not block.signature:
            return None
        if block.redacted:
            return {"type": "redacted_thinking", "data": block.signature}
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ImageBlock):
        return _wire_image(block)
    return _wire_tool_result(block)


def _wire_text(block: TextBlock) -> dict[str, Any] | None:
    # Anthropic rejects text blocks that are empty or only whitespace.
    return {"type": "text", "text": block.text} if block.text.strip() else None


def _wire_image(block: ImageBlock) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
    }


def _wire_tool_result(block: ToolResultBlock) -> dict[str, Any]:
    content = []
    for inner in block.content:
        part = _wire_text(inner) if isinstance(inner, TextBlock) else _wire_image(inner)
        if part is not None:
            content.append(part)
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id}
    if content:
        result["content"] = content
    if block.is_error:
        result["is_error"] = True
    return result


# --- response ------------------------------------------------------------------


@dataclass
class _Part:
    """One content block while its deltas arrive."""

    kind: str  # text | thinking | redacted_thinking | tool_use
    chunks: list[str] = field(default_factory=list)
    signature: str = ""
    id: str = ""
    name: str = ""


@dataclass
class StreamReader:
    """Folds Anthropic's stream events into deltas for the user and one final Message."""

    provider: str
    done: bool = False
    stop_reason: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)
    parts: dict[int, _Part] = field(default_factory=dict)

    def feed(self, data: str) -> list[ProviderEvent]:
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise ProviderError(
                f"{self.provider} sent an unreadable stream event: {data[:200]!r}",
                provider=self.provider, retryable=True,
            ) from exc
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event.get("index", 0), event.get("delta") or {})
        if kind == "content_block_start":
            self._start(event.get("index", 0), event.get("content_block") or {})
        elif kind == "message_start":
            message = event.get("message") or {}
            self.meta = {k: message[k] for k in ("id", "model") if message.get(k)}
            self._add_usage(message.get("usage"))
        elif kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            self._add_usage(event.get("usage"))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            self._raise(event.get("error") or {})
        return []  # ping, content_block_stop and event types added later need nothing

    def _start(self, index: int, block: dict[str, Any]) -> None:
        kind = block.get("type", "")
        part = _Part(kind, id=block.get("id", ""), name=block.get("name", ""))
        if kind == "text" and block.get("text"):
            part.chunks.append(block["text"])
        elif kind == "thinking":
            part.chunks.append(block.get("thinking", ""))
            part.signature = block.get("signature", "")
        elif kind == "redacted_thinking":
            part.signature = block.get("data", "")
        self.parts[index] = part

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ProviderEvent]:
        part = self.parts.setdefault(index, _Part("text"))
        kind = delta.get("type")
        if kind == "text_delta":
            part.chunks.append(delta.get("text", ""))
            return [TextDelta(delta["text"])] if delta.get("text") else []
        if kind == "thinking_delta":
            part.chunks.append(delta.get("thinking", ""))
            return [ThinkingDelta(delta["thinking"])] if delta.get("thinking") else []
        if kind == "signature_delta":
            part.signature += delta.get("signature", "")
        elif kind == "input_json_delta":
            part.chunks.append(delta.get("partial_json", ""))
        return []

    def _add_usage(self, usage: dict[str, Any] | None) -> None:
        # message_delta repeats counts cumulatively: the latest value of each wins.
        for key, value in (usage or {}).items():
            if isinstance(value, int):
                self.usage[key] = value

    def _raise(self, error: dict[str, Any]) -> None:
        kind = error.get("type", "error")
        raise ProviderError(
            f"{self.provider} reported {kind} mid-stream: {error.get('message', '')}",
            provider=self.provider, body=json.dumps(error), retryable=kind in _RETRYABLE_ERRORS,
        )

    def response(self) -> Response:
        blocks = [b for _, part in sorted(self.parts.items()) if (b := _finish(part))]
        stop = self.stop_reason or ("tool_use" if any(
            isinstance(b, ToolUseBlock) for b in blocks) else "end_turn")
        usage = TokenUsage(
            input_tokens=self.usage.get("input_tokens", 0),
            output_tokens=self.usage.get("output_tokens", 0),
            cache_read_tokens=self.usage.get("cache_read_input_tokens", 0),
            cache_write_tokens=self.usage.get("cache_creation_input_tokens", 0),
        )
        meta = {"provider": self.provider, **self.meta, "stop_reason": stop}
        return Response(Message("assistant", tuple(blocks), meta), usage, stop)


def _finish(part: _Part) -> Block | None:
    text = "".join(part.chunks)
    if part.kind == "text":
        return TextBlock(text) if text else None
    if part.kind == "thinking":
        return ThinkingBlock(text, part.signature, ORIGIN)
    if part.kind == "redacted_thinking":
        # The encrypted data goes back verbatim as the signature; there is no text to show.
        return ThinkingBlock("", part.signature, ORIGIN, redacted=True)
    if part.kind == "tool_use":
        return ToolUseBlock(part.id, part.name, parse_tool_arguments(text))
    return None  # server-side tool blocks and future types are not part of our model
