"""Long input. A big paste stays out of the input line: a placeholder stands in for it
until the message is sent, whole. And a message too big for the model's context window
is never cut without a word: the user is told, and chooses to send it as a file the
model reads in parts, to send it anyway (compaction then cuts it, head and tail kept,
and says so), or to take it back into the input.

Light at import: the REPL makes a Pastes before its prompt shows.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nano_claude.core.oversize import Oversize
    from nano_claude.core.prompter import Prompter

# A paste longer than either shows as a placeholder (typing and redrawing a line of tens
# of kilobytes is slow, and the screen shows nothing useful of it).
PASTE_LINES = 200
PASTE_CHARS = 10_000
PLACEHOLDER = re.compile(r"\[Pasted text #(\d+) (?:\+[\d,]+ lines|[\d,]+ chars)\]")
AS_FILE, ANYWAY, BACK = "Send it as a file", "Send it anyway", "Take it back"


class Pastes:
    """Long pastes kept out of the input line: a placeholder stands in until submit."""

    def __init__(self) -> None:
        self._texts: dict[int, str] = {}

    @staticmethod
    def is_long(text: str) -> bool:
        return text.count("\n") + 1 > PASTE_LINES or len(text) > PASTE_CHARS

    def take(self, pasted: str) -> str:
        """What a paste puts in the input (at the prompt, or typed ahead during a turn): the
        text itself, or a placeholder for a long one. Terminals send line ends as CR."""
        text = pasted.replace("\r\n", "\n").replace("\r", "\n")
        return self.add(text) if self.is_long(text) else text

    def add(self, text: str) -> str:
        number = len(self._texts) + 1
        self._texts[number] = text
        lines = text.count("\n") + 1
        size = f"+{lines:,} lines" if lines > 1 else f"{len(text):,} chars"
        return f"[Pasted text #{number} {size}]"

    def expand(self, line: str) -> str:
        return PLACEHOLDER.sub(lambda m: self._texts.get(int(m.group(1)), m.group(0)), line)


async def choose(prompter: Prompter, over: Oversize, model: str, *, compacts: bool) -> str:
    """Ask what to do with a message too big to send whole; BACK when nobody answers."""
    from nano_claude.core.prompter import NoUserPresent, Option, Question

    anyway = ("compaction cuts it to fit: the model sees its start and end" if compacts
              else "automatic compaction is off: the server will likely refuse it")
    question = Question(
        f"This message is {over.describe(model)}, so it cannot be sent whole.",
        (Option(AS_FILE, "saved under .nano_claude/attachments/; the model reads it in parts"),
         Option(ANYWAY, anyway),
         Option(BACK, "nothing is sent; the message returns to the input")),
        allow_freetext=False)
    try:
        return await prompter.ask(question)
    except NoUserPresent:
        return BACK
