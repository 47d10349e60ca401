"""Asking the user at the terminal: permission prompts (one key: y / n / a / d) and
AskUserQuestion (numbered choices or free text)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from nano_claude.core.prompter import NoUserPresent, Option, PermissionRequest, Question, Verdict
from nano_claude.ui.render import Renderer

LineReader = Callable[[str], Awaitable[str | None]]  # prompt text -> a line, None at end of input
DECLINED = "The user declined this tool call. Do not retry it; ask the user what to do instead."


class TerminalPrompter:
    """keys: a turn's key presses reach `key()`; without them (input is not a terminal)
    answers are read a line at a time with `read_line`."""

    def __init__(self, renderer: Renderer, read_line: LineReader, *, keys: bool,
                 saves_to: Path | None = None) -> None:
        self.renderer = renderer
        self.read_line = read_line
        self.keys = keys
        self.saves_to = saves_to
        self._answer: asyncio.Future[str] | None = None
        self.ask_line: LineReader | None = None  # a line editor for AskUserQuestion (the REPL's)
        self._one_at_a_time = asyncio.Lock()  # the agent and its sub-agents may ask at once

    @property
    def waiting(self) -> bool:
        return self._answer is not None and not self._answer.done()

    def key(self, data: str) -> None:
        """A key pressed while a permission prompt waits."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(data)

    async def confirm(self, request: PermissionRequest) -> Verdict:
        async with self._one_at_a_time:
            return await self._confirm(request)

    async def _confirm(self, request: PermissionRequest) -> Verdict:
        with self.renderer.suspended():
            self._show(request)
            choice = await self._choice(bool(request.suggestions))
        if choice == "y":
            return Verdict(True)
        if choice == "a":
            self.renderer.echo(f"  allowed for this session: {', '.join(request.suggestions)}", "dim")
            return Verdict(True, remember="session")
        if choice == "d":
            return Verdict(True, remember="always")
        self.renderer.echo("  declined", "dim")
        return Verdict(False, DECLINED)

    def _show(self, request: PermissionRequest) -> None:
        echo = self.renderer.echo
        echo()
        echo(f"{request.tool} wants to run" if request.tool == "Bash" else f"{request.tool} needs permission",
             "bold yellow")
        for line in request.description.splitlines() or [""]:
            echo(f"  {line}", "bold")
        if request.reason:
            echo(f"  ({request.reason})", "dim")
        if request.detail:
            self.renderer.diff(request.detail)
        choices = ["y yes", "n no (default)"]
        if request.suggestions:
            rules = ", ".join(request.suggestions)
            where = f" to {self.saves_to}" if self.saves_to else ""
            choices += [f"a yes, and allow {rules} for this session",
                        f"d yes, and always (saves {rules}{where})"]
        echo("  " + " · ".join(choices), "cyan")

    async def _choice(self, remembers: bool) -> str:
        valid = "ynad" if remembers else "yn"
        if not self.keys:
            line = await self.read_line(f"[{'/'.join(valid)}] ")
            answer = (line or "n").strip().lower()[:1]
            return answer if answer and answer in valid else "n"
        loop = asyncio.get_running_loop()
        while True:
            self._answer = loop.create_future()
            try:
                pressed = (await self._answer).lower()
            finally:
                self._answer = None
            if pressed in valid:
                return pressed
            if pressed in ("\r", "\n"):
                return "n"

    async def ask(self, question: Question) -> str:
        async with self._one_at_a_time:
            return await self._ask(question)

    async def _ask(self, question: Question) -> str:
        reader = self.ask_line or self.read_line
        with self.renderer.suspended():
            self.renderer.echo()
            self.renderer.echo(question.question, "bold")
            for number, option in enumerate(question.options, 1):
                about = f": {option.description}" if option.description else ""
                self.renderer.echo(f"  {number}. {option.label}{about}")
            hint = _hint(question.options, question.allow_freetext)
            while True:
                line = await reader(f"{hint} ")
                if line is None:
                    raise NoUserPresent("the input ended before an answer")
                answer = _pick(line.strip(), question.options, question.allow_freetext)
                if answer is not None:
                    return answer
                self.renderer.echo(f"  answer with {hint}", "yellow")


def _hint(options: tuple[Option, ...], freetext: bool) -> str:
    if not options:
        return "your answer:"
    numbers = f"1-{len(options)}" if len(options) > 1 else "1"
    return f"[{numbers}{' or your own answer' if freetext else ''}]"


def _pick(text: str, options: tuple[Option, ...], freetext: bool) -> str | None:
    if text.isdigit() and 1 <= int(text) <= len(options):
        return options[int(text) - 1].label
    for option in options:
        if text.lower() == option.label.lower():
            return option.label
    if text and (freetext or not options):
        return text
    return None
