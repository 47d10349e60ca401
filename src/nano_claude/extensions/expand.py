"""A `/name args` line that an extension turns into the user's message: a skill or custom
command (`/deploy staging`, extensions/skills/) or an MCP prompt (`/mcp__server__prompt`).
One place, so the REPL and a headless `-p "/name args"` run the same code; `ui/commands/`
keeps the commands that act on the REPL itself (in the REPL those win a name).

What a skill sets for its turn (allowed tools, a model) lasts until whoever ran the agent
calls `end_turn` after the run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from nano_claude.core.messages import ImageBlock, TextBlock

if TYPE_CHECKING:
    from nano_claude.core.events import Event
    from nano_claude.core.loop import Agent, Session

_COMMAND = re.compile(r"(\S*)\s*(.*)", re.S)


def split(line: str) -> tuple[str, str] | None:
    """`/model gpt-4o` -> ("model", "gpt-4o"); None when the line is not a slash command. A
    first word with another slash in it is a path (`/etc/hosts what is this?`), so a prompt.
    A bare `/` gives ("", "")."""
    text = line.strip()
    if not text.startswith("/"):
        return None
    match = _COMMAND.match(text[1:].lstrip())
    assert match is not None  # the pattern matches any text
    name, rest = match.groups()
    if "/" in name:
        return None
    return name, rest.strip()


def handles(agent: Agent, line: str) -> bool:
    """Is this line one an extension expands (so not an unknown REPL command)?"""
    parsed = split(line)
    if parsed is None or not parsed[0]:
        return False
    name = parsed[0]
    if name.startswith("mcp__") and agent.mcp is not None:
        return True
    from nano_claude.extensions.skills.catalog import skills_of

    skills = skills_of(agent)
    return skills is not None and skills.get(name) is not None


async def expand(agent: Agent, line: str, *, session: Session | None = None,
                 relay: Callable[[Event], None] | None = None) -> list[TextBlock | ImageBlock] | None:
    """The message content the line stands for; None when no extension takes it. Raises
    NanoClaudeError (one line, with what to type instead) when one takes it and fails.
    `session`: the conversation it goes to (a fork's usage counts there); `relay`: where a
    forked skill's sub-agent reports what it does."""
    if not handles(agent, line):
        return None
    name, rest = split(line)  # type: ignore[misc]
    if name.startswith("mcp__") and agent.mcp is not None:
        from nano_claude.extensions.mcp.prompts import run_prompt

        return await run_prompt(agent.mcp, name, rest, agent.ctx)
    from nano_claude.extensions.skills.catalog import skills_of
    from nano_claude.extensions.skills.run import run_typed

    skills = skills_of(agent)
    assert skills is not None  # handles() found it
    return await run_typed(agent, skills, name, rest, session=session, relay=relay)


async def end_turn(agent: Agent) -> None:
    """The run is over: a skill's allowed and disallowed tools stop applying, and a skill's
    model hands back to the session's (`agent` may be a sub-agent, whose run it was)."""
    agent.policy.end_turn()
    from nano_claude.extensions.skills.catalog import session_skills

    skills = session_skills(agent)
    if skills is not None:
        await skills.end_turn(agent)
