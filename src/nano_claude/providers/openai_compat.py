"""OpenAI Chat Completions over plain httpx.

One wire protocol, many servers: OpenAI, Kimi, Qwen, Zhipu, DeepSeek, LM Studio,
vLLM or llama.cpp behind `custom`, and Gemini's OpenAI-compatible endpoint. What
differs between them lives in `quirks`; this module translates the neutral
conversation to the wire and assembles the streamed answer back into blocks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from nano_claude.config import Settings
from nano_claude.core.errors import AuthError, ContextTooLong, ProviderError, StreamBroken
from nano_claude.core.events import (
    Notice,
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
from nano_claude.providers import quirks, textcalls, window
from nano_claude.providers.base import Request
from nano_claude.providers.catalog import PROVIDERS, ModelInfo, lookup
from nano_claude.providers.http import (
    Endpoint,
    HttpProvider,
    RetryPolicy,
    context_too_long,
    raise_for_status,
    scrub,
    status_error,
    too_long,
)

_STOP_REASONS = {
    "stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
    "function_call": "tool_use", "content_filter": "refusal",
}


class _SilentStream(ProviderError):
    """A 200 stream that closed before its first chunk: some servers fail that way."""


def _first_line(error: ProviderError) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


class OpenAICompatProvider(HttpProvider):
    """Streams Chat Completions; retries, error mapping and key scrubbing come from `http`."""

    def __init__(
        self, endpoint: Endpoint, settings: Settings, retry: RetryPolicy,
        *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        servers: quirks.ServerMemory = quirks.SERVERS,
    ) -> None:
        super().__init__(endpoint, settings, retry, sleep=sleep)
        self._windows: dict[str, int | None] = {}
        self._servers = servers

    async def _attempt(self, request: Request) -> AsyncIterator[ProviderEvent]:
        """One request; a refusal of its shape is learned from and retried in a shape the
        server accepts, before anything reached the user. A local server is asked once,
        when the first tool results go out, whether its model gets to see them."""
        base_url = self._endpoint.base_url
        text_calls = self._text_calls(request.model)
        while True:
            known = self._servers.get(base_url)
            shape = replace(known, native_tools=False) if text_calls else known
            if self._probes_results(request, shape):
                sees = await self._sees_tool_results(request, shape)
                self._servers.learn(base_url, replace(known, results_checked=True,
                                                      native_tools=sees is not False))
                if sees is False:
                    yield Notice(f"{self.name} at {base_url} does not show the model the tool "
                                 "results it is sent (its chat template drops `tool` messages); "
                                 "sending tools, calls and results as text from now on")
                continue
            body = request_body(request, self.name, lookup(self.name, request.model), shape,
                                local=self._endpoint.local)
            assembly = _Assembly(self._endpoint, request, text_tools=not shape.native_tools)
            shown = False
            try:
                async for event in self._exchange(body, assembly):
                    shown = shown or isinstance(event, (TextDelta, ThinkingDelta))
                    yield event
                return
            except ProviderError as exc:
                if shown or isinstance(exc, (AuthError, ContextTooLong)):
                    raise
                learned = quirks.shape_after_refusal(
                    shape, body, f"{exc} {exc.body}", silent=isinstance(exc, _SilentStream))
                if learned is None or learned == shape:
                    raise
                refusal = _first_line(exc)
            # What the server refused, not what this model's settings chose.
            self._servers.learn(base_url, replace(learned, native_tools=known.native_tools)
                                if text_calls else learned)
            yield Notice(f"{self.name} at {base_url} refused the request ({refusal}); "
                         f"retrying with {learned.describe()}")

    def _probes_results(self, request: Request, shape: quirks.ServerShape) -> bool:
        """Cloud APIs show results; a local server is asked once, before the first
        request that carries results goes out."""
        last = request.messages[-1] if request.messages else None
        return (self._endpoint.local and shape.native_tools and not shape.results_checked
                and bool(request.tools) and last is not None and bool(last.tool_results))

    async def _sees_tool_results(self, request: Request, shape: quirks.ServerShape) -> bool | None:
        """Whether the model is shown the tool results the server is sent.

        Some chat templates (llama-cpp-python's chatml-function-calling) render a `tool`
        message as an empty turn: the model never sees a result and calls again,
        forever. The request is sent twice for one token, its new results replaced by a
        filler and by nothing, and the server's prompt counts compared. Only the end of
        the prompt differs from the last request, so a prompt cache keeps serving it;
        tool_choice "none" keeps llama-cpp-python to one completion, whose count is
        exact. None: the server would not say (an error, no usage)."""
        counts = []
        for filler in (quirks.PROBE_RESULT, ""):
            probe = replace(request, max_tokens=1, messages=(
                *request.messages[:-1], quirks.with_results(request.messages[-1], filler)))
            body = request_body(probe, self.name, lookup(self.name, request.model),
                                replace(shape, stream_with_tools=False), local=self._endpoint.local)
            if "tool_choice" in body:
                body["tool_choice"] = "none"
            try:
                response = await self._http().post(f"{self._endpoint.base_url}/chat/completions",
                                                   json=body, headers=self._bearer())
                data = response.json() if response.status_code < 400 else None
            except (httpx.HTTPError, ValueError):
                return None
            usage = token_usage(data.get("usage") if isinstance(data, dict) else None)
            if usage.prompt_tokens <= 0:
                return None
            counts.append(usage.prompt_tokens)
        return quirks.sees_tool_results(counts[0], counts[1], request.messages[-1])

    async def _exchange(self, body: dict[str, Any],
                        assembly: _Assembly) -> AsyncIterator[ProviderEvent]:
        url = f"{self._endpoint.base_url}/chat/completions"
        accept = "text/event-stream" if body.get("stream") else "application/json"
        headers = {**self._bearer(), "Accept": accept}
        silent = _SilentStream(
            f"{self.name} ended its answer without sending anything (the server's own log "
            "has the reason)", provider=self.name, retryable=True,
        )
        async with self._http().stream("POST", url, json=body, headers=headers) as response:
            await raise_for_status(response, self._endpoint)
            try:
                async for event in self._read(response, assembly):
                    yield event
            except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                if assembly.spoke:
                    raise
                raise silent from exc
        if not assembly.done and not assembly.spoke:
            raise silent
        if not assembly.done:
            raise StreamBroken(
                f"{self.name}: the stream ended before the response was complete",
                provider=self.name, retryable=True,
            )
        for event in assembly.finish():
            yield event

    async def _read(
        self, response: httpx.Response, assembly: _Assembly
    ) -> AsyncIterator[ProviderEvent]:
        """Chunks as they arrive; a server that ignored `stream` gets its whole answer read."""
        if response.headers.get("content-type", "").startswith("application/json"):
            for event in assembly.feed(_whole_as_chunk(_json(await response.aread(), self.name))):
                yield event
            return
        try:
            async with aclosing(EventSource(response).aiter_sse()) as events:
                async for sse in events:
                    if sse.data.strip() == "[DONE]":
                        assembly.done = True
                        return
                    if sse.data.strip():
                        for event in assembly.feed(_json(sse.data, self.name)):
                            yield event
        except SSEError as exc:
            raise ProviderError(
                f"{self.name} did not answer with an event stream ({exc})", provider=self.name,
            ) from exc

    async def context_window(self, model: str) -> int | None:
        """The window a local server really runs with, asked once (providers/window.py);
        None when it won't say. Local servers are often started with a window far below
        what the model supports, and nothing in Chat Completions tells us. A failed probe
        only means we fall back to the catalog's guess, so it never fails a request."""
        if not self._endpoint.local:
            return None
        if model not in self._windows:
            self._windows[model] = await asyncio.to_thread(window.ask, self._endpoint, model)
        return self._windows[model]


def _json(raw: str | bytes, provider: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StreamBroken(
            f"{provider} sent an unreadable chunk: {str(raw)[:200]}", provider=provider,
            retryable=True,
        ) from exc
    if not isinstance(data, dict):
        raise StreamBroken(f"{provider} sent an unexpected chunk: {str(raw)[:200]}",
                           provider=provider, retryable=True)
    return data


def _whole_as_chunk(data: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed completion, reshaped as the one chunk that would have carried it all."""
    choices = []
    for choice in data.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls") or []
        message["tool_calls"] = [{**tc, "index": i} for i, tc in enumerate(calls)]
        choices.append({"delta": message, "finish_reason": choice.get("finish_reason") or "stop"})
    return {**data, "choices": choices}


# --- request ---------------------------------------------------------------------


_FULL_SHAPE = quirks.ServerShape()


def request_body(request: Request, provider: str, info: ModelInfo,
                 shape: quirks.ServerShape = _FULL_SHAPE, *,
                 local: bool = False) -> dict[str, Any]:
    """The wire body, in the shape the server is known to accept.

    A local server gets `tool_choice: "auto"` spelled out: llama-cpp-python's
    server ignores tools without it, and others say plainly if they refuse it.
    """
    text_tools = bool(request.tools) and not shape.native_tools
    native = bool(request.tools) and shape.native_tools
    body: dict[str, Any] = {
        "model": request.model,
        "messages": wire_messages(request, provider, info, text_tools=text_tools),
        "stream": shape.stream_with_tools or not native,
        "stream_options": {"include_usage": True},
    }
    if native:
        body["tools"] = [quirks.function_tool(t) for t in request.tools]
        if local and shape.tool_choice:
            body["tool_choice"] = "auto"
    if info.reasoning:  # OpenAI reasoning models reject max_tokens and temperature
        body["max_completion_tokens"] = request.max_tokens
    else:
        body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
    if request.reasoning_effort and quirks.sends_reasoning_effort(provider, info):
        body["reasoning_effort"] = request.reasoning_effort
    body.update(quirks.thinking_params(provider, request))
    if not body.get("stream"):  # OpenAI refuses stream_options without streaming
        body.pop("stream_options", None)
    for name in shape.dropped:
        body.pop(name, None)
    return body


def wire_messages(request: Request, provider: str, info: ModelInfo, *,
                  text_tools: bool = False) -> list[dict[str, Any]]:
    """With `text_tools`, the tools ride in the system prompt and calls and results in
    the text, for a server that refused native tool calling."""
    out: list[dict[str, Any]] = []
    system = request.system
    messages: tuple[Message, ...] | list[Message] = request.messages
    if text_tools:
        system = (system + "\n\n" if system else "") + textcalls.describe_tools(request.tools)
        messages = textcalls.history_as_text(request.messages)
    if system:
        out.append({"role": quirks.system_role(provider, info), "content": system})
    for message in messages:
        if message.role == "user":
            out.extend(_user_messages(message))
        else:
            out.append(_assistant_message(message, provider))
    return out


def _image_part(block: ImageBlock) -> dict[str, Any]:
    return {"type": "image_url",
            "image_url": {"url": f"data:{block.media_type};base64,{block.data}"}}


def _user_messages(message: Message) -> list[dict[str, Any]]:
    """Tool results first (they must follow the assistant's calls), then the rest.

    Tool messages carry only text, so images a tool returned ride along in the
    user message that follows them.
    """
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            out.append({"role": "tool", "tool_call_id": block.tool_use_id,
                        "content": _result_text(block)})
            images.extend(_image_part(b) for b in block.content if isinstance(b, ImageBlock))
        elif isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            images.append(_image_part(block))
    if images:
        parts = [{"type": "text", "text": t} for t in texts]
        out.append({"role": "user", "content": parts + images})
    elif texts:  # plain strings: several servers accept nothing else
        out.append({"role": "user", "content": "\n\n".join(texts)})
    return out


def _result_text(block: ToolResultBlock) -> str:
    text = block.text
    if any(isinstance(b, ImageBlock) for b in block.content):
        text += "\n(the image is attached in the next user message)"
    if block.is_error:
        text = quirks.error_text(text)
    return text


def _assistant_message(message: Message, provider: str) -> dict[str, Any]:
    """Content is "" rather than null: several servers reject null next to tool_calls."""
    wire: dict[str, Any] = {"role": "assistant", "content": message.text}
    reasoning = "".join(
        b.thinking for b in message.content
        if isinstance(b, ThinkingBlock) and b.origin == provider and not b.redacted
    )
    if reasoning:  # DeepSeek wants its reasoning back within a tool-calling turn
        wire["reasoning_content"] = reasoning
    calls = []
    for use in message.tool_uses:
        call: dict[str, Any] = {
            "id": use.id, "type": "function",
            "function": {"name": use.name, "arguments": json.dumps(use.input, ensure_ascii=False)},
        }
        if use.signature and provider == "gemini":
            call["extra_content"] = {"google": {"thought_signature": use.signature}}
        calls.append(call)
    if calls:
        wire["tool_calls"] = calls
    return wire


# --- response --------------------------------------------------------------------


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    signature: str = ""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, as Mistral-style servers send
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _signature(tool_call: dict[str, Any]) -> str:
    extra = tool_call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    value = google.get("thought_signature") if isinstance(google, dict) else None
    return value if isinstance(value, str) else ""


def token_usage(raw: dict[str, Any] | None) -> TokenUsage:
    """Cached tokens are split out of prompt_tokens: `input_tokens` counts fresh input only."""
    if not raw:
        return TokenUsage()
    prompt = _count(raw.get("prompt_tokens"))
    details = raw.get("prompt_tokens_details")
    cached = (
        _count(details.get("cached_tokens") if isinstance(details, dict) else None)
        or _count(raw.get("prompt_cache_hit_tokens"))  # DeepSeek
        or _count(raw.get("cached_tokens"))  # Moonshot
    )
    fresh = max(prompt - cached, 0)
    if "prompt_cache_miss_tokens" in raw:
        fresh = _count(raw.get("prompt_cache_miss_tokens"))
    return TokenUsage(fresh, _count(raw.get("completion_tokens")), cached)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stream_error(error: Any, endpoint: Endpoint) -> ProviderError:
    """An error the server reported inside a 200 stream (vLLM, OpenRouter and others do)."""
    message = str(error.get("message") or error) if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and 400 <= code < 600:
        return status_error(code, json.dumps({"error": error}), httpx.Headers(), endpoint)
    if too_long(None, f"{message} {code or ''}"):
        return context_too_long(endpoint.provider, scrub(message, endpoint)[:500])
    lowered = message.lower()
    return ProviderError(
        f"{endpoint.provider} failed mid-stream: {scrub(message, endpoint)[:500]}",
        provider=endpoint.provider,
        retryable=any(w in lowered for w in ("overloaded", "rate limit", "try again")),
    )


class _Assembly:
    """One response being put together from its chunks."""

    def __init__(self, endpoint: Endpoint, request: Request, *, text_tools: bool = False) -> None:
        self._endpoint = endpoint
        self._request = request
        self._text_tools = text_tools
        self.spoke = False  # any text, reasoning or call yet: a bare role chunk says nothing
        self._content = quirks.StreamedContent(endpoint.provider, split_think_tags=endpoint.local)
        self._calls: dict[int, _PartialCall] = {}
        self._finish_reason = ""
        self._usage: dict[str, Any] | None = None
        self._model = ""
        self.done = False

    def feed(self, chunk: dict[str, Any]) -> list[ProviderEvent]:
        if chunk.get("error"):
            raise _stream_error(chunk["error"], self._endpoint)
        self._model = chunk.get("model") or self._model
        choices = [c for c in chunk.get("choices") or [] if isinstance(c, dict)]
        usage = chunk.get("usage") or (choices[0].get("usage") if choices else None)
        if isinstance(usage, dict):  # Moonshot puts it in the choice; others send it last
            self._usage = usage
        if not choices:
            return []
        choice = choices[0]
        delta = choice.get("delta") or {}
        events: list[ProviderEvent] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str):
            events += self._content.thinking(reasoning)
        events += self._content.text(_content_text(delta.get("content")))
        for tool_call in delta.get("tool_calls") or []:
            if isinstance(tool_call, dict):
                self._add_call(tool_call)
        self.spoke = self.spoke or bool(events or self._calls)
        if choice.get("finish_reason"):
            self._finish_reason = str(choice["finish_reason"])
            self.done = True
        return events

    def _add_call(self, delta: dict[str, Any]) -> None:
        """Calls are keyed by index; id and name come first, arguments in pieces."""
        index = delta.get("index")
        call_id = delta.get("id") or ""
        if not isinstance(index, int):  # servers that omit it: a new id starts a new call
            known = {c.id: i for i, c in self._calls.items()}
            if call_id in known:
                index = known[call_id]
            else:
                index = len(self._calls) if call_id or not self._calls else max(self._calls)
        call = self._calls.setdefault(index, _PartialCall())
        call.id = call.id or call_id
        function = delta.get("function") or {}
        call.name = call.name or function.get("name") or ""
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments.append(arguments)
        elif isinstance(arguments, dict):
            call.arguments.append(json.dumps(arguments))
        call.signature = _signature(delta) or call.signature

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = list(self._content.flush())
        blocks: list[Block] = self._content.blocks()
        named = [c for _, c in sorted(self._calls.items()) if c.name]
        if len(named) < len(self._calls):
            events.append(Notice(f"{self._endpoint.provider} sent a tool call without a name; "
                                 "it was ignored"))
        blocks += [
            ToolUseBlock(c.id or quirks.new_call_id(), c.name,
                         parse_tool_arguments("".join(c.arguments)), c.signature)
            for c in named
        ]
        if not named and self._request.tools:
            names = [t.name for t in self._request.tools]
            blocks = textcalls.lift_calls(blocks, names, quirks.new_call_id)
        usage = token_usage(self._usage)
        warning = None
        if PROVIDERS[self._endpoint.provider].local:  # cloud APIs refuse a long prompt instead
            estimate = quirks.estimate_prompt_tokens(
                self._request.system, self._request.messages, self._request.tools)
            hint = quirks.context_fix_hint(self._endpoint.provider, self._request.model)
            warning = quirks.truncation_notice(usage.prompt_tokens, estimate, hint)
        if warning:
            events.append(Notice(warning))
        has_calls = any(isinstance(b, ToolUseBlock) for b in blocks)
        stop = "tool_use" if has_calls else _STOP_REASONS.get(self._finish_reason, "end_turn")
        meta = {"provider": self._endpoint.provider, "model": self._model or self._request.model,
                "stop_reason": stop}
        events.append(Response(Message("assistant", tuple(blocks), meta), usage, stop))
        return events
