"""Sub-agents: the same loop with its own history, never allowed more than its parent.

A sub-agent is an `Agent` built from its parent's: the same provider (or another model
the catalog resolves), the parent's tools seen through its type's filter (`ToolView`), and
a policy made of the parent's very rules (deny and ask always flow down) in a mode no
wider than the parent's. It runs in the foreground (the parent's tool call returns its
final answer, its events relayed under that call) or in the background (the call returns
an id; the parent is woken with the result when it ends, and nothing is lost if nobody
asks). Every sub-agent of a session, at any depth, is in one `Pool` (for /agents).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.core.events import (
    Error,
    Event,
    Relayed,
    TokenUsage,
    ToolCallFinished,
    ToolCallStarted,
    TurnDone,
)
from nano_claude.core.loop import Agent, Session
from nano_claude.core.messages import Message, TextBlock, user_text
from nano_claude.core.prompter import NoUserPresent, PermissionRequest, Prompter, Question, Verdict
from nano_claude.permissions.policy import Mode, Policy
from nano_claude.permissions.rules import EDIT_TOOLS, READ_TOOLS, Rule, RuleSet, parse_rule, rule_path_pattern
from nano_claude.tools.base import Tool, ToolContext, ToolError, ToolOutput
from nano_claude.ui.text import result_line, short_args

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.extensions.agents.types import AgentType, Found
    from nano_claude.extensions.agents.worktree import Worktree
    from nano_claude.providers.base import Provider
    from nano_claude.providers.catalog import ModelInfo
    from nano_claude.sessions.recorder import Recorder

MAX_DEPTH = 3  # a sub-agent of a sub-agent of a sub-agent may not start another
NOT_FOR_SUBAGENTS = frozenset({"AskUserQuestion"})  # nobody answers a sub-agent's questions
# How wide a permission mode is: a sub-agent's may only be the same or narrower
_WIDTH: dict[str, int] = {"plan": 0, "manual": 1, "auto": 2, "accept-all": 3}
# Claude Code's model aliases, meaningful when the session runs on Anthropic's models
CLAUDE_ALIASES = {"sonnet": "anthropic/claude-sonnet-4-6", "opus": "anthropic/claude-opus-4-6",
                  "haiku": "anthropic/claude-haiku-4-5"}
FINAL_STATES = ("completed", "failed", "cancelled")


def model_meant(wanted: str | None, current: ModelInfo) -> str | None:
    """The model an agent or skill file's `model:` names here, or None: stay on `current`.
    Claude Code's aliases name a tier of Anthropic's models; on any other provider the
    session's own model runs the file."""
    if wanted in CLAUDE_ALIASES:
        wanted = CLAUDE_ALIASES[wanted] if current.provider == "anthropic" else None
    if not wanted or wanted == "inherit" or wanted in (current.qualified, current.id):
        return None
    return wanted


def narrower(parent: Mode, wanted: str | None) -> Mode:
    """The mode a sub-agent runs in: its type's, unless that is wider than its parent's."""
    if wanted is None or wanted not in _WIDTH or _WIDTH[wanted] > _WIDTH[parent]:
        return parent
    return wanted  # type: ignore[return-value]


class ToolView:
    """A sub-agent's tools: its parent's registry seen through a filter (the tools stay
    the parent's own objects; MCP tools that come and go show through as they do)."""

    def __init__(self, inner: Any, allows: Callable[[str], bool], kind: str) -> None:
        self.inner, self.allows, self.kind = inner, allows, kind
        self._seen: tuple[Any, ...] | None = None
        self._specs: tuple[Any, ...] = ()

    @property
    def profile(self) -> str:
        return self.inner.profile

    @property
    def names(self) -> list[str]:
        return [name for name in self.inner.names if self.allows(name)]

    @property
    def deferred(self) -> list[str]:
        return [name for name in self.inner.deferred if self.allows(name)]

    def get(self, name: str) -> Tool | None:
        return self.inner.get(name) if self.allows(name) else None

    def specs(self) -> tuple[Any, ...]:
        specs = self.inner.specs()
        if specs is not self._seen:  # the parent's set changed (an MCP server came up)
            self._seen, self._specs = specs, tuple(s for s in specs if self.allows(s.name))
        return self._specs

    def parse(self, name: str, raw: dict[str, Any]) -> tuple[Tool, Any]:
        if self.inner.get(name) is None or not self.allows(name):
            import difflib

            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            what = "not available to" if self.inner.get(name) is not None else "not a tool of"
            raise ToolError(f"{name} is {what} a {self.kind} sub-agent.{hint} Its tools are: "
                            f"{', '.join(self.names)}.")
        return self.inner.parse(name, raw)

    async def execute(self, tool: Tool, args: Any, ctx: ToolContext) -> ToolOutput:
        return await self.inner.execute(tool, args, ctx)

    def load(self, name: str) -> bool:
        return self.inner.load(name) if self.allows(name) else False

    def register_tool(self, tool: Tool, *, deferred: bool = False) -> None:
        self.inner.register_tool(tool, deferred=deferred)

    def remove(self, name: str) -> None:
        self.inner.remove(name)


class ChildPrompter:
    """How a sub-agent asks: permission questions go to its parent's prompter with its name
    on them (the REPL asks one at a time; headless runs answer by policy). It never asks
    the user anything else: AskUserQuestion is not among its tools, and a loop it gets
    stuck in stops rather than waiting on a person."""

    def __init__(self, inner: Prompter, name: str, *, dont_ask: bool, pool: Pool | None = None) -> None:
        self.inner, self.name, self.dont_ask, self.pool = inner, name, dont_ask, pool

    async def confirm(self, request: PermissionRequest) -> Verdict:
        if self.dont_ask:
            return Verdict(False, f"Permission denied: {request.tool} needs approval, and this agent's type "
                                  "runs with permissionMode dontAsk. Do without it, or report that it is "
                                  "needed.")
        why = f"sub-agent {self.name}" + (f": {request.reason}" if request.reason else "")
        gate = self.pool.gate if self.pool is not None else None
        if gate is None:
            return await self.inner.confirm(replace(request, reason=why))
        async with gate():  # the REPL makes room for the question if its prompt is idle
            return await self.inner.confirm(replace(request, reason=why))

    async def ask(self, question: Question) -> str:
        raise NoUserPresent(f"sub-agent {self.name} cannot ask the user")


@dataclass
class AgentRun:
    """One sub-agent: what it was asked, how it is doing, what it came to."""

    id: str
    name: str
    kind: AgentType
    description: str
    background: bool
    depth: int
    call_id: str  # the parent's tool call that started it
    session: Session
    owner: Subagents  # the manager whose agent started it (and is woken by it)
    agent: Agent | None = None
    status: str = "queued"  # queued | running | completed | failed | cancelled
    stop_reason: str = ""
    result: str = ""
    error: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    tool_calls: int = 0
    activity: str = ""  # its newest tool call, for /agents and the spinner
    worktree: Worktree | None = None
    outcome: str = ""  # what became of its worktree
    delivered: bool = False  # its parent has its result (woken with it, or asked for it)
    inbox: list[str] = field(default_factory=list)  # SendMessage text for its next request
    task: asyncio.Task[None] | None = None
    recorder: Recorder | None = None
    prompt: str = ""

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def usage(self) -> TokenUsage:
        return self.session.usage

    @property
    def cost(self) -> float:
        return self.session.cost_usd

    @property
    def done(self) -> bool:
        return self.status in FINAL_STATES

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind.name})"


class Pool:
    """Every sub-agent of a session, at any depth, and the background slots they share."""

    def __init__(self, limit: int, transcripts: Path | None = None) -> None:
        self.limit = max(1, limit)
        self.runs: dict[str, AgentRun] = {}
        self.transcripts = transcripts  # the session store's folder; None: nothing kept on disk
        self._slots: asyncio.Semaphore | None = None
        self.count = 0
        # Who wants to hear about background agents (the REPL: its display and its waker)
        self.listeners: list[Callable[[AgentRun, Event | None], None]] = []
        # Held around a sub-agent's permission question (the REPL's: it takes the terminal
        # from an idle prompt for it, and hands it back)
        self.gate: Callable[[], AbstractAsyncContextManager[None]] | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        if self._slots is None:  # made inside the running loop
            self._slots = asyncio.Semaphore(self.limit)
        return self._slots

    def new_id(self) -> str:
        while True:
            candidate = secrets.token_hex(3)
            if candidate not in self.runs:
                return candidate

    def find(self, key: str) -> AgentRun | None:
        """A run by id, or the newest by name."""
        if key in self.runs:
            return self.runs[key]
        named = [r for r in self.runs.values() if r.name == key]
        return named[-1] if named else None

    def tell(self, run: AgentRun, event: Event | None) -> None:
        for listener in list(self.listeners):
            listener(run, event)


class Subagents:
    """The sub-agents one agent starts: its Agent, SendMessage and CheckAgentResult tools
    act through this; it wakes that agent when a background one finishes (a `Waker`)."""

    def __init__(self, agent: Agent, types: Found, settings: Settings, pool: Pool, *, depth: int = 0,
                 data_dir: Path | None = None, run: AgentRun | None = None) -> None:
        self.agent = agent
        self.types = types
        self.settings = settings
        self.pool = pool
        self.depth = depth
        self.data_dir = data_dir
        self.run = run  # the sub-agent this manager belongs to (None: the session's own agent)
        self._finished = asyncio.Event()
        agent.ctx.agents = self
        agent.wakers.append(self)
        agent.extensions.append(self)

    # --- starting ---------------------------------------------------------------------

    async def start(self, *, prompt: str, kind_name: str | None, description: str | None, name: str | None,
                    model: str | None, background: bool, isolation: str | None, call_id: str,
                    turn: tuple[Rule, ...] = ()) -> ToolOutput:
        """`turn`: rules for the sub-agent's own run only (a forked skill's allowed-tools)."""
        if self.depth >= MAX_DEPTH:
            raise ToolError(f"Sub-agents may nest {MAX_DEPTH} levels deep, and this agent is at level "
                            f"{self.depth}: it cannot start another. Do this part yourself, or finish and "
                            "say in your answer what is left.")
        kind = self._kind(kind_name or "general-purpose")
        label = name or f"{kind.name}-{self.pool.count + 1}"
        self.pool.count += 1
        worktree = None
        if isolation == "worktree":
            from nano_claude.extensions.agents import worktree as trees

            if self.data_dir is None:
                raise ToolError("isolation 'worktree' is not available here (no data folder).")
            worktree = await trees.create(self.agent.ctx.cwd, label, self.data_dir)
        run_id = self.pool.new_id()
        run = AgentRun(run_id, label, kind, description or _first_words(prompt), background, self.depth + 1,
                       call_id, _session_for(self.agent, run_id), self, worktree=worktree, prompt=prompt)
        try:
            run.agent = self._child(run, model)
            run.agent.policy.turn.rules.extend(turn)
        except BaseException:
            if worktree is not None:
                await self._finish_tree(run)
            raise
        self.pool.runs[run.id] = run
        self._record(run)
        message = user_text(prompt)
        if not background:
            await self._drive(run, message, relay=self.agent.ctx.relay)
            return self._answer(run)
        run.task = asyncio.ensure_future(self._background(run, message))
        where = f" in worktree branch {worktree.branch}" if worktree else ""
        return ToolOutput.text(
            f"Started background agent {run.id} ({run.label}){where}. It runs while you go on; when it "
            f"finishes you are woken with its result. CheckAgentResult {{\"task_id\": \"{run.id}\"}} "
            f"shows it earlier; SendMessage {{\"name\": \"{run.name}\", ...}} gives it more to do.",
            summary=f"started {run.label} in the background · id {run.id}")

    def _kind(self, name: str) -> AgentType:
        kind = self.types.types.get(name)
        if kind is None:
            lowered = {k.lower(): v for k, v in self.types.types.items()}
            kind = lowered.get(name.lower())
        if kind is None:
            raise ToolError(f"Unknown subagent_type {name!r}. The types are: "
                            f"{', '.join(self.types.types)} (ListAgentTypes describes them).")
        return kind

    def _child(self, run: AgentRun, model: str | None) -> Agent:
        """The sub-agent's Agent: the parent's world, narrowed to what its type may do."""
        parent, kind = self.agent, run.kind
        info, provider = self._model(model or kind.model)
        tree = run.worktree
        cwd = tree.cwd if tree else parent.ctx.cwd
        project = tree.path if tree else parent.ctx.root
        rules = parent.policy.rules
        if tree is not None:  # the main checkout is off limits, whatever the mode: the branch holds the work
            rules = RuleSet([*rules.rules, *_anchored(rules, parent.policy.project, parent.policy.home),
                             parse_rule(f"Edit(/{tree.repo.resolve()}/**)", "deny", "isolation: worktree")],
                            list(rules.extra_dirs))
        policy = Policy(narrower(parent.policy.mode, kind.permission_mode), rules, project,
                        parent.policy.home, cwd=cwd, extra_dirs=parent.policy.extra_dirs,
                        session=parent.policy.session, save_to=parent.policy.save_to,
                        walk_limit=parent.policy.walk_limit,
                        scoped=parent.policy.scoped + kind.scoped_rules())
        # Not through the parent's transcript recorder: the question is not about the parent's call
        asks = getattr(parent.prompter, "inner", parent.prompter)
        prompter = ChildPrompter(asks, run.name, dont_ask=kind.dont_ask,
                                 pool=self.pool if run.background else None)
        ctx = ToolContext(cwd=cwd, environ=parent.ctx.environ, project=project, prompter=prompter,
                          sandbox=parent.ctx.sandbox, images=parent.ctx.images, protected=policy.protects,
                          output_dir=parent.ctx.output_dir)
        ctx.shared_root = parent.ctx.shared_root or parent.ctx.root
        if tree is None:  # its edits in the checkout are the parent's turn's, for /rewind
            ctx.before_change = lambda path: (parent.ctx.before_change or _ignore)(path)
        base = parent.options.system
        if tree is not None and parent.system_for is not None:
            base = parent.system_for(cwd)
        options = replace(parent.options, system=_system(base, run),
                          max_turns=kind.max_turns or parent.options.max_turns,
                          permission_mode=policy.mode, policy=policy, wait_for_wakeups=True)
        tools = ToolView(parent.tools, lambda n: kind.allows(n) and n not in NOT_FOR_SUBAGENTS, kind.name)
        child = Agent(provider, info, tools, ctx, prompter, options)  # type: ignore[arg-type]
        child._probed = True  # the parent learned the window already (same model) or need not
        child.system_for = parent.system_for
        if parent.hooks is not None:  # the session's hooks, its end reported as SubagentStop
            parent.hooks.for_subagent(child, run.id, kind.name)
        Subagents(child, self.types, self.settings, self.pool, depth=run.depth, data_dir=self.data_dir,
                  run=run)
        return child

    def _model(self, named: str | None) -> tuple[ModelInfo, Provider]:
        parent = self.agent
        wanted = model_meant(named, parent.model)
        if wanted is None:
            return parent.model, parent.provider
        from nano_claude.core.errors import NanoClaudeError
        from nano_claude.providers.unconfigured import connect

        try:
            info, provider = connect(wanted, self.settings, unconfigured_ok=False)
        except NanoClaudeError as exc:
            raise ToolError(f"The model {wanted!r} cannot run this sub-agent: {exc}. Leave `model` out to "
                            "use the session's model.") from exc
        return info, provider

    # --- running ----------------------------------------------------------------------

    async def _background(self, run: AgentRun, message: Message) -> None:
        try:
            async with self.pool.slots:
                await self._drive(run, message, relay=None)
        except asyncio.CancelledError:
            if run.status == "queued":  # stopped before its turn came: it ends here, told as such
                run.status, run.stop_reason, run.ended = "cancelled", "cancelled", time.monotonic()
                if run.worktree is not None:
                    run.outcome = await _uncancelled(self._finish_tree(run))
                self._record(run)
            raise
        finally:
            self._finished.set()
            self.pool.tell(run, None)

    async def _drive(self, run: AgentRun, message: Message, *, relay: Callable[[Event], None] | None) -> None:
        """Run the sub-agent on `message` to its end, whatever ends it."""
        agent = run.agent
        assert agent is not None
        run.status, run.stop_reason, run.error = "running", "", ""
        run.started, run.ended = time.monotonic(), None
        self.pool.tell(run, None)
        status = "running"
        try:
            while True:
                async for event in agent.run(run.session, message):
                    self._observe(run, event)
                    if relay is not None:
                        relay(Relayed(run.call_id, run.id, run.name, event))
                    else:
                        self._absorb_up(event)
                        self.pool.tell(run, event)
                if not run.inbox or run.stop_reason not in ("end_turn", ""):
                    break
                # A message came while it wrote its final answer: it answers that too
                message = user_text("\n\n".join(f"[Message from your caller] {t}" for t in run.inbox))
                run.inbox = []
        except asyncio.CancelledError:
            status, run.stop_reason = "cancelled", "cancelled"
            await _uncancelled(agent.aclose())  # its own background agents and commands stop with it
            raise
        except Exception as exc:  # a bug or a provider that failed to load: the parent hears why
            status, run.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if status == "running":
                status = "completed" if run.stop_reason == "end_turn" else "failed"
            from nano_claude.extensions.expand import end_turn

            await _uncancelled(end_turn(agent))  # what a skill set for its run (rules, a model) ends with it
            if run.recorder is not None:
                run.recorder.sync()
            if run.worktree is not None:  # before it counts as done: its result names the branch
                run.outcome = await _uncancelled(self._finish_tree(run))
            run.status, run.ended = status, time.monotonic()
            self._record(run)

    def _absorb_up(self, event: Event) -> None:
        """A background agent's usage counts for every agent above it, up to the session."""
        manager: Subagents | None = self
        while manager is not None:
            if manager.agent.session is not None:
                manager.agent.absorb(manager.agent.session, event)
            manager = manager.run.owner if manager.run is not None else None

    def _observe(self, run: AgentRun, event: Event) -> None:
        if run.recorder is not None:
            run.recorder.on_event(event)
        if isinstance(event, ToolCallStarted):
            run.tool_calls += 1
            run.activity = f"{event.name}({short_args(event.input)})"
        elif isinstance(event, ToolCallFinished):
            run.activity = result_line(event)
        elif isinstance(event, TurnDone):
            run.stop_reason, run.result = event.stop_reason, event.text
        elif isinstance(event, Error):
            run.error = event.message

    async def _finish_tree(self, run: AgentRun) -> str:
        from nano_claude.extensions.agents import worktree as trees

        assert run.worktree is not None
        try:
            return await trees.finish(run.worktree, run.description)
        except OSError as exc:
            return f"Could not tidy the worktree {run.worktree.path}: {exc}"

    def _answer(self, run: AgentRun) -> ToolOutput:
        """What the parent's call gets: the sub-agent's final answer, and how it ended."""
        run.delivered = True
        text, failed = report(run)
        stats = f"{run.tool_calls} tool call{'s' * (run.tool_calls != 1)} · {run.elapsed:.0f}s"
        return ToolOutput.text(text, is_error=failed, summary=f"{run.label} {run.status} · {stats}")

    # --- talking to running and finished agents ------------------------------------------

    def _own(self, key: str) -> AgentRun | None:
        """One of the sub-agents this agent started, by id or (the newest) by name: an agent
        may talk only to its own, never to a sibling with other permissions."""
        mine = [r for r in self.pool.runs.values() if r.owner is self]
        found = [r for r in mine if r.id == key] or [r for r in mine if r.name == key]
        return found[-1] if found else None

    def _none(self, key: str) -> ToolError:
        mine = [f"{r.name} ({r.id})" for r in self.pool.runs.values() if r.owner is self]
        return ToolError(f"No sub-agent named or numbered {key!r} among the ones you started: "
                         f"{', '.join(mine) or 'none yet'}.")

    async def send(self, key: str, text: str, call_id: str) -> ToolOutput:
        run = self._own(key) or self._reload(key)
        if run is None:
            raise self._none(key)
        if run.status in ("queued", "running"):
            run.inbox.append(text)
            return ToolOutput.text(f"Message queued for {run.label}: it reads it before its next step.",
                                   summary=f"to {run.name}: queued")
        if run.task is not None and not run.task.done():
            raise ToolError(f"{run.label} is finishing (committing its work); send the message again in a "
                            "moment.")
        if run.worktree is not None:
            raise ToolError(f"{run.label} worked in a git worktree that is gone now (its result says "
                            "which branch holds its work, if it changed anything). Start a new agent with "
                            "isolation worktree and tell it to go on from that branch.")
        # Finished: it goes on from where it stopped, with its whole history
        run.delivered, run.call_id, run.outcome = False, call_id, ""
        message = user_text(text)
        if not run.background:
            await self._drive(run, message, relay=self.agent.ctx.relay)
            return self._answer(run)
        run.status = "queued"
        run.task = asyncio.ensure_future(self._background(run, message))
        return ToolOutput.text(f"{run.label} resumed in the background with your message; you are woken "
                               "when it finishes.", summary=f"resumed {run.name}")

    def check(self, key: str) -> ToolOutput:
        run = self._own(key)
        if run is None:
            raise self._none(key)
        if not run.done:
            doing = f"; now: {run.activity}" if run.activity else ""
            return ToolOutput.text(f"{run.label} is {run.status} ({run.elapsed:.0f}s, {run.tool_calls} tool "
                                   f"calls{doing}). You are woken with its result when it finishes.")
        run.delivered = True
        text, failed = report(run)
        return ToolOutput.text(text, is_error=failed)

    def kill(self, key: str) -> str:
        run = self.pool.find(key)
        if run is None:
            raise ToolError(f"No sub-agent {key!r}.")
        if run.done:
            return f"{run.label} already {run.status}."
        if run.task is None:
            raise ToolError(f"{run.label} runs in the foreground: interrupt the turn to stop it.")
        run.task.cancel()
        return f"Stopping {run.label}."

    # --- the Extension and Waker seams ------------------------------------------------

    async def before_request(self, agent: Agent) -> list[str]:
        """A sub-agent's mode follows its parent's (the user may have switched to plan mode
        meanwhile); a message sent to it while it ran joins its conversation now."""
        run = self.run
        if run is None:
            return []
        agent.policy.mode = narrower(run.owner.agent.policy.mode, run.kind.permission_mode)
        if not run.inbox or agent.session is None:
            return []
        texts, run.inbox = run.inbox, []
        last = agent.session.messages[-1]
        note = "\n\n".join(f"[Message from your caller] {t}" for t in texts)
        if last.role == "user":  # after tool results: the message rides along with them
            agent.session.messages[-1] = Message("user", (*last.content, TextBlock(note)), last.meta)
        else:
            agent.session.messages.append(user_text(note))
        return []

    def due(self) -> Message | None:
        ready = [r for r in self.pool.runs.values()
                 if r.owner is self and r.background and r.done and not r.delivered]
        if not ready:
            return None
        parts = []
        for run in ready:
            run.delivered = True
            text, _ = report(run)
            parts.append(f"[Background agent finished] {run.id} {run.label}: {run.status} after "
                         f"{run.elapsed:.0f}s.\n{text}")
        return Message("user", (TextBlock("\n\n".join(parts)),), {"wakeup": "agent"})

    def pending(self) -> bool:
        return any(r.owner is self and r.background and (not r.done or _running(r.task))
                   for r in self.pool.runs.values())

    def has_due(self) -> bool:
        """Whether a finished background agent's result waits for the model (not taken)."""
        return any(r.owner is self and r.background and r.done and not r.delivered
                   for r in self.pool.runs.values())

    async def wait(self) -> None:
        await self._finished.wait()
        self._finished.clear()

    async def aclose(self) -> None:
        """The session ends: its background agents stop, and the models they opened close."""
        mine = [r for r in self.pool.runs.values() if r.owner is self]
        for run in mine:
            if run.task is not None and not run.task.done():
                run.task.cancel()
        for run in mine:
            if run.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run.task
            if run.agent is not None:
                await run.agent.aclose()
                if run.agent.provider is not self.agent.provider:
                    await run.agent.provider.aclose()
            if run.recorder is not None:
                run.recorder.close()

    # --- transcripts ------------------------------------------------------------------

    def _folder(self) -> Path | None:
        """Where this session's sub-agents are kept: beside its transcript."""
        top = self._top()
        session_id = getattr(top.session, "id", None)
        if self.pool.transcripts is None or session_id is None:
            return None
        return self.pool.transcripts / f"{session_id}.agents"

    def _top(self) -> Agent:
        manager: Subagents = self
        while manager.run is not None:
            manager = manager.run.owner
        return manager.agent

    def _record(self, run: AgentRun) -> None:
        """Its transcript (written as it runs) and its line in the folder's index."""
        folder = self._folder()
        if folder is None:
            return
        if run.recorder is None:
            from nano_claude.sessions.recorder import Recorder
            from nano_claude.sessions.session import RecordedSession

            assert isinstance(run.session, RecordedSession)
            run.recorder = Recorder(folder, lambda: run.agent.model.qualified if run.agent else "")
            run.recorder.follow(run.session)
        index = folder / "index.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                entries = json.loads(index.read_text()) if index.exists() else {}
            except ValueError:  # damaged: rebuilt from the runs of this process on
                entries = {}
            if not isinstance(entries, dict):
                entries = {}
            entries[run.id] = {"name": run.name, "type": run.kind.name, "description": run.description,
                               "prompt": run.prompt,
                               "status": run.status, "background": run.background, "result": run.result,
                               "transcript": f"{run.session.id}.jsonl"}  # type: ignore[attr-defined]
            temp = index.with_suffix(".tmp")
            temp.write_text(json.dumps(entries, indent=1, ensure_ascii=False))
            os.replace(temp, index)
        except (OSError, ValueError):
            pass  # the transcript itself is what matters; the index is rebuilt on the next change

    def _reload(self, key: str) -> AgentRun | None:
        """A sub-agent of this session from before a resume: its history from its transcript."""
        folder = self._folder()
        index = folder / "index.json" if folder else None
        if index is None or not index.exists():
            return None
        try:
            entries = json.loads(index.read_text())
        except (OSError, ValueError):
            return None
        named = [(k, e) for k, e in entries.items() if k == key or e.get("name") == key]
        found = named[-1] if named else None
        if not found or found[1].get("type") not in self.types.types:
            return None
        run_id, entry = found
        from nano_claude.sessions.session import RecordedSession
        from nano_claude.sessions.transcript import read_transcript

        assert folder is not None
        try:
            transcript = folder / entry.get("transcript", f"agent-{run_id}.jsonl")
            messages = list(read_transcript(transcript).messages)
        except OSError:  # it never got to run (queued when the session ended): its task is its start
            messages = [user_text(entry["prompt"])] if entry.get("prompt") else []
            if messages:
                messages.append(Message("assistant", (TextBlock("(I was stopped before I began.)"),)))
        session = RecordedSession(messages=messages, id=f"agent-{run_id}")
        session.mark_written(session.messages, len(session.messages))  # on disk already
        run = AgentRun(run_id, entry.get("name", run_id), self.types.types[entry["type"]],
                       entry.get("description", ""), bool(entry.get("background")), self.depth + 1, "",
                       session, self, status=entry.get("status", "completed"), result=entry.get("result", ""),
                       prompt=entry.get("prompt", ""))
        if not run.done:  # the session ended (or crashed) while it ran: it runs no more
            run.status = "cancelled"
        run.agent = self._child(run, None)
        self.pool.runs[run_id] = run
        self._record(run)  # what it says from now on goes on in its transcript
        return run


def report(run: AgentRun) -> tuple[str, bool]:
    """A finished run's answer for its parent, and whether it failed."""
    text = run.result.strip()
    tail = ""
    if run.stop_reason == "max_turns":
        tail = f"\n\n[{run.label} stopped at its turn limit; its work may be unfinished]"
    elif run.status == "cancelled":
        tail = f"\n\n[{run.label} was stopped before it finished]"
    elif run.status == "failed":
        tail = f"\n\n[{run.label} failed: {run.error or 'no reason given'}]"
    if run.outcome:
        tail += f"\n\n{run.outcome}"
    if run.inbox and run.done:
        tail += (f"\n\n[{len(run.inbox)} message(s) sent to it arrived after it stopped and were not read: "
                 + " | ".join(run.inbox) + "]")
    if not text and not tail:
        text = f"[{run.label} finished without a final message]"
    footer = f"\n\n(agent {run.id}; SendMessage {{\"name\": \"{run.name}\"}} continues it)"
    return (text + tail + footer).strip(), run.status != "completed"


def _system(parent: str, run: AgentRun) -> str:
    kind = run.kind
    own = f"\n\n{kind.instructions.strip()}" if kind.instructions.strip() else ""
    return (f"{parent}\n\n# You are a sub-agent\nYou are {run.name!r}, a {kind.name} agent another agent "
            "started to do one task. You cannot ask the user anything; work with what you were given. When "
            "you are done, reply with your final answer: it is all your caller gets back, so put everything "
            "it needs in it (findings with file paths and line numbers, what you changed, what is left)."
            f"{own}")


def _session_for(parent: Agent, run_id: str) -> Session:
    """A sub-agent's own history, recorded beside its parent's transcript."""
    from nano_claude.sessions.session import RecordedSession

    session = RecordedSession.new(parent.ctx.cwd)
    session.id = f"agent-{run_id}"
    return session


async def _uncancelled(work: Awaitable[str] | Awaitable[None]) -> Any:
    """Tidying that must finish even as the run is being cancelled (a worktree's commit)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        return await task


def _anchored(rules: RuleSet, project: Path, home: Path) -> list[Rule]:
    """The parent's project-relative path rules that deny or ask, anchored at its project: in
    a worktree the child's own project is elsewhere, and `Read(.env)` must still hold for the
    main checkout's .env (the worktree's copy is covered by the rule as written)."""
    out = []
    for rule in rules.rules:
        if (rule.kind == "allow" or rule.content is None or rule.content.startswith(("//", "~"))
                or rule.tool not in (*READ_TOOLS, *EDIT_TOOLS)):
            continue
        absolute = rule_path_pattern(rule.content, project, home)
        out.append(Rule(rule.tool, "/" + absolute, rule.kind, f"{rule.source} (the main checkout)"))
    return out


def _running(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()


def _first_words(prompt: str, count: int = 6) -> str:
    words = prompt.split()
    return " ".join(words[:count]) + (" …" if len(words) > count else "")


def _ignore(path: Path) -> None:
    return None
