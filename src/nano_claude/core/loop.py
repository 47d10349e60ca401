"""The agent loop: request -> stream -> tool calls -> results -> repeat.

It yields events and never prints. Whatever happens (a provider failure, a tool
bug, Ctrl+C) the history it leaves is one the next request accepts: every
tool_use is answered by a tool_result.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nano_claude.config import user_home
from nano_claude.core.compaction import CompactionPolicy, Compactor, Ledger, estimate_fixed
from nano_claude.core.errors import ContextTooLong, ProviderError
from nano_claude.core.events import (
    Error,
    Event,
    MessageAdded,
    Notice,
    PermissionAsked,
    Relayed,
    Response,
    TextDelta,
    TokenUsage,
    ToolCallFinished,
    ToolCallStarted,
    TurnDone,
    Usage,
)
from nano_claude.core.guard import LoopGuard
from nano_claude.core.messages import (
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    tool_result,
)
from nano_claude.core.prompter import PermissionRequest, Prompter, Verdict, go_on
from nano_claude.core.schedule import Schedule
from nano_claude.permissions.policy import Call, Mode, Policy, Ruling
from nano_claude.permissions.rules import RuleSet
from nano_claude.providers.base import ProbesWindow, Provider, Request
from nano_claude.providers.catalog import ModelInfo, cost_usd
from nano_claude.tools.base import Tool, ToolContext, ToolError, ToolOutput, current_call
from nano_claude.tools.registry import Registry

if TYPE_CHECKING:
    from nano_claude.extensions.hooks.runner import Decision, HookRunner

DEFAULT_MAX_TOKENS = 16384
DEFAULT_MAX_TOKENS_REASONING = 32768  # reasoning tokens count against the limit too
INTERRUPTED = "Interrupted by the user before this tool call finished."
MAX_STOP_BLOCKS = 8  # Stop hooks that keep the model going, in a row, before the turn ends anyway
NOTIFY_GRACE = 0.5  # seconds a Notification hook may take once the question is answered; then it runs on


@dataclass
class LoopOptions:
    system: str = ""
    max_tokens: int | None = None
    max_turns: int = 100
    thinking: bool = False
    thinking_budget: int = 8000
    reasoning_effort: str | None = None
    permission_mode: Mode = "auto"
    policy: Policy | None = None  # rules and mode; None: the mode alone, no rules
    compaction: CompactionPolicy = field(default_factory=CompactionPolicy)
    max_calls_without_progress: int = 25  # the loop guard's patience (core/guard.py)
    # When the model ends its turn while a wake-up is pending (a background sub-agent, a
    # SleepTimer, the proactive idle timer): wait for it and wake the model (headless runs,
    # sub-agents), or end the turn and let the UI wake it once it is idle (the REPL)
    wait_for_wakeups: bool = True


@dataclass
class Session:
    """The conversation and its running totals: the one history the REPL, transcripts and
    the model see. The loop appends to it; only compaction rewrites it (core/compaction.py)."""

    messages: list[Message] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)  # its size in tokens, for compaction
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    requests: int = 0


class Extension(Protocol):
    """Something attached to the agent (MCP servers...) that keeps its tools current."""

    async def before_request(self, agent: Agent) -> list[str]:
        """Called before each model request; returns notices for the user."""
        ...

    async def aclose(self) -> None: ...


class Waker(Protocol):
    """Something that wakes the model after it ended its turn: finished background agents,
    timers (core/schedule.py)."""

    def due(self) -> Message | None:
        """The wake-up message, if one is ready now (taking it marks it delivered)."""
        ...

    def pending(self) -> bool:
        """Whether one will be ready later (background work still running)."""
        ...

    async def wait(self) -> None:
        """Return once `due()` may have something."""
        ...


class Agent:
    def __init__(self, provider: Provider, model: ModelInfo, tools: Registry, ctx: ToolContext,
                 prompter: Prompter, options: LoopOptions) -> None:
        self.provider = provider
        self.model = model
        self.tools = tools
        self.ctx = ctx
        self.prompter = prompter
        self.options = options
        self.policy = options.policy or Policy(
            options.permission_mode, RuleSet(), ctx.root, user_home(ctx.environ), cwd=ctx.cwd)
        if ctx.protected is None:
            ctx.protected = self.policy.protects
        self._probed = False
        self.extensions: list[Extension] = []
        self.notes: list[str] = []  # what the user should hear about the setup (assemble.py)
        self.mcp: Any = None  # the session's MCP servers, for /mcp (extensions/mcp/manager.py)
        self.plugins: list[Any] = []  # the plugins this session uses (extensions/plugins.Active)
        self.schedule = Schedule(ctx.wakeups)  # SleepTimer's timers and /proactive's idle timer
        self.wakers: list[Waker] = [self.schedule]
        # The system prompt as it would be for another folder (assemble.py): a sub-agent in a
        # git worktree is told where it works, not where its parent does
        self.system_for: Callable[[Path], str] | None = None
        self.session: Session | None = None  # the one the newest run works in
        self.hooks: HookRunner | None = None  # the user's hooks (extensions/hooks); None: there are none
        self._halt: str | None = None  # a hook said `continue: false`: the run ends after this step
        self._hook_context: dict[str, list[str]] = {}  # by call id: PreToolUse context for its result
        self._notifying: set[asyncio.Future[Decision]] = set()  # Notification hooks past NOTIFY_GRACE
        self._notified: list[Event] = []  # what they said when they ended: shown at the next step

    async def aclose(self) -> None:
        """The session ends: stop its background commands and its extensions (MCP servers), and
        Notification hooks still running after a moment's grace."""
        if self._notifying:
            await asyncio.wait(self._notifying, timeout=NOTIFY_GRACE)
            for notifying in list(self._notifying):
                notifying.cancel()
                await asyncio.wait({notifying})
        await self.ctx.aclose()
        for extension in self.extensions:
            await extension.aclose()

    def switch_model(self, provider: Provider, model: ModelInfo) -> None:
        """Later requests go to another model; the history is kept whole."""
        self.provider, self.model = provider, model
        self._probed = False

    async def _learn_window(self) -> None:
        """Local servers say what window they really run with; believe them over the
        catalog, and keep room for the prompt in what we ask them to write."""
        self._probed = True
        if not isinstance(self.provider, ProbesWindow) or self.model.window_asked:
            return  # asked already, before the prompt was built (providers/window.py)
        window = await self.provider.context_window(self.model.id)
        if window and window != self.model.context_window:
            self.model = self.model.with_window(window)

    def _max_tokens(self) -> int:
        # Asking for the model's whole output limit counts against some providers'
        # per-minute token limits (OpenAI's estimate uses max_tokens): ask for enough.
        wanted = self.options.max_tokens or (
            DEFAULT_MAX_TOKENS_REASONING if self.model.reasoning else DEFAULT_MAX_TOKENS)
        return min(wanted, self.model.max_output)

    def _request(self, session: Session) -> Request:
        return Request(
            model=self.model.id,
            system=self.options.system,
            messages=tuple(session.messages),
            tools=self.tools.specs(),
            max_tokens=self._max_tokens(),
            thinking=self.options.thinking,
            thinking_budget=self.options.thinking_budget,
            reasoning_effort=self.options.reasoning_effort,
        )

    def compactor(self, session: Session) -> Compactor:
        """Compaction of `session` for the model in use now (the loop's, and /compact's)."""
        return Compactor(self.provider, self.model, self.options.compaction, session,
                         system=self.options.system, tools=self.tools.specs(),
                         output_tokens=self._max_tokens(),
                         account=lambda usage: self._account(session, usage), hooks=self.hooks)

    async def run(self, session: Session, prompt: Message) -> AsyncIterator[Event]:
        """Run the model until it stops; whatever ends the run, every tool call in the
        history is answered when this returns (or is closed, or cancelled)."""
        if not self._probed:
            await self._learn_window()
        self.session = session
        self._halt, self._hook_context = None, {}
        session.messages.append(prompt)
        try:
            yield MessageAdded(prompt)
            async with aclosing(self._turns(session)) as turns:
                async for event in turns:
                    yield event
        finally:
            _answer_dangling_calls(session)

    async def _turns(self, session: Session) -> AsyncIterator[Event]:
        turns = 0
        stop_blocks: list[str] = []  # why Stop hooks kept the model going, each time in a row
        guard = LoopGuard(self.options.max_calls_without_progress, self.ctx.read_files)
        while True:
            turns += 1
            outcome: list[Response] = []
            for event in self._late_notices():
                yield event
            for extension in self.extensions:
                for note in await extension.before_request(self):
                    yield Notice(note)
            async with aclosing(self._ask(session, turns, outcome)) as asking:
                async for event in asking:
                    yield event
            if not outcome:
                return  # _stream reported the failure
            response = outcome[0]
            session.messages.append(response.message)
            session.ledger.record(response.usage, estimate_fixed(self.options.system, self.tools.specs()),
                                  session.messages)
            yield MessageAdded(response.message)
            yield self._account(session, response.usage)
            calls = response.message.tool_uses
            if not calls:
                wake = await self._wakeup(session) if turns < self.options.max_turns else None
                if wake is not None:
                    yield Notice(wake.text.splitlines()[0])
                    yield MessageAdded(wake)
                    continue
                if self.hooks is not None and turns < self.options.max_turns:
                    before = len(stop_blocks)
                    async with aclosing(self._stop_hooks(session, response.message, stop_blocks)) as stopping:
                        async for event in stopping:
                            yield event
                    if len(stop_blocks) > before:
                        continue
                yield TurnDone("end_turn", turns, response.message.text)
                return
            async with aclosing(self._run_tools(session, calls)) as results:
                async for event in results:
                    yield event
            if self._halt is not None:
                yield Notice(f"A hook stopped the run: {self._halt}")
                yield TurnDone("end_turn", turns, response.message.text)
                return
            stuck = guard.observe(response.message, session.messages[-1], self.ctx.read_files)
            if stuck is not None:
                if not await go_on(self.prompter, stuck.question):
                    yield Error(stuck.message, kind="LoopStopped")
                    yield TurnDone("error", turns, response.message.text)
                    return
                guard.forgive()
            if turns >= self.options.max_turns:
                yield TurnDone("max_turns", turns, response.message.text)
                return

    async def _ask(self, session: Session, turns: int, outcome: list[Response]) -> AsyncIterator[Event]:
        """One model request, the conversation fitted to the window first. A request the
        provider refuses as too long is compacted harder and sent once more."""
        compactor = self.compactor(session)
        async with aclosing(compactor.fit()) as fitting:
            async for event in fitting:
                yield event
        rejected: list[ContextTooLong] | None = [] if self.options.compaction.auto else None
        async with aclosing(self._stream(session, turns, outcome, rejected)) as stream:
            async for event in stream:
                yield event
        if not rejected:
            return
        async with aclosing(compactor.recover()) as recovering:
            async for event in recovering:
                yield event
        if not compactor.shrunk:
            yield Error(f"{rejected[0]}; compacting could not make the conversation smaller: "
                        "/clear starts a new one", kind="ContextTooLong")
            yield TurnDone("error", turns)
            return
        async with aclosing(self._stream(session, turns, outcome, None)) as stream:
            async for event in stream:
                yield event

    async def _stream(self, session: Session, turns: int, outcome: list[Response],
                      rejected: list[ContextTooLong] | None) -> AsyncIterator[Event]:
        """One model request: deltas pass through; the response lands in `outcome`.
        A failure keeps the text already shown and ends the run with an error, except a
        refusal for length before any output when `rejected` takes it (to compact and retry)."""
        shown: list[str] = []
        response: Response | None = None
        try:
            async with aclosing(self.provider.stream(self._request(session))) as stream:
                async for event in stream:
                    if isinstance(event, Response):
                        response = event
                        continue
                    if isinstance(event, TextDelta):
                        shown.append(event.text)
                    yield event
        except ProviderError as exc:
            if isinstance(exc, ContextTooLong) and rejected is not None and not shown:
                rejected.append(exc)
                return
            partial = self._keep_partial(session, shown)
            if partial:
                yield MessageAdded(partial)
            yield Error(self._explain(exc), kind=type(exc).__name__)
            yield TurnDone("error", turns, "".join(shown))
            return
        except (asyncio.CancelledError, GeneratorExit):
            self._keep_partial(session, shown)
            raise
        if response is None or not response.message.content:
            yield Error("the model returned an empty response", kind="EmptyResponse")
            yield TurnDone("error", turns)
            return
        outcome.append(response)

    async def _stop_hooks(self, session: Session, message: Message,
                          blocks: list[str]) -> AsyncIterator[Event]:
        """The model ended its turn: Stop (SubagentStop for a sub-agent) hooks may keep it
        going, their reason sent as the user's (a block is added to `blocks`); after
        MAX_STOP_BLOCKS in a row the turn ends anyway."""
        assert self.hooks is not None
        decision = await self.hooks.stop(message.text, active=bool(blocks))
        for notice in decision.notices:
            yield notice
        if decision.halt is not None:
            yield Notice(f"A hook stopped the run: {decision.halt}")
            return
        if not decision.blocked:
            return
        if len(blocks) >= MAX_STOP_BLOCKS:
            yield Notice(f"{self.hooks.stop_event} hooks kept the model going {MAX_STOP_BLOCKS} times "
                         "in a row; the turn ends here")
            return
        blocks.append(decision.reason)
        feedback = Message("user", (TextBlock(f"{self.hooks.stop_event} hook feedback:\n{decision.reason}"),))
        session.messages.append(feedback)
        yield MessageAdded(feedback)

    def _explain(self, exc: ProviderError) -> str:
        if isinstance(exc, ContextTooLong) and not self.options.compaction.auto:
            return f"{exc}; automatic compaction is off (auto_compact): run /compact or /clear"
        if isinstance(exc, ContextTooLong):
            return f"{exc}; run /compact with a focus, or /clear"
        return str(exc)

    async def _wakeup(self, session: Session) -> Message | None:
        """The model ended its turn: wake it at once with what is ready (a background agent's
        result, a timer that fired), or, when `wait_for_wakeups`, wait for what is pending;
        else None: the turn ends. Ctrl+C cancels the wait like any turn."""
        self.schedule.active()
        message = self._due()
        if message is None:
            if not self.options.wait_for_wakeups or not any(w.pending() for w in self.wakers):
                return None
            message = await self._wait_for_wakeup()
        session.messages.append(message)
        return message

    def due_wakeup(self) -> Message | None:
        """A wake-up ready now (a background agent's result), for a UI whose model is idle."""
        return self._due()

    def _due(self) -> Message | None:
        for waker in self.wakers:
            message = waker.due()
            if message is not None:
                return message
        return None

    async def _wait_for_wakeup(self) -> Message:
        while True:
            waiting = [w for w in self.wakers if w.pending()]
            if not waiting:
                raise RuntimeError("woken with nothing to wait for")  # a Waker bug
            waits = [asyncio.ensure_future(w.wait()) for w in waiting]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
            message = self._due()
            if message is not None:
                return message

    def _keep_partial(self, session: Session, shown: list[str]) -> Message | None:
        """Text the user already saw stays in the history (without unfinished tool calls)."""
        text = "".join(shown)
        if not text.strip():
            return None
        message = Message("assistant", (TextBlock(text),), {"partial": True})
        session.messages.append(message)
        return message

    def _account(self, session: Session, usage: TokenUsage) -> Usage:
        cost = cost_usd(self.model, usage.input_tokens, usage.output_tokens,
                        usage.cache_read_tokens, usage.cache_write_tokens)
        session.usage = session.usage + usage
        session.cost_usd += cost
        session.requests += 1
        return Usage(usage, cost, session.usage, session.cost_usd)

    def absorb(self, session: Session, event: Event) -> None:
        """A sub-agent's response counts toward this session's usage and cost (however deep
        it ran: a relayed event may wrap another)."""
        while isinstance(event, Relayed):
            event = event.event
        if isinstance(event, Usage):
            session.usage = session.usage + event.usage
            session.cost_usd += event.cost_usd

    # --- tools -------------------------------------------------------------

    async def _run_tools(self, session: Session, calls: list[ToolUseBlock]) -> AsyncIterator[Event]:
        results: dict[str, ToolResultBlock] = {}
        try:
            for batch in _batches(calls, self.tools):
                ready: list[tuple[ToolUseBlock, Tool, Any]] = []
                for call in batch:  # validation and permission questions: one at a time
                    yield ToolCallStarted(call.id, call.name, call.input)  # shown before any question
                    checked, said = await self._prepare(call)
                    for event in said:
                        yield event
                    if isinstance(checked, ToolResultBlock):
                        self._hook_context.pop(call.id, None)  # it does not run: nothing goes with it
                        results[call.id] = checked
                        yield ToolCallFinished(call.id, call.name, checked)
                    else:
                        ready.append((call, *checked))
                outputs: list[ToolOutput] = []
                async with aclosing(self._execute(session, ready, outputs)) as running:
                    async for event in running:
                        yield event
                for (call, _, _), output in zip(ready, outputs, strict=True):
                    results[call.id] = ToolResultBlock(call.id, output.content, output.is_error)
                if self.hooks is not None and ready:
                    for event in await self._after_tools([call for call, _, _ in ready], results):
                        yield event
                for (call, _, _), output in zip(ready, outputs, strict=True):
                    yield ToolCallFinished(call.id, call.name, results[call.id], output.display,
                                           output.summary)
                for event in self._late_notices():
                    yield event
        finally:
            # Runs on success and on cancellation alike: every call gets its answer.
            answers = tuple(results.get(c.id) or tool_result(c.id, INTERRUPTED, is_error=True)
                            for c in calls)
            message = Message("user", answers)
            session.messages.append(message)
        yield MessageAdded(message)

    async def _execute(self, session: Session, ready: list[tuple[ToolUseBlock, Tool, Any]],
                       outputs: list[ToolOutput]) -> AsyncIterator[Event]:
        """Run a batch of calls at once; what the sub-agents they start report meanwhile
        passes through (core/events.Relayed). The outputs land in `outputs`, in call order."""
        relayed: asyncio.Queue[Event] = asyncio.Queue()

        async def one(call: ToolUseBlock, tool: Tool, args: Any) -> ToolOutput:
            current_call.set(call.id)  # this task's own context: the calls do not see each other's
            return await self.tools.execute(tool, args, self.ctx)

        self.ctx.relay = relayed.put_nowait
        batch = asyncio.ensure_future(asyncio.gather(*(one(*item) for item in ready)))
        getting: asyncio.Future[Event] | None = None
        try:
            while not batch.done() or not relayed.empty():
                if relayed.empty():
                    getting = asyncio.ensure_future(relayed.get())
                    await asyncio.wait({batch, getting}, return_when=asyncio.FIRST_COMPLETED)
                    if not getting.done():
                        getting.cancel()
                        continue
                    event = getting.result()
                else:
                    event = relayed.get_nowait()
                self.absorb(session, event)
                yield event
            outputs.extend(batch.result())
        finally:
            self.ctx.relay = None
            if getting is not None and not getting.done():
                getting.cancel()
            if not batch.done():  # cancelled: the calls (and the sub-agents they run) stop too,
                batch.cancel()  # and have finished stopping when the turn's end is reported
                await asyncio.wait({batch})
            if batch.done() and not batch.cancelled():
                batch.exception()  # seen, so asyncio does not call it lost (a call reports its own failure)

    async def _prepare(self, call: ToolUseBlock) -> tuple[tuple[Tool, Any] | ToolResultBlock, list[Event]]:
        """Validate a call and apply the PreToolUse hooks and the policy, asking the user when
        they say so. Returns the tool and its arguments, or the error result that answers the
        call, and what the user should see about it. A PreToolUse hook may deny, ask or change
        the input; its allow saves a question but never passes a deny rule nor an ask rule. The
        question an ask rule raises is for the user or a PermissionRequest hook: that hook's
        allow answers it (as in Claude Code), and deny rules still hold for the input it gives."""
        try:
            tool, args = self.tools.parse(call.name, call.input)
        except ToolError as exc:
            return tool_result(call.id, str(exc), is_error=True), []
        hook: Decision | None = None
        events: list[Event] = []
        if self.hooks is not None:
            hook = await self.hooks.pre_tool_use(call)
            events.extend(hook.notices)
            hooked = self._hooked_call(call, hook)
            if isinstance(hooked, ToolResultBlock):
                return hooked, events
            tool, args = hooked or (tool, args)
        ruling = self.policy.judge(_policy_call(tool, args))
        wanted = hook.permission if hook is not None else None
        if ruling.decision == "allow" and wanted != "ask":
            return (tool, args), events
        if ruling.decision == "deny":
            events.append(PermissionAsked(tool.name, tool.summary(args), False, call.id, call.input,
                                          str(ruling)))
            return tool_result(call.id, _denial(tool.name, ruling), is_error=True), events
        if wanted == "allow" and not ruling.rule:
            return (tool, args), events
        if ruling.decision == "allow":  # a hook asks, where the rules would not
            ruling = Ruling("ask", (hook.permission_reason if hook else "") or "a PreToolUse hook asks")
        checked, asked = await self._confirm(call, tool, args, ruling)
        return checked, [*events, *asked]

    def _hooked_call(self, call: ToolUseBlock, hook: Decision) -> tuple[Tool, Any] | ToolResultBlock | None:
        """What PreToolUse hooks made of a call: blocked (the result the model reads), run with
        a changed input (the tool and its new arguments), or None: as it was. Their context
        goes with the call's result."""
        if hook.halt is not None and self._halt is None:
            self._halt = hook.halt
        if hook.permission == "deny" or hook.halt is not None:
            why = hook.permission_reason or hook.halt or "no reason given"
            context = "".join(f"\n\nContext from a PreToolUse hook:\n{text}" for text in hook.context)
            return tool_result(call.id, f"Blocked by a PreToolUse hook: {why}{context}", is_error=True)
        if hook.context:
            self._hook_context[call.id] = hook.context
        if hook.updated_input is None:
            return None
        try:
            return self.tools.parse(call.name, hook.updated_input)
        except ToolError as exc:
            return tool_result(call.id, f"A PreToolUse hook changed this call's input to one that is not "
                                        f"valid: {exc}", is_error=True)

    async def _confirm(self, call: ToolUseBlock, tool: Tool, args: Any,
                       ruling: Ruling) -> tuple[tuple[Tool, Any] | ToolResultBlock, list[Event]]:
        """Ask the user about a call (PermissionRequest hooks may answer for them)."""
        description = tool.summary(args)
        detail = ""
        preview = getattr(tool, "preview", None)
        if preview is not None:
            try:
                detail = await preview(args, self.ctx)
            except ToolError as exc:  # the call will fail when it runs: let it, and say why
                return tool_result(call.id, str(exc), is_error=True), []
        request = PermissionRequest(tool.name, description, ruling.reason, detail, ruling.suggestions)
        events: list[Event] = []
        hooked = await self._hooked_verdict(call, ruling, events)
        by_user = hooked is None
        verdict, changed = hooked if hooked is not None else (await self._ask_user(request, events), None)
        note = ""
        if by_user and verdict.allowed and verdict.remember != "once":
            self.policy.remember(ruling.suggestions)
            if verdict.remember == "always":
                note = self.policy.save(ruling.suggestions)
        events.append(PermissionAsked(tool.name, description, verdict.allowed, call.id, call.input, note,
                                      by_user=by_user))
        if verdict.allowed:
            return changed or (tool, args), events
        reason = verdict.reason or f"The user denied permission to run {tool.name}."
        return tool_result(call.id, reason, is_error=True), events

    async def _hooked_verdict(self, call: ToolUseBlock, ruling: Ruling,
                              events: list[Event]) -> tuple[Verdict, tuple[Tool, Any] | None] | None:
        """What PermissionRequest hooks answer for the user, if they do, and the call with the
        input an allowing hook changed (parsed again, and judged again: a deny rule wins)."""
        if self.hooks is None:
            return None
        decision = await self.hooks.permission_request(call, ruling.suggestions)
        events.extend(decision.notices)
        if decision.halt is not None:
            self._halt = self._halt or decision.halt
            return Verdict(False, f"Blocked by a PermissionRequest hook: {decision.halt}"), None
        if decision.permission not in ("allow", "deny"):
            return None
        if decision.permission == "deny":
            why = decision.permission_reason or "A PermissionRequest hook denied this call."
            return Verdict(False, why), None
        if decision.updated_input is None:
            return Verdict(True), None
        try:
            tool, args = self.tools.parse(call.name, decision.updated_input)
        except ToolError as exc:
            return Verdict(False, f"A PermissionRequest hook changed this call's input to one that is not "
                                  f"valid: {exc}"), None
        again = self.policy.judge(_policy_call(tool, args))
        if again.decision == "deny":
            return Verdict(False, _denial(tool.name, again)), None
        return Verdict(True), (tool, args)

    async def _ask_user(self, request: PermissionRequest, events: list[Event]) -> Verdict:
        """The prompter's question; Notification hooks hear that one is waiting, meanwhile."""
        if self.hooks is None:
            return await self.prompter.confirm(request)
        notifying = asyncio.ensure_future(
            self.hooks.notification(f"nano_claude needs your permission to use {request.tool}"))
        try:
            verdict = await self.prompter.confirm(request)
        except BaseException:
            notifying.cancel()
            raise
        await asyncio.wait({notifying}, timeout=NOTIFY_GRACE)  # the answer never waits on a notifier
        if notifying.done():
            self._notification_ended(notifying)
        else:
            self._notifying.add(notifying)
            notifying.add_done_callback(self._notification_ended)
        return verdict

    def _notification_ended(self, notifying: asyncio.Future[Decision]) -> None:
        """What a Notification hook said comes with the next step; its `continue: false` ends
        the run after this one."""
        self._notifying.discard(notifying)
        if notifying.cancelled() or notifying.exception() is not None:
            return
        decision = notifying.result()
        self._notified.extend(decision.notices)
        self._halt = self._halt or decision.halt

    def _late_notices(self) -> list[Event]:
        """What Notification hooks that ran on in the background said (their failures)."""
        late, self._notified = self._notified, []
        return late

    async def _after_tools(self, calls: list[ToolUseBlock],
                           results: dict[str, ToolResultBlock]) -> list[Event]:
        """PostToolUse (PostToolUseFailure for a failed call) hooks: their reasons and added
        context join the result the model reads."""
        assert self.hooks is not None
        decisions = await asyncio.gather(*(self.hooks.post_tool_use(c, results[c.id]) for c in calls))
        events: list[Event] = []
        for call, decision in zip(calls, decisions, strict=True):
            events.extend(decision.notices)
            if decision.halt is not None and self._halt is None:
                self._halt = decision.halt
            result = results[call.id]
            event = "PostToolUseFailure" if result.is_error else "PostToolUse"
            before = self._hook_context.pop(call.id, [])
            added = [*(f"Context from a PreToolUse hook:\n{text}" for text in before),
                     *(f"{event} hook feedback: {reason}" for reason in decision.reasons),
                     *(f"Context from a {event} hook:\n{text}" for text in decision.context)]
            if added:
                results[call.id] = ToolResultBlock(call.id, (*result.content, *map(TextBlock, added)),
                                                   result.is_error)
        return events


def _policy_call(tool: Tool, args: Any) -> Call:
    target = getattr(tool, "permission_target", None)
    return Call(tool.name, getattr(tool, "permission_kind", "other"),
                target(args) if target is not None else None, tool.read_only)


def _denial(tool: str, ruling: Ruling) -> str:
    head = f"by the rule {ruling.rule}" if ruling.rule else f": {ruling.reason}"
    return (f"Permission denied {head}. Do not try to get around it (another tool "
            f"or command doing the same is denied too); if {tool} is needed, ask the user to change "
            "the permission rules.")


def _answer_dangling_calls(session: Session) -> None:
    """A run stopped right after the model asked for tools: answer them as interrupted."""
    last = session.messages[-1] if session.messages else None
    if last is not None and last.role == "assistant" and last.tool_uses:
        answers = tuple(tool_result(c.id, INTERRUPTED, is_error=True) for c in last.tool_uses)
        session.messages.append(Message("user", answers))


def _batches(calls: list[ToolUseBlock], tools: Registry) -> list[list[ToolUseBlock]]:
    """Consecutive read-only, concurrency-safe calls form one parallel batch; others run alone."""
    batches: list[list[ToolUseBlock]] = []
    for call in calls:
        if _parallel(call, tools) and batches and _parallel(batches[-1][0], tools):
            batches[-1].append(call)
        else:
            batches.append([call])
    return batches


def _parallel(call: ToolUseBlock, tools: Registry) -> bool:
    tool = tools.get(call.name)
    return tool is not None and tool.read_only and tool.concurrency_safe
