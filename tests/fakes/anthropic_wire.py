"""Renders a scripted step as the Anthropic Messages API would stream it.

Event order and fields follow the real API: message_start, then per content
block content_block_start / deltas / content_block_stop (with a ping after the
first block starts), message_delta with the stop reason and output tokens,
message_stop. Two conventions map script steps onto API behaviour the script
has no word for:

- a step with a thinking signature but no thinking text streams a
  redacted_thinking block whose data is the signature;
- an "error" step with status 200 streams an `error` event inside a started
  stream, as Anthropic does when it overloads mid-response.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.script import Call, Reply, Step
from tests.fakes.server import chunks_of, sse

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}

ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 529: "overloaded_error",
}

Event = tuple[str, dict[str, Any]]


def render(step: Step, body: dict[str, Any], path: str) -> Reply:
    if step.kind == "error":
        return _error(step, body)
    if step.kind == "broken":
        return _broken(step, body)
    return Reply(200, SSE_HEADERS, sse(_reply_events(step, body)))


def _message_start(step: Step, body: dict[str, Any]) -> Event:
    return ("message_start", {"type": "message_start", "message": {
        "id": "msg_fake01", "type": "message", "role": "assistant",
        "model": body.get("model", "claude-fake"), "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {
            "input_tokens": step.usage.input,
            "cache_creation_input_tokens": step.usage.cache_write,
            "cache_read_input_tokens": step.usage.cache_read,
            "output_tokens": 1,
        },
    }})


def _block(index: int, start: dict[str, Any], deltas: list[dict[str, Any]]) -> list[Event]:
    events: list[Event] = [("content_block_start", {
        "type": "content_block_start", "index": index, "content_block": start})]
    if index == 0:
        events.append(("ping", {"type": "ping"}))
    events += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                        "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def _thinking_block(step: Step, index: int) -> list[Event]:
    if not step.thinking:
        return _block(index, {"type": "redacted_thinking", "data": step.thinking_signature}, [])
    deltas = [{"type": "thinking_delta", "thinking": c}
              for c in chunks_of(step.thinking, step.chunk_size)]
    if step.thinking_signature:
        deltas.append({"type": "signature_delta", "signature": step.thinking_signature})
    return _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)


def _text_block(text: str, size: int, index: int) -> list[Event]:
    deltas = [{"type": "text_delta", "text": c} for c in chunks_of(text, size)]
    return _block(index, {"type": "text", "text": ""}, deltas)


def _tool_block(call: Call, size: int, index: int) -> list[Event]:
    raw = call.raw_arguments if call.raw_arguments is not None else json.dumps(call.input)
    # The API opens every tool_use with an empty partial_json before the arguments.
    deltas = [{"type": "input_json_delta", "partial_json": c} for c in ["", *chunks_of(raw, size)]]
    start = {"type": "tool_use", "id": call.id or f"toolu_fake{index:02d}", "name": call.name,
             "input": {}}
    return _block(index, start, deltas)


def _reply_events(step: Step, body: dict[str, Any]) -> list[Event]:
    events = [_message_start(step, body)]
    blocks: list[list[Event]] = []
    if step.thinking or step.thinking_signature:
        blocks.append(_thinking_block(step, len(blocks)))
    if step.text:
        blocks.append(_text_block(step.text, step.chunk_size, len(blocks)))
    for call in step.calls:
        blocks.append(_tool_block(call, step.chunk_size * 2, len(blocks)))
    for block in blocks:
        events += block
    stop = step.stop_reason or ("tool_use" if step.calls else "end_turn")
    events.append(("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
        "usage": {"output_tokens": step.usage.output},
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _error_payload(step: Step) -> str:
    try:
        parsed = json.loads(step.body)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        return step.body
    kind = ERROR_TYPES.get(step.status, "overloaded_error" if step.status == 200 else "api_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": step.body},
                       "request_id": "req_fake01"})


def _error(step: Step, body: dict[str, Any]) -> Reply:
    if step.status == 200:  # an error event inside a stream that had started well
        events = sse([_message_start(step, body), ("error", _error_payload(step))])
        return Reply(200, {**SSE_HEADERS, **step.headers}, events)
    headers = {"content-type": "application/json", "request-id": "req_fake01", **step.headers}
    return Reply(step.status, headers, (_error_payload(step).encode(),))


def _broken(step: Step, body: dict[str, Any]) -> Reply:
    text_events = _text_block(step.text, step.chunk_size, 0)
    # content_block_start and ping, then as many deltas as the step allows.
    head = [e for e in text_events[:2] if e[0] != "content_block_stop"]
    deltas = [e for e in text_events if e[0] == "content_block_delta"][:step.break_after]
    events = sse([_message_start(step, body), *head, *deltas])
    return Reply(200, SSE_HEADERS, events, complete=False)
