"""A session's transcript: JSON Lines, one line per message, appended as each completes.

Every line is an object with a "type":

  session             the first line: the session's id, when and where it started, the model
  message             one message of the conversation, in the neutral JSON form (core/messages.py)
  rewrite             the conversation replaced as a whole (compaction); later messages follow it.
                      A recap notes in its meta the prompts it replaced: their count and the
                      first one's text (so the session's title and turn count survive)
  tool_call           a tool call about to be checked and run, written before it runs
  permission_pending  the user is being asked whether that call may run
  permission          the answer
  tool_done           a call's result, kept before the message that answers all of a turn's calls

Each line goes out in one write() followed by an fsync, so a `kill -9` at any moment
leaves every earlier line whole: at most the message in flight is lost. A line that
cannot be read (cut short by a crash, edited by hand) is skipped with a warning.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nano_claude.core.compaction import EARLIER_PROMPTS, FIRST_PROMPT, FIRST_PROMPT_CHARS, prompts_of
from nano_claude.core.messages import (
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    block_from_dict,
    message_from_dict,
)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # local time, as the seed's session files wrote it
TITLE_CHARS = 60
MAX_WARNINGS = 5  # per transcript; the rest are counted


def stamp(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


class TranscriptWriter:
    """Appends records to one transcript file (mode 0600: it holds the user's code).

    The file is created with its header on the first record, so a session that never
    got a message leaves nothing behind.
    """

    def __init__(self, path: Path, header: dict[str, Any],
                 clock: Callable[[], datetime] = datetime.now) -> None:
        self.path = path
        self._header = header
        self._clock = clock
        self._fd: int | None = None

    def write(self, record: dict[str, Any]) -> None:
        """One line, on disk when this returns (0.2 to 0.5 ms with the fsync, on an SSD)."""
        if self._fd is None:
            self._fd = self._open()
        try:
            _write_all(self._fd, _line({**record, "time": stamp(self._clock())}))
            os.fsync(self._fd)
        except OSError:
            self.close()  # reopened by the next write, which starts a fresh line
            raise

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        size = os.fstat(fd).st_size
        if size == 0:
            _write_all(fd, _line({"type": "session", **self._header}))
            os.fsync(fd)
        elif os.pread(fd, 1, size - 1) != b"\n":
            _write_all(fd, b"\n")  # a line cut short by a crash stays alone on its line
        return fd

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass
class CallTrace:
    """What the transcript says about one tool call beyond the messages: whether a
    permission question was open, its answer, and the result once the call finished."""

    name: str
    input: dict[str, Any]
    asking: bool = False
    allowed: bool | None = None
    result: ToolResultBlock | None = None


@dataclass
class Replay:
    """A transcript read back: the conversation as it was last recorded."""

    session_id: str
    header: dict[str, Any]
    messages: list[Message]
    calls: dict[str, CallTrace] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_transcript(path: Path) -> Replay:
    """Raises OSError when the file cannot be read; never for its content."""
    replay = Replay(path.stem, {}, [])
    problems: list[str] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError(f"expected an object, found {type(record).__name__}")
            _apply(replay, record)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"line {number}: {_reason(exc)}")
    if problems:
        shown = "; ".join(problems[:MAX_WARNINGS])
        more = f" (and {len(problems) - MAX_WARNINGS} more)" if len(problems) > MAX_WARNINGS else ""
        replay.warnings.append(f"{path}: skipped unreadable {_lines(len(problems))}: {shown}{more}")
    return replay


def _lines(count: int) -> str:
    return "line" if count == 1 else f"{count} lines"


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON ({exc.msg})"
    if isinstance(exc, KeyError):
        return f"missing {exc}"
    return str(exc)


def _apply(replay: Replay, record: dict[str, Any]) -> None:
    kind = record.get("type")
    if kind == "session":
        replay.header = record
    elif kind == "message":
        replay.messages.append(message_from_dict(record["message"]))
    elif kind == "rewrite":
        replay.messages = _carried(replay.messages, [message_from_dict(m) for m in record["messages"]])
    elif kind == "tool_call":
        replay.calls[record["id"]] = CallTrace(record["name"], dict(record.get("input") or {}))
    elif kind in ("permission_pending", "permission", "tool_done"):
        trace = replay.calls.get(record["id"])
        if trace is None:
            return
        if kind == "permission_pending":
            trace.asking = True
        elif kind == "permission":
            trace.asking, trace.allowed = False, bool(record["allowed"])
        else:
            result = block_from_dict(record["result"])
            if isinstance(result, ToolResultBlock):
                trace.result = result
    # Other types come from a newer version: ignored, so old and new can share a folder.


def _carried(before: list[Message], after: list[Message]) -> list[Message]:
    """A history rewritten by a version that did not note in its recap what the recap
    replaced: noted now, from the history the transcript held before the rewrite, so the
    session keeps its title and turn count. (Prompts added in the very rewrite that
    compacted them are not told apart: the count may then fall short by those.)"""
    recap = after[0] if after else None
    if recap is None or not recap.meta.get("recap") or EARLIER_PROMPTS in recap.meta:
        return after
    count, first = prompts_of(before)
    meta = {**recap.meta, EARLIER_PROMPTS: max(count - prompts_of(after)[0], 0),
            FIRST_PROMPT: first[:FIRST_PROMPT_CHARS]}
    return [Message(recap.role, recap.content, meta), *after[1:]]


# --- what a conversation is, for listings ---------------------------------------------


def turn_count(messages: list[Message]) -> int:
    """Every prompt the user wrote, those compaction summarised included."""
    return prompts_of(messages)[0]


def title(messages: list[Message]) -> str:
    """The first prompt of the session (one a recap replaced included), on one line, cut
    to about 60 characters (at a space)."""
    text = re.sub(r"\s+", " ", prompts_of(messages)[1]).strip()
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[:TITLE_CHARS - 1]
    if " " in cut[TITLE_CHARS // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut + "…"


def message_text(message: Message) -> str:
    """Everything searchable in a message: its text, tool calls and results."""
    parts: list[str] = []
    for block in message.content:
        if isinstance(block, (TextBlock, ToolResultBlock)):
            parts.append(block.text)
        elif isinstance(block, ToolUseBlock):
            parts.append(f"{block.name} {json.dumps(block.input, ensure_ascii=False)}")
    return "\n".join(p for p in parts if p)
