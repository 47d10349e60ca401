"""A `/name args` line that an extension turns into the user's message: an MCP prompt now
(`/mcp__server__prompt`), skills and custom commands next. One place, so the REPL and a
headless `-p "/name args"` run the same code; `ui/commands/` keeps the commands that act
on the REPL itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nano_claude.core.messages import ImageBlock, TextBlock

if TYPE_CHECKING:
    from nano_claude.core.loop import Agent


def split(line: str) -> tuple[str, str] | None:
    """`/name rest` -> (name, rest); None when the line is not a slash command."""
    text = line.strip()
    if not text.startswith("/"):
        return None
    name, _, rest = text[1:].partition(" ")
    if not name or "/" in name:
        return None
    return name, rest.strip()


def handles(agent: Agent, line: str) -> bool:
    """Is this line one an extension expands (so not an unknown REPL command)?"""
    parsed = split(line)
    return parsed is not None and parsed[0].startswith("mcp__") and agent.mcp is not None


async def expand(agent: Agent, line: str) -> list[TextBlock | ImageBlock] | None:
    """The message content the line stands for; None when no extension takes it. Raises
    NanoClaudeError (one line, with what to type instead) when one takes it and fails."""
    if not handles(agent, line):
        return None
    from nano_claude.extensions.mcp.prompts import run_prompt

    name, rest = split(line)  # type: ignore[misc]
    return await run_prompt(agent.mcp, name, rest, agent.ctx)
