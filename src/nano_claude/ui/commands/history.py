"""/history: the conversation so far, as it happened: prompts, answers, tool calls and
the first line of each result. /history search TEXT searches every saved session."""

from __future__ import annotations

from nano_claude.config import user_home
from nano_claude.core.messages import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from nano_claude.sessions.command import found_lines
from nano_claude.sessions.search import search as search_sessions
from nano_claude.tools.base import ToolError
from nano_claude.tools.registry import Registry
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.save import disk_errors, store_of
from nano_claude.ui.state import ReplState

SHORT = 80  # characters of a call's arguments or a result's first line


def shorten(text: str, limit: int = SHORT) -> str:
    lines = text.strip().splitlines()
    if not lines:
        return ""
    if len(lines[0]) > limit:
        return lines[0][:limit - 1] + "…"
    return lines[0] + (" …" if len(lines) > 1 else "")


def call_summary(tools: Registry, call: ToolUseBlock) -> str:
    """`Bash(ls -la)`: the tool's own summary of its arguments when they parse."""
    try:
        tool, args = tools.parse(call.name, call.input)
        summary = tool.summary(args)
    except ToolError:
        summary = next((str(v) for v in call.input.values() if isinstance(v, str)), "")
    return f"{call.name}({shorten(summary)})"


async def search(state: ReplState, text: str) -> None:
    if not text:
        state.echo("usage: /history search TEXT (every word, in any saved session)", "yellow")
        return
    store = store_of(state)
    with disk_errors(store):
        found = search_sessions(store, text)
    if found.note:
        state.echo(f"note: {found.note}", "dim")
    lines = found_lines(found, user_home(state.environ))
    for line in lines or [f"No saved session mentions {text!r}."]:
        state.echo(line, "dim" if line.startswith("    ") else None)
    if lines:
        state.echo("/load ID continues one of them.", "dim")


async def run(state: ReplState, args: str) -> None:
    command, _, rest = args.partition(" ")
    if command == "search":
        await search(state, rest.strip())
        return
    messages = state.session.messages
    if not messages:
        state.echo("No conversation yet.")
        return
    markdown = getattr(state.output, "markdown", None)
    for message in messages:
        for block in message.content:
            if isinstance(block, TextBlock) and message.role == "user":
                state.echo(f"❯ {block.text}", "bold")
            elif isinstance(block, TextBlock):
                if markdown is not None:
                    markdown(block.text)
                else:
                    state.echo(block.text)
            elif isinstance(block, ToolUseBlock):
                state.echo(f"⚙ {call_summary(state.agent.tools, block)}", "cyan")
            elif isinstance(block, ToolResultBlock):
                first = shorten(block.text) or ("(image)" if block.content else "(no output)")
                state.echo(f"  ⎿ {first}", "red" if block.is_error else "dim")
            elif isinstance(block, ImageBlock):
                state.echo(f"[image {block.media_type}]", "dim")
        state.echo()


COMMAND = Command("history", "show the conversation so far, or search every saved session", run,
                  usage="/history [search TEXT]")
