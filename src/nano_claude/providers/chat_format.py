"""How the embedded model sees a conversation and writes a tool call, per model family.

Every GGUF carries its own chat template (`tokenizer.chat_template`), rendered as it is.
What differs is how a family was trained to call tools, and a call the grammar forces
into another shape is a call the model does not recognise as its own:

- `json` (SmolLM2, and any template that knows no tools): the tools are described in the
  system message in our words, a call is the bare object `{"name": …, "arguments": …}`,
  and a result comes back as user text naming the call.
- `hermes` (Qwen2.5): the tools go to the template (`tools=`), which lists them in
  `<tools>` and asks for `<tool_call>\\n{…}\\n</tool_call>`; calls are rendered back by the
  template from `tool_calls`, results from `tool` messages (`<tool_response>`).
- `qwen3`: hermes, with the template's `enable_thinking` set false: the generation prompt
  then holds an empty `<think></think>`, and the model answers at once. On a CPU a 4B
  model writes about ten tokens a second; a few hundred thinking tokens before every call
  would cost a minute each.
- `llama3` (Llama 3.2): the tools go to the template in the system message
  (`tools_in_user_message` false: the system message is the cached prefix), a call is
  `{"name": …, "parameters": …}`, one per assistant message, results come back as
  `ipython` messages. It may open a call with its `<|python_tag|>` token: that token
  starts a call, which the grammar then holds to a call.

A native format's call may also come after some text (`marker`): the text stays text, and
from the marker on the grammar holds the rest to a call (`rest_grammar`).

The grammar (providers/grammar.py) holds every family to its own call shape, so a call
rendered back into the history is what the model wrote and llama.cpp reuses its cache.

What comes first in the prompt is what the prefix cache keeps from one start to the
next, so every format puts the tools before the part of our system prompt that changes
between sessions (the date, git status: core/context.py split_volatile). `json` writes
tools, the rest of the system prompt, then that part; Llama's template writes the tools
before the system message, which then ends with it; Qwen's writes the system message
before the tools, so that part goes in a second system message after them. Llama's
header line "Today Date" stands before its tools too: it gets the month the session
started in (the day is in our system prompt), so the tools' prefix lasts a month, and a
session that runs past midnight keeps its prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from nano_claude.core.context import split_volatile
from nano_claude.core.messages import (
    INVALID_JSON_KEY,
    JSON_ERROR_KEY,
    Block,
    ImageBlock,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.grammar import call_json, call_rest_grammar, drop_null, tool_call_grammar

DEFAULT_SYSTEM = "You are a helpful AI assistant."


@dataclass(frozen=True)
class ToolFormat:
    name: str
    native: bool  # the tools and calls go through the model's own chat template
    wrap: tuple[str, str] = ("", "")
    key: str = "arguments"
    one_call_per_message: bool = False
    template_vars: dict[str, Any] = field(default_factory=dict)
    call_prefix: str = ""  # a special token the model may write before a call (Llama's <|python_tag|>)
    system_before_tools: bool = False  # the template writes the system message, then the tools
    dated: bool = False  # the template writes today's date before the tools unless given `date_string`

    @property
    def call_start(self) -> str:
        """The first character of a call; text never starts with it (the grammar's rule)."""
        return (self.wrap[0] or "{")[:1]

    def starts_call(self, piece: bytes) -> bool:
        """Whether a first token (its text, special tokens included) starts a call."""
        prefixed = bool(self.call_prefix) and piece.strip() == self.call_prefix.encode()
        return prefixed or piece.startswith(self.call_start.encode())

    def grammar(self, tools: Sequence[ToolSpec]) -> str:
        return tool_call_grammar(tools, wrap=self.wrap, key=self.key)

    @property
    def marker(self) -> str:
        """What opens a call in the middle of an answer: Qwen writes a sentence, then
        `\\n<tool_call>`; Llama may write `<|python_tag|>`. Our json format has none: a `{`
        in prose is no call."""
        return self.call_prefix or self.wrap[0].strip()

    def rest_grammar(self, tools: Sequence[ToolSpec], written: str) -> str | None:
        """The grammar of what follows the marker, once the model wrote it and then
        `written`: the rest of a call, nothing else; None if no call starts so."""
        opening = self.wrap[0]
        after = opening[opening.index(self.marker) + len(self.marker):] if self.marker in opening else opening
        return call_rest_grammar(tools, opening=after, closing=self.wrap[1], key=self.key, written=written)

    def call_text(self, name: str, arguments: dict[str, Any]) -> str:
        return self.wrap[0] + call_json(name, arguments, self.key) + self.wrap[1]

    def parse(self, text: str) -> tuple[str, dict[str, Any]]:
        """(name, arguments) of a call the model wrote; ValueError/KeyError/TypeError if it is not one."""
        body = text.strip()
        if self.call_prefix:
            body = body.removeprefix(self.call_prefix).strip()
        opening, closing = self.wrap[0].strip(), self.wrap[1].strip()
        if opening and body.startswith(opening):
            body = body[len(opening):]
        if closing and body.endswith(closing):
            body = body[: -len(closing)]
        data = json.loads(body)
        return data["name"], dict(data[self.key])


FORMATS: dict[str, ToolFormat] = {f.name: f for f in (
    ToolFormat("json", native=False),
    ToolFormat("hermes", native=True, wrap=("<tool_call>\n", "\n</tool_call>"), system_before_tools=True),
    ToolFormat("qwen3", native=True, wrap=("<tool_call>\n", "\n</tool_call>"),
               template_vars={"enable_thinking": False}, system_before_tools=True),
    ToolFormat("llama3", native=True, key="parameters", one_call_per_message=True,
               template_vars={"tools_in_user_message": False}, call_prefix="<|python_tag|>", dated=True),
)}


def detect(template: str | None) -> ToolFormat:
    """The format a chat template was written for, for a GGUF outside the curated list."""
    text = template or ""
    if "<tool_call>" in text:
        return FORMATS["qwen3" if "enable_thinking" in text else "hermes"]
    if "<|start_header_id|>" in text and "ipython" in text and "tools" in text:
        return FORMATS["llama3"]
    return FORMATS["json"]


def render_args(fmt: ToolFormat, request: Request, started: date | None = None) -> dict[str, Any]:
    """What the chat template is rendered with, besides the tokens and the generation prompt.
    `started`: the day the session started, for a template that writes the date (default today)."""
    if not fmt.native:
        return {"messages": chat_messages(request)}
    tools = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                               "parameters": t.input_schema}} for t in request.tools]
    dated = {"date_string": (started or date.today()).strftime("%B %Y")} if fmt.dated else {}
    return {"messages": template_messages(fmt, request), "tools": tools or None, **fmt.template_vars, **dated}


def system_parts(request: Request) -> tuple[str, str]:
    """The system prompt as (the part that stays from one session to the next, the part
    that does not), the second empty when there is none to move."""
    text = request.system.strip() or DEFAULT_SYSTEM
    stable, volatile = split_volatile(text)
    return (stable, volatile) if stable else (text, "")


# --- the json format: everything in our own words ---------------------------------


def chat_messages(request: Request) -> list[dict[str, str]]:
    """The request as the plain role/content messages a chat template takes.

    Calls are written as the JSON the model itself writes, results as user text
    that names the call; thinking from other providers is dropped.
    """
    names: dict[str, str] = {}
    messages = [{"role": "system", "content": system_text(request)}]
    for message in request.messages:
        parts: list[str] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                parts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                parts.append(_call_text(block))
            elif isinstance(block, ToolResultBlock):
                parts.append(_result_text(block, names.get(block.tool_use_id, "tool")))
            elif isinstance(block, ImageBlock):
                parts.append("[an image was attached; this model cannot see images]")
        messages.append({"role": message.role, "content": "\n\n".join(parts)})
    return messages


def _call_text(block: ToolUseBlock) -> str:
    raw = block.input.get(INVALID_JSON_KEY)
    return raw if isinstance(raw, str) else call_json(block.name, block.input)


def _result_text(block: ToolResultBlock, name: str) -> str:
    label = "Error from" if block.is_error else "Result of"
    return f"{label} {name} call {block.tool_use_id}:\n{_result_body(block)}"


def _result_body(block: ToolResultBlock) -> str:
    images = sum(isinstance(b, ImageBlock) for b in block.content)
    return block.text + (f"\n[{images} image(s) omitted]" if images else "")


def system_text(request: Request) -> str:
    """The system message: the tools, the system prompt, and last the part of it that
    changes between sessions, so the prefix cache keeps the rest when the prompt's date
    or git status has changed."""
    base = "\n\n".join(part for part in system_parts(request) if part)
    return f"{describe_tools(request.tools)}\n\n{base}" if request.tools else base


def describe_tools(tools: Sequence[ToolSpec]) -> str:
    lines = [
        "# Tools",
        "To use a tool, reply with only a JSON object, nothing before or after it:",
        '{"name": "<tool name>", "arguments": {<arguments>}}',
        f"For example: {call_json(tools[0].name, _example_arguments(tools[0].input_schema))}",
        "You then get the tool's result and may use another tool or answer. "
        "To answer, reply in plain text.",
        "",
        "Available tools:",
    ]
    for tool in tools:
        summary = tool.description.strip().split("\n", 1)[0]
        lines.append(f"- {tool.name}: {summary}")
        args = _describe_arguments(tool.input_schema)
        if args:
            lines.append(f"  arguments: {args}")
    return "\n".join(lines)


def _describe_arguments(schema: dict[str, Any]) -> str:
    required = set(schema.get("required") or ())
    defs = schema.get("$defs") or schema.get("definitions") or {}
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        kind = _type_name(drop_null(sub) if name not in required else sub, defs)
        out.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(out)


def _type_name(schema: Any, defs: dict[str, Any], depth: int = 0) -> str:
    if not isinstance(schema, dict) or depth > 3:
        return "any"
    if isinstance(schema.get("$ref"), str):
        return _type_name(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs, depth + 1)
    if isinstance(schema.get("enum"), list):
        return "one of " + " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " or ".join(_type_name(s, defs, depth + 1) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {_type_name(schema.get('items'), defs, depth + 1)}"
    return str(kind or ("object" if "properties" in schema else "any"))


def _example_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    samples = {"string": "...", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    properties = schema.get("properties") or {}
    return {name: samples.get(str(properties[name].get("type")), "...")
            for name in schema.get("required") or () if isinstance(properties.get(name), dict)}


# --- native formats: the model's own template does the tools --------------------------


def template_messages(fmt: ToolFormat, request: Request) -> list[dict[str, Any]]:
    """OpenAI-shaped messages, as Hugging Face chat templates take them: calls in an
    assistant message's `tool_calls` (arguments as objects), results as `tool` messages."""
    stable, volatile = system_parts(request)
    if fmt.system_before_tools and volatile:  # after the tools, which the template puts after the first
        out: list[dict[str, Any]] = [{"role": "system", "content": stable},
                                     {"role": "system", "content": volatile}]
    else:
        out = [{"role": "system", "content": "\n\n".join(part for part in (stable, volatile) if part)}]
    for message in request.messages:
        if message.role == "assistant":
            out.extend(_assistant(fmt, message.content))
        else:
            out.extend(_user(message.content))
    return out


def _assistant(fmt: ToolFormat, blocks: Sequence[Block]) -> list[dict[str, Any]]:
    texts, calls = [], []
    for block in blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            raw = block.input.get(INVALID_JSON_KEY)
            if isinstance(raw, str):  # a call cut off mid-way: what the model wrote, as text
                texts.append(raw)
            else:
                calls.append({"type": "function", "id": block.id,
                              "function": {"name": block.name, "arguments": block.input}})
    message: dict[str, Any] = {"role": "assistant", "content": "\n\n".join(texts)}
    if not calls:
        return [message]
    if not fmt.one_call_per_message:
        return [{**message, "tool_calls": calls}]
    first = [message] if message["content"] else []
    return [*first, *({"role": "assistant", "content": "", "tool_calls": [call]} for call in calls)]


def _user(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, ToolResultBlock):
            body = _result_body(block)
            results.append({"role": "tool", "tool_call_id": block.tool_use_id,
                            "content": f"Error: {body}" if block.is_error else body})
        elif isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, ImageBlock):
            parts.append("[an image was attached; this model cannot see images]")
    return [*results, *([{"role": "user", "content": "\n\n".join(parts)}] if parts else [])]


# --- reading a call back ------------------------------------------------------------------


def call_block(fmt: ToolFormat, text: str, request: Request, stop_reason: str) -> tuple[Block, str]:
    """The model's call as a ToolUseBlock. Ids count the calls in the history, so they
    stay unique across a resumed session. A call cut off by max_tokens goes to the
    registry as invalid JSON, which answers with an error the model can act on."""
    call_id = f"call_{sum(len(m.tool_uses) for m in request.messages) + 1}"
    try:
        name, arguments = fmt.parse(text)
        return ToolUseBlock(call_id, name, arguments), "tool_use"
    except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        found = re.search(r'\{"name": ("(?:[^"\\]|\\.)*")', text)
        name = json.loads(found.group(1)) if found else None
        if name not in {t.name for t in request.tools}:
            return TextBlock(text), stop_reason
        problem = f"the call was cut off by the output token limit ({exc})"
        return ToolUseBlock(call_id, name, {INVALID_JSON_KEY: text, JSON_ERROR_KEY: problem}), stop_reason
