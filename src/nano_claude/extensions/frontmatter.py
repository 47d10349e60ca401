"""YAML front matter of Markdown files: agents now, skills and custom commands later.

    ---
    name: code-reviewer
    description: Reviews code for bugs.
    ---
    The body: whatever follows the closing line.

yaml is imported only when a file with front matter is parsed: most runs read none.

Claude Code accepts one-line values that strict YAML refuses (`description: Use it when: (1) ...`),
and agent files it ships rely on it. So when the whole block fails, each top-level `key: value`
line that fails on its own is read as a quoted string and the block is parsed again. A value that
opens a YAML structure (`[`, `{`, a quote, `|`, `>`) is left alone: a broken list is a real error.
Some agent files Claude Code ships go further: a description runs on over unindented lines,
examples and all (`Context: ...`, `user: "..."`). When the quoted second try fails too, a line
starting with a key Claude Code's front matter uses begins a field and every other line continues
the one before; with no known key on the first line that is not read either, and the first error
is the one reported.
"""

from __future__ import annotations

import re
from typing import Any

from nano_claude.core.errors import NanoClaudeError

_FENCE = "---"
_KEY_LINE = re.compile(r"""^([A-Za-z_][\w-]*):[ \t]+([^\s\[{"'|>].*?)\s*$""")
_FIELD_LINE = re.compile(r"^([A-Za-z_][\w-]*):(?:[ \t]+(.*?))?[ \t]*$")
# The keys of agents', skills' and commands' front matter (Claude Code's and ours)
KNOWN_KEYS = frozenset({
    "name", "description", "tools", "disallowedTools", "model", "color", "permissionMode", "maxTurns",
    "skills", "mcpServers", "hooks", "memory", "background", "effort", "isolation", "initialPrompt",
    "allowed-tools", "disallowed-tools", "argument-hint", "disable-model-invocation", "user-invocable",
    "when_to_use", "when-to-use", "context", "agent", "arguments", "triggers", "paths", "version",
    "license", "metadata", "tags", "author", "type", "scope"})


class FrontMatterError(NanoClaudeError):
    """A Markdown file's front matter cannot be read; the message names the file and the fix."""


def parse(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split `text` into its front matter (a mapping) and its body.

    No front matter (the first line is not `---`): `({}, text)`, a leading BOM removed.
    After front matter, the body is the rest of the text with its line endings made `\\n`.
    """
    text = text.removeprefix("\ufeff")
    first, _, rest = text.partition("\n")
    if first.rstrip() != _FENCE:
        return {}, text
    lines = rest.replace("\r\n", "\n").split("\n")
    closing = next((i for i, line in enumerate(lines) if line.rstrip() == _FENCE), None)
    if closing is None:
        raise FrontMatterError(
            f"{source}: the front matter opened by --- on line 1 is never closed; "
            "add a line holding only --- after its last key")
    block = "\n".join(lines[:closing])
    body = "\n".join(lines[closing + 1:])
    data = _load(block, source)
    if data is None:
        return {}, body
    if not isinstance(data, dict):
        raise FrontMatterError(
            f"{source}: the front matter is {_kind(data)}, not a mapping; "
            "write one `key: value` per line between the --- lines")
    return data, body


def _load(block: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(block)
    except yaml.YAMLError as exc:
        first = exc
    lenient = _quote_loose_values(block)
    if lenient != block:
        try:
            return yaml.safe_load(lenient)
        except yaml.YAMLError:
            pass
    fields = _run_on_fields(block)
    if fields is not None:
        return fields
    mark = getattr(first, "problem_mark", None) or getattr(first, "context_mark", None)
    where = f" on line {mark.line + 2}" if mark is not None else ""  # +1 for the --- line, +1 from 0
    problem = getattr(first, "problem", None) or str(first).splitlines()[0]
    raise FrontMatterError(
        f"{source}: the front matter is not valid YAML{where} ({problem}); "
        'put quotes around a value holding ": " or " #", and indent continued lines') from None


def _quote_loose_values(block: str) -> str:
    """Each top-level one-line `key: value` that YAML refuses on its own, as a quoted string."""
    import yaml

    out = []
    for line in block.split("\n"):
        match = _KEY_LINE.match(line)
        if match:
            try:
                yaml.safe_load(line)
            except yaml.YAMLError:
                value = match.group(2).replace("\\", "\\\\").replace('"', '\\"')
                line = f'{match.group(1)}: "{value}"'
        out.append(line)
    return "\n".join(out)


def _run_on_fields(block: str) -> dict[str, Any] | None:
    """Fields whose text runs on over unindented lines: a known key starts a field, any other
    line is more of the field before. A one-line value is read as YAML would (a list stays a
    list); a longer one is its lines as text. None when this is not that shape: no continued
    field, a first line without a known key, an indented line (YAML structure gone wrong), or a
    value opening a YAML structure that does not parse (a broken list stays an error)."""
    import yaml

    fields: dict[str, list[str]] = {}
    key = None
    for line in block.split("\n"):
        match = _FIELD_LINE.match(line)
        if match and match.group(1) in KNOWN_KEYS:
            key = match.group(1)
            fields[key] = [match.group(2) or ""]
        elif key is None or (line[:1].isspace() and line.strip()):
            return None
        else:
            fields[key].append(line)
    if not any(len(lines) > 1 and "".join(lines[1:]).strip() for lines in fields.values()):
        return None
    out: dict[str, Any] = {}
    for key, lines in fields.items():
        text = "\n".join(lines).strip()
        structured = text[:1] in "[{\"'|>"
        if "\n" in text and structured:
            return None
        if "\n" not in text:
            try:
                out[key] = yaml.safe_load(f"{key}: {text}")[key] if text else None
                continue
            except yaml.YAMLError:
                if structured:
                    return None
        out[key] = text
    return out


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "plain text"
    return f"a {type(value).__name__}"
