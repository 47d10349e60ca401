"""The one way anything asks the user something: injected, so the same loop runs in
the REPL, in headless mode and in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Remember = Literal["once", "session", "always"]


@dataclass(frozen=True)
class PermissionRequest:
    tool: str
    description: str  # the exact command, path or URL
    reason: str = ""  # why the policy asks (e.g. "writes outside the project")
    detail: str = ""  # what would change, e.g. the diff of a pending edit
    suggestions: tuple[str, ...] = ()  # rules an "a"/"always" answer adds, e.g. "Bash(npm test:*)"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # shown to the model when denied
    remember: Remember = "once"  # session: allow the same for this session; always: save a rule


@dataclass(frozen=True)
class Option:
    label: str
    description: str = ""


@dataclass(frozen=True)
class Question:
    question: str
    options: tuple[Option, ...] = ()
    allow_freetext: bool = True


class NoUserPresent(Exception):
    """Raised by a prompter that has nobody to ask."""


class Prompter(Protocol):
    async def confirm(self, request: PermissionRequest) -> Verdict:
        """May this tool call run?"""
        ...

    async def ask(self, question: Question) -> str:
        """The user's answer: an option's label or free text. Raises NoUserPresent."""
        ...


class HeadlessPrompter:
    """No user is present: whatever the policy would ask about is denied, with a reason
    the model can relay and the user can act on."""

    async def confirm(self, request: PermissionRequest) -> Verdict:
        rules = " ".join(f"'{r}'" for r in request.suggestions) or f"'{request.tool}'"
        why = f" ({request.reason})" if request.reason else ""
        return Verdict(
            False,
            f"Permission denied: {request.tool} needs approval{why} and no user is present "
            "(headless run). Do not retry it; tell the user to allow it with "
            f"--allowedTools {rules} or to rerun with --accept-all.",
        )

    async def ask(self, question: Question) -> str:
        """Nobody can answer, so whatever asked takes its no-user path: AskUserQuestion tells
        the model, and a run the loop guard stopped stays stopped (see `go_on`)."""
        raise NoUserPresent("no user is present (headless run)")


GO_ON, STOP = "Go on", "Stop"


async def go_on(prompter: Prompter, question: str) -> bool:
    """Whether the user lets a run the loop guard caught go on. The REPL asks; with nobody
    present (headless) the answer is the safe one, stop, since a stuck run only burns time
    and tokens until a limit ends it anyway."""
    options = (Option(GO_ON, "let the model keep calling tools"),
               Option(STOP, "end this run; the conversation is kept"))
    try:
        answer = await prompter.ask(Question(question, options, allow_freetext=False))
    except NoUserPresent:
        return False
    return answer == GO_ON
