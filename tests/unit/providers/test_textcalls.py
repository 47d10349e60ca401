"""Tool calls written as text: the prompt that offers tools, and calls read back from answers."""

from __future__ import annotations

import itertools

import pytest

from nano_claude.core.messages import Block, TextBlock, ThinkingBlock, ToolUseBlock
from nano_claude.providers import textcalls
from nano_claude.providers.base import ToolSpec
from nano_claude.tools.base import ToolError
from nano_claude.tools.bash import BashTool
from nano_claude.tools.read import ReadTool
from nano_claude.tools.registry import Registry

NAMES = ("Read", "Bash")


def lift(text: str) -> list[Block]:
    ids = (f"call_{n}" for n in itertools.count(1))
    return textcalls.lift_calls([TextBlock(text)], NAMES, lambda: next(ids))


def calls(blocks: list[Block]) -> list[tuple[str, dict]]:
    return [(b.name, b.input) for b in blocks if isinstance(b, ToolUseBlock)]


def texts(blocks: list[Block]) -> list[str]:
    return [b.text for b in blocks if isinstance(b, TextBlock)]


@pytest.mark.parametrize("text", [
    '{"name": "Read", "arguments": {"file_path": "a.py"}}',
    '<tool_call>{"name": "Read", "arguments": {"file_path": "a.py"}}</tool_call>',
    '<tool_call>\n{"name": "Read", "arguments": {"file_path": "a.py"}}\n</tool_call>',
    '```json\n{"name": "Read", "arguments": {"file_path": "a.py"}}\n```',
    '```\n{"name": "Read", "arguments": {"file_path": "a.py"}}\n```',
    '{"name": "Read", "arguments": "{\\"file_path\\": \\"a.py\\"}"}',
    '{"type": "function", "function": {"name": "Read", "arguments": {"file_path": "a.py"}}}',
])
def test_each_written_shape_is_one_call(text: str) -> None:
    blocks = lift(text)
    assert calls(blocks) == [("Read", {"file_path": "a.py"})]
    assert texts(blocks) == []


def test_several_calls_in_one_answer_keep_their_order_and_the_text_around_them() -> None:
    blocks = lift('First I look.\n<tool_call>{"name": "Read", "arguments": {"file_path": "a"}}'
                  '</tool_call>\n<tool_call>{"name": "Bash", "arguments": {"command": "ls"}}'
                  "</tool_call>\nThen I decide.")
    assert calls(blocks) == [("Read", {"file_path": "a"}), ("Bash", {"command": "ls"})]
    assert texts(blocks) == ["First I look.\n\nThen I decide."]
    assert [b.id for b in blocks if isinstance(b, ToolUseBlock)] == ["call_1", "call_2"]


@pytest.mark.parametrize("text", [
    'The config looks like {"name": "Read", "arguments": {"file_path": "a"}} in the docs, see?',
    '{"name": "Write", "arguments": {"file_path": "a"}}',
    '{"name": "Read", "arguments": {"file_path": "a"}, "comment": "why"}',
    '{"name": "Alice", "age": 3}',
    '```json\n{"name": "my-package", "version": "1.0.0"}\n```',
    '```python\nprint({"name": "Read"})\n```',
    "Use <tool_call> tags to call tools.",
    "[1, 2, 3]",
])
def test_json_that_is_not_a_call_of_a_known_tool_stays_text(text: str) -> None:
    blocks = lift(text)
    assert calls(blocks) == []
    assert texts(blocks) == [text]


@pytest.mark.parametrize("text", [
    '<tool_call>{"name": "Read", "arguments": {"file_path": "a.py"</tool_call>',
    '<tool_call>{"name": "Read", "arguments": "file_path=a.py"}</tool_call>',
    '```json\n{"name": "Bash", "arguments": {"command": "ls",}}\n```',
])
def test_a_call_to_a_known_tool_that_cannot_be_read_becomes_an_error_result(text: str) -> None:
    blocks = lift("Let me try.\n" + text)
    assert texts(blocks) == ["Let me try."]
    (use,) = [b for b in blocks if isinstance(b, ToolUseBlock)]
    assert use.name in NAMES
    with pytest.raises(ToolError, match=f"arguments of your {use.name} call were not valid JSON"):
        Registry([ReadTool(), BashTool()]).parse(use.name, use.input)


def test_blocks_other_than_text_are_kept_and_an_answer_without_calls_is_unchanged() -> None:
    blocks: list[Block] = [ThinkingBlock("hmm"), TextBlock("Just an answer.")]
    assert textcalls.lift_calls(blocks, NAMES, lambda: "x") is blocks


def test_the_prompt_names_every_tool_with_its_schema_and_the_call_form() -> None:
    prompt = textcalls.describe_tools([
        ToolSpec("Read", "Read a file.", {"type": "object", "properties": {"file_path": {}}}),
        ToolSpec("Bash", "Run a command.", {"type": "object"}),
    ])
    assert "<tool_call>" in prompt and "</tool_call>" in prompt
    assert '- Read: Read a file. Arguments schema: {"type":"object","properties":{"file_path":{}}}' in prompt
    assert "- Bash: Run a command." in prompt


def test_a_call_written_back_in_the_history_is_read_as_the_same_call() -> None:
    use = ToolUseBlock("call_9", "Bash", {"command": "echo \"hi\""})
    assert calls(lift(textcalls.call_text(use))) == [("Bash", {"command": 'echo "hi"'})]
