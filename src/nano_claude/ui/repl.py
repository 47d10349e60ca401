"""The interactive REPL: read a message, run a turn, render it, repeat.

Input is prompt_toolkit on a terminal (history, Ctrl+R, Tab completion, multi-line,
bracketed paste) and plain lines otherwise, so `printf 'hi\\n' | nano_claude` works
too. While a turn runs the terminal is in raw mode: Esc or Ctrl+C cancels the turn
(the loop leaves a valid history and kills the commands it started), a permission
prompt takes its key, and anything typed ahead waits in the next prompt.

Every event of a turn also goes to the session's transcript (sessions/recorder.py),
and leaving the REPL in any way but a kill saves the session's index entry. Files the
turn's tools change are kept as they were first (sessions/checkpoints.py), for /rewind;
a command that cuts the conversation back to before one of your messages (/rewind)
puts that message back in the input, to edit and send again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude import __version__
from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.events import Event, Relayed, Usage
from nano_claude.core.messages import ImageBlock, Message, TextBlock, user_text
from nano_claude.sessions.recorder import Recorder, RecordingPrompter
from nano_claude.ui import commands
from nano_claude.ui.keys import KeyWatch, is_cancel, is_paste, is_tasks_toggle, is_text
from nano_claude.ui.long_input import Pastes
from nano_claude.ui.prompter import TerminalPrompter
from nano_claude.ui.render import Renderer, wants_plain
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    import argparse

    from prompt_toolkit import PromptSession

    from nano_claude.config import Paths, Settings
    from nano_claude.core.loop import Agent, Session
    from nano_claude.core.prompter import Prompter
    from nano_claude.extensions.agents.runtime import AgentRun
    from nano_claude.extensions.hooks.runner import Submitted
    from nano_claude.extensions.tasks.checklist import Checklist
    from nano_claude.sessions.session import RecordedSession
    from nano_claude.sessions.store import Loaded, Saved, SessionStore

    Builder = Callable[[argparse.Namespace, Prompter, dict[str, str], Path], tuple[Agent, Paths, Settings]]


WAKE = "\x00wake"  # what the prompt returns when a background agent's result should wake the model
ASK = "\x00ask"  # ... and when a background agent's permission question needs the terminal
WOKEN = {  # what the REPL says above a wake-up turn, by the wake-up message's meta
    "agent": "Woken: a background agent finished.",
    "timer": "Woken: the timer the model set has fired.",
    "proactive": "⏰ Proactive wake-up: the session was quiet (/proactive off stops these).",
}


class Repl:
    """start() builds the session (settings, provider, tools): it runs in a thread while
    the prompt is already up, so the prompt is usable at once; a message sent before
    it is done waits for it."""

    def __init__(self, start: Callable[[], ReplState], renderer: Renderer, prompter: TerminalPrompter, *,
                 tty: bool, read_line: Callable[[str], Awaitable[str | None]], paths: Paths,
                 recording: RecordingPrompter | None = None) -> None:
        self._start = start
        self.state: ReplState | None = None
        self.renderer = renderer
        self.prompter = prompter
        self.tty = tty
        self.read_line = read_line
        self.paths = paths
        self.cwd = Path.cwd()
        self.keys = KeyWatch() if tty else None
        self.pastes = Pastes()
        self.typeahead = ""
        self.context: list[str] = []  # `!command` output, sent with the next message
        self._building: asyncio.Future[ReplState] | None = None
        self._task: asyncio.Future[None] | None = None
        # A slash command running (Ctrl+C stops it, not the REPL), and whether Ctrl+C did
        self._command: asyncio.Future[bool] | None = None
        self._command_stopped = False
        self._leaving = False  # a second Ctrl+C came while the prompt was being put back: leave
        self._cancelled = False
        self._session: PromptSession[str] | None = None
        self.recording = recording  # the prompter the agent asks through: it notes open questions
        self.recorder: Recorder | None = None
        self.resumed: Loaded | None = None  # set by start() when it continues a saved session
        self._mcp_asked = False  # the project's MCP servers were put to the user (once a session)
        self._hooks_asked = False  # ... and the project's hooks
        # A wake-up is due (a background agent finished, a timer fired, the proactive idle timer):
        # wake the model once the prompt is idle
        self._wake = asyncio.Event()
        self._watching: asyncio.Task[None] | None = None  # the schedule's watcher (_watch)
        # A background agent's question takes the terminal from the idle prompt: wanted, taken, given back
        self._floor_lock = asyncio.Lock()
        self._floor_wanted, self._floor_taken = asyncio.Event(), asyncio.Event()
        self._floor_back = asyncio.Event()
        self.tasks: Checklist | None = None  # the open tasks under the spinner (Ctrl+T)
        if tty:
            prompter.ask_line = self._ask_line

    # --- the loop ---------------------------------------------------------------------

    async def run(self, first: str | None = None) -> int:
        """Returns the exit code: 2 when the session could not be set up, or ended with no
        usable model (a key never set)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._signal, sig)
        self.renderer.echo(f"nano_claude {__version__}", "bold green")
        if not self.tty:
            self._begin()  # else once the prompt is drawn: it must not wait for the build
        try:
            if first:
                await self.handle(first)
            while self.state is None or self.state.running:
                line = await self._next()
                if line is None:
                    break
                await self.handle(line)
                agents = self.state.agent.ctx.agents if self.state is not None else None
                if agents is not None and agents.has_due():  # one finished during a command
                    self._wake.set()
                if self.state is not None:
                    self.state.agent.schedule.active()  # the idle timer counts from the user's last line
            await self.ready()  # input ended before the session was used: a failed setup still says why
        except NanoClaudeError as exc:
            self.renderer.echo(f"nano_claude: {exc}", "red")
            return 2
        finally:
            if self._watching is not None:  # proactive wake-ups stop when the user leaves
                self._watching.cancel()
            if self.keys is not None:
                self.keys.stop()
            if self.state is not None:
                self._autosave(self.state)
                await self._upload(self.state)
            if self.state is not None and self.state.agent.hooks is not None:
                for notice in (await self.state.agent.hooks.end("prompt_input_exit")).notices:
                    self.renderer.on_event(notice)
            self.renderer.close()
            if self.state is not None:
                await self.state.agent.aclose()
        return 2 if self.state is not None and self._unconfigured(self.state, quiet=True) else 0

    def _begin(self, *_: object) -> None:
        if self._building is None:
            self._building = asyncio.get_running_loop().run_in_executor(None, self._start)
            self._building.add_done_callback(self._built)

    async def ready(self) -> ReplState:
        """The session, once built (raises what building it raised)."""
        self._begin()
        assert self._building is not None
        if self.state is None:
            self.state = await self._building
        return self.state

    def _built(self, building: asyncio.Future[ReplState]) -> None:
        """Say what the session runs with, above the prompt; end the prompt if it failed."""
        if building.cancelled():
            return
        if building.exception() is None:
            self.state = building.result()
            if self.state.agent.mcp is not None:
                self.state.agent.mcp.start()  # in the background: the prompt never waits for a server
            if self.state.agent.ctx.agents is not None:
                self.state.agent.ctx.agents.pool.listeners.append(self._on_agent)
                self.state.agent.ctx.agents.pool.gate = self._floor
            self._watching = asyncio.get_running_loop().create_task(self._watch(self.state))
        app = self._session.app if self._session is not None else None
        if building.exception() is None:
            self._above_prompt(self.banner)
        elif app is not None and app.is_running:
            app.exit(exception=building.exception())

    def banner(self) -> None:
        assert self.state is not None
        agent = self.state.agent
        where = _home_short(agent.ctx.cwd)
        self.renderer.echo(f"model {agent.model.id} ({agent.model.provider}) · cwd {where} · "
                           f"permissions {agent.policy.mode}", "dim")
        self.renderer.echo("/help for commands · @file attaches · !cmd runs a shell command · "
                           "Esc interrupts · Ctrl+D exits", "dim")
        if self.resumed is not None:
            session = self.resumed.session
            self.renderer.echo(f"Resumed session {session.id[:8]} ({len(session.messages)} messages); "
                               "/history shows it", "green")
            for line in (*self.resumed.warnings, *self.resumed.notes):
                self.renderer.echo(line, "yellow")
        for note in agent.notes:
            self.renderer.echo(note, "yellow")
        waiting = len(agent.mcp.pending) if agent.mcp is not None else 0
        if waiting:
            which = "servers that start only once you approve them" if waiting > 1 else \
                "server that starts only once you approve it"
            self.renderer.echo(f"This project's .mcp.json names {waiting} MCP {which}: you are asked before "
                               "your first message (or /mcp approve).", "yellow")
        self._unconfigured(self.state)

    async def handle(self, line: str) -> None:
        text = self.pastes.expand(line)
        if not text.strip():
            return
        state = await self.ready()
        if line == WAKE:
            await self._woken(state)
            return
        if line == ASK:
            self._floor_taken.set()
            await self._floor_back.wait()
            self._floor_back.clear()
            return
        from nano_claude.extensions.expand import end_turn, handles

        # a skill or an MCP prompt goes to the model; the REPL's own command wins a name
        if text.startswith("/") and (commands.is_builtin(text) or not handles(state.agent, text)):
            session, before = state.session, list(state.session.messages)
            if await self._command_run(state, text.strip()):
                self._offer_rewound(state, session, before)
                if state.draft is not None:
                    self.typeahead, state.draft = state.draft, None
                if state.send is None:
                    return
                text = line = state.send  # a command's message (/voice): sent as if typed
                state.send = None
        if text.startswith("!"):
            await self._cancellable(self._shell(text[1:].strip()))
            return
        if self._unconfigured(state, sending=True):
            return
        from nano_claude.ui.pull import needs_pull, offer_pull

        if needs_pull(state) and not await offer_pull(state, self.prompter):  # asked before the first message
            self.typeahead = line if self.tty else ""  # the message is kept, back in the input
            return
        if not self._mcp_asked and state.agent.mcp is not None and state.agent.mcp.pending:
            from nano_claude.ui.commands.mcp import ask_approval

            self._mcp_asked = True
            await ask_approval(state, self.prompter)
        if not self._hooks_asked and state.agent.hooks is not None and state.agent.hooks.pending:
            from nano_claude.ui.commands.hooks import ask_trust

            self._hooks_asked = True
            await ask_trust(state, self.prompter)
        added = await self._prompt_hooks(state, text)  # on the line as typed, before a skill in it runs
        if added is None:
            return
        try:
            try:
                message = await self._message(text, line)
                message = replace(message, content=(*message.content, *added))
                message = await self._within_window(state, message)
            except NanoClaudeError as exc:  # an MCP prompt that could not run: say why, send nothing
                self.renderer.echo(str(exc), "red")
                return
            if message is None:
                self.typeahead = line if self.tty else ""
                self.renderer.echo("Not sent." + (" It is back in the input." if self.tty else ""), "yellow")
                return
            self.context.clear()
            await self._cancellable(self._turn(message))
        finally:
            await end_turn(state.agent)  # a skill's allowed tools and model were for this turn, sent or not

    async def _command_run(self, state: ReplState, line: str) -> bool:
        """A slash command, which Ctrl+C stops (the REPL stays): whether it was one. The
        prompt took SIGINT over while it was up and left it ignored: take it back."""
        _on_sigint(self._signal, signal.SIGINT)
        self._command_stopped = False
        self._command = asyncio.ensure_future(commands.dispatch(state, line))
        try:
            return await self._command
        except asyncio.CancelledError:
            if not self._command_stopped:
                raise  # the REPL itself is being stopped
            self.renderer.echo(f"{line.split()[0]} stopped.", "yellow")
            return True
        finally:
            self._command = None

    def _unconfigured(self, state: ReplState, *, sending: bool = False, quiet: bool = False) -> bool:
        """The model has no key yet (providers/unconfigured.py): say how to set one, or pick
        another model, rather than send what cannot be sent."""
        from nano_claude.providers.unconfigured import Unconfigured

        provider = state.agent.provider
        if not isinstance(provider, Unconfigured) or quiet:
            return isinstance(provider, Unconfigured)
        if sending:
            self.renderer.echo("Not sent: there is no model to send it to yet (Up recalls it).", "yellow")
        for line, style in provider.hint(state.paths.user_config):
            self.renderer.echo(line, style)
        return True

    # --- input ---------------------------------------------------------------------------

    async def _next(self) -> str | None:
        """The next line, or WAKE when a background agent finished while the prompt was idle
        (with something typed, the result waits for that message's turn, which takes it)."""
        reading = asyncio.ensure_future(self._read())
        signals: list[asyncio.Future[bool]] = []
        try:
            while True:
                signals = [asyncio.ensure_future(self._wake.wait()),
                           asyncio.ensure_future(self._floor_wanted.wait())]
                await asyncio.wait({reading, *signals}, return_when=asyncio.FIRST_COMPLETED)
                for signal_ in signals:
                    signal_.cancel()
                if reading.done():
                    return reading.result()
                app = self._session.app if self._session is not None else None
                if self._floor_wanted.is_set():
                    self._floor_wanted.clear()
                    result = ASK
                else:
                    result = WAKE
                    if app is not None and app.is_running and self._typing():
                        # Not while a message is typed: its turn takes the result; if it is
                        # wiped instead, the wake-up comes once the input is empty
                        await asyncio.wait({reading}, timeout=0.5)
                        continue
                    self._wake.clear()
                if app is not None and app.is_running:
                    self.typeahead = self._session.default_buffer.text if self._session else ""
                    app.exit(result=result)
                    continue  # `reading` ends with it
                reading.cancel()  # lines from a pipe: the queue keeps what was not read
                return result
        finally:
            for pending in (reading, *signals):
                if not pending.done():
                    pending.cancel()

    def _typing(self) -> bool:
        return self._session is not None and bool(self._session.default_buffer.text.strip())

    @contextlib.asynccontextmanager
    async def _floor(self) -> AsyncIterator[None]:
        """Around a background agent's permission question: one at a time, once no turn runs
        (a question asked under a turn could outlive it); the idle prompt is taken down for it
        (what was typed is kept) and the keys go to the question."""
        async with self._floor_lock:
            while True:
                while self._task is not None:
                    await asyncio.sleep(0.05)
                self._floor_wanted.set()
                taken = asyncio.ensure_future(self._floor_taken.wait())
                try:
                    while not taken.done() and self._task is None:
                        await asyncio.wait({taken}, timeout=0.05)
                finally:
                    if not taken.done():
                        taken.cancel()
                if not taken.cancelled():
                    break
                self._floor_wanted.clear()  # a turn started first: ask once it is over
            self._floor_taken.clear()
            if self.keys is not None:
                self.keys.start(self._on_key)
            try:
                yield
            finally:
                if self.keys is not None:
                    self.keys.stop()
                self._floor_back.set()

    async def _watch(self, state: ReplState) -> None:
        """Timers (SleepTimer, /proactive) fire while the prompt is up: wake the model then. A
        wake-up due during a turn is taken when that turn ends (the loop looks first)."""
        schedule = state.agent.schedule
        while True:
            await schedule.wait()
            if schedule.ready():
                self._wake.set()
                await asyncio.sleep(0.5)  # until it is taken (the prompt may wait for a typed line)

    async def _woken(self, state: ReplState) -> None:
        message = state.agent.due_wakeup()
        if message is None:
            return
        self.renderer.echo(WOKEN.get(message.meta.get("wakeup", ""), "Woken."), "cyan")
        await self._cancellable(self._turn(message))
        from nano_claude.extensions.expand import end_turn

        await end_turn(state.agent)

    def _on_agent(self, run: AgentRun, event: Event | None) -> None:
        """A background agent's usage counts in /cost; when one ends, say so above the
        prompt, and wake the model with the result of one it started itself."""
        if event is not None:
            if self.state is not None:
                self.state.record_child(Relayed(run.call_id, run.id, run.name, event))
            return
        if not run.background or not run.done:
            return
        stats = f"{run.tool_calls} tool call{'s' * (run.tool_calls != 1)} · {run.elapsed:.0f}s"
        self._above_prompt(lambda: self.renderer.echo(
            f"● background agent {run.id} {run.label} {run.status} · {stats}", "cyan"))
        if run.owner.run is None:
            self._wake.set()

    def _above_prompt(self, say: Callable[[], None]) -> None:
        """Print above the prompt while it is up. Like prompt_toolkit's run_in_terminal, but
        in one step that keeps the input in raw mode: a key typed meanwhile waits for the
        prompt instead of being echoed by the terminal."""
        app = self._session.app if self._session is not None else None
        if app is None or not app.is_running:
            say()
            return
        app.renderer.erase()
        say()
        app.renderer.reset()
        app.invalidate()

    async def _read(self) -> str | None:
        if not self.tty:
            return await self.read_line("")
        session = self._session or self._make_session()
        interrupted = self._leaving = False
        while True:
            if self._leaving:
                return None
            default, self.typeahead = self.typeahead, ""
            try:
                return await session.prompt_async(self._prompt_text(), default=default)
            except KeyboardInterrupt:
                if interrupted:
                    return None
                interrupted = True
                # Until the prompt is back and reads Ctrl+C as a key, a second one is a signal,
                # which the prompt left ignored: it must still leave
                _on_sigint(self._interrupted_again)
                self.renderer.echo("(Ctrl+C again to exit, or type a message)", "dim")
            except EOFError:
                return None

    def _interrupted_again(self) -> None:
        self._leaving = True
        app = self._session.app if self._session is not None else None
        if app is not None and app.is_running:
            app.exit(exception=KeyboardInterrupt())

    def _prompt_text(self) -> str:
        cwd = self.state.agent.ctx.cwd if self.state is not None else self.cwd
        return f"[{cwd.name or '/'}] ❯ "

    def _make_session(self) -> PromptSession[str]:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import CompleteEvent, get_common_complete_suffix
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.keys import Keys
        from prompt_toolkit.layout.processors import AfterInput

        from nano_claude.ui.completion import ReplCompleter

        bindings = KeyBindings()

        @bindings.add("enter")
        def _submit(event) -> None:  # a trailing backslash continues the message on a new line
            buffer = event.current_buffer
            if buffer.document.is_cursor_at_the_end and buffer.text.endswith("\\"):
                buffer.delete_before_cursor(1)
                buffer.insert_text("\n")
            else:
                buffer.validate_and_handle()

        @bindings.add("escape", "enter")
        def _newline(event) -> None:
            event.current_buffer.insert_text("\n")

        @bindings.add("c-c")
        def _clear_or_leave(event) -> None:
            if event.current_buffer.text:
                event.current_buffer.reset()
            else:
                event.app.exit(exception=KeyboardInterrupt())

        completer = ReplCompleter(lambda: self.state, self.cwd)

        @bindings.add("tab")
        def _complete(event) -> None:
            """Tab completes at once, even while the as-you-type menu is still being made; a
            menu of one is taken (cycling would undo it at the next Tab)."""
            buffer = event.current_buffer
            menu = buffer.complete_state
            if menu and len(menu.completions) == 1:
                buffer.apply_completion(menu.completions[0])
                return
            if menu:
                buffer.complete_next()
                return
            found = list(completer.get_completions(buffer.document, CompleteEvent(completion_requested=True)))
            if len(found) == 1:
                buffer.apply_completion(found[0])
            elif found:
                buffer.insert_text(get_common_complete_suffix(buffer.document, found))
                buffer.start_completion(select_first=False)

        @bindings.add(Keys.BracketedPaste)
        def _paste(event) -> None:
            event.current_buffer.insert_text(self.pastes.take(event.data))

        history = self.paths.home / "input_history"
        with contextlib.suppress(OSError):
            history.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(history, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(history, 0o600)  # what you typed is yours alone

        class PrivateHistory(FileHistory):
            """Lines carrying a key or token (/config x_api_key=…, /cloudsave setup …)
            are recalled in this session but never written to the file."""

            def store_string(self, string: str) -> None:
                if not commands.is_secret(string):
                    super().store_string(string)

        def hint() -> list[tuple[str, str]]:  # a skill's argument hint after `/name `
            text = self._session.default_buffer.text if self._session is not None else ""
            return [("fg:ansibrightblack", completer.hint(text))]

        self._session = PromptSession(
            history=PrivateHistory(str(history)), completer=completer,
            complete_while_typing=True, key_bindings=bindings, multiline=False,
            prompt_continuation=lambda width, *_: "… ".rjust(width),
            input_processors=[AfterInput(hint)],
        )
        self._session.app.after_render += self._begin
        return self._session

    async def _ask_line(self, prompt: str) -> str | None:
        """A line editor for AskUserQuestion, while a turn's keys are being watched."""
        from prompt_toolkit import PromptSession

        assert self.keys is not None
        with self.keys.paused(self._on_key):
            try:
                return await PromptSession().prompt_async(prompt)
            except (KeyboardInterrupt, EOFError):
                self._cancel()
                return None

    # --- a turn -------------------------------------------------------------------------

    async def _cancellable(self, work: Awaitable[None]) -> None:
        """Run a turn (or a `!command`) so Esc, Ctrl+C or SIGINT stop it and only it."""
        self._cancelled = False
        self._task = asyncio.ensure_future(work)
        ticker = asyncio.ensure_future(self._tick())
        if self.keys is not None:
            self.keys.start(self._on_key)
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._cancelled:
                raise
            self.renderer.end_turn()
            self.renderer.echo("Interrupted. The conversation is kept; send your next message.", "yellow")
        finally:
            ticker.cancel()
            self._task = None
            if self.keys is not None:
                self.keys.stop()
            self.renderer.end_turn()

    async def _tick(self) -> None:
        """Keep the live area moving (a spinner's clock) while nothing else happens."""
        while True:
            await asyncio.sleep(0.125)
            self.renderer.tick()

    async def _turn(self, message: Message) -> None:
        from nano_claude.sessions.checkpoints import Checkpoints

        state = await self.ready()
        agent = state.agent
        recorder = self._recording(state)
        assert recorder.session is not None  # it follows the session this turn runs in
        checkpoints = Checkpoints(self._store(state).checkpoints(recorder.session.id))
        state.start_turn()
        self._show_tasks(agent.ctx.root)
        self.renderer.waiting()
        agent.ctx.on_output = self.renderer.tool_output
        try:
            with checkpoints.turn(agent.ctx, state.session, message):
                async with aclosing(agent.run(state.session, message)) as events:
                    async for event in events:
                        recorder.on_event(event)
                        if isinstance(event, Usage):
                            state.record(event)
                        elif isinstance(event, Relayed):
                            state.record_child(event)
                        self.renderer.on_event(event)
        finally:
            agent.ctx.on_output = None
            recorder.sync()  # what a cancelled run appended without an event
            if recorder.failure:
                self.renderer.echo(f"{recorder.failure}; the conversation goes on, and the next message "
                                   "tries again", "red")
                recorder.failure = ""

    async def _prompt_hooks(self, state: ReplState, text: str) -> tuple[TextBlock, ...] | None:
        """SessionStart and UserPromptSubmit hooks, on the line as typed: a hook that drops a
        `/skill` line stops it before its commands or sub-agent run. What they add goes after
        the message; None when one dropped it (or Esc stopped them)."""
        hooks = state.agent.hooks
        if hooks is None:
            return ()
        done: list[Submitted] = []

        async def submitting() -> None:
            done.append(await hooks.submit(state.session, text))

        self.renderer.waiting("Running hooks")
        await self._cancellable(submitting())
        if not done:
            return None
        for notice in done[0].notices:
            self.renderer.on_event(notice)
        if done[0].blocked:
            self.renderer.echo(f"Not sent: a {done[0].event} hook blocked it: {done[0].reason}", "yellow")
            return None
        return done[0].context

    def _show_tasks(self, root: Path) -> None:
        """The project's open tasks go under the spinner for this turn; the ones it completes stay ticked."""
        from nano_claude.extensions.tasks.checklist import Checklist

        path = root / ".nano_claude" / "tasks.json"
        if self.tasks is None or self.tasks.path != path:
            self.tasks = Checklist(path, shown=self.tasks.shown if self.tasks else True)
        self.tasks.begin_turn()
        self.renderer.checklist = self.tasks.rows

    def _offer_rewound(self, state: ReplState, session: Session, before: list[Message]) -> None:
        """The conversation was cut back to before one of the user's messages: that
        message goes in the input, to be edited and sent again."""
        from nano_claude.core.compaction import is_prompt
        from nano_claude.ui.commands.rewind import said

        after = state.session.messages
        kept = len(after)
        if state.session is not session or kept >= len(before) or not is_prompt(before[kept]):
            return
        if any(a is not b for a, b in zip(after, before, strict=False)):
            return  # rewritten (compacted), not cut back
        self.typeahead = said(before[kept])
        if self.tty:
            self.renderer.echo("Your message is back in the input: edit it, then press Enter to send it.",
                               "dim")

    # --- the session on disk ------------------------------------------------------------

    def _store(self, state: ReplState) -> SessionStore:
        from nano_claude.sessions.store import SessionStore

        return SessionStore.of(state.paths.home, state.settings)  # the caps as /config left them

    def _recording(self, state: ReplState) -> Recorder:
        """The recorder, writing the session this turn runs in. A conversation /clear
        started becomes a new recorded session; the one before it is saved."""
        from nano_claude.sessions.session import RecordedSession

        if not isinstance(state.session, RecordedSession):
            state.session = RecordedSession.adopt(state.session, state.agent.ctx.cwd)
        if self.recorder is None:
            self.recorder = Recorder(self._store(state).transcripts, lambda: state.agent.model.qualified)
            if self.recording is not None:
                self.recording.recorder = self.recorder
        previous = self.recorder.session
        if previous is not None and previous is not state.session and previous.changed:
            self._save(state, previous)
        self.recorder.follow(state.session)
        return self.recorder

    def _save(self, state: ReplState, session: RecordedSession) -> Saved | None:
        store = self._store(state)
        try:
            return store.save(session, state.agent.model.qualified)
        except OSError as exc:
            self.renderer.echo(f"Could not save the session in {store.root}: {exc.strerror or exc}", "red")
            return None

    async def _upload(self, state: ReplState) -> None:
        """/cloudsave auto on: the session goes to its gist on the way out (never raises)."""
        if not state.settings.cloudsave_auto:
            return
        from nano_claude.sessions.cloud import auto_upload

        said = await asyncio.to_thread(auto_upload, state)
        if said:
            self.renderer.echo(said, "dim")

    def _autosave(self, state: ReplState) -> None:
        """On the way out (/exit, Ctrl+D, Ctrl+C twice, SIGTERM, SIGHUP): the transcript is
        on disk; the index and the snapshots catch up."""
        from nano_claude.sessions.command import turns
        from nano_claude.sessions.session import RecordedSession

        current = state.session if isinstance(state.session, RecordedSession) else None
        if self.recorder is not None:
            previous = self.recorder.session
            self.recorder.close()
            if previous is not None and previous is not current and previous.changed:
                self._save(state, previous)
        saved = self._save(state, current) if current is not None and current.changed else None
        if saved is not None:
            entry = saved.entry
            self.renderer.echo(f"Session saved: {entry.short_id} ({turns(entry.turn_count)}). "
                               f"Continue it with nano_claude -c, or --resume {entry.short_id}.", "dim")

    async def _shell(self, command: str) -> None:
        """`!command`: the user runs it (no permission asked); its output is shown and
        goes to the model with the next message."""
        from nano_claude.tools.base import ToolError
        from nano_claude.tools.bash import BashInput, BashTool

        if not command:
            self.renderer.echo("usage: !COMMAND (runs it in the shell, e.g. !git status)", "yellow")
            return
        ctx = (await self.ready()).agent.ctx
        ctx.on_output = self.renderer.tool_output
        self.renderer.waiting(f"!{command}")
        try:
            result = await BashTool().run(BashInput(command=command), ctx)
            text = "".join(b.text for b in result.content if isinstance(b, TextBlock))
        except ToolError as exc:
            text = str(exc)
        finally:
            ctx.on_output = None
        self.renderer.end_turn()
        self.renderer.echo(text.rstrip("\n"))
        self.context.append(f"I ran `{command}` in the shell myself. Its output:\n```\n{text.rstrip()}\n```")

    async def _message(self, text: str, typed: str) -> Message:
        """The user's message, with the files `typed` mentions as @path (the line as typed:
        not what a collapsed paste holds) and any `!command` output, and the id its
        checkpoints are kept under."""
        from nano_claude.core.mentions import attach
        from nano_claude.sessions.checkpoints import TURN_KEY, new_turn_id

        agent = (await self.ready()).agent
        preamble = "\n\n".join(self.context)
        expanded = await self._expand(text)  # `/skill args`, `/mcp__server__prompt args`
        if expanded is not None:
            return Message("user", (*user_text(preamble).content[:1 if preamble else 0], *expanded),
                           {TURN_KEY: new_turn_id()})
        resources = None
        if agent.mcp is not None:
            from nano_claude.extensions.mcp.prompts import Resources

            resources = Resources(agent.mcp)
        found = await attach(typed, agent.ctx, agent.policy, resources)
        for note in found.notes:
            self.renderer.echo(note, "yellow")
        if found.attached:
            self.renderer.echo(f"attached {', '.join(found.attached)}", "dim")
        body = f"{preamble}\n\n{text}" if preamble else text
        return Message("user", (TextBlock(body), *found.blocks), {TURN_KEY: new_turn_id()})

    async def _expand(self, text: str) -> list[TextBlock | ImageBlock] | None:
        """What a skill or an MCP prompt makes of `/name args` (None: not one). A skill may run
        commands or a sub-agent first: that is shown and cancelled (Esc) like a turn."""
        from nano_claude.extensions.expand import expand, handles

        state = await self.ready()
        if not handles(state.agent, text):
            return None
        done: list[list[TextBlock | ImageBlock] | None] = []

        def relay(event: Event) -> None:
            if isinstance(event, Relayed):
                state.record_child(event)
            self.renderer.on_event(event)

        async def expanding() -> None:
            done.append(await expand(state.agent, text, session=state.session, relay=relay))

        self.renderer.waiting(f"Running {text.split(maxsplit=1)[0]}")
        await self._cancellable(expanding())
        if not done:
            raise NanoClaudeError("Not sent: the command was interrupted.")
        return done[0]

    async def _within_window(self, state: ReplState, message: Message) -> Message | None:
        """A message too big for the model's window is never cut without a word: the user
        sends it as a file, sends it anyway, or takes it back (None)."""
        from nano_claude.core.oversize import as_file, oversize
        from nano_claude.ui import long_input

        over = oversize(state.agent, state.session, message)
        if over is None:
            return message
        agent = state.agent
        choice = await long_input.choose(self.prompter, over, agent.model.qualified,
                                         compacts=agent.options.compaction.auto)
        if choice == long_input.AS_FILE:
            sent, path = as_file(message, state.paths.project / "attachments", agent.ctx.cwd, over.tokens)
            self.renderer.echo(f"Saved the message in {path}; the model is asked to read it from there.",
                               "dim")
            return sent
        return message if choice == long_input.ANYWAY else None

    # --- keys and signals -------------------------------------------------------------------

    def _on_key(self, key: str, data: str) -> None:
        if is_cancel(key):
            self._cancel()
        elif is_tasks_toggle(key) and self.tasks is not None:
            self.tasks.toggle()
            self.renderer.refresh()
        elif self.prompter.waiting:
            self.prompter.key(data)
        elif is_text(key, data):
            self.typeahead += self.pastes.take(data) if is_paste(key) else data

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._cancelled = True
            self._task.cancel()

    def _signal(self, sig: int) -> None:
        if sig == signal.SIGINT and self._task is not None:
            self._cancel()
            return
        if sig == signal.SIGINT and self._command is not None and not self._command.done():
            self._command_stopped = True  # a long command (/compact, /doctor): stop it, stay
            self._command.cancel()
            return
        if self.state is not None:
            self.state.running = False
        if self._task is not None:
            self._cancel()
        if self._session is not None and self._session.app.is_running:
            self._session.app.exit(exception=EOFError())
        elif sig != signal.SIGINT:
            raise SystemExit(128 + sig)


def _on_sigint(handler: Callable[..., None], *args: object) -> None:
    """Take SIGINT (back) for `handler`: each prompt leaves it ignored when it ends."""
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, handler, *args)


def _home_short(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home)) if path != home else "~"
    except ValueError:
        return str(path)


class LineInput:
    """Lines from a stream that is not a terminal. A daemon thread reads them, so a
    signal can end the REPL while it waits for input."""

    def __init__(self, stream=None, out=None) -> None:
        self.stream = stream or sys.stdin
        self.out = out or sys.stdout
        self._lines: asyncio.Queue[str | None] | None = None

    async def __call__(self, prompt: str) -> str | None:
        if prompt:
            self.out.write(prompt)
            self.out.flush()
        if self._lines is None:
            self._lines = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._pump, args=(loop, self._lines), daemon=True).start()
        line = await self._lines.get()
        if line is None:
            self._lines.put_nowait(None)  # the end stays the end
        return line

    def _pump(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        for line in iter(self.stream.readline, ""):
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)


def run_repl(args: argparse.Namespace, build: Builder) -> int:
    """Open the REPL: `build(args, prompter, environ, cwd)` makes the agent."""
    import os

    from nano_claude.paths import Paths

    environ, cwd = dict(os.environ), Path.cwd()
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    renderer = Renderer(sys.stdout, plain=wants_plain(sys.stdout, environ))
    read_line = LineInput()
    prompter = TerminalPrompter(renderer, read_line, keys=tty)
    recording = RecordingPrompter(prompter)

    def start() -> ReplState:
        from nano_claude.sessions.store import SessionStore

        agent, paths, settings = build(args, recording, environ, cwd)
        prompter.saves_to = paths.project_local
        renderer.verbose, renderer.show_thinking = settings.verbose, settings.thinking
        loaded = SessionStore.of(paths.home, settings).open(
            cwd, resume=args.resume, latest_here=args.continue_session)
        if loaded.session.messages:
            repl.resumed = loaded
        return ReplState(agent, loaded.session, settings, paths, environ, renderer)

    repl = Repl(start, renderer, prompter, tty=tty, read_line=read_line, paths=Paths.from_env(environ, cwd),
                recording=recording)
    return asyncio.run(repl.run(args.prompt))
