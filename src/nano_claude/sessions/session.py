"""A conversation that has a transcript on disk."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from nano_claude.core.loop import Session
from nano_claude.core.messages import Message
from nano_claude.sessions.transcript import stamp


def new_session_id() -> str:
    return str(uuid.uuid4())


@dataclass
class RecordedSession(Session):
    """A conversation with a transcript: `id` names the file it is written to, and
    `written` says how much of `messages` is already there."""

    id: str = field(default_factory=new_session_id)
    started_at: str = ""
    cwd: str = ""
    forked_from: tuple[str, ...] = ()  # the sessions a load copied this one from
    written: int = 0
    loaded: int = 0  # messages it was loaded with: there is nothing to save until one is added
    unsaved: bool = False  # messages were written since the index last saw this session
    _first: Message | None = field(default=None, init=False, repr=False, compare=False)
    _last: Message | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def new(cls, cwd: Path, clock: Callable[[], datetime] = datetime.now,
            messages: list[Message] | None = None, forked_from: tuple[str, ...] = ()) -> RecordedSession:
        return cls(messages=list(messages or []), started_at=stamp(clock()), cwd=str(cwd),
                   forked_from=forked_from)

    @classmethod
    def adopt(cls, session: Session, cwd: Path,
              clock: Callable[[], datetime] = datetime.now) -> RecordedSession:
        """A plain session (a new one after /clear) made a recorded one, whatever it holds kept."""
        kept = {f.name: getattr(session, f.name) for f in fields(Session)}
        return cls(**kept, started_at=stamp(clock()), cwd=str(cwd))

    @property
    def changed(self) -> bool:
        """Whether it holds something its transcript or the index has not seen yet."""
        return self.unsaved or len(self.messages) > max(self.written, self.loaded) or self.rewritten()

    def mark_written(self, history: list[Message], count: int) -> None:
        """The transcript holds the first `count` messages of `history`: `messages` starts
        with these very objects, unless the history was changed in place since."""
        self.written = count
        self._first = history[0] if count else None
        self._last = history[count - 1] if count else None

    def rewritten(self) -> bool:
        """Whether the history written so far was changed in place (compaction)."""
        if not self.written:
            return False
        messages = self.messages
        return (len(messages) < self.written or messages[0] is not self._first
                or messages[self.written - 1] is not self._last)
