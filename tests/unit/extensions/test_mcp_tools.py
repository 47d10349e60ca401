"""What the model is told about MCP tools and prompts: names, schemas, arguments."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nano_claude.extensions.mcp.prompts import PromptFailed, bind, command_name
from nano_claude.extensions.mcp.tools import NAME_LIMIT, SchemaRefused, provider_schema, tool_name


def test_names_are_prefixed_and_cleaned_for_every_provider() -> None:
    assert tool_name("github", "get_issue", set()) == "mcp__github__get_issue"
    assert tool_name("my server.v2", "read file!", set()) == "mcp__my_server_v2__read_file_"


def test_long_names_are_cut_to_the_providers_limit_without_colliding() -> None:
    taken: set[str] = set()
    a = tool_name("server", "x" * 80 + "alpha", taken)
    taken.add(a)
    b = tool_name("server", "x" * 80 + "beta", taken)
    taken.add(b)
    c = tool_name("server", "x" * 80 + "alpha", taken)  # the same long name twice
    assert len({a, b, c}) == 3
    assert all(len(n) <= NAME_LIMIT and n.startswith("mcp__server__") for n in (a, b, c))


def test_a_name_taken_by_another_tool_gets_a_suffix() -> None:
    assert tool_name("s", "t", {"mcp__s__t"}) == "mcp__s__t_2"


def test_root_any_of_is_flattened_into_one_object() -> None:
    schema = {"anyOf": [
        {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}},
         "required": ["id", "q"]},
        {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
         "required": ["id"]},
    ]}
    flat = provider_schema(schema)
    assert "anyOf" not in flat and flat["type"] == "object"
    assert set(flat["properties"]) == {"id", "q", "n"} and flat["required"] == ["id"]


def test_all_of_requires_what_every_branch_requires() -> None:
    flat = provider_schema({"type": "object", "allOf": [
        {"properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"properties": {"b": {"type": "string"}}, "required": ["b"]}]})
    assert flat["required"] == ["a", "b"] and set(flat["properties"]) == {"a", "b"}


@pytest.mark.parametrize(("schema", "says"), [
    ({"type": "string"}, "of type 'string'"),
    ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "invalid"),
    ("not a schema", "not a JSON object"),
])
def test_a_schema_providers_refuse_is_left_out_with_the_reason(schema, says) -> None:
    with pytest.raises(SchemaRefused, match=says):
        provider_schema(schema)


def test_an_object_schema_passes_through() -> None:
    schema = {"type": "object", "properties": {"path": {"type": "string", "description": "d"}},
              "required": ["path"], "additionalProperties": False}
    assert provider_schema(schema) == schema


def _prompt(*args: tuple[str, bool]) -> SimpleNamespace:
    return SimpleNamespace(arguments=[SimpleNamespace(name=n, required=r) for n, r in args])


def test_prompt_words_fill_the_arguments_in_order_and_the_last_takes_the_rest() -> None:
    prompt = _prompt(("file", True), ("focus", False))
    assert bind(prompt, "a.py speed and memory", "/p") == {"file": "a.py", "focus": "speed and memory"}
    assert bind(prompt, '"my file.py"', "/p") == {"file": "my file.py"}
    assert bind(prompt, "focus=tests a.py", "/p") == {"focus": "tests", "file": "a.py"}


def test_a_missing_required_argument_names_it_and_the_usage() -> None:
    with pytest.raises(PromptFailed, match=r"/mcp__s__review file \[focus\]: missing file"):
        bind(_prompt(("file", True), ("focus", False)), "", "/mcp__s__review file [focus]")
    with pytest.raises(PromptFailed, match="takes no more arguments"):
        bind(_prompt(), "extra", "/p")


def test_prompt_command_names_follow_claude_code() -> None:
    assert command_name("github", "pr review") == "mcp__github__pr_review"
