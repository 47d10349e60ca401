"""Google Gemini's native generateContent API, spoken over httpx and server-sent events.

Gemini differs from the neutral model in three ways this module absorbs:
function calls carry no id (we make one) and their results are matched by
name; thought signatures ride on parts and must go back on the same parts, or
Gemini 3 refuses to continue a tool call; and tool schemas must be the OpenAPI
subset Gemini accepts, so pydantic's JSON schemas are cleaned first.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource

from nano_claude.core.errors import ProviderError, StreamBroken
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
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.catalog import ModelInfo, lookup
from nano_claude.providers.http import (
    RETRYABLE_STATUS,
    Endpoint,
    HttpProvider,
    context_too_long,
    raise_for_status,
    status_error,
    too_long,
)

ORIGIN = "gemini"
GENERATED_ID_PREFIX = "gemini_call_"  # Gemini sends calls without ids; we make them
# Google's documented stand-in for a function call Gemini did not sign itself
# (history from another provider): without it Gemini 3 rejects the request.
FOREIGN_SIGNATURE = "skip_thought_signature_validator"
_MAX_THINKING_BUDGET = 24_576  # the smallest ceiling among 2.5 models (Flash)
_ANSWER_ROOM = 4096  # thinking counts against maxOutputTokens: leave room to answer
_STOP_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens"}
_REFUSALS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
                       "IMAGE_SAFETY", "LANGUAGE"})


class GeminiProvider(HttpProvider):
    """One Gemini endpoint and key; see the module docstring for what it takes care of."""

    async def _attempt(self, request: Request) -> AsyncIterator[ProviderEvent]:
        body = build_body(request, lookup(self.name, request.model))
        model = request.model.removeprefix("models/")
        # The key goes in a header, never the URL: URLs end up in error messages.
        url = f"{self._endpoint.base_url}/models/{model}:streamGenerateContent?alt=sse"
        headers = {"x-goog-api-key": self._endpoint.api_key, "content-type": "application/json"}
        reader = StreamReader(self.name)
        async with self._http().stream("POST", url, json=body, headers=headers) as response:
            await _raise_for_status(response, self._endpoint)
            async for sse in EventSource(response).aiter_sse():
                for event in reader.feed(sse.data):
                    yield event
        if not reader.finish:
            raise StreamBroken(
                f"{self.name} ended the stream before a finishReason",
                provider=self.name, retryable=True,
            )
        notice = reader.finish_notice()
        if notice is not None:
            yield notice
        yield reader.response()


async def _raise_for_status(response: httpx.Response, endpoint: Endpoint) -> None:
    """Gemini's errors, with its quirks: a bad key is a 400, and 429s say when to retry."""
    if response.status_code < 400:
        return
    body = (await response.aread()).decode("utf-8", "replace")
    if response.status_code == 400 and ("API_KEY_INVALID" in body or "API key not valid" in body):
        raise status_error(401, body, response.headers, endpoint)
    try:
        await raise_for_status(response, endpoint)
    except ProviderError as error:
        if error.retryable and error.retry_after is None:
            error.retry_after = _retry_delay(body)
        raise


def _retry_delay(body: str) -> float | None:
    """The RetryInfo detail Gemini puts in a 429 body ("retryDelay": "37s")."""
    found = re.search(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"', body)
    return float(found.group(1)) if found else None


# --- request -------------------------------------------------------------------


def build_body(request: Request, info: ModelInfo) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": wire_contents(request.messages)}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.thinking and info.can_think:
        budget = min(max(request.thinking_budget, 128), _MAX_THINKING_BUDGET)
        wanted = max(request.max_tokens, budget + _ANSWER_ROOM)
        config["maxOutputTokens"] = max(request.max_tokens, min(wanted, info.max_output))
        config["thinkingConfig"] = {"includeThoughts": True, "thinkingBudget": budget}
    body["generationConfig"] = config
    return body


def _declaration(tool: ToolSpec) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name, "description": tool.description}
    schema = clean_schema(tool.input_schema)
    # Gemini rejects an OBJECT with no properties: a tool without arguments omits them.
    if schema.get("properties"):
        declaration["parameters"] = schema
    return declaration


def wire_contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Neutral messages as Gemini contents, consecutive same-role turns merged."""
    names = {b.id: b.name for m in messages for b in m.tool_uses}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            role, parts = "model", _model_parts(message.content)
        else:
            role, parts = "user", _user_parts(message.content, names)
        if not parts:
            continue  # Gemini rejects a content with no parts
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _model_parts(blocks: tuple[Block, ...]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock) and block.text:
            parts.append({"text": block.text})
        elif isinstance(block, ThinkingBlock):
            _add_thinking(parts, block)
        elif isinstance(block, ToolUseBlock):
            # No id: Gemini pairs calls and responses by name and order, and ids
            # from another provider (or made up by us) mean nothing to it.
            part: dict[str, Any] = {"functionCall": {"name": block.name, "args": block.input}}
            if block.signature:
                part["thoughtSignature"] = block.signature
            parts.append(part)
        elif isinstance(block, ImageBlock):
            parts.append(_inline(block))
    calls = [p for p in parts if "functionCall" in p]
    if calls and not any("thoughtSignature" in p for p in calls):
        calls[0]["thoughtSignature"] = FOREIGN_SIGNATURE
    return parts


def _add_thinking(parts: list[dict[str, Any]], block: ThinkingBlock) -> None:
    """Send back Gemini's signed thoughts; unsigned or foreign thinking means nothing to it."""
    if block.origin != ORIGIN or not block.signature:
        return
    if block.thinking:
        parts.append({"text": block.thinking, "thought": True, "thoughtSignature": block.signature})
    elif parts and "thoughtSignature" not in parts[-1]:
        # A signature that arrived on an answer's text part belongs back on that part.
        parts[-1]["thoughtSignature"] = block.signature


def _user_parts(blocks: tuple[Block, ...], names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []  # a functionResponse holds no images: they follow it
    for block in blocks:
        if isinstance(block, TextBlock) and block.text:
            parts.append({"text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_inline(block))
        elif isinstance(block, ToolResultBlock):
            parts.append(_function_response(block, names))
            images += [_inline(b) for b in block.content if isinstance(b, ImageBlock)]
    return parts + images


def _function_response(block: ToolResultBlock, names: dict[str, str]) -> dict[str, Any]:
    # Gemini matches a response to its call by name; the neutral model keeps only the id.
    name = names.get(block.tool_use_id, block.tool_use_id)
    key = "error" if block.is_error else "content"  # Gemini's documented key for a failure
    return {"functionResponse": {"name": name, "response": {key: block.text}}}


def _inline(block: ImageBlock) -> dict[str, Any]:
    return {"inlineData": {"mimeType": block.media_type, "data": block.data}}


# --- tool schemas --------------------------------------------------------------

# What Gemini's Schema object accepts; everything else (title, default, $schema,
# additionalProperties, examples, ...) is dropped.
_SCHEMA_KEYS = frozenset({
    "type", "format", "description", "nullable", "enum", "items", "properties", "required",
    "anyOf", "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern",
})
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema (as pydantic emits it) reduced to the OpenAPI subset Gemini accepts."""
    return _clean(schema, schema.get("$defs") or schema.get("definitions") or {}, ())


def _clean(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    node, seen = _resolve(node, defs, seen)
    node, seen = _resolve(_flatten_nullable(node), defs, seen)  # `Model | None` is a $ref too
    if "$ref" in node:  # a recursive model: stop at a free-form object
        return {"type": "object", "description": node.get("description", "")}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, seen) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, seen)
        elif key == "anyOf":
            out[key] = [_clean(sub, defs, seen) for sub in value]
        elif key == "enum":
            if all(isinstance(v, str) for v in value):  # Gemini enums are strings only
                out[key] = list(value)
        elif key == "format":
            if value in _FORMATS:
                out[key] = value
        elif key in _SCHEMA_KEYS:
            out[key] = value
    if "const" in node and isinstance(node["const"], str):
        out["enum"] = [node["const"]]
    if out.get("required") and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any],
             seen: tuple[str, ...]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Inline a $ref (or a one-element allOf wrapping one), keeping the outer description.

    `seen` holds the definitions being expanded, so a recursive model ends instead
    of expanding forever.
    """
    node = dict(node)
    all_of = node.pop("allOf", None)
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        node = {**all_of[0], **node}
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node, seen
    name = ref.rsplit("/", 1)[-1]
    if name in seen or name not in defs:
        return node, seen
    outer = {k: v for k, v in node.items() if k != "$ref"}
    return {**defs[name], **outer}, (*seen, name)


def _flatten_nullable(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` becomes X with nullable: Gemini has no null type."""
    kind = node.get("type")
    if isinstance(kind, list):
        rest = [k for k in kind if k != "null"]
        node = {**node, "type": rest[0] if rest else "string"}
        if "null" in kind:
            node["nullable"] = True
    options = node.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
        if len(rest) < len(options):
            node = {k: v for k, v in node.items() if k != "anyOf"}
            node["nullable"] = True
            if len(rest) == 1 and isinstance(rest[0], dict):
                node = {**rest[0], **node}
            elif rest:
                node["anyOf"] = rest
    return node


# --- response ------------------------------------------------------------------


@dataclass
class StreamReader:
    """Folds Gemini's response chunks into deltas for the user and one final Message."""

    provider: str
    finish: str = ""
    finish_message: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    text: list[str] | None = None  # the answer text being streamed
    thought: list[str] | None = None  # the thought summary being streamed

    def feed(self, data: str) -> list[ProviderEvent]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ProviderError(
                f"{self.provider} sent an unreadable stream chunk: {data[:200]!r}",
                provider=self.provider, retryable=True,
            ) from exc
        if "error" in chunk:
            self._raise(chunk["error"] or {})
        self.usage = chunk.get("usageMetadata") or self.usage
        if chunk.get("modelVersion"):
            self.meta["model"] = chunk["modelVersion"]
        candidates = chunk.get("candidates") or []
        if not candidates:
            self._check_blocked(chunk.get("promptFeedback") or {})
            return []
        candidate = candidates[0]
        events: list[ProviderEvent] = []
        for part in (candidate.get("content") or {}).get("parts") or []:
            events += self._part(part)
        if candidate.get("finishReason"):
            self.finish = candidate["finishReason"]
            self.finish_message = candidate.get("finishMessage", "")
        return events

    def _part(self, part: dict[str, Any]) -> list[ProviderEvent]:
        signature = part.get("thoughtSignature", "")
        if "functionCall" in part:
            self._close()
            self.blocks.append(_tool_use(part["functionCall"] or {}, signature))
            return []
        if "text" not in part:
            return []  # code execution, inline data: not part of our model
        text = part["text"] or ""
        if part.get("thought"):
            self._close_text()
            if self.thought is None:
                self.thought = []
            self.thought.append(text)
            if signature:
                self._close_thought(signature)
            return [ThinkingDelta(text)] if text else []
        self._close_thought()
        if self.text is None:
            self.text = []
        self.text.append(text)
        if signature:  # kept after the text it came with, so it goes back on the same part
            self._close_text()
            self.blocks.append(ThinkingBlock("", signature, ORIGIN))
        return [TextDelta(text)] if text else []

    def _close_text(self) -> None:
        if self.text is not None and "".join(self.text):
            self.blocks.append(TextBlock("".join(self.text)))
        self.text = None

    def _close_thought(self, signature: str = "") -> None:
        if "".join(self.thought or []) or signature:
            self.blocks.append(ThinkingBlock("".join(self.thought or []), signature, ORIGIN))
        self.thought = None

    def _close(self) -> None:
        self._close_thought()
        self._close_text()

    def _raise(self, error: dict[str, Any]) -> None:
        code = error.get("code")
        if too_long(code if isinstance(code, int) else None, str(error.get("message", ""))):
            raise context_too_long(self.provider, str(error.get("message", ""))[:500],
                                   status=code if isinstance(code, int) else None,
                                   body=json.dumps(error))
        raise ProviderError(
            f"{self.provider} reported {error.get('status') or code} mid-stream: "
            f"{error.get('message', '')}",
            provider=self.provider, status=code if isinstance(code, int) else None,
            body=json.dumps(error), retryable=code in RETRYABLE_STATUS,
        )

    def _check_blocked(self, feedback: dict[str, Any]) -> None:
        reason = feedback.get("blockReason")
        if reason:
            raise ProviderError(
                f"{self.provider} blocked the prompt ({reason}); rephrase the request",
                provider=self.provider, body=json.dumps(feedback),
            )

    def finish_notice(self) -> Notice | None:
        """Why an answer stopped early, when Gemini's filters or parser stopped it."""
        if self.finish in _STOP_REASONS:
            return None
        detail = f": {self.finish_message}" if self.finish_message else ""
        return Notice(f"{self.provider} stopped the response ({self.finish}){detail}")

    def response(self) -> Response:
        self._close()
        blocks = tuple(self.blocks)
        stop = self._stop_reason(any(isinstance(b, ToolUseBlock) for b in blocks))
        cached = self.usage.get("cachedContentTokenCount", 0)
        prompt = self.usage.get("promptTokenCount", 0) + self.usage.get("toolUsePromptTokenCount", 0)
        usage = TokenUsage(
            input_tokens=max(prompt - cached, 0),
            output_tokens=self.usage.get("candidatesTokenCount", 0)
            + self.usage.get("thoughtsTokenCount", 0),
            cache_read_tokens=cached,
        )
        meta = {"provider": self.provider, **self.meta, "stop_reason": stop}
        return Response(Message("assistant", blocks, meta), usage, stop)

    def _stop_reason(self, called: bool) -> str:
        if self.finish == "STOP" and called:
            return "tool_use"
        if self.finish in _REFUSALS:
            return "refusal"
        return _STOP_REASONS.get(self.finish, self.finish.lower())


def _tool_use(call: dict[str, Any], signature: str) -> ToolUseBlock:
    call_id = call.get("id") or f"{GENERATED_ID_PREFIX}{uuid.uuid4().hex[:16]}"
    return ToolUseBlock(call_id, call.get("name", ""), parse_tool_arguments(call.get("args")), signature)
