"""/context: how full the model's context window is, and what the system prompt is made of
(each instructions file with its path, so a user can see which CLAUDE.md the model got)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nano_claude.core.messages import (
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    from nano_claude.core.context import ContextSource
    from nano_claude.core.loop import Agent

BAR_CELLS = 16
CHARS_PER_TOKEN = 4  # the usual estimate for English and code
IMAGE_TOKENS = 1600  # about what a full-size image costs on the big providers
LABELS = {"base": "built-in instructions", "override": "--system-prompt", "environment": "environment",
          "git": "git", "user": "user instructions", "project": "project instructions",
          "memory": "memory index", "append": "--append-system-prompt"}


def bar(used: int, window: int) -> str:
    """`[████████░░░░░░░░] 50% 64,000 / 128,000 tokens`"""
    share = used / window if window else 0.0
    filled = min(BAR_CELLS, round(share * BAR_CELLS))
    return f"[{'█' * filled}{'░' * (BAR_CELLS - filled)}] {share:.0%} {used:,} / {window:,} tokens"


def estimate(message: Message) -> int:
    chars, images = 0, 0
    blocks = list(message.content)
    while blocks:
        block = blocks.pop()
        if isinstance(block, TextBlock):
            chars += len(block.text)
        elif isinstance(block, ThinkingBlock):
            chars += len(block.thinking)
        elif isinstance(block, ToolUseBlock):
            chars += len(block.name) + len(json.dumps(block.input, ensure_ascii=False))
        elif isinstance(block, ToolResultBlock):
            blocks.extend(block.content)
        elif isinstance(block, ImageBlock):
            images += 1
    return chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS


def used_tokens(state: ReplState) -> tuple[int, bool]:
    """Tokens in use and whether that is an estimate. The newest response's usage counts
    everything up to its answer; only messages after it are estimated. Before any
    response, the system prompt and the tool schemas are estimated too."""
    messages = state.session.messages
    if state.context_tokens:
        answered = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
        since = messages[answered + 1:]
        return state.context_tokens + sum(estimate(m) for m in since), bool(since)
    fixed = len(state.agent.options.system) + tool_chars(state.agent)
    return fixed // CHARS_PER_TOKEN + sum(estimate(m) for m in messages), True


def tool_chars(agent: Agent) -> int:
    specs = agent.tools.specs()
    return sum(len(s.name) + len(s.description) + len(json.dumps(s.input_schema)) for s in specs)


def tokens(chars: int) -> str:
    return f"~{chars // CHARS_PER_TOKEN:,}"


def source_lines(system: str, sources: Sequence[ContextSource]) -> list[str]:
    lines = [f"System prompt: {tokens(len(system))} tokens"]
    for source in sources:
        line = f"  {tokens(source.chars):>8}  {LABELS[source.kind]}"
        line += f": {source.path}" if source.path else ""
        lines.append(line + (f" ({source.note})" if source.note else ""))
    return lines


async def run(state: ReplState, args: str) -> None:
    model = state.agent.model
    used, estimated = used_tokens(state)
    count = len(state.session.messages)
    state.echo(f"Context: {count} message{'s' * (count != 1)} with {model.qualified}")
    state.echo(bar(used, model.context_window) + (" (estimated)" if estimated else ""))
    agent = state.agent
    for line in source_lines(agent.options.system, getattr(agent, "context_sources", ())):
        state.echo(line)
    count = len(agent.tools.specs())
    state.echo(f"Tool definitions: {count} tool{'s' * (count != 1)}, {tokens(tool_chars(agent))} tokens")


COMMAND = Command("context", "how much of the context window is used, and what the system prompt holds", run,
                  usage="/context")
