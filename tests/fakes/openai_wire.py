"""OpenAI Chat Completions, as the real servers send it, for the fake model server.

Streams look like api.openai.com's: a role chunk, content deltas, tool calls
whose id and name come first and whose arguments follow in pieces, a chunk with
finish_reason, a usage chunk with empty choices when the request asked for
`stream_options.include_usage`, then `data: [DONE]`. Thinking is sent as
DeepSeek's `reasoning_content`; a Call's signature as Gemini's
`extra_content.google.thought_signature`. An "error" step with a status below
400 is reported inside the stream, as vLLM and OpenRouter do.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.script import Call, Reply, Step, Usage
from tests.fakes.server import chunks_of, sse

_FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter"}
_ERROR_TYPES = {
    400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None),
    503: ("server_error", None),
}
_STREAM_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_JSON_HEADERS = {"content-type": "application/json"}


def render(step: Step, body: dict[str, Any], path: str) -> Reply:
    if step.kind == "error":
        return _error(step)
    if step.kind == "broken":
        return _broken(step, body)
    if step.whole or not body.get("stream"):
        return Reply(200, {**_JSON_HEADERS, **step.headers},
                     (json.dumps(_completion(step, body)).encode(),))
    return Reply(200, {**_STREAM_HEADERS, **step.headers}, sse(_events(step, body)))


def is_probe(body: dict[str, Any]) -> bool:
    """One token asked for a conversation that ends in tool results: how the provider
    asks a local server whether its model is shown them (providers/openai_compat.py)."""
    messages = body.get("messages") or []
    return body.get("max_tokens") == 1 and bool(messages) and messages[-1].get("role") == "tool"


def probe_reply(body: dict[str, Any], *, drops_tool_results: bool) -> Reply:
    """One token, and a prompt count that follows the conversation (characters / 4), as
    a real server's does: without the tool messages' content when its template drops them."""
    messages = [{**m, "content": ""} if drops_tool_results and m.get("role") == "tool" else m
                for m in body.get("messages") or []]
    step = Step(text="O", usage=Usage(input=len(json.dumps(messages)) // 4, output=1))
    return Reply(200, _JSON_HEADERS, (json.dumps(_completion(step, body)).encode(),))


def _finish_reason(step: Step) -> str:
    if step.stop_reason:
        return _FINISH.get(step.stop_reason, step.stop_reason)
    return "tool_calls" if step.calls else "stop"


def _usage(step: Step) -> dict[str, Any]:
    prompt = step.usage.input + step.usage.cache_read + step.usage.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": step.usage.output,
        "total_tokens": prompt + step.usage.output,
        "prompt_tokens_details": {"cached_tokens": step.usage.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chunk(body: dict[str, Any], delta: dict[str, Any],
           finish: str | None = None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-fake0001", "object": "chat.completion.chunk", "created": 1767225600,
        "model": body.get("model", "fake"), "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if (body.get("stream_options") or {}).get("include_usage"):
        chunk["usage"] = None
    return chunk


def _arguments(call: Call) -> str:
    return call.raw_arguments if call.raw_arguments is not None else json.dumps(call.input)


def _call_head(index: int, call: Call) -> dict[str, Any]:
    head: dict[str, Any] = {
        "index": index, "id": call.id or f"call_fake_{index}", "type": "function",
        "function": {"name": call.name, "arguments": ""},
    }
    if call.signature:
        head["extra_content"] = {"google": {"thought_signature": call.signature}}
    return head


def _events(step: Step, body: dict[str, Any]) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = [
        (None, _chunk(body, {"role": "assistant", "content": "", "refusal": None}))
    ]
    for piece in chunks_of(step.thinking, step.chunk_size):
        events.append((None, _chunk(body, {"reasoning_content": piece})))
    for piece in chunks_of(step.text, step.chunk_size):
        events.append((None, _chunk(body, {"content": piece})))
    for index, call in enumerate(step.calls):
        events.append((None, _chunk(body, {"tool_calls": [_call_head(index, call)]})))
        for piece in chunks_of(_arguments(call), 7):
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            events.append((None, _chunk(body, delta)))
    events.append((None, _chunk(body, {}, _finish_reason(step))))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage_chunk = _chunk(body, {})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = _usage(step)
        events.append((None, usage_chunk))
    events.append((None, "[DONE]"))
    return events


def _completion(step: Step, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": step.text or None, "refusal": None}
    if step.thinking:
        message["reasoning_content"] = step.thinking
    if step.calls:
        message["tool_calls"] = [
            {**_call_head(i, c), "function": {"name": c.name, "arguments": _arguments(c)}}
            for i, c in enumerate(step.calls)
        ]
        for call in message["tool_calls"]:
            del call["index"]
    return {
        "id": "chatcmpl-fake0001", "object": "chat.completion", "created": 1767225600,
        "model": body.get("model", "fake"), "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _finish_reason(step)}],
        "usage": _usage(step),
    }


def _error_json(step: Step) -> str:
    try:
        json.loads(step.body)
        return step.body
    except ValueError:
        kind, code = _ERROR_TYPES.get(step.status, ("invalid_request_error", None))
        return json.dumps({"error": {"message": step.body, "type": kind, "param": None,
                                     "code": code}})


def _error(step: Step) -> Reply:
    if step.status < 400:  # reported inside a stream that had started fine
        return Reply(200, {**_STREAM_HEADERS, **step.headers},
                     sse([(None, json.loads(_error_json(step)))]))
    return Reply(step.status, {**_JSON_HEADERS, **step.headers}, (_error_json(step).encode(),))


def _broken(step: Step, body: dict[str, Any]) -> Reply:
    role = _chunk(body, {"role": "assistant", "content": ""})
    events: list[tuple[str | None, Any]] = [(None, role)]
    for piece in chunks_of(step.text, step.chunk_size)[: step.break_after]:
        events.append((None, _chunk(body, {"content": piece})))
    return Reply(200, {**_STREAM_HEADERS, **step.headers}, sse(events), complete=False)


# --- what local OpenAI-compatible servers say about their models ----------------------
# Bodies as each server sends them, for routes on the fake server (`server.route(...)`).


def vllm_models(*served: tuple[str, int]) -> dict[str, Any]:
    """vLLM's GET /v1/models: every served model with the window it was started with
    (`--max-model-len`, else the model's own), as `max_model_len`."""
    return {"object": "list", "data": [
        {"id": model, "object": "model", "created": 1767225600, "owned_by": "vllm", "root": model,
         "parent": None, "max_model_len": window,
         "permission": [{"id": "modelperm-fake0001", "object": "model_permission",
                         "created": 1767225600, "allow_create_engine": False,
                         "allow_sampling": True, "allow_logprobs": True,
                         "allow_search_indices": False, "allow_view": True,
                         "allow_fine_tuning": False, "organization": "*", "group": None,
                         "is_blocking": False}]}
        for model, window in served]}


def llamacpp_models(model: str, n_ctx_train: int) -> dict[str, Any]:
    """llama.cpp's server, GET /v1/models: the trained window only, under `meta`."""
    return {"object": "list", "data": [{
        "id": model, "object": "model", "created": 1767225600, "owned_by": "llamacpp",
        "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx_train": n_ctx_train, "n_embd": 3584,
                 "n_params": 7615616512, "size": 4677120000}}]}


def llamacpp_props(n_ctx: int, model_path: str = "/models/model.gguf") -> dict[str, Any]:
    """llama.cpp's server, GET /props: the window it runs with (`-c`) is
    `default_generation_settings.n_ctx`."""
    return {
        "default_generation_settings": {
            "id": 0, "id_task": -1, "n_ctx": n_ctx, "speculative": False, "is_processing": False,
            "params": {"n_predict": -1, "seed": 4294967295, "temperature": 0.8, "top_k": 40,
                       "top_p": 0.95, "min_p": 0.05, "stream": True}},
        "total_slots": 1, "model_path": model_path, "chat_template": "{{ messages }}",
        "modalities": {"vision": False, "audio": False}, "build_info": "b6000-fake",
    }


def lmstudio_model(model: str, max_context: int, loaded: int | None = None) -> dict[str, Any]:
    """LM Studio, GET /api/v0/models/<id>: `max_context_length` always; once the model is
    loaded, `loaded_context_length` (the window it was loaded with) too."""
    entry: dict[str, Any] = {
        "id": model, "object": "model", "type": "llm", "publisher": "lmstudio-community",
        "arch": "qwen2", "compatibility_type": "gguf", "quantization": "Q4_K_M",
        "state": "loaded" if loaded else "not-loaded", "max_context_length": max_context}
    if loaded:
        entry["loaded_context_length"] = loaded
    return entry
