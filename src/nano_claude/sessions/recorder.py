"""The loop's events -> the transcript, as they happen.

The REPL and headless mode hand every event to a Recorder. A message is written
when it joins the history (MessageAdded); a tool call is marked before it is
checked and run, a permission question before it is asked, and a finished call's
result is kept at once, so a session killed at any point resumes knowing what was
interrupted. The loop also appends messages without an event when a run is
cancelled (the "interrupted" answers): `sync()` at the end of every run writes them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude import __version__
from nano_claude.core.events import Event, MessageAdded, PermissionAsked, ToolCallFinished, ToolCallStarted
from nano_claude.core.messages import block_to_dict, message_to_dict
from nano_claude.core.prompter import PermissionRequest, Prompter, Question, Verdict
from nano_claude.sessions.transcript import TranscriptWriter

if TYPE_CHECKING:  # the REPL imports this module before its prompt shows: nothing heavy at run time
    from nano_claude.sessions.session import RecordedSession


def header(session: RecordedSession, model: str) -> dict[str, Any]:
    """The transcript's first line."""
    head: dict[str, Any] = {"session_id": session.id, "started_at": session.started_at, "cwd": session.cwd,
                            "model": model, "version": __version__}
    if session.forked_from:
        head["forked_from"] = list(session.forked_from)
    return head


def write_new(session: RecordedSession, write: Callable[[dict[str, Any]], None]) -> None:
    """Write the messages not yet in the transcript; if the history was changed in place
    (compacted), write it whole, in one line, so a resume sees what the model saw. What
    was written counts at once: a write that fails leaves the rest for the next call."""
    messages = session.messages
    if session.rewritten():
        write({"type": "rewrite", "messages": [message_to_dict(m) for m in messages]})
        session.unsaved = True
        session.mark_written(messages, len(messages))
        return
    for count in range(session.written + 1, len(messages) + 1):
        write({"type": "message", "message": message_to_dict(messages[count - 1])})
        session.unsaved = True
        session.mark_written(messages, count)


def writer_for(path: Path, session: RecordedSession, model: str,
               clock: Callable[[], datetime] = datetime.now) -> TranscriptWriter:
    return TranscriptWriter(path, header(session, model), clock)


class Recorder:
    """Writes one session at a time; `follow()` moves it to another (after /load or /clear)."""

    def __init__(self, transcripts: Path, model: Callable[[], str],
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.transcripts = transcripts
        self._model = model
        self._clock = clock
        self.session: RecordedSession | None = None
        self._writer: TranscriptWriter | None = None
        self._call = ""  # the tool call being checked: a permission question is about it
        self.failure = ""  # why the last write failed (a full disk): for the UI to say, then clear

    def follow(self, session: RecordedSession) -> None:
        if session is self.session:
            return
        self.close()
        self.session = session
        path = self.transcripts / f"{session.id}.jsonl"
        self._writer = writer_for(path, session, self._model(), self._clock)

    # Writing never raises: a transcript that cannot be written (a full disk) must not end
    # the conversation. `failure` says why; what was not written is written by the next sync.

    def on_event(self, event: Event) -> None:
        if isinstance(event, MessageAdded):
            self.sync()
        elif isinstance(event, ToolCallStarted):
            self._call = event.id
            self._mark({"type": "tool_call", "id": event.id, "name": event.name, "input": event.input})
        elif isinstance(event, PermissionAsked) and event.tool_use_id:
            self._mark({"type": "permission", "id": event.tool_use_id, "allowed": event.allowed,
                        "by_user": event.by_user})
        elif isinstance(event, ToolCallFinished):
            self._mark({"type": "tool_done", "id": event.id, "result": block_to_dict(event.result)})

    def permission_pending(self, request: PermissionRequest) -> None:
        if self._call:
            self._mark({"type": "permission_pending", "id": self._call, "tool": request.tool,
                        "description": request.description})

    def sync(self) -> None:
        if self.session is not None:
            with contextlib.suppress(OSError):  # kept in self.failure
                write_new(self.session, self._write)

    def _mark(self, record: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # kept in self.failure
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            return
        try:
            self._writer.write(record)
        except OSError as exc:
            self.failure = f"could not write the transcript {self._writer.path}: {exc.strerror or exc}"
            raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.session = None


class RecordingPrompter:
    """A Prompter that notes an open permission question in the transcript before it is
    asked: a session killed while waiting resumes knowing the call never ran."""

    def __init__(self, inner: Prompter) -> None:
        self.inner = inner
        self.recorder: Recorder | None = None

    async def confirm(self, request: PermissionRequest) -> Verdict:
        if self.recorder is not None:
            self.recorder.permission_pending(request)
        return await self.inner.confirm(request)

    async def ask(self, question: Question) -> str:
        return await self.inner.ask(question)
