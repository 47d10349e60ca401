"""The HookRunner: the loop, the REPL and headless runs call it at fixed points, and it runs
the hooks that match, in parallel, and answers with one typed `Decision`.

One runner per session, held as `agent.hooks`; a sub-agent gets a view of it
(`for_subagent`) that tags what it sends with the agent's id and type and reports its end
as SubagentStop. Every run is recorded (when, how it ended, how long it took) for /hooks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nano_claude.core.events import Notice
from nano_claude.core.messages import TextBlock, ToolResultBlock, ToolUseBlock
from nano_claude.extensions.hooks.config import Found, Hook
from nano_claude.extensions.hooks.handlers import Ran, run_command, run_http
from nano_claude.extensions.hooks.output import Permission, Said, interpret
from nano_claude.extensions.hooks.trust import Trust

if TYPE_CHECKING:
    from nano_claude.core.loop import Agent, Session
    from nano_claude.paths import Paths

DEFAULT_TIMEOUT = 600.0
SESSION_END_TIMEOUT = 1.5  # Claude Code's budget: leaving must not wait on a hook
# Where a block (exit 2, decision "block") changes what happens; elsewhere its reason is shown
BLOCKING = frozenset({"PreToolUse", "PermissionRequest", "PostToolUse", "PostToolUseFailure",
                      "UserPromptSubmit", "Stop", "SubagentStop", "PreCompact"})
MODES = {"auto": "default", "manual": "default", "accept-all": "bypassPermissions", "plan": "plan"}
_STRENGTH = {"allow": 1, "ask": 2, "deny": 3}


@dataclass(frozen=True)
class HookFailed(Notice):
    """A hook that could not start, timed out or exited with an error: one line for the user
    (the run goes on); stream-json writes it as `{"type": "system", "subtype": "hook_error"}`."""

    event: str = ""
    hook: str = ""  # its command or URL
    code: int | None = None

    subtype: ClassVar[str] = "hook_error"

    @property
    def details(self) -> dict[str, Any]:
        return {"hook_event_name": self.event, "hook": self.hook, "exit_code": self.code}


@dataclass(frozen=True)
class LastRun:
    when: float  # time.time()
    outcome: str  # "exit 0", "HTTP 200", "did not finish"
    seconds: float
    failure: str = ""


@dataclass
class Decision:
    """What the hooks of one event said, together: deny beats ask beats allow; any block blocks."""

    blocked: bool = False
    reasons: list[str] = field(default_factory=list)
    permission: Permission | None = None
    permission_reason: str = ""
    updated_input: dict[str, Any] | None = None
    context: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # for the user: failures, systemMessages
    halt: str | None = None  # a hook said `continue: false`: the run stops (with this reason)

    @property
    def reason(self) -> str:
        return "\n".join(r for r in self.reasons if r)


@dataclass
class Submitted:
    """What SessionStart and UserPromptSubmit made of a prompt: context to send after the
    message (after what a skill in it expanded to), or `blocked` (`reason` says why) when a
    hook dropped it."""

    context: tuple[TextBlock, ...] = ()
    notices: list[Notice] = field(default_factory=list)
    blocked: bool = False
    reason: str = ""
    event: str = "UserPromptSubmit"  # the hook's event that dropped it


@dataclass
class _Shared:
    found: Found
    trust: Trust
    project: Path
    paths: Paths | None
    transcripts: Path | None
    records: dict[tuple[str, tuple[str, str]], LastRun] = field(default_factory=dict)
    agent: Agent | None = None  # the session's own agent: its session names the hooks' session
    session: Session | None = None  # the one the newest prompt was sent in


class HookRunner:
    """The session's hooks, run at the loop's fixed points; the REPL and headless runs call
    `submit` before a prompt and `end` when they finish."""

    def __init__(self, found: Found, *, trust: Trust, project: Path, paths: Paths | None = None,
                 transcripts: Path | None = None) -> None:
        self._shared = _Shared(found, trust, project, paths, transcripts)
        self.agent: Agent | None = None  # whose calls these are (set by attach())
        self.subagent: tuple[str, str] | None = None  # (agent_id, agent_type) of a sub-agent's view
        self._started: Session | None = None  # the session SessionStart was run for

    def attach(self, agent: Agent) -> HookRunner:
        self.agent = self._shared.agent = agent
        agent.hooks = self
        return self

    def for_subagent(self, agent: Agent, agent_id: str, agent_type: str) -> HookRunner:
        """The same hooks for a sub-agent: its calls are tagged with its id and type, and its
        end is SubagentStop (matched on the type)."""
        view = HookRunner.__new__(HookRunner)
        view._shared, view._started = self._shared, None
        view.agent, view.subagent = agent, (agent_id, agent_type)
        agent.hooks = view
        return view

    # --- what is configured ---------------------------------------------------------------

    @property
    def found(self) -> Found:
        return self._shared.found

    @property
    def trust(self) -> Trust:
        """Whether the project's own hooks may run (user hooks always do)."""
        return self._shared.trust

    @property
    def pending(self) -> list[Hook]:
        """Project hooks that wait for the user's trust."""
        return self.found.project if self.trust == "pending" else []

    def runs(self, hook: Hook) -> bool:
        return hook.scope == "user" or self.trust == "approved"

    def decide(self, trusted: bool) -> str:
        """The user trusted (or not) the project's hooks: from now on, and remembered for this
        exact set. Returns a note when it could not be remembered."""
        from nano_claude.core.errors import ConfigError
        from nano_claude.extensions.hooks import trust

        self._shared.trust = "approved" if trusted else "denied"
        if self._shared.paths is None:
            return ""
        try:
            trust.remember(self._shared.paths, self._shared.project, self.found.digest, trusted)
        except ConfigError as exc:
            return f"{exc}; the answer holds for this session only"
        return ""

    @property
    def stop_event(self) -> str:
        return "SubagentStop" if self.subagent is not None else "Stop"

    def last_run(self, hook: Hook) -> LastRun | None:
        return self._shared.records.get((hook.event, hook.handler.key))

    # --- running --------------------------------------------------------------------------

    async def run(self, event: str, fields: Mapping[str, Any], match: str | None = None) -> Decision:
        """Run every hook of `event` whose matcher takes `match` (each handler once), at once."""
        hooks: list[Hook] = []
        for hook in self.found.hooks:
            if hook.event != event or not self.runs(hook) or not hook.matches(match):
                continue
            if all(h.handler.key != hook.handler.key for h in hooks):
                hooks.append(hook)
        if not hooks:
            return Decision()
        body = json.dumps({**self._common(event), **fields}, ensure_ascii=False).encode()
        ran = await asyncio.gather(*(self._one(hook, body) for hook in hooks))
        said = [interpret(event, r) for r in ran]
        for hook, result, one in zip(hooks, ran, said, strict=True):
            self._shared.records[(hook.event, hook.handler.key)] = LastRun(
                time.time(), result.outcome, result.seconds, one.failure)
        return _combine(event, hooks, said, ran)

    async def _one(self, hook: Hook, body: bytes) -> Ran:
        handler = hook.handler
        timeout = handler.timeout or (SESSION_END_TIMEOUT if hook.event == "SessionEnd" else DEFAULT_TIMEOUT)
        environ = dict(self.agent.ctx.environ) if self.agent is not None else {}
        if handler.type == "command":
            project = str(self._shared.project)
            env = {**environ, "CLAUDE_PROJECT_DIR": project, "NANO_CLAUDE_PROJECT_DIR": project,
                   **dict(handler.env)}
            cwd = self.agent.ctx.cwd if self.agent is not None else self._shared.project
            return await run_command(handler, body, cwd=cwd, env=env, timeout=timeout)
        return await run_http(handler, body, environ=environ, timeout=timeout)

    def _common(self, event: str) -> dict[str, Any]:
        top = self._shared.agent
        session = self._shared.session or (top.session if top is not None else None)
        session_id = str(getattr(session, "id", ""))
        transcripts = self._shared.transcripts
        fields: dict[str, Any] = {
            "session_id": session_id,
            "transcript_path": str(transcripts / f"{session_id}.jsonl") if transcripts and session_id else "",
            "cwd": str(self.agent.ctx.cwd) if self.agent is not None else str(self._shared.project),
            "permission_mode": MODES.get(self.agent.policy.mode, "default") if self.agent else "default",
            "hook_event_name": event,
        }
        if self.subagent is not None:
            fields["agent_id"], fields["agent_type"] = self.subagent
        return fields

    # --- the events -----------------------------------------------------------------------

    async def pre_tool_use(self, call: ToolUseBlock) -> Decision:
        decision = await self.run("PreToolUse", _call_fields(call), call.name)
        if decision.blocked:  # exit 2 or decision "block": the call does not run
            decision.permission = "deny"
            decision.permission_reason = decision.reason or decision.permission_reason
        return decision

    async def permission_request(self, call: ToolUseBlock, suggestions: tuple[str, ...]) -> Decision:
        fields = {**_call_fields(call), "permission_suggestions": list(suggestions)}
        decision = await self.run("PermissionRequest", fields, call.name)
        if decision.blocked:
            decision.permission = "deny"
            decision.permission_reason = decision.reason or decision.permission_reason
        return decision

    async def post_tool_use(self, call: ToolUseBlock, result: ToolResultBlock) -> Decision:
        if result.is_error:
            fields = {**_call_fields(call), "error": result.text}
            return await self.run("PostToolUseFailure", fields, call.name)
        response: dict[str, Any] = {"content": result.text, "success": True}
        if isinstance(call.input.get("file_path"), str):
            response["filePath"] = call.input["file_path"]
        return await self.run("PostToolUse", {**_call_fields(call), "tool_response": response}, call.name)

    async def notification(self, message: str, kind: str = "permission_prompt") -> Decision:
        return await self.run("Notification", {"message": message, "title": "nano_claude",
                                               "notification_type": kind}, kind)

    async def stop(self, last_message: str, active: bool) -> Decision:
        fields: dict[str, Any] = {"stop_hook_active": active, "last_assistant_message": last_message}
        return await self.run(self.stop_event, fields, self.subagent[1] if self.subagent else None)

    async def pre_compact(self, trigger: str, instructions: str) -> Decision:
        fields = {"trigger": trigger, "custom_instructions": instructions}
        return await self.run("PreCompact", fields, trigger)

    async def submit(self, session: Session, prompt: str) -> Submitted:
        """Before a prompt is sent, on the line as the user typed it (before a skill in it runs
        its commands): SessionStart once for each session (its context goes with this first
        message), then UserPromptSubmit, which may add context or drop the prompt."""
        notices: list[Notice] = []
        context: list[tuple[str, str]] = []
        if self._started is not session:
            source = "resume" if session.messages else "startup"
            if self._started is not None:  # /clear, /resume: the old one ends, the new one starts
                source = "resume" if session.messages else "clear"
                notices += (await self.end(source)).notices
            self._started = self._shared.session = session
            model = self.agent.model.id if self.agent is not None else ""
            start = await self.run("SessionStart", {"source": source, "model": model}, source)
            notices += start.notices
            if start.halt is not None:  # `continue: false`: nothing goes; the next prompt starts again
                self._started = None
                return Submitted(notices=notices, blocked=True, reason=start.halt, event="SessionStart")
            context += [("SessionStart", c) for c in start.context]
        said = await self.run("UserPromptSubmit", {"prompt": prompt})
        notices += said.notices
        if said.blocked or said.halt is not None:
            reason = said.reason or said.halt or "a UserPromptSubmit hook blocked it"
            return Submitted(notices=notices, blocked=True, reason=reason)
        context += [("UserPromptSubmit", c) for c in said.context]
        added = tuple(TextBlock(f"Context from a {event} hook:\n{text}") for event, text in context)
        return Submitted(added, notices)

    async def end(self, reason: str) -> Decision:
        """SessionEnd, for a session that started (its first prompt ran SessionStart)."""
        if self._started is None:
            return Decision()
        self._started = None
        return await self.run("SessionEnd", {"reason": reason}, reason)


def _call_fields(call: ToolUseBlock) -> dict[str, Any]:
    return {"tool_name": call.name, "tool_input": call.input, "tool_use_id": call.id}


def _combine(event: str, hooks: list[Hook], said: list[Said], ran: list[Ran]) -> Decision:
    decision = Decision()
    for hook, one, result in zip(hooks, said, ran, strict=True):
        target = _short(hook.handler.target)
        if one.failure:
            decision.notices.append(HookFailed(f"{event} hook `{target}` failed: {one.failure}", event,
                                               hook.handler.target, result.code))
        if one.message:
            decision.notices.append(Notice(f"{event} hook: {one.message}"))
        if one.block and event in BLOCKING:
            decision.blocked = True
            decision.reasons.append(one.reason or f"blocked by the {event} hook `{target}`")
        elif one.block and one.reason:
            decision.notices.append(Notice(f"{event} hook `{target}`: {one.reason}"))
        if one.permission is not None and (decision.permission is None
                                           or _STRENGTH[one.permission] > _STRENGTH[decision.permission]):
            decision.permission, decision.permission_reason = one.permission, one.permission_reason
        if decision.updated_input is None and one.updated_input is not None:
            decision.updated_input = one.updated_input
        if one.context:
            decision.context.append(one.context)
        if one.halt is not None and decision.halt is None:
            decision.halt = one.halt or f"the {event} hook `{target}` stopped the run"
    return decision


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
