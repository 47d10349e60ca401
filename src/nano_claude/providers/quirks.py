"""Per-server oddities, in one place, as pure functions.

Chat Completions and Ollama are spoken by dozens of servers that each bend the
protocol a little: local models write their reasoning inside `<think>` tags and
their tool calls as text, OpenAI's reasoning models want a `developer` role, the
Chinese vendors each switch thinking on with their own field, and a local server
with a small context window cuts the front of a long prompt without a word. The
wire modules stay about the wire; everything here is about who is on the other
end. Nothing here does I/O.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

from nano_claude.core.events import TextDelta, ThinkingDelta
from nano_claude.core.messages import (
    Block,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.catalog import ModelInfo

PieceKind = Literal["text", "thinking"]


# --- <think> tags ----------------------------------------------------------------


def _partial_tag(buffer: str, tag: str) -> int:
    """How many characters at the end of `buffer` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(buffer)), 0, -1):
        if buffer.endswith(tag[:size]):
            return size
    return 0


class ThinkSplitter:
    """Separates `<think>…</think>` reasoning from answer text in a content stream.

    Local reasoning models (DeepSeek-R1 distills, Qwen3, QwQ) served without a
    reasoning parser put their thoughts in the content. Tags may be split across
    chunks, so a tail that could be the start of a tag is held back until the next
    chunk decides it. Whitespace hugging the tags is dropped (the models put blank
    lines around them), in a way that does not depend on where chunks split.
    """

    def __init__(self, open_tag: str = "<think>", close_tag: str = "</think>") -> None:
        self._open = open_tag
        self._close = close_tag
        self._inside = False
        self._buffer = ""
        self._held_space = ""  # trailing whitespace inside thinking: dropped if the tag closes
        self._strip_start = False  # just after a tag: drop leading whitespace

    def feed(self, chunk: str) -> list[tuple[PieceKind, str]]:
        self._buffer += chunk
        out: list[tuple[PieceKind, str]] = []
        while True:
            tag = self._close if self._inside else self._open
            at = self._buffer.find(tag)
            if at < 0:
                break
            self._emit(out, self._buffer[:at], segment_ends=True)
            self._buffer = self._buffer[at + len(tag):]
            self._inside = not self._inside
            self._strip_start = True
        keep = _partial_tag(self._buffer, tag)
        cut = len(self._buffer) - keep
        self._emit(out, self._buffer[:cut], segment_ends=False)
        self._buffer = self._buffer[cut:]
        return out

    def flush(self) -> list[tuple[PieceKind, str]]:
        """The held-back tail at the end of the stream (an unclosed tag is just text)."""
        out: list[tuple[PieceKind, str]] = []
        self._emit(out, self._buffer, segment_ends=True)
        self._buffer = ""
        return out

    def _emit(self, out: list[tuple[PieceKind, str]], piece: str, *, segment_ends: bool) -> None:
        if self._strip_start:
            piece = piece.lstrip()
            if piece:
                self._strip_start = False
        if not self._inside:
            if piece:
                out.append(("text", piece))
            return
        piece = self._held_space + piece
        body = piece.rstrip()
        self._held_space = "" if segment_ends else piece[len(body):]
        if body:
            out.append(("thinking", body))


StreamEvent = TextDelta | ThinkingDelta


class StreamedContent:
    """The text and thinking of one response, in arrival order, ready to become blocks.

    `origin` marks reasoning the server sent in its own field (reasoning_content,
    message.thinking) so it can be sent back to the same provider; thinking cut out
    of `<think>` tags gets no origin, since the server never knew it as reasoning.
    """

    def __init__(self, origin: str, split_think_tags: bool) -> None:
        self._origin = origin
        self._splitter = ThinkSplitter() if split_think_tags else None
        self._pieces: list[tuple[PieceKind, str, str]] = []  # kind, text, origin

    def text(self, chunk: str) -> list[StreamEvent]:
        if not chunk:
            return []
        if self._splitter is None:
            return self._add("text", chunk, "")
        return [e for kind, t in self._splitter.feed(chunk) for e in self._add(kind, t, "")]

    def thinking(self, chunk: str) -> list[StreamEvent]:
        return self._add("thinking", chunk, self._origin) if chunk else []

    def flush(self) -> list[StreamEvent]:
        if self._splitter is None:
            return []
        return [e for kind, t in self._splitter.flush() for e in self._add(kind, t, "")]

    def blocks(self) -> list[Block]:
        merged: list[tuple[PieceKind, str, str]] = []
        for kind, text, origin in self._pieces:
            if merged and merged[-1][0] == kind and merged[-1][2] == origin:
                merged[-1] = (kind, merged[-1][1] + text, origin)
            else:
                merged.append((kind, text, origin))
        blocks: list[Block] = []
        for kind, text, origin in merged:
            if kind == "thinking":
                blocks.append(ThinkingBlock(text, origin=origin))
            elif text.strip():  # servers send "\n\n" before tool calls; nobody needs it kept
                blocks.append(TextBlock(text))
        return blocks

    def _add(self, kind: PieceKind, text: str, origin: str) -> list[StreamEvent]:
        self._pieces.append((kind, text, origin))
        return [TextDelta(text) if kind == "text" else ThinkingDelta(text)]


# --- tool calls written as text -----------------------------------------------------


class TextToolCall(NamedTuple):
    name: str
    arguments: dict[str, Any]


_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)
_FENCED = re.compile(r"```[ \t]*(?:json|tool_call|tool_code)?[ \t]*\n(.*?)\n?[ \t]*```", re.S)
_LINE_START_JSON = re.compile(r"(?m)^[ \t]*[{\[]")
_XML_FUNCTION = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|\Z)", re.S)
_XML_PARAMETER = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?</parameter>", re.S)
_NAME_KEYS = ("name", "tool")
_ARGUMENT_KEYS = ("arguments", "parameters", "input", "args")
_ALLOWED_KEYS = frozenset((*_NAME_KEYS, *_ARGUMENT_KEYS, "type", "id"))


def _as_call(obj: Any, names: Collection[str], *, need_arguments: bool) -> TextToolCall | None:
    """A call only if the object looks like nothing but a call to a tool we offered."""
    if not isinstance(obj, dict):
        return None
    function = obj.get("function")
    if isinstance(function, dict) and set(obj) <= {"function", "type", "id"}:
        obj = function  # the OpenAI shape, written out as text
    if set(obj) - _ALLOWED_KEYS:
        return None
    name = obj.get("name", obj.get("tool"))
    if not isinstance(name, str) or name not in names:
        return None
    present = [k for k in _ARGUMENT_KEYS if k in obj]
    if len(present) > 1 or (need_arguments and not present):
        return None
    arguments = obj[present[0]] if present else {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return None
    return TextToolCall(name, arguments) if isinstance(arguments, dict) else None


def _as_calls(obj: Any, names: Collection[str], *, need_arguments: bool) -> list[TextToolCall]:
    items = obj if isinstance(obj, list) and obj else [obj]
    calls = [_as_call(item, names, need_arguments=need_arguments) for item in items]
    return [c for c in calls if c is not None] if all(calls) else []


def _xml_call(fragment: str, names: Collection[str]) -> list[TextToolCall]:
    """Qwen3-Coder's form: <function=Name><parameter=key>value</parameter></function>."""
    match = _XML_FUNCTION.search(fragment)
    if not match or match.group(1) not in names:
        return []
    params = {k: v for k, v in _XML_PARAMETER.findall(match.group(2))}
    return [TextToolCall(match.group(1), params)]


def _tagged(text: str, names: Collection[str]) -> Iterable[tuple[int, int, list[TextToolCall]]]:
    for match in _TAGGED.finditer(text):
        inner = match.group(1).strip()
        try:
            calls = _as_calls(json.loads(inner), names, need_arguments=False)
        except ValueError:
            calls = _xml_call(inner, names)
        if calls:
            yield match.start(), match.end(), calls


def _fenced(text: str, names: Collection[str]) -> Iterable[tuple[int, int, list[TextToolCall]]]:
    for match in _FENCED.finditer(text):
        try:
            calls = _as_calls(json.loads(match.group(1)), names, need_arguments=True)
        except ValueError:
            continue
        if calls:
            yield match.start(), match.end(), calls


def _bare(text: str, names: Collection[str]) -> Iterable[tuple[int, int, list[TextToolCall]]]:
    """JSON calls starting a line, or ending the text: never one quoted mid-sentence."""
    decoder = json.JSONDecoder()
    starts = [m.end() - 1 for m in _LINE_START_JSON.finditer(text)]
    if text.rstrip().endswith(("}", "]")):  # a call may also end the text, after prose
        starts += [i for i, ch in enumerate(text) if ch in "{["]
    seen_end = -1
    for start in sorted(set(starts)):
        if start < seen_end:
            continue
        try:
            obj, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        at_line_start = not text[text.rfind("\n", 0, start) + 1:start].strip()
        if not at_line_start and text[end:].strip():
            continue
        calls = _as_calls(obj, names, need_arguments=True)
        if calls:
            seen_end = end
            yield start, end, calls


def parse_text_tool_calls(
    text: str, tool_names: Collection[str]
) -> tuple[str, list[TextToolCall]]:
    """Recognise tool calls a model wrote as text instead of as structured calls.

    Small local models often do: a bare `{"name": ..., "arguments": {...}}`, Hermes
    and Qwen `<tool_call>` tags, or a fenced JSON block. Only calls to offered tools
    count, and a bare object must stand at the start of a line or end the text,
    so prose that quotes JSON stays prose. Returns the text left over and the calls.
    A template that HTML-escapes the prompt (llama-cpp-python's chatml-function-calling)
    teaches the model `&lt;tool_call&gt;`: such text is read unescaped.
    """
    names = frozenset(tool_names)
    if not names or not text:
        return text, []
    if "&lt;tool_call&gt;" in text:
        text = html.unescape(text)
    found: list[tuple[int, int, list[TextToolCall]]] = []
    for finder in (_tagged, _fenced, _bare):
        for start, end, calls in finder(text, names):
            if all(end <= s or start >= e for s, e, _ in found):
                found.append((start, end, calls))
    if not found:
        return text, []
    found.sort(key=lambda f: f[0])
    rest, cursor = [], 0
    for start, end, _ in found:
        rest.append(text[cursor:start])
        cursor = end
    rest.append(text[cursor:])
    remaining = re.sub(r"\n{3,}", "\n\n", "".join(rest)).strip()
    return remaining, [call for _, _, calls in found for call in calls]


def new_call_id() -> str:
    """For calls that arrive without an id (Ollama, text-written calls)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def function_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool in the OpenAI function shape, which Ollama takes too."""
    return {"type": "function", "function": {
        "name": tool.name, "description": tool.description, "parameters": tool.input_schema,
    }}


def error_text(text: str) -> str:
    """A failed tool result, marked so for servers whose tool messages have no error flag."""
    return text if text.lower().startswith("error") else "Error: " + text


# --- what a server refused --------------------------------------------------------


@dataclass(frozen=True)
class ServerShape:
    """The request shape one server accepts, learned from what it refused.

    Starts as the full protocol; each refusal takes away one thing, so a server
    that cannot stream with tools still streams plain answers. A server found to hide
    tool results from its model (`results_checked`) loses native tools the same way.
    """

    stream_with_tools: bool = True
    native_tools: bool = True
    tool_choice: bool = True
    dropped: frozenset[str] = frozenset()
    results_checked: bool = False  # asked whether the model is shown tool results

    def describe(self) -> str:
        parts = []
        if not self.stream_with_tools:
            parts.append("no streaming with tools")
        if not self.native_tools:
            parts.append("tools described in the prompt")
        if not self.tool_choice:
            parts.append("no tool_choice")
        parts += [f"no {name}" for name in sorted(self.dropped)]
        return ", ".join(parts) or "the full protocol"


class ServerMemory:
    """What each server (by base URL) refused, kept for the rest of the process.

    Learning costs a failed request, so it is done once per server, not once per
    provider object (a model switch or a sub-agent makes a new one).
    """

    def __init__(self) -> None:
        self._shapes: dict[str, ServerShape] = {}

    def get(self, base_url: str) -> ServerShape:
        return self._shapes.get(base_url, ServerShape())

    def learn(self, base_url: str, shape: ServerShape) -> None:
        self._shapes[base_url] = shape


SERVERS = ServerMemory()

# How servers say no: llama-cpp-python ("Automatic streaming tool choice is not supported"),
# vLLM ("\"auto\" tool choice requires --enable-auto-tool-choice"), pydantic-validated servers
# ("Extra inputs are not permitted"), OpenAI ("Unrecognized request argument supplied: x",
# "Unsupported parameter: 'x'"), Ollama ("does not support tools"), Rust servers ("unknown field").
_REFUSALS = (
    "not supported", "unsupported", "does not support", "not permitted", "not allowed",
    "unrecognized", "unknown", "requires", "extra inputs", "extra fields", "invalid",
)
_TOOL_WORDS = ("tool", "function")
_KEPT = frozenset({"model", "messages", "stream", "tools", "tool_choice"})


def _mentions(text: str, key: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", text) is not None


def shape_after_refusal(
    shape: ServerShape, body: dict[str, Any], error: str, *, silent: bool = False
) -> ServerShape | None:
    """The shape to retry in after a server refused `body`, or None if this is no refusal.

    `error` is the server's error text; `silent` marks a streaming request that
    ended without a single chunk, which is how llama-cpp-python's server fails
    when it refuses inside its stream. Order matters: the most specific cause
    is taken away first, so a retry loses as little as possible.
    """
    text = error.lower()
    tools = bool(body.get("tools"))
    streaming = bool(body.get("stream"))
    if silent:
        return replace(shape, stream_with_tools=False) if tools and streaming else None
    if not any(word in text for word in _REFUSALS):
        return None
    names_tools = any(word in text for word in _TOOL_WORDS)
    if tools and streaming and "stream" in text and names_tools:
        return replace(shape, stream_with_tools=False)
    if "tool_choice" in body and ("tool_choice" in text or "tool choice" in text):
        return replace(shape, tool_choice=False)
    if tools and names_tools:
        return replace(shape, native_tools=False)
    refused = {key for key in body if key not in _KEPT and _mentions(text, key.lower())}
    if refused:
        return replace(shape, dropped=shape.dropped | refused)
    return None


# --- request shape ----------------------------------------------------------------


def system_role(provider: str, info: ModelInfo) -> str:
    """OpenAI's reasoning models take instructions as `developer`; everyone else `system`."""
    return "developer" if provider == "openai" and info.reasoning else "system"


def sends_reasoning_effort(provider: str, info: ModelInfo) -> bool:
    """Who understands `reasoning_effort`: OpenAI's reasoning models and Gemini's thinkers."""
    return info.reasoning or (provider == "gemini" and info.thinking)


def thinking_params(provider: str, request: Request) -> dict[str, Any]:
    """Each vendor's own switch for thinking on an OpenAI-compatible endpoint."""
    if not request.thinking:
        return {}
    if provider in ("deepseek", "zhipu"):
        return {"thinking": {"type": "enabled"}}
    if provider == "qwen":
        return {"enable_thinking": True, "thinking_budget": request.thinking_budget}
    return {}


def ollama_think(request: Request) -> bool | str:
    """Ollama's `think`: gpt-oss takes an effort level where other models take a switch."""
    effort = request.reasoning_effort
    if effort and request.model.startswith("gpt-oss") and effort in ("low", "medium", "high"):
        return effort
    return True


# --- tool results a server leaves out -------------------------------------------

# What stands in for each tool result when a server is asked whether it shows them.
PROBE_RESULT = "Probe result: " + "the quick brown fox jumps over the lazy dog; " * 8


def with_results(message: Message, text: str) -> Message:
    """`message` with the content of each of its tool results replaced by `text`."""
    return Message(message.role, tuple(
        replace(b, content=(TextBlock(text),)) if isinstance(b, ToolResultBlock) else b
        for b in message.content))


def sees_tool_results(with_filler: int, without: int, answered: Message) -> bool:
    """Whether a server showed the model the tool results: its prompt counts for
    `answered` with PROBE_RESULT in each result and with empty results must differ by
    about the filler's size (characters / 4, so half of that is plenty)."""
    expected = len(PROBE_RESULT) // 4 * len(answered.tool_results)
    return with_filler - without >= expected // 2


# --- truncated prompts -------------------------------------------------------------


def estimate_prompt_tokens(
    system: str, messages: Iterable[Message], tools: Iterable[ToolSpec]
) -> int:
    """Characters / 4: rough, but a prompt cut in half is far outside its error."""
    chars = len(system)
    for message in messages:
        chars += sum(_block_chars(block) for block in message.content)
    for tool in tools:
        chars += len(tool.name) + len(tool.description) + len(json.dumps(tool.input_schema))
    return chars // 4


def _block_chars(block: Block) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, ThinkingBlock):
        return len(block.thinking)
    if isinstance(block, ToolUseBlock):
        return len(block.name) + len(json.dumps(block.input))
    if isinstance(block, ToolResultBlock):
        return len(block.text)
    return 0  # images: their base64 says nothing about their tokens


def truncation_notice(reported: int, estimate: int, how_to_fix: str) -> str | None:
    """A warning when the server read far less of the prompt than was sent.

    Local servers with a small context window drop the front of the prompt
    silently; the model then forgets its instructions and nobody knows why.
    """
    if reported <= 0 or estimate <= 2000 or reported >= estimate * 0.5:
        return None
    return (
        f"the server used only {reported} of about {estimate} prompt tokens: "
        f"it probably truncated the prompt; {how_to_fix}"
    )


def context_fix_hint(provider: str, model: str) -> str:
    """How to give a server a bigger context window, in its own terms."""
    if provider == "lmstudio":
        return (f"raise its context size: load {model} in LM Studio with a larger "
                "context length (e.g. `lms load <model> --context-length 32768`)")
    if provider == "custom":
        return ("raise its context size (llama.cpp: --ctx-size; vLLM: --max-model-len) "
                "or start a shorter session")
    return "raise its context size or start a shorter session"
