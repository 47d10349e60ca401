"""How activity reads, for the REPL's renderer and headless -p alike: one wording and
one colouring. Light on purpose: the REPL imports it before its prompt shows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nano_claude.core.events import Usage

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
