"""Tool calling for models and servers that have none: tools in the prompt, calls in the text.

A server that refuses `tools` (or a model that ignores them) can still use tools
if the system prompt describes them and the answer's text is read back for
calls. The recognised shapes live in `quirks.parse_text_tool_calls` (a bare JSON
object, `<tool_call>` tags, fenced JSON blocks), which every wire module shares;
this module adds what a whole text-only conversation needs: the prompt that
offers the tools, the history written back as text (such servers reject `tool`
messages and `tool_calls`), and a call the model clearly meant but wrote badly
turned into an error result it can fix instead of silently staying prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable

from nano_claude.core.messages import (
    INVALID_JSON_KEY,
    JSON_ERROR_KEY,
    Block,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from nano_claude.providers import quirks
from nano_claude.providers.base import ToolSpec

# A tagged or fenced block left in the text after the well-formed calls were taken out.
_LEFT_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.S)
_LEFT_FENCED = re.compile(r"```[ \t]*(?:json|tool_call)?[ \t]*\n(.*?)\n?[ \t]*```", re.S)
_NAME_FIELD = re.compile(r'"(?:name|tool)"\s*:\s*"([^"]+)"')


def describe_tools(tools: Iterable[ToolSpec]) -> str:
    """The system-prompt section that offers tools to a model without native tool calls.

    The `<tool_call>` form is the one Qwen and Hermes models were trained on, and
    its tags make a call easy to tell apart from JSON the model merely quotes.
    """
    lines = [
        "# Tools",
        "You can call tools. To call one, write a block like this, and nothing after it:",
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as JSON>}}</tool_call>',
        "You may write several blocks to make several calls. The results come back in the "
        "next message, inside <tool_result> tags. Available tools:",
    ]
    for tool in tools:
        schema = json.dumps(tool.input_schema, separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description.strip()} Arguments schema: {schema}")
    return "\n".join(lines)


def call_text(use: ToolUseBlock) -> str:
    """An earlier call, written the way the model was asked to write calls."""
    payload = {"name": use.name, "arguments": use.input}
    return f"<tool_call>{json.dumps(payload, ensure_ascii=False)}</tool_call>"


def result_text(block: ToolResultBlock, name: str) -> str:
    status = ' status="error"' if block.is_error else ""
    return f'<tool_result name="{name}"{status}>\n{block.text}\n</tool_result>'


def history_as_text(messages: Iterable[Message]) -> list[Message]:
    """The conversation with calls and results as plain text, for a server without tools.

    Nothing else changes, so a session that switches to text calls midway keeps
    its whole history, and the prompt stays a prefix of the next one.
    """
    names: dict[str, str] = {}
    out: list[Message] = []
    for message in messages:
        blocks: list[Block] = []
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                blocks.append(TextBlock(call_text(block)))
            elif isinstance(block, ToolResultBlock):
                blocks.append(TextBlock(result_text(block, names.get(block.tool_use_id, "tool"))))
            else:
                blocks.append(block)
        out.append(Message(message.role, tuple(blocks), message.meta))
    return out


def _broken_calls(text: str, names: Collection[str]) -> tuple[str, list[tuple[str, str, str]]]:
    """Tagged or fenced blocks naming one of our tools that did not parse as a call.

    Returns the text without them and (tool name, raw text, problem) for each.
    A fenced block that names no tool of ours is left alone: it is an example
    in the answer, not a call.
    """
    broken: list[tuple[str, str, str]] = []

    def take(match: re.Match[str]) -> str:
        raw = match.group(1)
        named = _NAME_FIELD.search(raw)
        if named is None or named.group(1) not in names:
            return match.group(0)
        broken.append((named.group(1), raw, _problem(raw)))
        return ""

    text = _LEFT_TAGGED.sub(take, text)
    text = _LEFT_FENCED.sub(take, text)
    return text.strip(), broken


def _problem(raw: str) -> str:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return f"not valid JSON: {exc}"
    if isinstance(value, dict):
        return 'expected {"name": ..., "arguments": {...}} with arguments as a JSON object'
    return f"expected a JSON object, got {type(value).__name__}"


def lift_calls(
    blocks: list[Block], tool_names: Collection[str], new_id: Callable[[], str]
) -> list[Block]:
    """Text blocks with the calls written in them turned into ToolUseBlocks, in order.

    A call to one of our tools that cannot be read becomes a call whose input
    carries the raw text and the problem: the registry answers it with an error
    result, so the model sees what was wrong and can call again.
    """
    out: list[Block] = []
    uses: list[Block] = []
    for block in blocks:
        if not isinstance(block, TextBlock):
            out.append(block)
            continue
        remaining, calls = quirks.parse_text_tool_calls(block.text, tool_names)
        remaining, broken = _broken_calls(remaining, tool_names)
        if remaining.strip():
            out.append(TextBlock(remaining))
        uses.extend(ToolUseBlock(new_id(), c.name, c.arguments) for c in calls)
        uses.extend(ToolUseBlock(new_id(), name, {INVALID_JSON_KEY: raw, JSON_ERROR_KEY: problem})
                    for name, raw, problem in broken)
    return out + uses if uses else blocks
