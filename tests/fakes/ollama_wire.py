"""Ollama's /api/chat, as a real Ollama sends it, for the fake model server.

One JSON object per line: thinking in `message.thinking`, text in
`message.content`, tool calls whole in one line (arguments as an object, ids as
recent Ollama versions add them), then a final line with `"done": true`,
`done_reason` and the counts. Errors are `{"error": "..."}`: with the step's
status when it is 400 or more, or as a line inside a 200 stream otherwise, as
Ollama reports a failure after streaming has begun.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.script import Call, Reply, Step
from tests.fakes.server import chunks_of

_CREATED = "2026-01-01T00:00:00.000000Z"
_STREAM_HEADERS = {"content-type": "application/x-ndjson"}
_JSON_HEADERS = {"content-type": "application/json; charset=utf-8"}


def render(step: Step, body: dict[str, Any], path: str) -> Reply:
    model = str(body.get("model", "fake"))
    if step.kind == "error":
        return _error(step)
    lines = [_line(model, {"content": piece}) for piece in chunks_of(step.text, step.chunk_size)]
    if step.kind == "broken":
        return Reply(200, {**_STREAM_HEADERS, **step.headers},
                     _ndjson(lines[: step.break_after]), complete=False)
    if body.get("stream") is False:
        whole = json.dumps(_whole(step, model)).encode()
        return Reply(200, {**_JSON_HEADERS, **step.headers}, (whole,))
    thinking = [_line(model, {"content": "", "thinking": piece})
                for piece in chunks_of(step.thinking, step.chunk_size)]
    wire_calls = [_call(i, c) for i, c in enumerate(step.calls)]
    calls = [_line(model, {"content": "", "tool_calls": wire_calls})]
    final = {**_line(model, {"content": ""}), **_final_fields(step)}
    return Reply(200, {**_STREAM_HEADERS, **step.headers},
                 _ndjson(thinking + lines + (calls if step.calls else []) + [final]))


def _line(model: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": _CREATED,
            "message": {"role": "assistant", **message}, "done": False}


def _call(index: int, call: Call) -> dict[str, Any]:
    arguments: Any = call.raw_arguments if call.raw_arguments is not None else call.input
    wire: dict[str, Any] = {"function": {"index": index, "name": call.name,
                                          "arguments": arguments}}
    if call.id:  # Ollama before 0.12 sent no ids; an empty Call.id renders that
        wire["id"] = call.id
    return wire


def _final_fields(step: Step) -> dict[str, Any]:
    reason = "length" if step.stop_reason == "max_tokens" else "stop"
    fields: dict[str, Any] = {
        "done": True, "done_reason": reason, "total_duration": 1_200_000_000,
        "load_duration": 50_000_000,
        "prompt_eval_count": step.usage.input + step.usage.cache_read,
        "prompt_eval_duration": 300_000_000, "eval_count": step.usage.output,
        "eval_duration": 800_000_000,
    }
    if step.usage.cache_read:
        fields["prompt_eval_cached_count"] = step.usage.cache_read
    return fields


def _whole(step: Step, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.text}
    if step.thinking:
        message["thinking"] = step.thinking
    if step.calls:
        message["tool_calls"] = [_call(i, c) for i, c in enumerate(step.calls)]
    return {"model": model, "created_at": _CREATED, "message": message, **_final_fields(step)}


def _ndjson(objects: list[dict[str, Any]]) -> tuple[bytes, ...]:
    return tuple((json.dumps(o) + "\n").encode() for o in objects)


def _error(step: Step) -> Reply:
    try:
        json.loads(step.body)
        payload = step.body
    except ValueError:
        payload = json.dumps({"error": step.body})
    if step.status < 400:
        return Reply(200, {**_STREAM_HEADERS, **step.headers}, ((payload + "\n").encode(),))
    return Reply(step.status, {**_JSON_HEADERS, **step.headers}, (payload.encode(),))
