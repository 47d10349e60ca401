"""How activity reads, for the REPL's renderer and headless -p alike: one wording and
one colouring. Light on purpose: the REPL imports it before its prompt shows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nano_claude.core.events import ToolCallFinished, Usage

_DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


def diff_style(line: str) -> str:
    """A unified diff line's rich style name: added green, removed red, hunk header cyan."""
    return _DIFF_STYLES.get(line[:1], "dim")


def usage_line(event: Usage) -> str:
    u = event.usage
    return (f"tokens: in {u.input_tokens} (cache read {u.cache_read_tokens}, write "
            f"{u.cache_write_tokens}), out {u.output_tokens}; ${event.cost_usd:.4f}")


def short_args(args: dict[str, Any], limit: int = 80) -> str:
    first = next(iter(args.values()), "") if args else ""
    text = first if isinstance(first, str) else json.dumps(first)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "(no output)"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def one_line(text: str) -> str:
    """Every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


def clip(text: str, width: int | None) -> str:
    """`text` in at most `width` characters: cut at the last space that leaves room for
    "…" (mid-word only when one word is wider than that). None: no limit."""
    if width is None or len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space > width // 2:  # a word boundary that keeps most of the line
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def result_line(event: ToolCallFinished) -> str:
    """What a finished call came to, in one line: the tool's summary for people; for a tool
    with none (an MCP tool, an error the loop raised), an error's whole text or an output's
    first line."""
    if event.summary:
        return one_line(event.summary)
    text = event.result.text
    if event.is_error:
        return one_line(text) or "(no output)"
    return next((one_line(line) for line in text.splitlines() if line.strip()), "(no output)")


def columns(rows: list[tuple[str, str]], width: int, *, indent: int = 2, gap: int = 2) -> list[str]:
    """A two-column table (name, description) that fits `width`: each row as one string,
    its lines joined by newlines. A description wraps under itself; a name too long for
    the name column (which never takes more than ~40% of the width) gets a line of its own,
    its description starting under it at the description column. A newline in a
    description starts a new paragraph."""
    import textwrap

    room = max(1, width - indent)
    cap = max(8, (room - gap) * 2 // 5)
    fitting = [len(name) for name, _ in rows if len(name) <= cap]
    name_width = max(fitting, default=min(cap, max((len(n) for n, _ in rows), default=0)))
    start = indent + name_width + gap
    if width - start < 20:  # no room for two columns: descriptions go under their names
        start = indent + 4
    wrap = {"width": max(8, width - start), "break_on_hyphens": False}
    out = []
    for name, about in rows:
        names = textwrap.wrap(name, room, subsequent_indent="  ", break_on_hyphens=False)
        lines = [" " * indent + line for line in names] or [""]
        text = [line for part in about.split("\n") for line in textwrap.wrap(part, **wrap) or [""]]
        if len(lines[-1]) + gap <= start and len(name) <= name_width:
            lines[-1] = lines[-1].ljust(start) + text.pop(0)
        lines += [" " * start + line for line in text]
        out.append("\n".join(line.rstrip() for line in lines))
    return out
