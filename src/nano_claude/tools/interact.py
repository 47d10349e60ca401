"""Tools that involve the user or time: AskUserQuestion asks through the session's
Prompter; SleepTimer schedules a wake-up that the loop delivers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import ClassVar

from pydantic import BaseModel, Field

from nano_claude.core.prompter import NoUserPresent, Option, Question
from nano_claude.tools.base import ToolContext, ToolError, ToolOutput, Wakeup

ASK_TIMEOUT = 300.0  # seconds the user has to answer
MAX_OPTIONS = 4
MIN_SLEEP = 1
MAX_SLEEP = 3600
MAX_PENDING = 3  # wake-ups scheduled and not yet delivered
_NO_USER = ("No user is present to answer (non-interactive run). Decide yourself and say what you "
            "assumed, or, if you cannot go on without an answer, say in your final answer what you need.")


class OptionInput(BaseModel):
    label: str = Field(max_length=80, description="The choice, in a few words")
    description: str = Field("", max_length=300, description="What choosing it means")


class AskInput(BaseModel):
    question: str = Field(description="One clear question")
    options: list[OptionInput] = Field(
        default_factory=list, max_length=MAX_OPTIONS,
        description=f"Up to {MAX_OPTIONS} choices with distinct labels; none for an open question",
    )
    allow_freetext: bool = Field(True, description="The user may answer in their own words")


class AskUserQuestionTool:
    name: ClassVar[str] = "AskUserQuestion"
    description: ClassVar[str] = (
        "Ask the user one question when you need a decision or fact only they have (which "
        f"approach, a missing requirement). Offer up to {MAX_OPTIONS} options and/or allow a "
        "free-text answer. Returns the chosen option or the text. Do not ask what you can find "
        "out yourself; if nobody answers, continue on your best judgment."
    )
    input_model: ClassVar[type[BaseModel]] = AskInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = False  # one question at a time

    def __init__(self, timeout: float = ASK_TIMEOUT) -> None:
        self.timeout = timeout

    def summary(self, args: AskInput) -> str:
        return args.question

    async def run(self, args: AskInput, ctx: ToolContext) -> ToolOutput:
        question = _question(args)
        if ctx.prompter is None:
            return ToolOutput.text(_NO_USER)
        try:
            answer = await asyncio.wait_for(ctx.prompter.ask(question), self.timeout)
        except NoUserPresent:
            return ToolOutput.text(_NO_USER)
        except asyncio.TimeoutError:
            return ToolOutput.text(
                f"The user did not answer within {_duration(self.timeout)}. Continue on your best "
                "judgment (say which choice you made and why), or stop and say what you need."
            )
        return ToolOutput.text(_answer_text(question, answer))


def _question(args: AskInput) -> Question:
    """The question as the prompter shows it, or a ToolError saying what to fix."""
    if not args.question.strip():
        raise ToolError("The question is empty; ask one clear question.")
    labels = [o.label.strip() for o in args.options]
    if any(not label for label in labels):
        raise ToolError("Every option needs a non-empty label.")
    seen: set[str] = set()
    for label in labels:
        if label.casefold() in seen:
            raise ToolError(f"Two options are labelled {label!r}; give each option a distinct label.")
        seen.add(label.casefold())
    if not args.allow_freetext and len(labels) < 2:
        raise ToolError("Without allow_freetext the user can only pick an option: give at least two "
                        "options, or set allow_freetext to true.")
    options = tuple(Option(label, o.description.strip())
                    for label, o in zip(labels, args.options, strict=True))
    return Question(args.question.strip(), options, args.allow_freetext)


def _answer_text(question: Question, answer: str) -> str:
    answer = answer.strip()
    for option in question.options:
        if answer.casefold() == option.label.casefold():
            detail = f" ({option.description})" if option.description else ""
            return f'The user chose "{option.label}"{detail}.'
    if not answer:
        return "The user gave an empty answer. Continue on your best judgment and say what you assumed."
    return f"The user answered: {answer}"


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


class SleepInput(BaseModel):
    seconds: float = Field(ge=MIN_SLEEP, le=MAX_SLEEP,
                           description=f"How long to sleep ({MIN_SLEEP}-{MAX_SLEEP} seconds)")
    note: str = Field("", max_length=1000, description="What to do on waking (you get it back then)")


class SleepTimerTool:
    name: ClassVar[str] = "SleepTimer"
    description: ClassVar[str] = (
        "Schedule a wake-up: after `seconds` you get a new prompt with your note, to check "
        "on a background command, a deploy or a CI run later. Returns at once; end your turn "
        f"right after it instead of polling. At most {MAX_PENDING} timers pending."
    )
    input_model: ClassVar[type[BaseModel]] = SleepInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock

    def summary(self, args: SleepInput) -> str:
        return f"{args.seconds:g}s" + (f": {args.note}" if args.note else "")

    async def run(self, args: SleepInput, ctx: ToolContext) -> ToolOutput:
        if not MIN_SLEEP <= args.seconds <= MAX_SLEEP:
            raise ToolError(f"seconds must be between {MIN_SLEEP} and {MAX_SLEEP}, not {args.seconds:g}.")
        if len(ctx.wakeups) >= MAX_PENDING:
            now = self.clock()
            pending = ", ".join(f"in {max(w.due - now, 0):.0f}s ({w.note or 'no note'})" for w in ctx.wakeups)
            raise ToolError(f"{len(ctx.wakeups)} wake-ups are already pending: {pending}. "
                            "End your turn and wait for them instead of adding more.")
        ctx.wakeups.append(Wakeup(due=self.clock() + args.seconds, note=args.note, seconds=args.seconds))
        about = f' with your note: "{args.note}"' if args.note else ""
        return ToolOutput.text(f"Timer set: you will be woken in {args.seconds:g} seconds{about}. "
                               "End your turn now; do not poll or wait in the meantime.",
                               summary=f"Timer set for {args.seconds:g}s")
