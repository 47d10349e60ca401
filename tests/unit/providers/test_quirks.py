"""Server quirks: <think> splitting, text-written tool calls, request shaping, truncation."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from nano_claude.core.events import TextDelta, ThinkingDelta
from nano_claude.core.messages import (
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    parse_tool_arguments,
    user_text,
)
from nano_claude.providers import quirks, textcalls
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.catalog import lookup

TOOLS = ("Read", "Bash", "Edit")


def split(chunks: list[str]) -> list[tuple[str, str]]:
    """Run the splitter over chunks and merge neighbouring pieces of the same kind."""
    splitter = quirks.ThinkSplitter()
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)] + splitter.flush()
    merged: list[tuple[str, str]] = []
    for kind, text in pieces:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


# --- <think> splitter ------------------------------------------------------------


def test_think_tags_separate_thinking_from_the_answer():
    assert split(["<think>\nplan the edit\n</think>\n\nDone."]) == [
        ("thinking", "plan the edit"), ("text", "Done."),
    ]


def test_text_before_and_after_the_thinking_stays_text():
    assert split(["Sure. <think>hmm</think>Here it is"]) == [
        ("text", "Sure. "), ("thinking", "hmm"), ("text", "Here it is"),
    ]


def test_tags_split_across_chunks_are_still_recognised():
    assert split(["<th", "ink>a", "b</thi", "nk>c"]) == [("thinking", "ab"), ("text", "c")]


def test_a_partial_tag_is_held_back_until_the_next_chunk_decides():
    splitter = quirks.ThinkSplitter()
    assert splitter.feed("x <thi") == [("text", "x ")]
    assert splitter.feed("s is not a tag") == [("text", "<this is not a tag")]


def test_an_unfinished_tag_at_the_end_of_the_stream_is_text():
    assert split(["answer <thi"]) == [("text", "answer <thi")]


def test_unclosed_thinking_at_the_end_of_the_stream_is_thinking():
    assert split(["<think>still going  "]) == [("thinking", "still going")]


def test_text_without_tags_passes_through_untouched():
    assert split(["  a < b and c > d\n"]) == [("text", "  a < b and c > d\n")]


_FRAGMENTS = st.sampled_from(
    ["<think>", "</think>", "<", ">", "<th", "ink>", "</", "think", " ", "\n", "a", "b c", "é"]
)


@given(st.lists(_FRAGMENTS, max_size=30).map("".join), st.data())
def test_any_chunking_of_the_stream_gives_the_same_result(text: str, data: st.DataObject):
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert split(chunks) == split([text])


_PLAIN = st.text(st.characters(exclude_characters="<"), max_size=40)


@given(_PLAIN, _PLAIN, _PLAIN)
def test_one_think_block_splits_into_its_three_parts(before: str, inside: str, after: str):
    pieces = split(list(f"{before}<think>{inside}</think>{after}"))  # one character per chunk
    expected = [("text", before)] if before else []
    expected += [("thinking", inside.strip())] if inside.strip() else []
    if after.lstrip():
        if expected and expected[-1][0] == "text":
            expected[-1] = ("text", expected[-1][1] + after.lstrip())
        else:
            expected.append(("text", after.lstrip()))
    assert pieces == expected


@given(_PLAIN)
def test_text_without_a_tag_passes_through_whatever_the_chunking(text: str):
    assert split(list(text)) == ([("text", text)] if text else [])


def test_streamed_content_makes_blocks_and_marks_only_server_reasoning_with_origin():
    content = quirks.StreamedContent("deepseek", split_think_tags=True)
    events = content.thinking("server reasoning") + content.text("<think>tagged</think>Answer")
    events += content.flush()
    assert events == [ThinkingDelta("server reasoning"), ThinkingDelta("tagged"),
                      TextDelta("Answer")]
    assert content.blocks() == [ThinkingBlock("server reasoning", origin="deepseek"),
                                ThinkingBlock("tagged"), TextBlock("Answer")]


def test_whitespace_only_text_does_not_become_a_block():
    content = quirks.StreamedContent("openai", split_think_tags=False)
    content.text("\n\n")
    assert content.blocks() == []


# --- text-written tool calls --------------------------------------------------------


def test_a_bare_json_call_is_recognised():
    text = '{"name": "Read", "arguments": {"file_path": "a.py"}}'
    assert quirks.parse_text_tool_calls(text, TOOLS) == ("", [("Read", {"file_path": "a.py"})])


def test_parameters_input_and_tool_keys_are_accepted():
    for text in ('{"name": "Bash", "parameters": {"command": "ls"}}',
                 '{"name": "Bash", "input": {"command": "ls"}}',
                 '{"tool": "Bash", "arguments": {"command": "ls"}}',
                 '{"type": "function", "function": {"name": "Bash", '
                 '"arguments": "{\\"command\\": \\"ls\\"}"}}'):
        assert quirks.parse_text_tool_calls(text, TOOLS)[1] == [("Bash", {"command": "ls"})], text


def test_prose_before_a_call_on_its_own_line_is_kept_as_text():
    text = 'I will look at the file.\n{"name": "Read", "arguments": {"file_path": "a.py"}}'
    assert quirks.parse_text_tool_calls(text, TOOLS) == (
        "I will look at the file.", [("Read", {"file_path": "a.py"})])


def test_a_call_ending_the_text_after_prose_is_recognised():
    text = 'Reading it now: {"name": "Read", "arguments": {"file_path": "a.py"}}'
    assert quirks.parse_text_tool_calls(text, TOOLS)[1] == [("Read", {"file_path": "a.py"})]


def test_several_tool_call_tags_are_all_recognised_in_order():
    text = ('Let me check.\n<tool_call>\n{"name": "Read", "arguments": {"file_path": "a"}}\n'
            '</tool_call>\n<tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>')
    remaining, calls = quirks.parse_text_tool_calls(text, TOOLS)
    assert remaining == "Let me check."
    assert calls == [("Read", {"file_path": "a"}), ("Bash", {"command": "ls"})]


def test_a_tool_call_tag_cut_off_by_the_stop_token_is_still_recognised():
    text = '<tool_call>\n{"name": "Bash", "arguments": {"command": "pwd"}}'
    assert quirks.parse_text_tool_calls(text, TOOLS)[1] == [("Bash", {"command": "pwd"})]


def test_qwen_coder_xml_calls_inside_tags_are_recognised():
    text = ("<tool_call>\n<function=Edit>\n<parameter=file_path>\n/tmp/a.py\n</parameter>\n"
            "<parameter=old_string>\nx = 1\n</parameter>\n</function>\n</tool_call>")
    assert quirks.parse_text_tool_calls(text, TOOLS)[1] == [
        ("Edit", {"file_path": "/tmp/a.py", "old_string": "x = 1"})]


def test_a_fenced_json_call_is_recognised_and_removed_from_the_text():
    text = ('Running the tests:\n```json\n{"name": "Bash", "arguments": {"command": "pytest"}}\n```'
            "\nThen I will report.")
    remaining, calls = quirks.parse_text_tool_calls(text, TOOLS)
    assert calls == [("Bash", {"command": "pytest"})]
    assert remaining == "Running the tests:\n\nThen I will report."


def test_json_mentioned_in_prose_is_not_a_call():
    text = ('The payload looks like {"name": "Read", "arguments": {"file_path": "x"}} and '
            "is sent by the client.")
    assert quirks.parse_text_tool_calls(text, TOOLS) == (text, [])


def test_json_naming_an_unknown_tool_is_not_a_call():
    text = '{"name": "Bob", "arguments": {"age": 3}}'
    assert quirks.parse_text_tool_calls(text, TOOLS) == (text, [])


def test_an_object_with_other_keys_is_data_not_a_call():
    text = '```json\n{"name": "Read", "arguments": {}, "version": "1.0"}\n```'
    assert quirks.parse_text_tool_calls(text, TOOLS) == (text, [])


def test_a_bare_object_without_arguments_is_not_a_call():
    text = '{"name": "Read"}'
    assert quirks.parse_text_tool_calls(text, TOOLS) == (text, [])


def test_code_with_braces_is_left_alone():
    text = "```python\ndef f():\n    return {'name': 'Read'}\n```\n{not json}"
    assert quirks.parse_text_tool_calls(text, TOOLS) == (text, [])


def test_no_tools_offered_means_no_calls():
    text = '{"name": "Read", "arguments": {}}'
    assert quirks.parse_text_tool_calls(text, ()) == (text, [])


def test_lifted_calls_become_tool_use_blocks_after_the_remaining_text():
    ids = iter(["id1", "id2"])
    blocks = textcalls.lift_calls(
        [ThinkingBlock("t"), TextBlock('ok\n{"name": "Bash", "arguments": {"command": "ls"}}')],
        TOOLS, lambda: next(ids))
    assert blocks == [ThinkingBlock("t"), TextBlock("ok"),
                      ToolUseBlock("id1", "Bash", {"command": "ls"})]


# --- arguments, request shape, truncation --------------------------------------------


def test_malformed_arguments_become_a_marker_the_model_can_be_told_about():
    parsed = parse_tool_arguments('{"command": "ls')
    assert parsed["__invalid_json__"] == '{"command": "ls'
    assert parsed["__error__"]
    assert parse_tool_arguments("[1, 2]")["__error__"] == "expected a JSON object, got list"
    assert parse_tool_arguments("") == {}


def test_only_openai_reasoning_models_get_the_developer_role():
    assert quirks.system_role("openai", lookup("openai", "o3")) == "developer"
    assert quirks.system_role("openai", lookup("openai", "gpt-4.1")) == "system"
    assert quirks.system_role("deepseek", lookup("deepseek", "deepseek-reasoner")) == "system"


def test_each_vendor_gets_its_own_thinking_switch():
    request = Request("m", "", (user_text("hi"),), thinking=True, thinking_budget=2048)
    assert quirks.thinking_params("qwen", request) == {"enable_thinking": True,
                                                      "thinking_budget": 2048}
    assert quirks.thinking_params("zhipu", request) == {"thinking": {"type": "enabled"}}
    assert quirks.thinking_params("openai", request) == {}
    assert quirks.thinking_params("qwen", Request("m", "", ())) == {}


def test_prompt_estimate_counts_text_tools_and_calls_but_not_image_data():
    tool = ToolSpec("Read", "read a file", {"type": "object"})
    estimate = quirks.estimate_prompt_tokens("s" * 400, [user_text("u" * 400)], [tool])
    assert 200 <= estimate <= 220


def test_truncation_is_reported_only_when_far_fewer_tokens_were_read():
    assert quirks.truncation_notice(1000, 8000, "fix it") == (
        "the server used only 1000 of about 8000 prompt tokens: it probably truncated "
        "the prompt; fix it")
    assert quirks.truncation_notice(5000, 8000, "fix it") is None
    assert quirks.truncation_notice(100, 1500, "fix it") is None  # small prompts: too rough
    assert quirks.truncation_notice(0, 8000, "fix it") is None  # nothing reported
