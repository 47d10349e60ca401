"""/cost: tokens and dollars per turn and for the conversation, and how much the
prompt cache saved. Dollars are the catalog's prices applied as each response came."""

from __future__ import annotations

from nano_claude.core.events import TokenUsage
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState, TurnRecord

SHOWN_TURNS = 20  # the newest turns get a row each; older ones only count in the totals
HEADER = ("turn", "input", "cache read", "cache write", "output", "requests", "USD")


def usd(amount: float) -> str:
    return f"${amount:.4f}" if amount < 1 else f"${amount:,.2f}"


def _row(label: str, usage: TokenUsage, requests: int, cost: float) -> tuple[str, ...]:
    return (label, f"{usage.input_tokens:,}", f"{usage.cache_read_tokens:,}",
            f"{usage.cache_write_tokens:,}", f"{usage.output_tokens:,}", f"{requests:,}", usd(cost))


async def run(state: ReplState, args: str) -> None:
    turns = state.turns
    if not any(t.requests for t in turns):
        state.echo("No model requests yet in this conversation.")
        return
    total = TurnRecord()
    for turn in turns:
        total.usage = total.usage + turn.usage
        total.cost_usd += turn.cost_usd
        total.requests += turn.requests
    first = max(0, len(turns) - SHOWN_TURNS)
    rows = [HEADER]
    rows += [_row(str(i + 1), t.usage, t.requests, t.cost_usd) for i, t in enumerate(turns) if i >= first]
    rows.append(_row("total", total.usage, total.requests, total.cost_usd))
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    if first:
        state.echo(f"({first} earlier turns are in the total only)", "dim")
    for n, row in enumerate(rows):
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        state.echo("  ".join(cells), "bold" if n in (0, len(rows) - 1) else None)
    prompt = total.usage.prompt_tokens
    rate = total.usage.cache_read_tokens / prompt if prompt else 0.0
    state.echo(f"Cache hits: {rate:.0%} of prompt tokens read from the cache "
               f"({total.usage.cache_read_tokens:,} of {prompt:,})")
    if total.cost_usd == 0:
        state.echo("Cost: $0 (no prices for this model)", "dim")
    else:
        state.echo(f"Cost: {usd(total.cost_usd)} (catalog prices; your provider's bill is the authority)")


COMMAND = Command("cost", "tokens and cost per turn and for the conversation", run, usage="/cost")
