"""Streaming Markdown rendering: CPU cost of the REPL's renderer (not part of CI's pass/fail).

A ~20,000-token Markdown answer (about 80 KB: headings, paragraphs, lists,
fenced Python blocks, one of 300+ lines) is fed in deltas of 4 characters to
(a) the Renderer in fancy mode, writing to a StringIO at a fixed size (it redraws
its live area at most 8 times a second of the run);
(b) raw writes of the same deltas to a StringIO, the baseline;
(c) for scale, the naive way (re-render the whole answer as rich Markdown on
every delta, in a rich Live), on the first 2,000 tokens only, next to ours and
raw for the same 2,000 tokens. Also shown: printing the finished answer once as
rich Markdown, the floor for any renderer built on rich. CPU time is
time.process_time (all threads); medians over runs.

Run from the repository root: `python bench/bench_render.py [--runs N] [--naive-runs N]`
(one naive run takes about a minute).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from rich.console import Console  # noqa: E402
from rich.live import Live  # noqa: E402
from rich.markdown import Markdown  # noqa: E402

from nano_claude.core.events import TextDelta  # noqa: E402
from nano_claude.ui.render import CODE_THEME, Renderer  # noqa: E402

WIDTH, HEIGHT = 100, 40
DELTA = 4  # characters per streamed delta: about one token
CHARS_PER_TOKEN = 4
NAIVE_TOKENS = 2_000

PROSE = ("the renderer prints finished blocks once and redraws only the tail so a long answer "
         "costs time in proportion to its length while the terminal keeps its scrollback")
WORDS = PROSE.split()


def sentence(i: int, n: int = 14) -> str:
    words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n)]
    words[2] = f"**{words[2]}**"
    words[6] = f"`{words[6]}()`"
    return " ".join(words).capitalize() + "."


def code(lines: int, seed: int) -> str:
    body = [f"def step_{seed}(items: list[int]) -> int:", '    """Sum what passes the filter."""',
            "    total = 0"]
    for k in range(lines - 5):
        body.append(f"    total += sum(x * {k} for x in items if x % {k % 7 + 2} == 0)  # pass {k}")
        if k % 25 == 24:
            body.append("")  # a blank line inside the fence: never a block boundary
    body.append("    return total")
    return "```python\n" + "\n".join(body) + "\n```"


def answer(target_chars: int = 80_000) -> str:
    """A long, varied Markdown answer of about `target_chars` characters."""
    parts, i = ["# Plan for the refactor"], 0
    while sum(len(p) + 2 for p in parts) < target_chars:
        i += 1
        parts.append(f"## Step {i}: part {i}")
        parts.append(" ".join(sentence(i * 5 + k) for k in range(5)))
        parts.append("\n".join(f"- {sentence(i + k, 8)}" for k in range(4)))
        parts.append("\n\n".join(f"{k}. {sentence(i + k, 10)}" for k in range(1, 4)))  # a loose list
        parts.append(code(320 if i == 3 else 18, i))
        parts.append(" ".join(sentence(i * 3 + k) for k in range(3)))
    return "\n\n".join(parts) + "\n"


def deltas(text: str) -> list[str]:
    return [text[i:i + DELTA] for i in range(0, len(text), DELTA)]


def cpu(run: Callable[[], None]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def ours(pieces: list[str]) -> None:
    renderer = Renderer(io.StringIO(), plain=False, width=WIDTH, height=HEIGHT)
    renderer.waiting()
    for piece in pieces:
        renderer.on_event(TextDelta(piece))
    renderer.end_turn()
    renderer.close()


def raw(pieces: list[str]) -> None:
    out = io.StringIO()
    for piece in pieces:
        out.write(piece)
        out.flush()


def once(pieces: list[str]) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=WIDTH, height=HEIGHT)
    console.print(Markdown("".join(pieces), code_theme=CODE_THEME))


def naive(pieces: list[str]) -> None:
    """The quadratic way: the whole answer so far, rendered again on every delta."""
    console = Console(file=io.StringIO(), force_terminal=True, width=WIDTH, height=HEIGHT)
    text = ""
    with Live(console=console, auto_refresh=False, transient=True) as live:
        for piece in pieces:
            text += piece
            live.update(Markdown(text, code_theme=CODE_THEME), refresh=True)
    console.print(Markdown(text, code_theme=CODE_THEME))


def median_cpu(run: Callable[[list[str]], None], pieces: list[str], runs: int) -> float:
    return statistics.median(cpu(lambda: run(pieces)) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--naive-runs", type=int, default=3)
    args = parser.parse_args()
    text = answer()
    full = deltas(text)
    head = full[: NAIVE_TOKENS * CHARS_PER_TOKEN // DELTA]
    rows = [
        ("renderer", len(full), median_cpu(ours, full, args.runs)),
        ("raw writes", len(full), median_cpu(raw, full, args.runs)),
        ("rich, once", len(full), median_cpu(once, full, args.runs)),
        ("renderer", len(head), median_cpu(ours, head, args.runs)),
        ("raw writes", len(head), median_cpu(raw, head, args.runs)),
        ("naive re-render", len(head), median_cpu(naive, head, args.naive_runs)),
    ]
    print(f"answer: {len(text):,} chars, ~{len(text) // CHARS_PER_TOKEN:,} tokens, "
          f"{text.count(chr(10)):,} lines; deltas of {DELTA} chars; {WIDTH}x{HEIGHT}; "
          f"median of {args.runs} runs, naive of {args.naive_runs} (CPU, all threads)")
    print(f"{'what':<17}{'deltas':>8}{'cpu s':>10}{'us/delta':>10}")
    for name, count, seconds in rows:
        print(f"{name:<17}{count:>8,}{seconds:>10.3f}{seconds / count * 1e6:>10.1f}")
    print(f"renderer / raw: {rows[0][2] / rows[1][2]:.0f}x over the whole answer, "
          f"{rows[3][2] / max(rows[4][2], 1e-9):.0f}x over the first {NAIVE_TOKENS:,} tokens")
    print(f"renderer / rich printing the whole answer once: {rows[0][2] / rows[2][2]:.1f}x")
    print(f"naive / renderer, first {NAIVE_TOKENS:,} tokens: {rows[5][2] / rows[3][2]:.0f}x")


if __name__ == "__main__":
    main()
