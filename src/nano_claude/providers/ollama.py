"""Ollama's native /api/chat over plain httpx (NDJSON stream).

Why not Ollama's OpenAI-compatible endpoint: only the native API lets us set
`num_ctx`. Left unset, Ollama runs with a small default window and silently drops
the front of a long prompt, which loses the system prompt first. So each model is
asked once (/api/show) how long its window is and what it can do, and every
request carries an explicit `num_ctx`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from nano_claude.config import Settings
from nano_claude.core.errors import ProviderError, StreamBroken
from nano_claude.core.events import Notice, ProviderEvent, Response, TokenUsage
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
from nano_claude.providers import quirks, textcalls
from nano_claude.providers.base import Request
from nano_claude.providers.http import (
    Endpoint,
    HttpProvider,
    RetryPolicy,
    context_too_long,
    raise_for_status,
    scrub,
    too_long,
)

_NUM_CTX_PARAMETER = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


@dataclass(frozen=True)
class ModelFacts:
    """What /api/show told us about a model; None where it did not say."""

    window: int | None = None
    capabilities: frozenset[str] | None = None

    def can(self, capability: str) -> bool:
        return self.capabilities is None or capability in self.capabilities


def facts_from_show(data: Any) -> ModelFacts:
    """The trained window (model_info "<arch>.context_length", else parameters num_ctx)."""
    if not isinstance(data, dict):
        return ModelFacts()
    info = data.get("model_info")
    window = None
    if isinstance(info, dict):
        arch = info.get("general.architecture")
        window = _positive(info.get(f"{arch}.context_length"))
        if window is None:
            window = next((_positive(v) for k, v in info.items()
                           if k.endswith(".context_length") and _positive(v)), None)
    parameters = data.get("parameters")
    if window is None and isinstance(parameters, str):
        match = _NUM_CTX_PARAMETER.search(parameters)
        window = int(match.group(1)) if match else None
    capabilities = data.get("capabilities")
    caps = (frozenset(c for c in capabilities if isinstance(c, str))
            if isinstance(capabilities, list) else None)
    return ModelFacts(window, caps)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class OllamaProvider(HttpProvider):
    """Streams /api/chat; retries, error mapping and key scrubbing come from `http`."""

    def __init__(
        self, endpoint: Endpoint, settings: Settings, retry: RetryPolicy,
        *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(endpoint, settings, retry, sleep=sleep)
        self._facts: dict[str, ModelFacts] = {}

    async def context_window(self, model: str) -> int | None:
        """The num_ctx this provider sends for `model`: min(trained window, ollama_max_ctx)."""
        return self._num_ctx(await self.model_facts(model))

    def _num_ctx(self, facts: ModelFacts) -> int:
        limit = self._settings.ollama_max_ctx
        return min(facts.window, limit) if facts.window else limit

    async def model_facts(self, model: str) -> ModelFacts:
        """Asked once per model; a failed probe only means we assume less."""
        if model not in self._facts:
            try:
                response = await self._http().post(
                    f"{self._endpoint.base_url}/api/show", json={"model": model},
                    headers=self._bearer(), timeout=10.0)
            except httpx.HTTPError:
                return ModelFacts()  # not remembered: the server may be starting up
            if response.status_code == 404:
                return ModelFacts()  # not pulled yet: ask again once it may have been
            try:
                data = response.json() if response.status_code < 400 else None
            except ValueError:
                data = None
            self._facts[model] = facts_from_show(data)
        return self._facts[model]

    async def _attempt(self, request: Request) -> AsyncIterator[ProviderEvent]:
        facts = await self.model_facts(request.model)
        num_ctx = self._num_ctx(facts)
        body = request_body(request, facts, num_ctx, self._settings.ollama_keep_alive, self.name,
                            text_calls=self._text_calls(request.model))
        assembly = _Assembly(self._endpoint, request, num_ctx)
        url = f"{self._endpoint.base_url}/api/chat"
        async with self._http().stream("POST", url, json=body, headers=self._bearer()) as response:
            await self._check_status(response, request.model)
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                for event in assembly.feed(_line(line, self._endpoint, request.model)):
                    yield event
                if assembly.done:
                    break
        if not assembly.done:
            raise StreamBroken(
                f"{self.name}: the stream ended before the response was complete",
                provider=self.name, retryable=True,
            )
        for event in assembly.finish():
            yield event

    async def _check_status(self, response: httpx.Response, model: str) -> None:
        try:
            await raise_for_status(response, self._endpoint)
        except ProviderError as exc:
            if exc.status == 404 and "not found" in exc.body.lower():
                raise missing_model(model, self._endpoint) from exc
            raise


def missing_model(model: str, endpoint: Endpoint) -> ProviderError:
    return ProviderError(
        f"ollama has no model {model!r}: run `ollama pull {model}` (or pick one from "
        "`ollama list`)",
        provider=endpoint.provider, status=404,
    )


def _line(line: str, endpoint: Endpoint, model: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise StreamBroken(f"{endpoint.provider} sent an unreadable line: {line[:200]}",
                           provider=endpoint.provider, retryable=True) from exc
    if not isinstance(data, dict):
        raise StreamBroken(f"{endpoint.provider} sent an unexpected line: {line[:200]}",
                           provider=endpoint.provider, retryable=True)
    error = data.get("error")
    if error:
        text = scrub(str(error), endpoint)
        if "not found" in text.lower() and "model" in text.lower():
            raise missing_model(model, endpoint)
        if too_long(None, text):
            raise context_too_long(endpoint.provider, text[:500], body=text)
        raise ProviderError(f"{endpoint.provider} failed: {text[:500]}", provider=endpoint.provider,
                            body=text)
    return data


# --- request ---------------------------------------------------------------------


def request_body(request: Request, facts: ModelFacts, num_ctx: int, keep_alive: str,
                 provider: str, *, text_calls: bool = False) -> dict[str, Any]:
    """With `text_calls`, or for a model Ollama says cannot take tools, the tools ride in
    the system prompt and calls and results in the text."""
    native_tools = facts.can("tools") and not text_calls
    system = request.system
    messages: tuple[Message, ...] | list[Message] = request.messages
    if request.tools and not native_tools:  # the server would refuse `tools`: offer them as text
        system = (system + "\n\n" if system else "") + textcalls.describe_tools(request.tools)
        messages = textcalls.history_as_text(request.messages)
    options: dict[str, Any] = {"num_predict": request.max_tokens, "num_ctx": num_ctx}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    body: dict[str, Any] = {
        "model": request.model,
        "messages": wire_messages(system, messages, provider),
        "stream": True,
        "keep_alive": keep_alive,
        "options": options,
    }
    if request.tools and native_tools:
        body["tools"] = [quirks.function_tool(t) for t in request.tools]
    if request.thinking and facts.can("thinking"):
        body["think"] = quirks.ollama_think(request)
    return body


def wire_messages(system: str, messages: Iterable[Message], provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    names: dict[str, str] = {}  # tool_use_id -> tool name: Ollama matches results by name
    for message in messages:
        if message.role == "assistant":
            names.update((u.id, u.name) for u in message.tool_uses)
            out.append(_assistant_message(message, provider))
        else:
            out.extend(_user_messages(message, names))
    return out


def _assistant_message(message: Message, provider: str) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": "assistant", "content": message.text}
    thinking = "".join(b.thinking for b in message.content
                       if isinstance(b, ThinkingBlock) and b.origin == provider)
    if thinking:  # gpt-oss and friends keep reasoning across a tool-calling turn
        wire["thinking"] = thinking
    if message.tool_uses:
        wire["tool_calls"] = [{"function": {"name": u.name, "arguments": u.input}}
                              for u in message.tool_uses]
    return wire


def _user_messages(message: Message, names: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    texts: list[str] = []
    images: list[str] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            out.append(_result(block, names.get(block.tool_use_id, "")))
        elif isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            images.append(block.data)
    if texts or images:
        user: dict[str, Any] = {"role": "user", "content": "\n\n".join(texts)}
        if images:
            user["images"] = images
        out.append(user)
    return out


def _result(block: ToolResultBlock, name: str) -> dict[str, Any]:
    text = quirks.error_text(block.text) if block.is_error else block.text
    result: dict[str, Any] = {"role": "tool", "content": text}
    if name:
        result["tool_name"] = name
    images = [b.data for b in block.content if isinstance(b, ImageBlock)]
    if images:
        result["images"] = images
    return result


# --- response --------------------------------------------------------------------


class _Assembly:
    """One response being put together from its NDJSON lines."""

    def __init__(self, endpoint: Endpoint, request: Request, num_ctx: int) -> None:
        self._endpoint = endpoint
        self._request = request
        self._num_ctx = num_ctx
        self._content = quirks.StreamedContent(endpoint.provider, split_think_tags=True)
        self._uses: list[ToolUseBlock] = []
        self._final: dict[str, Any] = {}
        self.done = False

    def feed(self, data: dict[str, Any]) -> list[ProviderEvent]:
        message = data.get("message") or {}
        events: list[ProviderEvent] = []
        thinking = message.get("thinking")
        if isinstance(thinking, str):
            events += self._content.thinking(thinking)
        content = message.get("content")
        if isinstance(content, str):
            events += self._content.text(content)
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("name"):
                self._uses.append(_tool_use(call, function))
        if data.get("done"):
            self._final = data
            self.done = True
        return events

    def finish(self) -> list[ProviderEvent]:
        events: list[ProviderEvent] = list(self._content.flush())
        blocks: list[Block] = self._content.blocks() + list(self._uses)
        if not self._uses and self._request.tools:
            names = [t.name for t in self._request.tools]
            blocks = textcalls.lift_calls(blocks, names, quirks.new_call_id)
        usage = _usage(self._final)
        warning = self._truncation(usage.prompt_tokens)
        if warning:
            events.append(Notice(warning))
        has_calls = any(isinstance(b, ToolUseBlock) for b in blocks)
        reason = self._final.get("done_reason")
        stop = "tool_use" if has_calls else ("max_tokens" if reason == "length" else "end_turn")
        meta = {"provider": self._endpoint.provider,
                "model": self._final.get("model") or self._request.model, "stop_reason": stop}
        events.append(Response(Message("assistant", tuple(blocks), meta), usage, stop))
        return events

    def _truncation(self, reported: int) -> str | None:
        """Only when the prompt plausibly overflowed num_ctx.

        Ollama before 0.30 counts only the tokens it evaluated, so a follow-up that
        reuses the cached prefix reports a small number without any truncation.
        """
        estimate = quirks.estimate_prompt_tokens(
            self._request.system, self._request.messages, self._request.tools)
        if estimate < self._num_ctx * 0.75:
            return None
        hint = (f"raise `ollama_max_ctx` (now {self._num_ctx}) if the model and your memory "
                "allow, or start a shorter session")
        return quirks.truncation_notice(reported, estimate, hint)


def _tool_use(call: dict[str, Any], function: dict[str, Any]) -> ToolUseBlock:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        arguments = parse_tool_arguments(arguments)
    elif not isinstance(arguments, dict):
        arguments = {}
    call_id = call.get("id")
    return ToolUseBlock(call_id if isinstance(call_id, str) and call_id else quirks.new_call_id(),
                        str(function["name"]), arguments)


def _usage(final: dict[str, Any]) -> TokenUsage:
    """prompt_eval_count includes cached tokens; newer servers say how many were cached."""
    prompt = _positive(final.get("prompt_eval_count")) or 0
    cached = min(_positive(final.get("prompt_eval_cached_count")) or 0, prompt)
    return TokenUsage(prompt - cached, _positive(final.get("eval_count")) or 0, cached)
