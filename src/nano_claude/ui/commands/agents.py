"""/agents: the sub-agents of this session (running and finished) with their type, status,
time, tokens and cost; `/agents ID` shows one's result, `/agents kill ID` stops a background
one, `/agents types` lists the types the model can start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nano_claude.core.errors import UsageError
from nano_claude.tools.base import ToolError
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.cost import usd
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    from nano_claude.extensions.agents.runtime import AgentRun, Subagents

STYLES = {"running": "cyan", "queued": "dim", "completed": "green", "failed": "red", "cancelled": "yellow"}


def _manager(state: ReplState) -> Subagents:
    manager = state.agent.ctx.agents
    if manager is None:
        raise UsageError("Sub-agents are off for this model (the compact tool profile leaves them out; "
                         "/config tool_profile full brings them back).")
    return manager


async def run(state: ReplState, args: str) -> None:
    manager = _manager(state)
    word, _, rest = args.partition(" ")
    rest = rest.strip()
    if word == "kill":
        if not rest:
            raise UsageError(f"Which agent? Usage: {COMMAND.usage}")
        try:
            state.echo(manager.kill(rest))
        except ToolError as exc:
            raise UsageError(str(exc)) from exc
        return
    if word == "types":
        for kind in manager.types.types.values():
            where = "built-in" if kind.source == "built-in" else kind.source
            state.echo(f"{kind.name}", "bold")
            state.echo(f"    {kind.description} ({where})", "dim")
        for error in manager.types.errors:
            state.echo(error, "yellow")
        return
    if word:
        found = manager.pool.find(word)
        if found is None:
            raise UsageError(f"No sub-agent {word!r} in this session. Usage: {COMMAND.usage}")
        _detail(state, found)
        return
    runs = list(manager.pool.runs.values())
    if not runs:
        state.echo("No sub-agents have run in this session. /agents types lists what the model can start.",
                   "dim")
        return
    state.echo(f"Sub-agents ({len(runs)}):", "bold")
    for r in runs:
        tokens = r.usage.prompt_tokens + r.usage.output_tokens
        where = " · background" if r.background else ""
        state.echo(f"{r.id}  {r.label}  {r.status}  {r.elapsed:.0f}s  {tokens:,} tokens  {usd(r.cost)}"
                   f"{where}", STYLES.get(r.status))
        state.echo(f"    {r.description}" + (f" · now: {r.activity}" if not r.done and r.activity else ""),
                   "dim")
    state.echo("/agents ID shows one's result · /agents kill ID stops a background one", "dim")


def _detail(state: ReplState, run: AgentRun) -> None:
    from nano_claude.extensions.agents.runtime import report

    state.echo(f"{run.id}  {run.label}  {run.status}  {run.elapsed:.0f}s  {run.tool_calls} tool calls",
               "bold")
    state.echo(f"Task: {run.description}", "dim")
    if run.done:
        text, _ = report(run)
        state.echo(text)  # the model still gets it: it is not marked delivered
    elif run.activity:
        state.echo(f"Now: {run.activity}", "dim")


def _complete(state: ReplState, text: str) -> list[str]:
    manager = state.agent.ctx.agents
    ids = list(manager.pool.runs) if manager is not None else []
    if text.startswith("kill "):
        return [f"kill {i}" for i in ids if f"kill {i}".startswith(text)]
    return [w for w in ("kill ", "types", *ids) if w.startswith(text)]


COMMAND = Command("agents", "the session's sub-agents: status, time, tokens, cost; kill one", run,
                  usage="/agents [ID | kill ID | types]", complete=_complete)
