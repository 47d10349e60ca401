"""The loop guard: notices a run that goes round in circles, for every provider.

A weak model (or a server that hides tool results from it) can call tools forever:
the same call again and again, or call after call that learns nothing. Neither the
turn limit (100 by default) nor the user's patience is a good brake, so the loop asks
this guard after every turn of tool calls whether the run still gets anywhere.

Progress is what a user would call progress: a file read that was not read before,
a file changed, or text written for the user. Searches, listings and commands that
change nothing the model has seen do not count: they are how a lost model flails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nano_claude.core.messages import Message, ToolResultBlock, ToolUseBlock

MAX_REPEATS = 3  # the same call with the same result this many times in a row is a loop
# Calls that wait on something running (a build that prints nothing for minutes answers
# each poll the same way): waiting is not going in circles, and the command has its own
# timeout.
POLLS = frozenset({"BashOutput"})


@dataclass(frozen=True)
class Stuck:
    """Why the guard would stop the run: an error line and the question the REPL asks."""

    message: str
    question: str


class LoopGuard:
    """The state of one run: the call chain it is watching and the calls since progress.

    `seen` is the tool context's `read_files` (path -> stamp as the model last saw it):
    Read adds a path, Write, Edit and NotebookEdit refresh a stamp, so a new key or a
    new stamp there is a file read or changed, whichever tool did it.
    """

    def __init__(self, max_without_progress: int, seen: Mapping[Path, Any],
                 max_repeats: int = MAX_REPEATS) -> None:
        self.max_without_progress = max_without_progress
        self.max_repeats = max_repeats
        self._seen = dict(seen)
        self._idle = 0  # tool calls since the last progress
        self._last: tuple[str, str, str] | None = None  # call, arguments, result
        self._repeats = 0

    def observe(self, asked: Message, answered: Message, seen: Mapping[Path, Any]) -> Stuck | None:
        """One turn: the assistant message with its calls, the user message answering
        them, and the files seen now. Returns why to stop, or None to go on."""
        results = {b.tool_use_id: b for b in answered.content if isinstance(b, ToolResultBlock)}
        moved = self._files_moved(seen)  # always: it also takes the new snapshot
        calls = [use for use in asked.tool_uses if use.name not in POLLS]
        self._idle = 0 if moved or asked.text.strip() else self._idle + len(calls)
        for use in calls:
            stuck = self._repeat(use, results.get(use.id))
            if stuck is not None:
                return stuck
        if self._idle >= self.max_without_progress:
            return Stuck(
                f"stopped after {self._idle} tool calls without reading a new file, changing "
                "one or writing anything for you: the model seems stuck (the setting "
                "max_calls_without_progress sets this limit)",
                f"The model made {self._idle} tool calls without reading a new file, changing "
                "one or writing anything for you. Let it go on?")
        return None

    def forgive(self) -> None:
        """The user chose to go on: count afresh from here."""
        self._idle = 0
        self._last, self._repeats = None, 0

    def _files_moved(self, seen: Mapping[Path, Any]) -> bool:
        moved = any(self._seen.get(path) != stamp for path, stamp in seen.items())
        self._seen = dict(seen)
        return moved

    def _repeat(self, use: ToolUseBlock, result: ToolResultBlock | None) -> Stuck | None:
        """The same call getting the same answer: a different answer (a command's output
        while waiting on it, say) means the call is not going in circles."""
        key = (use.name, json.dumps(use.input, sort_keys=True, ensure_ascii=False),
               _answer(result))
        self._repeats = self._repeats + 1 if key == self._last else 1
        self._last = key
        if self._repeats < self.max_repeats:
            return None
        call = f"{use.name}({_short(key[1])})"
        return Stuck(
            f"stopped: the model made the same call {self._repeats} times in a row, {call}, "
            "and got the same result each time; it is going in circles (rephrase the request, "
            "or try a stronger model)",
            f"The model made the same call {self._repeats} times in a row, {call}, and got the "
            "same result each time. Let it go on?")


def _answer(result: ToolResultBlock | None) -> str:
    if result is None:
        return ""
    return ("error:" if result.is_error else "") + result.text


def _short(arguments: str, limit: int = 80) -> str:
    return arguments if len(arguments) <= limit else arguments[: limit - 1] + "…"
