"""MCP prompts as slash commands, MCP resources as `@server:uri` mentions.

`/mcp__<server>__<prompt> a b` runs the server's prompt with its arguments in order (the
last one takes any words left over; `name=value` words set an argument by name) and sends
what it returns as the user's message, in the REPL and as a `-p` prompt alike.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.messages import ImageBlock, TextBlock
from nano_claude.extensions.mcp.tools import clean, content_blocks, read_resource, reason
from nano_claude.tools.base import ToolContext, ToolError

if TYPE_CHECKING:
    from nano_claude.extensions.mcp.connection import Connection
    from nano_claude.extensions.mcp.manager import McpManager

PREFIX = "mcp__"
Blocks = list[TextBlock | ImageBlock]


class PromptFailed(NanoClaudeError):
    """An MCP prompt that could not run; the message says why and what to type instead."""


def command_name(server: str, prompt: str) -> str:
    return f"{PREFIX}{clean(server)}__{clean(prompt.replace(' ', '_'))}"


def prompt_commands(manager: McpManager) -> dict[str, tuple[Connection, Any]]:
    """Every connected server's prompts by their command name (without the slash)."""
    found: dict[str, tuple[Connection, Any]] = {}
    for conn in manager.connections.values():
        if conn.status == "connected":
            for prompt in conn.lists.prompts:
                found.setdefault(command_name(conn.name, prompt.name), (conn, prompt))
    return found


def usage(name: str, prompt: Any) -> str:
    args = " ".join(a.name if a.required else f"[{a.name}]" for a in prompt.arguments or ())
    return f"/{name} {args}".rstrip()


async def run_prompt(manager: McpManager, name: str, text: str, ctx: ToolContext) -> Blocks:
    """The message `/name text` stands for; PromptFailed says why there is none."""
    await manager.settle()
    commands = prompt_commands(manager)
    if name not in commands:
        known = ", ".join(f"/{n}" for n in commands) or "none (is the server connected? see /mcp)"
        raise PromptFailed(f"no MCP prompt /{name}; the MCP prompts are: {known}")
    conn, prompt = commands[name]
    arguments = bind(prompt, text, usage(name, prompt))
    try:
        result = await conn.call("get_prompt", prompt.name, arguments)
    except Exception as exc:
        raise PromptFailed(f"/{name}: the server {conn.name!r} said: {reason(exc, 500)}") from exc
    blocks: Blocks = []
    several = len(result.messages) > 1
    for message in result.messages:
        converted = content_blocks(message.content, ctx)
        if several and message.role == "assistant":
            blocks.append(TextBlock("(The prompt continues with what the assistant said:)"))
        blocks.extend(converted)
    if not blocks:
        raise PromptFailed(f"/{name}: the server {conn.name!r} returned an empty prompt")
    return blocks


def bind(prompt: Any, text: str, shown: str) -> dict[str, str]:
    """Words to arguments: by name (`key=value`) or in order, the last taking the rest."""
    declared = list(prompt.arguments or ())
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    names = {a.name for a in declared}
    values: dict[str, str] = {}
    positional = []
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key in names:
            values[key] = value
        else:
            positional.append(word)
    free = [a.name for a in declared if a.name not in values]
    if positional and not free:
        raise PromptFailed(f"{shown}: takes no more arguments (got {' '.join(positional)!r})")
    for i, name in enumerate(free):
        if i >= len(positional):
            break
        values[name] = " ".join(positional[i:]) if i == len(free) - 1 else positional[i]
    missing = [a.name for a in declared if a.required and a.name not in values]
    if missing:
        raise PromptFailed(f"{shown}: missing {', '.join(missing)}")
    return values


# --- resources as mentions -----------------------------------------------------------------

class Resources:
    """What core/mentions.py asks to attach `@server:uri`: the servers, and a reader."""

    def __init__(self, manager: McpManager) -> None:
        self.manager = manager

    def names(self) -> list[str]:
        self.manager.update_readable()  # servers /mcp added or approved since the last request
        return [n for n, c in self.manager.readable.items() if c.lists.resources or c.status == "starting"]

    def uris(self, server: str) -> Iterator[str]:
        conn = self.manager.readable.get(server)
        for resource in conn.lists.resources if conn is not None else ():
            yield str(resource.uri)

    async def read(self, server: str, uri: str, ctx: ToolContext) -> Blocks:
        conn = self.manager.readable.get(server)
        if conn is None:
            raise ToolError(f"no MCP server {server!r}")
        if conn.status == "starting":
            await conn.wait(self.manager.options.startup_wait or conn.connect_timeout)
        output = await read_resource(conn, uri, ctx, self.manager.options.limits)
        if output.is_error:
            raise ToolError(" ".join(b.text for b in output.content if isinstance(b, TextBlock)))
        return [TextBlock(f'<resource server="{server}" uri="{uri}">\n{b.text}\n</resource>')
                if isinstance(b, TextBlock) else b for b in output.content]
