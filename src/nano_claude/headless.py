"""-p / --print: run one task and exit, writing text, json or stream-json.

The json and stream-json shapes follow Claude Code's, so scripts written for one
work with the other: `system/init`, `assistant` and `user` messages, and one
final `result` object with the text, session id, turns, usage and cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.events import (
    Error,
    Event,
    MessageAdded,
    Notice,
    PermissionAsked,
    Relayed,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnDone,
    Usage,
)
from nano_claude.core.loop import Agent
from nano_claude.core.messages import Message, TextBlock, block_to_dict, user_text
from nano_claude.sessions.checkpoints import TURN_KEY, Checkpoints, new_turn_id
from nano_claude.sessions.recorder import Recorder
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import SessionStore
from nano_claude.ui.text import diff_style, first_line, result_line, short_args, usage_line

_SGR = {"green": "32", "red": "31", "cyan": "36", "dim": "2"}
SUBTYPES = {"end_turn": "success", "max_turns": "error_max_turns"}
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@dataclass
class Outcome:
    """What the run came to, for the result object and the exit code."""

    session_id: str
    stop_reason: str = "error"
    turns: int = 0
    text: str = ""
    errors: list[str] = field(default_factory=list)
    usage: Usage | None = None
    denials: list[PermissionAsked] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.stop_reason == "end_turn" and not self.errors

    def result(self, model: str) -> dict[str, Any]:
        total = self.usage.total if self.usage else None
        return {
            "type": "result",
            "subtype": SUBTYPES.get(self.stop_reason, "error_during_execution"),
            "is_error": not self.ok,
            "duration_ms": int((time.monotonic() - self.started) * 1000),
            "num_turns": self.turns,
            "result": self.text if self.ok else (self.errors[-1] if self.errors else self.text),
            "session_id": self.session_id,
            "model": model,
            "total_cost_usd": round(self.usage.total_cost_usd, 6) if self.usage else 0.0,
            "usage": {
                "input_tokens": total.input_tokens if total else 0,
                "output_tokens": total.output_tokens if total else 0,
                "cache_read_input_tokens": total.cache_read_tokens if total else 0,
                "cache_creation_input_tokens": total.cache_write_tokens if total else 0,
            },
            "permission_denials": [
                {"tool_name": d.tool, "tool_use_id": d.tool_use_id, "tool_input": d.input}
                for d in self.denials
            ],
            **({"errors": self.errors} if self.errors else {}),
        }


class TextWriter:
    """Answer text to stdout as it streams; activity and problems to stderr."""

    def __init__(self, out: TextIO, err: TextIO, *, verbose: bool, color: bool) -> None:
        self.out, self.err, self.verbose, self.color = out, err, verbose, color
        self._at_line_start = True

    def _note(self, text: str, code: str = "2") -> None:
        if not self._at_line_start:
            self.out.write("\n")
            self.out.flush()
            self._at_line_start = True
        line = f"\x1b[{code}m{text}\x1b[0m" if self.color else text
        self.err.write(line + "\n")
        self.err.flush()

    def on_event(self, event: Event) -> None:
        if isinstance(event, Relayed):
            self._relayed(event)
        elif isinstance(event, TextDelta):
            self.out.write(event.text)
            self.out.flush()
            self._at_line_start = event.text.endswith("\n")
        elif isinstance(event, ThinkingDelta) and self.verbose:
            self.err.write(f"\x1b[2m{event.text}\x1b[0m" if self.color else event.text)
        elif isinstance(event, ToolCallStarted) and self.verbose:
            self._note(f"⚙ {event.name}({short_args(event.input)})")
        elif isinstance(event, ToolCallFinished) and self.verbose:
            mark = "✗" if event.is_error else "✓"
            self._note(f"{mark} {result_line(event)}", "31" if event.is_error else "2")
            for line in event.display.splitlines():
                self._note(line, _SGR[diff_style(line)])
        elif isinstance(event, PermissionAsked) and not event.allowed:
            how = event.note or "allow it with --allowedTools or rerun with --accept-all"
            self._note(f"denied: {event.tool}({first_line(event.description, 80)}): {how}", "33")
        elif isinstance(event, Notice):
            self._note(f"note: {event.text}", "33")
        elif isinstance(event, Usage) and self.verbose:
            self._note(usage_line(event))
        elif isinstance(event, Error):
            self._note(f"error: {event.message}", "31")

    def _relayed(self, relayed: Relayed, depth: int = 1) -> None:
        """A sub-agent's activity: with --verbose, its tool calls indented under its call;
        its text is not the answer and never goes to stdout."""
        event = relayed.event
        if isinstance(event, Relayed):
            self._relayed(event, depth + 1)
            return
        pad = "  " * depth + f"[{relayed.agent}] "
        if isinstance(event, ToolCallStarted) and self.verbose:
            self._note(f"{pad}⚙ {event.name}({short_args(event.input)})")
        elif isinstance(event, ToolCallFinished) and self.verbose:
            mark = "✗" if event.is_error else "✓"
            self._note(f"{pad}{mark} {result_line(event)}", "31" if event.is_error else "2")
        elif isinstance(event, PermissionAsked) and not event.allowed:
            how = event.note or "allow it with --allowedTools or rerun with --accept-all"
            self._note(f"{pad}denied: {event.tool}({first_line(event.description, 80)}): {how}", "33")
        elif isinstance(event, Error):
            self._note(f"{pad}error: {event.message}", "31")

    def finish(self, outcome: Outcome, model: str) -> None:
        if not self._at_line_start:
            self.out.write("\n")
        if outcome.stop_reason == "max_turns":
            self._note(f"error: stopped after --max-turns {outcome.turns} turns; the task is "
                       "unfinished (raise --max-turns to let it go on)", "31")
        self.out.flush()


class JsonWriter:
    """One result object on stdout at the end; what the user should hear meanwhile (a hook
    that failed, a server skipped, an error) goes to stderr as in text mode."""

    def __init__(self, out: TextIO, err: TextIO | None = None) -> None:
        self.out, self.err = out, err

    def on_event(self, event: Event) -> None:
        if self.err is None:
            return
        if isinstance(event, Notice):
            self.err.write(f"note: {event.text}\n")
        elif isinstance(event, Error):
            self.err.write(f"error: {event.message}\n")
        else:
            return
        self.err.flush()

    def finish(self, outcome: Outcome, model: str) -> None:
        self.out.write(json.dumps(outcome.result(model), ensure_ascii=False) + "\n")
        self.out.flush()


class StreamJsonWriter:
    """One JSON object per line, as it happens."""

    def __init__(self, out: TextIO, session_id: str, model: str, partial: bool) -> None:
        self.out, self.session_id, self.model, self.partial = out, session_id, model, partial

    def emit(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.out.flush()

    def start(self, cwd: str, tools: list[str], permission_mode: str) -> None:
        from nano_claude import __version__

        self.emit({"type": "system", "subtype": "init", "session_id": self.session_id,
                   "cwd": cwd, "model": self.model, "tools": tools, "mcp_servers": [],
                   "permissionMode": permission_mode, "version": __version__})

    def on_event(self, event: Event, parent: str | None = None) -> None:
        """`parent`: the tool call whose sub-agent this event is from (Claude Code's
        `parent_tool_use_id`); a sub-agent's messages and notices are written, its deltas not."""
        if isinstance(event, Relayed):
            self.on_event(event.event, event.parent_tool_use_id)
        elif isinstance(event, MessageAdded) and event.message.role == "assistant":
            self.emit(self._assistant(event.message, parent))
        elif isinstance(event, MessageAdded) and (event.message.tool_results or parent is not None
                                                  or "wakeup" in event.message.meta):
            # tool results, a sub-agent's prompt, and wake-ups (a timer, /proactive, a background
            # agent's result): what the model was told that the caller did not write
            content = [block_to_dict(b) for b in event.message.content]
            wakeup = {"wakeup": event.message.meta["wakeup"]} if "wakeup" in event.message.meta else {}
            self.emit({"type": "user", "message": {"role": "user", "content": content},
                       "parent_tool_use_id": parent, **wakeup, "session_id": self.session_id})
        elif isinstance(event, Notice) and (parent is None or hasattr(event, "subtype")):
            # a hook's failure has a subtype of its own (extensions/hooks/runner.HookFailed), and
            # is written for a sub-agent too
            where = {"parent_tool_use_id": parent} if parent is not None else {}
            self.emit({"type": "system", "subtype": getattr(event, "subtype", "notice"),
                       "message": event.text, **getattr(event, "details", {}), **where,
                       "session_id": self.session_id})
        elif parent is not None:
            return
        elif self.partial and isinstance(event, (TextDelta, ThinkingDelta)):
            delta = ({"type": "text_delta", "text": event.text} if isinstance(event, TextDelta)
                     else {"type": "thinking_delta", "thinking": event.text})
            self.emit({"type": "stream_event", "session_id": self.session_id,
                       "event": {"type": "content_block_delta", "delta": delta}})

    def _assistant(self, message: Message, parent: str | None = None) -> dict[str, Any]:
        return {
            "type": "assistant",
            "message": {
                "id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": self.model, "content": [block_to_dict(b) for b in message.content],
                "stop_reason": "tool_use" if message.tool_uses else "end_turn",
            },
            "parent_tool_use_id": parent,
            "session_id": self.session_id,
        }

    def finish(self, outcome: Outcome, model: str) -> None:
        self.emit(outcome.result(model))


async def run(agent: Agent, prompt: str, writer: TextWriter | JsonWriter | StreamJsonWriter,
              session: RecordedSession, store: SessionStore, notes: tuple[str, ...] = (),
              typed: str | None = None, err: TextIO | None = None) -> Outcome:
    """Run the prompt in `session` (a new one, or one continued with -c / --resume), its
    transcript written as the run goes and the session saved at the end, however it ends.
    `notes`: what the user should know about a continued session (what was interrupted).
    `typed`: the part of the prompt whose @path mentions attach files, as in the REPL (the
    prompt argument, not text piped in after it); each that fails is a line on `err`."""
    outcome = Outcome(session.id)
    recorder = Recorder(store.transcripts, lambda: agent.model.qualified, store.clock)
    recorder.follow(session)
    if agent.ctx.agents is not None:  # a background sub-agent's events come outside the run's own
        def background(run: Any, event: Event | None) -> None:
            if event is not None:
                _record(writer, outcome, Relayed(run.call_id, run.id, run.name, event))

        agent.ctx.agents.pool.listeners.append(background)
    for note in notes:
        writer.on_event(Notice(note))
    message: Message | None = None
    try:
        added = await _submit(agent, session, prompt, writer, outcome)  # before a skill in it runs
        if added is not None:
            message = await _message(agent, prompt, prompt if typed is None else typed, err or sys.stderr,
                                     session, relay=lambda event: _record(writer, outcome, event))
            message = replace(message, content=(*message.content, *added))
    except BaseException:  # an MCP prompt that failed: its servers stop with the run
        await _end_hooks(agent, writer)
        await agent.aclose()
        await agent.provider.aclose()
        raise
    checkpoints = Checkpoints(store.checkpoints(session.id))  # so /rewind can undo a -p run's edits
    try:
        if message is not None:
            too_big(agent, session, message)
            with checkpoints.turn(agent.ctx, session, message):
                async for event in agent.run(session, message):
                    recorder.on_event(event)
                    _record(writer, outcome, event)
    except NanoClaudeError as exc:  # e.g. the embedded model failing to load mid-run
        _record(writer, outcome, Error(str(exc), kind=type(exc).__name__))
    except asyncio.CancelledError:  # Ctrl+C or SIGTERM: the run is cancelled, history kept valid
        outcome.stop_reason = "cancelled"
        outcome.errors.append("interrupted before the task finished")
        writer.finish(outcome, agent.model.qualified)
        raise
    finally:
        _save(writer, recorder, session, store, agent.model.qualified)
        from nano_claude.extensions.expand import end_turn

        await end_turn(agent)  # a skill's model and allowed tools were for this run
        await _end_hooks(agent, writer)
        await agent.aclose()  # background commands and MCP servers end with the run
        await agent.provider.aclose()
    writer.finish(outcome, agent.model.qualified)  # json and stream-json always end with a result
    return outcome


async def _submit(agent: Agent, session: RecordedSession, prompt: str,
                  writer: TextWriter | JsonWriter | StreamJsonWriter,
                  outcome: Outcome) -> tuple[TextBlock, ...] | None:
    """SessionStart and UserPromptSubmit hooks on the prompt as given, before a skill or MCP
    prompt in it runs: the context they add after the message, or None when one dropped it."""
    if agent.hooks is None:
        return ()
    submitted = await agent.hooks.submit(session, prompt)
    for notice in submitted.notices:
        _record(writer, outcome, notice)
    if submitted.blocked:
        _record(writer, outcome, Error(f"a {submitted.event} hook blocked the prompt: {submitted.reason}",
                                       kind="HookBlocked"))
        return None
    return submitted.context


async def _end_hooks(agent: Agent, writer: TextWriter | JsonWriter | StreamJsonWriter) -> None:
    if agent.hooks is not None:
        for notice in (await agent.hooks.end("other")).notices:
            writer.on_event(notice)


class PromptTooBig(NanoClaudeError):
    """The prompt does not fit the model's window; the run stops before sending it."""


def too_big(agent: Agent, session: RecordedSession, message: Message) -> None:
    """User input is never cut without a word, and nobody is here to ask (the REPL asks):
    a prompt bigger than the model takes in one message stops the run before it is sent."""
    from nano_claude.core.oversize import oversize

    over = oversize(agent, session, message)
    if over is not None:
        raise PromptTooBig(
            f"the prompt is {over.describe(agent.model.qualified)}; nothing was sent. Save the "
            "text to a file and ask about the file by name (the model reads it in parts), or "
            "use a model with a larger window")


async def _message(agent: Agent, prompt: str, typed: str, err: TextIO, session: RecordedSession | None = None,
                   relay: Callable[[Event], None] | None = None) -> Message:
    """The prompt with the files and MCP resources it mentions as @path or @server:uri
    (core/mentions.py); a `/mcp__server__prompt args` or `/skill args` prompt is what that
    prompt or skill makes of it (a forked skill's sub-agent reports to `relay`)."""
    from nano_claude.core.mentions import attach
    from nano_claude.extensions.expand import expand

    resources = None
    if agent.mcp is not None:
        from nano_claude.extensions.mcp.prompts import Resources

        await agent.mcp.settle()
        resources = Resources(agent.mcp)
    expanded = await expand(agent, typed, session=session, relay=relay)
    if expanded is not None:  # what was piped in after it goes along as text
        rest = prompt[len(typed):].strip() if prompt.startswith(typed) else ""
        return Message("user", (*expanded, *user_text(rest).content[:1 if rest else 0]),
                       {TURN_KEY: new_turn_id()})
    found = await attach(typed, agent.ctx, agent.policy, resources)
    for note in found.notes:
        err.write(f"nano_claude: {note}\n")
    err.flush()
    return Message("user", (*user_text(prompt).content, *found.blocks), {TURN_KEY: new_turn_id()})


def _save(writer: TextWriter | JsonWriter | StreamJsonWriter, recorder: Recorder,
          session: RecordedSession, store: SessionStore, model: str) -> None:
    """The transcript is on disk already; bring the index and snapshots up to date. A
    failure to do so is worth a note, not a failed run."""
    recorder.close()
    if recorder.failure:
        writer.on_event(Notice(recorder.failure))
    try:
        store.save(session, model)
    except OSError as exc:
        writer.on_event(Notice(f"could not save the session in {store.root}: {exc.strerror or exc}"))


def _record(writer: TextWriter | JsonWriter | StreamJsonWriter, outcome: Outcome, event: Event) -> None:
    writer.on_event(event)
    inner = event
    while isinstance(inner, Relayed):  # a sub-agent's: its denials are the run's too
        inner = inner.event
    if inner is not event:
        if isinstance(inner, PermissionAsked) and not inner.allowed:
            outcome.denials.append(inner)
        return
    if isinstance(event, Usage):
        outcome.usage = event
    elif isinstance(event, Error):
        outcome.errors.append(event.message)
    elif isinstance(event, PermissionAsked) and not event.allowed:
        outcome.denials.append(event)
    elif isinstance(event, TurnDone):
        outcome.stop_reason, outcome.turns, outcome.text = event.stop_reason, event.turns, event.text


def run_sync(agent: Agent, prompt: str, writer: TextWriter | JsonWriter | StreamJsonWriter,
             session: RecordedSession, store: SessionStore, notes: tuple[str, ...] = (),
             typed: str | None = None) -> Outcome:
    """Run to the end. SIGTERM and SIGHUP cancel the run as Ctrl+C does, so the
    commands it started are stopped too (asyncio.CancelledError comes out)."""

    async def main() -> Outcome:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        assert task is not None
        for sig in EXIT_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, task.cancel)
        return await run(agent, prompt, writer, session, store, notes, typed)

    return asyncio.run(main())
