"""The one neutral conversation model.

Every provider translates to and from these values at its edge; the loop, the
transcript and the UI only ever see them. The JSON form mirrors Anthropic's
content blocks because that shape is the richest and best known, but it is
ours: provider-specific leftovers (thought signatures, reasoning content) live
in explicit fields so they survive a round trip and can be sent back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]

# A provider that receives tool arguments it cannot parse as JSON puts them in the
# call's input under these keys; the registry answers with an error the model can fix.
INVALID_JSON_KEY = "__invalid_json__"
JSON_ERROR_KEY = "__error__"


@dataclass(frozen=True)
class TextBlock:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ThinkingBlock:
    """Model reasoning. `signature` and `origin` let the provider that made it verify it
    when it is sent back (Anthropic signatures, DeepSeek reasoning_content)."""

    thinking: str
    signature: str = ""
    origin: str = ""
    redacted: bool = False
    type: Literal["thinking"] = "thinking"


@dataclass(frozen=True)
class ToolUseBlock:
    """A call the model made. `signature` carries Gemini's thought_signature."""

    id: str
    name: str
    input: dict[str, Any]
    signature: str = ""
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True)
class ImageBlock:
    media_type: str
    data: str  # base64
    type: Literal["image"] = "image"


@dataclass(frozen=True)
class ToolResultBlock:
    tool_use_id: str
    content: tuple[TextBlock | ImageBlock, ...]
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock))


Block = TextBlock | ThinkingBlock | ToolUseBlock | ImageBlock | ToolResultBlock


@dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[Block, ...]
    # Provider-reported facts about an assistant message (model id, stop reason).
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    @property
    def tool_results(self) -> list[ToolResultBlock]:
        return [b for b in self.content if isinstance(b, ToolResultBlock)]


def parse_tool_arguments(raw: Any) -> dict[str, Any]:
    """A call's arguments, or a marker (INVALID_JSON_KEY) the registry turns into an
    error result the model can fix.

    Models do emit broken JSON (cut off by max_tokens, unescaped quotes); failing
    the whole turn for it would lose the rest of the answer.
    """
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):  # a list or a number where an object belongs
        raw = json.dumps(raw)
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return {INVALID_JSON_KEY: raw, JSON_ERROR_KEY: str(exc)}
    if not isinstance(value, dict):
        return {INVALID_JSON_KEY: raw,
                JSON_ERROR_KEY: f"expected a JSON object, got {type(value).__name__}"}
    return value


def user_text(text: str) -> Message:
    return Message("user", (TextBlock(text),))


def tool_result(tool_use_id: str, text: str, *, is_error: bool = False) -> ToolResultBlock:
    return ToolResultBlock(tool_use_id, (TextBlock(text),), is_error)


# --- JSON form ---------------------------------------------------------------


def block_to_dict(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        d: dict[str, Any] = {"type": "thinking", "thinking": block.thinking}
        if block.signature:
            d["signature"] = block.signature
        if block.origin:
            d["origin"] = block.origin
        if block.redacted:
            d["redacted"] = True
        return d
    if isinstance(block, ToolUseBlock):
        d = {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
        if block.signature:
            d["signature"] = block.signature
        return d
    if isinstance(block, ImageBlock):
        return {"type": "image", "media_type": block.media_type, "data": block.data}
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": [block_to_dict(b) for b in block.content],
        "is_error": block.is_error,
    }


def block_from_dict(d: dict[str, Any]) -> Block:
    kind = d.get("type")
    if kind == "text":
        return TextBlock(d["text"])
    if kind == "thinking":
        return ThinkingBlock(
            d.get("thinking", ""), d.get("signature", ""), d.get("origin", ""),
            bool(d.get("redacted", False)),
        )
    if kind == "tool_use":
        return ToolUseBlock(d["id"], d["name"], dict(d.get("input") or {}), d.get("signature", ""))
    if kind == "image":
        return ImageBlock(d["media_type"], d["data"])
    if kind == "tool_result":
        inner = tuple(block_from_dict(b) for b in d.get("content", []))
        return ToolResultBlock(d["tool_use_id"], inner, bool(d.get("is_error", False)))  # type: ignore[arg-type]
    raise ValueError(f"unknown content block type {kind!r}")


def message_to_dict(message: Message) -> dict[str, Any]:
    d: dict[str, Any] = {
        "role": message.role,
        "content": [block_to_dict(b) for b in message.content],
    }
    if message.meta:
        d["meta"] = message.meta
    return d


def message_from_dict(d: dict[str, Any]) -> Message:
    if d.get("role") not in ("user", "assistant"):
        raise ValueError(f"unknown message role {d.get('role')!r}")
    content = d.get("content", [])
    if isinstance(content, str):
        blocks: tuple[Block, ...] = (TextBlock(content),)
    else:
        blocks = tuple(block_from_dict(b) for b in content)
    return Message(d["role"], blocks, dict(d.get("meta") or {}))


def dumps(message: Message) -> str:
    return json.dumps(message_to_dict(message), ensure_ascii=False)


def loads(text: str) -> Message:
    return message_from_dict(json.loads(text))
