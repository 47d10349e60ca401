"""Renders a scripted step as Gemini's streamGenerateContent?alt=sse would stream it.

Each SSE event is one GenerateContentResponse chunk with no event name:
candidates[0].content.parts (thought parts flagged `thought: true`, function
calls whole and without ids), usageMetadata on every chunk, and finishReason
with the final usage on the last one. Conventions for what the script has no
word for:

- a step's thinking signature rides on the last thought part (on the last
  text part when there is no thinking), a Call's signature on its
  functionCall part, where Gemini attaches thoughtSignature;
- Call.raw_arguments that are not JSON are sent as a string `args` (Gemini
  itself never sends broken JSON, but a proxy or a future format might);
- an "error" step with status 200 sends an error chunk inside a started
  stream, as Gemini does when the model overloads mid-response.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.script import Call, Reply, Step
from tests.fakes.server import chunks_of, sse

SSE_HEADERS = {"content-type": "text/event-stream"}

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FINISH_REASONS = {"end_turn": "STOP", "tool_use": "STOP", "max_tokens": "MAX_TOKENS"}


def render(step: Step, body: dict[str, Any], path: str) -> Reply:
    model = path.split("/models/", 1)[-1].split(":", 1)[0]
    if step.kind == "error":
        return _error(step, model)
    if step.kind == "broken":
        parts = [{"text": c} for c in chunks_of(step.text, step.chunk_size)][:step.break_after]
        chunks = [_chunk([p], step, model) for p in parts]
        return Reply(200, SSE_HEADERS, sse((None, c) for c in chunks), complete=False)
    return Reply(200, SSE_HEADERS, sse((None, c) for c in _reply_chunks(step, model)))


def _usage(step: Step, final: bool) -> dict[str, Any]:
    prompt = step.usage.input + step.usage.cache_read
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if final:
        # Gemini counts thought tokens apart from the answer's: split the step's output.
        thoughts = min(step.usage.output, len(step.thinking.split()))
        usage["candidatesTokenCount"] = step.usage.output - thoughts
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] = prompt + step.usage.output
    else:
        usage["totalTokenCount"] = prompt
    if step.usage.cache_read:
        usage["cachedContentTokenCount"] = step.usage.cache_read
    return usage


def _chunk(parts: list[dict[str, Any]], step: Step, model: str,
           finish: str = "") -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": _usage(step, bool(finish)),
            "modelVersion": model, "responseId": "fake-response-01"}


def _call_part(call: Call) -> dict[str, Any]:
    args: Any = call.input
    if call.raw_arguments is not None:
        try:
            args = json.loads(call.raw_arguments)
        except ValueError:
            args = call.raw_arguments
    part: dict[str, Any] = {"functionCall": {"name": call.name, "args": args}}
    if call.signature:
        part["thoughtSignature"] = call.signature
    return part


def _reply_chunks(step: Step, model: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"text": c, "thought": True} for c in chunks_of(step.thinking, step.chunk_size)]
    if parts and step.thinking_signature:
        parts[-1]["thoughtSignature"] = step.thinking_signature
    texts = [{"text": c} for c in chunks_of(step.text, step.chunk_size)]
    if texts and step.thinking_signature and not parts:
        texts[-1]["thoughtSignature"] = step.thinking_signature  # Gemini 3 signs answers too
    parts += texts
    # Parallel calls arrive together, in one chunk.
    groups: list[list[dict[str, Any]]] = [[p] for p in parts]
    if step.calls:
        groups.append([_call_part(c) for c in step.calls])
    if not groups:
        groups = [[{"text": ""}]]
    stop = step.stop_reason or "end_turn"
    finish = FINISH_REASONS.get(stop, stop.upper())
    chunks = [_chunk(g, step, model) for g in groups[:-1]]
    chunks.append(_chunk(groups[-1], step, model, finish))
    return chunks


def _error_payload(step: Step, status: int) -> str:
    try:
        parsed = json.loads(step.body)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        return step.body
    return json.dumps({"error": {"code": status, "message": step.body,
                                 "status": STATUS_NAMES.get(status, "UNAVAILABLE")}})


def _error(step: Step, model: str) -> Reply:
    if step.status == 200:  # an error chunk inside a stream that had started well
        return Reply(200, {**SSE_HEADERS, **step.headers},
                     sse([(None, _error_payload(step, 503))]))
    headers = {"content-type": "application/json; charset=UTF-8", **step.headers}
    return Reply(step.status, headers, (_error_payload(step, step.status).encode(),))
