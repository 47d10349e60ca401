"""The GBNF builder for the embedded model's tool calls: llama.cpp accepts what it builds,
every tool is named, and the schema features pydantic emits are translated, bounds included."""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from nano_claude.providers.base import ToolSpec
from nano_claude.providers.grammar import (
    MAX_DIGITS,
    call_json,
    drop_null,
    int_range,
    literal,
    tool_call_grammar,
)
from nano_claude.tools.registry import Registry, builtin_tools

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None
needs_llama = pytest.mark.skipif(not HAS_LLAMA, reason="llama-cpp-python is not installed "
                                 "(pip install '.[local]')")


def llama_parses(grammar: str) -> bool:
    """llama.cpp's own GBNF parser (a grammar sampler needs no vocabulary to parse).

    LlamaGrammar.from_string only stores the text in llama-cpp-python 0.3.x; the C
    parser is what runs at sampling time, so that is the one that must accept it.
    """
    import llama_cpp

    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    sampler = llama_cpp.llama_sampler_init_grammar(None, grammar.encode("utf-8"), b"root")
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True


def rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines())


def spec(name: str, model: type[BaseModel], description: str = "a tool") -> ToolSpec:
    return ToolSpec(name, description, model.model_json_schema())


class Inner(BaseModel):
    path: str
    depth: int = Field(0, ge=0, le=5)


class Tree(BaseModel):
    label: str
    children: list[Tree] = []


class Everything(BaseModel):
    mode: Literal["fast", "slow"]
    inner: Inner
    maybe: Inner | None = None
    tags: list[str] = Field(default_factory=list, min_length=1, max_length=3)
    weights: dict[str, float] = {}
    tree: Tree | None = None
    ratio: float | None = None
    flag: bool = False
    count: int | None = Field(None, gt=0)
    name: str = Field("x", min_length=1, max_length=40)


def test_builtin_tools_grammar_names_every_tool_and_roots_in_call_or_text() -> None:
    specs = Registry(builtin_tools()).specs()
    grammar = tool_call_grammar(specs)
    table = rules(grammar)
    assert table["root"] == "call | text"
    for tool in specs:
        head = literal('{"name": ' + json.dumps(tool.name) + ', "arguments": ')
        assert any(body.startswith(head) for body in table.values()), tool.name
    assert len(table["call"].split(" | ")) == len(specs)


@needs_llama
def test_builtin_tools_grammar_parses_with_llama_cpp() -> None:
    assert llama_parses(tool_call_grammar(Registry(builtin_tools()).specs()))


@needs_llama
def test_pydantic_schema_features_give_a_grammar_llama_cpp_parses() -> None:
    grammar = tool_call_grammar([spec("Everything", Everything), spec("Tree", Tree)])
    assert llama_parses(grammar)
    table = rules(grammar)
    # Recursive $defs become named rules that refer to themselves.
    tree_rule = next(name for name in table if name.endswith("def-Tree"))
    assert any(tree_rule in body for name, body in table.items() if name != tree_rule)
    # A recursive model's own schema is a bare $ref: its call still gets the real shape.
    assert table["call-Tree"].endswith('t1-def-Tree "}"')


@needs_llama
def test_a_rejected_grammar_is_detected() -> None:
    assert not llama_parses('root ::= "unterminated')


def test_text_cannot_start_like_a_call() -> None:
    table = rules(tool_call_grammar(Registry(builtin_tools()).specs()))
    assert table["text"].startswith("[^{ \\t\\r\\n]")


def test_no_tools_means_text_only() -> None:
    assert rules(tool_call_grammar([]))["root"] == "text"


def test_optional_arguments_leave_null_out_and_are_not_required() -> None:
    count = drop_null(Everything.model_json_schema()["properties"]["count"])
    assert count["type"] == "integer" and count["exclusiveMinimum"] == 0 and "anyOf" not in count
    grammar = tool_call_grammar([spec("Everything", Everything)])
    args = rules(grammar)["t0-args"]
    # The required members come first in schema order; optional ones are the after-rules.
    assert args.startswith('"{" ( "\\"mode\\": "')
    assert '"null"' not in rules(grammar)["t0-args-count"]


def test_tool_names_with_odd_characters_get_safe_rule_names() -> None:
    grammar = tool_call_grammar([spec("mcp__git__status", Inner), spec("mcp.git.status", Inner)])
    names = list(rules(grammar))
    assert all(re.fullmatch(r"[a-zA-Z0-9-]+", n) for n in names)
    assert len(names) == len(set(names))


def test_call_json_is_the_spacing_the_grammar_pins() -> None:
    text = call_json("Read", {"file_path": "a.py", "offset": 2})
    assert text == '{"name": "Read", "arguments": {"file_path": "a.py", "offset": 2}}'


def test_literal_escapes_quotes_backslashes_and_controls() -> None:
    assert literal('a"b\\c\nd\x01') == '"a\\"b\\\\c\\nd\\x01"'


# --- integer bounds: the reason we own the schema translation -----------------------


def as_regex(expr: str) -> re.Pattern[str]:
    """An int_range expression uses only literals, classes, groups, | and {m,n}: as a regex,
    it is the same text without quotes and spaces."""
    return re.compile(expr.replace('"', "").replace(" ", ""))


@given(low=st.integers(0, 5000), span=st.one_of(st.none(), st.integers(0, 5000)),
       probe=st.lists(st.integers(0, 12000), min_size=20, max_size=60))
def test_int_range_admits_exactly_the_bounded_integers(low: int, span: int | None,
                                                       probe: list[int]) -> None:
    high = None if span is None else low + span
    pattern = as_regex(int_range(low, high))
    edges = [low - 1, low, low + 1] + ([] if high is None else [high - 1, high, high + 1])
    for n in [*probe, *edges]:
        if n < 0:
            continue
        wanted = n >= low and (high is None or n <= high)
        assert bool(pattern.fullmatch(str(n))) == wanted, (low, high, n)
        assert not pattern.fullmatch("0" + str(n)), "leading zeros are not JSON"


def test_int_range_unbounded_stops_at_max_digits() -> None:
    pattern = as_regex(int_range(1, None))
    assert pattern.fullmatch("9" * MAX_DIGITS)
    assert not pattern.fullmatch("1" + "0" * MAX_DIGITS)
    assert not pattern.fullmatch("0")


@pytest.mark.parametrize(("schema", "admits", "rejects"), [
    ({"type": "integer", "minimum": 1}, ["1", "42"], ["0", "-1", "01"]),
    ({"type": "integer", "minimum": 1, "maximum": 600}, ["1", "600", "599"], ["0", "601", "1000"]),
    ({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}, ["1", "9"], ["0", "10"]),
])
def test_bounded_integer_arguments(schema: dict[str, Any], admits: list[str],
                                   rejects: list[str]) -> None:
    tool = ToolSpec("T", "t", {"type": "object", "properties": {"n": schema}, "required": ["n"]})
    expr = rules(tool_call_grammar([tool]))["t0-args-n"]
    for text in admits:
        assert as_regex(expr).fullmatch(text), text
    for text in rejects:
        assert not as_regex(expr).fullmatch(text), text


@needs_llama
def test_the_rest_of_a_call_after_its_start_is_a_grammar_llama_parses() -> None:
    from nano_claude.providers.grammar import call_rest_grammar

    tools = Registry(builtin_tools()).specs()
    after_marker = call_rest_grammar(tools, opening="\n", closing="\n</tool_call>", key="arguments",
                                     written="")
    assert after_marker is not None and llama_parses(after_marker)
    assert rules(after_marker)["root"] == "call" and "text" not in rules(after_marker)
    # written past the name's first letters: only the tools whose names start so are left
    into_name = call_rest_grammar(tools, opening="", closing="", key="arguments", written='{"name": "Re')
    assert into_name is not None and llama_parses(into_name)
    assert set(rules(into_name)["call"].split(" | ")) == {f"call-{t.name}" for t in tools
                                                           if t.name.startswith("Re")}
    assert rules(into_name)["call-Read"].startswith('"ad\\", \\"arguments\\": "')
    assert call_rest_grammar(tools, opening="", closing="", key="arguments", written="Sure,") is None
