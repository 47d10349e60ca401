"""A message too big for the model's context window. Compaction would cut it to fit the
newest turn (head and tail kept); user input is never cut without a word, so the REPL
asks first (ui/long_input.py) and a headless run stops with an error before sending.

Also how such a message becomes a file the model reads in parts."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nano_claude.core.loop import Agent, Session
    from nano_claude.core.messages import Message


@dataclass(frozen=True)
class Oversize:
    tokens: int  # the message's estimated size
    room: int  # what one message may take before compaction has to cut it
    window: int

    def describe(self, model: str) -> str:
        return (f"about {self.tokens:,} tokens: more than {model} can take in one message (about "
                f"{self.room:,} of its {self.window:,}-token context window)")


def oversize(agent: Agent, session: Session, message: Message) -> Oversize | None:
    """Whether `message` is bigger than compaction lets the newest turn be: the window
    less the answer's room, a safety margin, the system prompt and tools, and a recap (or,
    when those leave nothing, a share of the window). Past that, it would be cut to fit
    (core/compaction.py, Compactor._plan)."""
    from nano_claude.core.compaction import KEEP_SHARE, SAFETY, estimate

    compactor = agent.compactor(session)
    ledger, window = session.ledger, compactor.window
    room = int(window.room * (1 - SAFETY)) - ledger.scale(compactor.fixed) - compactor.recap_tokens
    if room <= 0:  # the system prompt and tools alone nearly fill the window
        room = int(window.limit * KEEP_SHARE)
    tokens = ledger.scale(estimate(message))
    return Oversize(tokens, room, window.size) if tokens > room else None


def as_file(message: Message, folder: Path, cwd: Path, tokens: int) -> tuple[Message, Path]:
    """The message's text saved to a file in `folder` (private, kept out of git), and a
    short message in its place that tells the model where it is and how to read it.
    Images stay in the message."""
    from dataclasses import replace

    from nano_claude.core.messages import TextBlock
    from nano_claude.tools.files import MAX_LINE

    text = "\n\n".join(b.text for b in message.content if isinstance(b, TextBlock))
    path = _save(folder, text)
    shown = path.relative_to(cwd) if path.is_relative_to(cwd) else path  # how the model reaches it
    lines = text.count("\n") + 1
    long_lines = "" if max(map(len, text.split("\n"))) <= MAX_LINE else (
        f" Some lines are longer than Read shows ({MAX_LINE:,} characters): read those with Bash, "
        f"e.g. `fold -w {MAX_LINE} {shown} | sed -n '1,40p'`.")
    note = (f"My message was too long to send in one piece ({len(text):,} characters, {lines:,} "
            f"lines, about {tokens:,} tokens), so it is saved in the file {shown}. Read it in parts "
            f"(Read with offset and limit) and treat what it says as my message.{long_lines}")
    rest = tuple(b for b in message.content if not isinstance(b, TextBlock))
    return replace(message, content=(TextBlock(note), *rest)), shown


def _save(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# nano_claude: messages saved as files; yours alone\n*\n")
    stem = time.strftime("message-%Y%m%d-%H%M%S")
    path, number = folder / f"{stem}.txt", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path
