"""GBNF grammars that hold the embedded model to plain text or one valid tool call.

A 135M-parameter model cannot be trusted to write a JSON call that matches a
schema, so llama.cpp's grammar sampler does it for the model: the grammar built
here admits either a plain-text answer or exactly one
`{"name": ..., "arguments": {...}}` object whose arguments match that tool's
input schema.

We translate the JSON schema ourselves instead of using llama-cpp-python's
`json_schema_to_gbnf`: that converter ignores integer bounds (`minimum`,
`maximum`), which our input models use (`ge=1`, `le=600`), so its grammar would
admit calls the registry then rejects. Owning the translation also lets the
grammar pin one spacing, json.dumps', so a call rendered back into the history
(`call_json`) is byte for byte what the model wrote and llama.cpp reuses the
cached prefix. Pure string building: nothing here imports llama_cpp.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from nano_claude.providers.base import ToolSpec

ROOT = "root"
MAX_DIGITS = 15  # the longest integer admitted: keeps a runaway number finite

# Text cannot start with "{" (that is a call) or with white space (which would let
# the model write " {" and leave us guessing); after its first character anything goes.
TEXT_RULE = r"[^{ \t\r\n] [^\x00]*"

# JSON values, spaced as json.dumps spaces them. Added to a grammar only when used.
_PRIMITIVES: dict[str, str] = {
    "value": r'object | array | string | number | "true" | "false" | "null"',
    "object": r'"{" ( string ": " value ( ", " string ": " value )* )? "}"',
    "array": r'"[" ( value ( ", " value )* )? "]"',
    "string": r'"\"" char* "\""',
    "char": r'[^"\\\x00-\x1f] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )',
    "integer": r'"-"? ( "0" | [1-9] [0-9]{0,14} )',
    "number": r'integer ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,3} )?',
}
_NEEDS: dict[str, tuple[str, ...]] = {
    "value": ("object", "array", "string", "number"),
    "object": ("string", "value"),
    "array": ("value",),
    "string": ("char",),
    "number": ("integer",),
}


def call_json(name: str, arguments: dict[str, Any], key: str = "arguments") -> str:
    """A tool call exactly as the grammar makes the model write it."""
    return json.dumps({"name": name, key: arguments}, ensure_ascii=False)


def tool_call_grammar(tools: Sequence[ToolSpec], *, wrap: tuple[str, str] = ("", ""),
                      key: str = "arguments") -> str:
    """root ::= call | text, where call is one JSON call of one of `tools`.

    `wrap` is the text a model family puts around a call (Qwen's `<tool_call>\\n` …
    `\\n</tool_call>`), `key` the name it gives the arguments (Llama 3.2: "parameters").
    Text may not start with the wrapper's first character either: the first token decides
    between a call and text (providers/local.py)."""
    opening, closing = wrap
    rules = _Rules()
    rules.reserve(ROOT)
    first = opening[:1] if opening[:1] not in ("", "{") else ""
    rules.add("text", TEXT_RULE if not first else TEXT_RULE.replace("[^{", "[^{" + _class_char(first), 1))
    call = rules.reserve("call")
    alternatives = _calls(rules, tools, opening, closing, key)
    rules.define(call, " | ".join(alternatives) or '"{}"')
    rules.define(ROOT, "call | text" if alternatives else "text")
    return rules.text()


def call_rest_grammar(tools: Sequence[ToolSpec], *, opening: str, closing: str, key: str,
                      written: str) -> str | None:
    """root ::= the rest of one call of one of `tools`, whose first characters (`written`,
    out of `opening` + `{"name": …`) the model wrote already: a call that follows text, or
    a special token, is held to its schema from where the model is. None when no call of
    these tools starts with `written`."""
    rules = _Rules()
    rules.reserve(ROOT)
    call = rules.reserve("call")
    alternatives = _calls(rules, tools, opening, closing, key, written)
    if not alternatives:
        return None
    rules.define(call, " | ".join(alternatives))
    rules.define(ROOT, "call")
    return rules.text()


def _calls(rules: _Rules, tools: Sequence[ToolSpec], opening: str, closing: str, key: str,
           written: str = "") -> list[str]:
    """A rule per tool for its call, less what was `written` already; the rules' names."""
    alternatives = []
    for i, tool in enumerate(tools):
        head = opening + '{"name": ' + json.dumps(tool.name, ensure_ascii=False) + f', "{key}": '
        if not head.startswith(written):
            continue
        args = _SchemaGrammar(rules, tool.input_schema, f"t{i}").arguments()
        rest = head[len(written):]
        body = f"{literal(rest)} {args}" if rest else args
        alternatives.append(rules.add(f"call-{tool.name}", f"{body} {literal('}' + closing)}"))
    return alternatives


def literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _class_char(ch: str) -> str:
    """`ch` as it is written inside a GBNF character class."""
    return "\\" + ch if ch in "]^-\\" else ch


def drop_null(schema: Any) -> Any:
    """Optional[X] without its null: an optional argument is left out, not written as null."""
    if not isinstance(schema, dict):
        return schema
    for key in ("anyOf", "oneOf"):
        alternatives = schema.get(key)
        if isinstance(alternatives, list):
            kept = [a for a in alternatives if not (isinstance(a, dict) and a.get("type") == "null")]
            if kept and len(kept) < len(alternatives):
                rest = {k: v for k, v in schema.items() if k != key}
                return {**rest, **kept[0]} if len(kept) == 1 else {**rest, key: kept}
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds and len(kinds) > 1:
        others = [k for k in kinds if k != "null"]
        return {**schema, "type": others[0] if len(others) == 1 else others}
    return schema


# --- integers in a range ----------------------------------------------------------


def int_range(low: int, high: int | None) -> str:
    """Non-negative integers from `low` to `high` (None: up to MAX_DIGITS digits), no leading zeros."""
    width = len(str(low))
    if high is None or high >= 10**MAX_DIGITS:
        head = _same_width(str(low), "9" * width)
        return head if width >= MAX_DIGITS else f"{head} | [1-9] [0-9]{{{width},{MAX_DIGITS - 1}}}"
    parts = []
    for width in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (width - 1) if width > 1 else 0)
        last = min(high, 10**width - 1)
        if first <= last:
            parts.append(_same_width(str(first), str(last)))
    return " | ".join(parts)


def _same_width(low: str, high: str) -> str:
    """Digit strings of one width from `low` to `high`, split at the first differing digit."""
    if low == high:
        return f'"{low}"'
    if len(low) == 1:
        return f"[{low}-{high}]"
    if low[0] == high[0]:
        return f'"{low[0]}" ( {_same_width(low[1:], high[1:])} )'
    n = len(low) - 1
    parts = []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * n:
        parts.append(f'"{low[0]}" ( {_same_width(low[1:], "9" * n)} )')
        first += 1
    partial_top = high[1:] != "9" * n
    if partial_top:
        last -= 1
    if first <= last:
        parts.append(f"[{first}-{last}] [0-9]{{{n}}}")
    if partial_top:
        parts.append(f'"{high[0]}" ( {_same_width("0" * n, high[1:])} )')
    return " | ".join(parts)


def _int_bounds(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    low = high = None
    if isinstance(schema.get("minimum"), (int, float)):
        low = math.ceil(schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(
            schema["exclusiveMinimum"], bool):
        low = max(low if low is not None else -math.inf, math.floor(schema["exclusiveMinimum"]) + 1)
    if isinstance(schema.get("maximum"), (int, float)):
        high = math.floor(schema["maximum"])
    if isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(
            schema["exclusiveMaximum"], bool):
        high = min(high if high is not None else math.inf, math.ceil(schema["exclusiveMaximum"]) - 1)
    return (None if low is None else int(low)), (None if high is None else int(high))


# --- rules and the schema walk ----------------------------------------------------


class _Rules:
    """Named rules in insertion order, with names made unique and GBNF-safe."""

    def __init__(self) -> None:
        self._rules: dict[str, str | None] = {}

    def reserve(self, name: str) -> str:
        base = re.sub(r"[^a-zA-Z0-9-]+", "-", name).strip("-") or "rule"
        unique, n = base, 1
        while unique in self._rules or unique in _PRIMITIVES:
            unique, n = f"{base}{n}", n + 1
        self._rules[unique] = None
        return unique

    def define(self, name: str, body: str) -> None:
        self._rules[name] = body

    def add(self, name: str, body: str) -> str:
        unique = self.reserve(name)
        self.define(unique, body)
        return unique

    def primitive(self, name: str) -> str:
        if name not in self._rules:
            self._rules[name] = _PRIMITIVES[name]
            for needed in _NEEDS.get(name, ()):
                self.primitive(needed)
        return name

    def text(self) -> str:
        return "\n".join(f"{name} ::= {body}" for name, body in self._rules.items() if body is not None)


class _SchemaGrammar:
    """One tool's input schema as GBNF; `$defs` become named rules, so recursion works."""

    def __init__(self, rules: _Rules, schema: dict[str, Any], prefix: str) -> None:
        self.rules = rules
        self.schema = schema if isinstance(schema, dict) else {}
        self.prefix = prefix
        self.defs: dict[str, Any] = self.schema.get("$defs") or self.schema.get("definitions") or {}
        self.refs: dict[str, str] = {}

    def arguments(self) -> str:
        """The arguments object. A recursive model's schema is a bare top-level $ref."""
        if isinstance(self.schema.get("$ref"), str):
            return self._ref(self.schema["$ref"])
        if not self.schema.get("properties") and not self.schema.get("additionalProperties"):
            return self.rules.primitive("object")
        return self.expr({**self.schema, "type": "object"}, f"{self.prefix}-args")

    def expr(self, schema: Any, name: str) -> str:
        """A GBNF expression (often a rule name) for the values `schema` admits."""
        if not isinstance(schema, dict) or not schema:
            return self.rules.primitive("value")
        if isinstance(schema.get("$ref"), str):
            return self._ref(schema["$ref"])
        if "const" in schema:
            return literal(json.dumps(schema["const"], ensure_ascii=False))
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            values = [literal(json.dumps(v, ensure_ascii=False)) for v in schema["enum"]]
            return self.rules.add(name, " | ".join(dict.fromkeys(values)))
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                parts = [self.expr(s, f"{name}-{i}") for i, s in enumerate(schema[key])]
                return self.rules.add(name, " | ".join(dict.fromkeys(parts)))
        if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            return self.expr(schema["allOf"][0], name)
        kind = schema.get("type")
        if isinstance(kind, list):
            parts = [self.expr({**schema, "type": k}, f"{name}-{k}") for k in kind]
            return self.rules.add(name, " | ".join(parts))
        return self._typed(schema, kind, name)

    def _typed(self, schema: dict[str, Any], kind: Any, name: str) -> str:
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            low, high = _int_bounds(schema)
            if low is None or low < 0 or (high is not None and high < low):
                return self.rules.primitive("integer")  # only non-negative lower bounds are enforced
            return self.rules.add(name, int_range(low, high))
        if kind == "number":
            return self.rules.primitive("number")
        if kind == "boolean":
            return '( "true" | "false" )'
        if kind == "null":
            return '"null"'
        if kind == "array":
            return self._array(schema, name)
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, name)
        return self.rules.primitive("value")

    def _ref(self, ref: str) -> str:
        if ref in self.refs:
            return self.refs[ref]
        found = re.fullmatch(r"#/(?:\$defs|definitions)/(.+)", ref)
        target = self.defs.get(found.group(1)) if found else None
        if target is None:
            return self.rules.primitive("value")
        rule = self.rules.reserve(f"{self.prefix}-def-{found.group(1) if found else 'ref'}")
        self.refs[ref] = rule
        self.rules.define(rule, self.expr(target, f"{rule}-body"))
        return rule

    def _string(self, schema: dict[str, Any], name: str) -> str:
        low, high = schema.get("minLength"), schema.get("maxLength")
        if not isinstance(low, int) and not isinstance(high, int):
            return self.rules.primitive("string")
        char = self.rules.primitive("char")
        low = low if isinstance(low, int) else 0
        count = f"{{{low},{high}}}" if isinstance(high, int) else f"{{{low},}}"
        return self.rules.add(name, f'"\\"" {char}{count} "\\""')

    def _array(self, schema: dict[str, Any], name: str) -> str:
        items = schema.get("items")
        item = self.expr(items, f"{name}-item") if isinstance(items, dict) else self.rules.primitive("value")
        low = schema.get("minItems") if isinstance(schema.get("minItems"), int) else 0
        high = schema.get("maxItems") if isinstance(schema.get("maxItems"), int) else None
        if high == 0:
            return '"[]"'
        if low == 0:
            more = "*" if high is None else f"{{0,{high - 1}}}"
            return self.rules.add(name, f'"[" ( {item} ( ", " {item} ){more} )? "]"')
        more = f"{{{low - 1},}}" if high is None else f"{{{low - 1},{high - 1}}}"
        return self.rules.add(name, f'"[" {item} ( ", " {item} ){more} "]"')

    def _object(self, schema: dict[str, Any], name: str) -> str:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            extra = schema.get("additionalProperties")
            if extra is False:
                return '"{}"'
            if not isinstance(extra, dict) or not extra:
                return self.rules.primitive("object")
            key, value = self.rules.primitive("string"), self.expr(extra, f"{name}-value")
            pair = f'{key} ": " {value}'
            return self.rules.add(name, f'"{{" ( {pair} ( ", " {pair} )* )? "}}"')
        required = set(schema.get("required") or ())
        members: list[tuple[str, bool]] = []
        for key, sub in properties.items():
            optional = key not in required
            value = self.expr(drop_null(sub) if optional else sub, f"{name}-{key}")
            members.append((f"{literal(json.dumps(key, ensure_ascii=False) + ': ')} {value}", optional))
        return self.rules.add(name, self._members(members, name))

    def _members(self, members: list[tuple[str, bool]], name: str) -> str:
        """Members in schema order; optional ones may be left out, ", " only between those written.

        after[i] is what may follow once a member before i was written; the first
        written member is any optional one up to and including the first required.
        """
        after = [""] * (len(members) + 1)
        for i in reversed(range(1, len(members))):
            pair, optional = members[i]
            head = f'( ", " {pair} )?' if optional else f'", " {pair}'
            after[i] = self.rules.add(f"{name}-after-{i}", f"{head} {after[i + 1]}".strip())
        firsts = []
        for i, (pair, optional) in enumerate(members):
            firsts.append(f"{pair} {after[i + 1]}".strip())
            if not optional:
                break
        body = " | ".join(firsts)
        if all(optional for _, optional in members):
            return f'"{{" ( {body} )? "}}"'
        return f'"{{" ( {body} ) "}}"'
