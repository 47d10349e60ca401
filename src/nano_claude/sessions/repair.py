"""A loaded history made valid for every provider again.

The loop answers every tool call before it returns, even when it is cancelled. A
`kill -9` gives it no chance: the transcript may end with an assistant message whose
tool calls have no results, and a line lost in the middle (a disk error, a hand
edit) may leave results whose call is gone. Every provider rejects both. Repair
answers each unanswered call, with its result when the transcript kept one (the call
had finished) or else with what was happening when the session stopped, and drops
results that answer nothing. Unchanged messages are kept as the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nano_claude.core.messages import Block, Message, ToolResultBlock, ToolUseBlock, tool_result
from nano_claude.sessions.transcript import CallTrace

RUNNING = ("Interrupted: the session stopped (nano_claude was killed) while this tool call was "
           "running, so its result was lost; it may have had some or all of its effects. Check "
           "before relying on them.")
ASKING = "Not run: the session stopped while the user was being asked whether this call may run."
NOT_STARTED = "Not run: the session stopped before this tool call started."
LOST = "The result of this tool call was lost: a line of the session's transcript could not be read."


@dataclass
class Repaired:
    messages: list[Message]
    notes: list[str] = field(default_factory=list)  # for the user: what was interrupted or fixed


def repair(messages: list[Message], calls: dict[str, CallTrace]) -> Repaired:
    out: list[Message] = []
    notes: list[str] = []
    open_calls: list[ToolUseBlock] = []  # the last assistant message's calls, not yet answered
    lost = dropped = 0
    for message in messages:
        if message.role == "assistant":
            if open_calls:  # answered by nothing before the model spoke again
                out.append(Message("user", tuple(tool_result(c.id, LOST, is_error=True) for c in open_calls)))
                lost += len(open_calls)
            out.append(message)
            open_calls = message.tool_uses
            continue
        fixed, missing, orphans = _answer(message, open_calls)
        lost += missing
        dropped += orphans
        open_calls = []
        if fixed is not None:
            out.append(fixed)
    if open_calls:
        answers = tuple(_interrupted(c, calls.get(c.id)) for c in open_calls)
        out.append(Message("user", answers))
        notes.extend(_note(c, calls.get(c.id)) for c in open_calls)
    if lost:
        notes.append(f"{lost} earlier tool call(s) had no result in the transcript; they are marked as lost.")
    if dropped:
        notes.append(f"Dropped {dropped} tool result(s) whose call was missing from the transcript.")
    if out and out[-1].role == "user" and not out[-1].tool_results:
        notes.append("Your last message has no answer: the session stopped while the model was answering.")
    return Repaired(out, notes)


def _answer(message: Message, open_calls: list[ToolUseBlock]) -> tuple[Message | None, int, int]:
    """A user message after the calls of `open_calls`: its results kept when they answer
    one of them, the calls it leaves unanswered answered as lost, results first (as
    Anthropic requires). Returns (the message or None when nothing is left, missing, orphans)."""
    wanted = {c.id for c in open_calls}
    results = [b for b in message.content if isinstance(b, ToolResultBlock) and b.tool_use_id in wanted]
    others = [b for b in message.content if not isinstance(b, ToolResultBlock)]
    orphans = len(message.tool_results) - len(results)
    answered = {b.tool_use_id for b in results}
    missing = [tool_result(c.id, LOST, is_error=True) for c in open_calls if c.id not in answered]
    if not missing and not orphans:
        return message, 0, 0
    content: tuple[Block, ...] = (*results, *missing, *others)
    return (Message("user", content, message.meta) if content else None), len(missing), orphans


def _interrupted(call: ToolUseBlock, trace: CallTrace | None) -> ToolResultBlock:
    if trace is not None and trace.result is not None:
        return trace.result
    if trace is None:
        return tool_result(call.id, NOT_STARTED, is_error=True)
    return tool_result(call.id, ASKING if trace.asking else RUNNING, is_error=True)


def _note(call: ToolUseBlock, trace: CallTrace | None) -> str:
    what = describe_call(call.name, call.input)
    if trace is not None and trace.result is not None:
        return f"{what} had finished when the session stopped; its result is kept."
    if trace is None:
        return f"{what} had not started when the session stopped; the model is told it did not run."
    if trace.asking:
        return f"{what} was waiting for your permission when the session stopped; it did not run."
    return f"{what} was running when the session stopped; the model is told it was interrupted."


def describe_call(name: str, arguments: dict[str, object], limit: int = 60) -> str:
    """`Bash(npm test)`: the name and its first text argument, on one line."""
    first = next((v for v in arguments.values() if isinstance(v, str)), "")
    text = " ".join(first.split())
    return f"{name}({text if len(text) <= limit else text[:limit - 1] + '…'})"
