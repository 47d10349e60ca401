"""The transcript file: one line per record, whole lines on disk, unreadable lines skipped."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from nano_claude.core.compaction import RECAP_HEAD, rebuild
from nano_claude.core.messages import Message, TextBlock, message_to_dict, tool_result, user_text
from nano_claude.sessions.transcript import TranscriptWriter, read_transcript, title, turn_count

HEADER = {"session_id": "s1", "started_at": "2026-04-05 11:05:23", "cwd": "/p", "model": "m"}


def message_record(message: Message) -> dict:
    return {"type": "message", "message": message_to_dict(message)}


def test_nothing_is_written_until_the_first_record_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "t" / "s1.jsonl"
    writer = TranscriptWriter(path, HEADER)
    assert not path.exists()
    writer.write(message_record(user_text("hello")))
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["session", "message"]
    assert lines[0]["cwd"] == "/p" and "time" in lines[1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_transcript(path).messages == [user_text("hello")]


def test_a_line_cut_short_by_a_crash_is_skipped_and_later_lines_still_read(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    writer = TranscriptWriter(path, HEADER)
    writer.write(message_record(user_text("first")))
    writer.close()
    with path.open("a") as f:  # what a kill in the middle of a write leaves
        f.write('{"type": "message", "message": {"role": "assist')
    writer = TranscriptWriter(path, HEADER)
    writer.write(message_record(user_text("after the crash")))
    writer.close()
    replay = read_transcript(path)
    assert [m.text for m in replay.messages] == ["first", "after the crash"]
    assert len(replay.warnings) == 1 and "line 3" in replay.warnings[0] and "not JSON" in replay.warnings[0]


def test_unreadable_lines_of_every_kind_are_warnings_never_errors(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    good = json.dumps(message_record(user_text("kept")))
    path.write_bytes(b"\n".join([
        json.dumps({"type": "session", **HEADER}).encode(),
        b"[1, 2]",
        b'{"type": "message", "message": {"role": "robot", "content": []}}',
        b'{"type": "message", "message": {"role": "user", "content": [{"type": "hologram"}]}}',
        b'{"type": "message"}',
        b"\xff\xfe not text",
        good.encode(),
        b'{"type": "from_a_newer_version", "x": 1}',
    ]) + b"\n")
    replay = read_transcript(path)
    assert [m.text for m in replay.messages] == ["kept"]
    assert replay.header["session_id"] == "s1"
    warning = replay.warnings[0]
    assert "5 lines" in warning and "unknown message role 'robot'" in warning and "hologram" in warning
    assert "missing 'message'" in warning and "(and" not in warning


def test_a_rewrite_replaces_the_history_and_later_messages_follow_it(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    writer = TranscriptWriter(path, HEADER)
    for text in ("one", "two", "three"):
        writer.write(message_record(user_text(text)))
    writer.write({"type": "rewrite", "messages": [message_to_dict(user_text("recap of one to three"))]})
    writer.write(message_record(user_text("four")))
    writer.close()
    assert [m.text for m in read_transcript(path).messages] == ["recap of one to three", "four"]


def test_markers_say_what_happened_to_each_tool_call(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    writer = TranscriptWriter(path, HEADER)
    writer.write({"type": "tool_call", "id": "a", "name": "Bash", "input": {"command": "ls"}})
    writer.write({"type": "tool_call", "id": "b", "name": "Write", "input": {"file_path": "x"}})
    writer.write({"type": "permission_pending", "id": "b", "tool": "Write", "description": "x"})
    writer.write({"type": "tool_done", "id": "a", "result": {"type": "tool_result", "tool_use_id": "a",
                                                              "content": [{"type": "text", "text": "f"}]}})
    writer.close()
    calls = read_transcript(path).calls
    assert calls["a"].result == tool_result("a", "f") and not calls["a"].asking
    assert calls["b"].asking and calls["b"].result is None


def test_title_is_the_first_prompt_on_one_line_and_turns_count_prompts() -> None:
    long = "fix   the parser\nso that tabs " + "and spaces " * 10
    messages = [user_text(long), Message("assistant", (TextBlock("ok"),)),
                Message("user", (tool_result("t", "out"),)), user_text("thanks")]
    assert title(messages) == "fix the parser so that tabs and spaces and spaces and…"
    assert len(title(messages)) <= 60
    assert turn_count(messages) == 2


# --- titles and turn counts across compaction ---------------------------------------------


def turn(prompt: str, answer: str = "ok") -> list[Message]:
    return [user_text(prompt), Message("assistant", (TextBlock(answer),))]


def compacted(history: list[Message], keep: int) -> list[Message]:
    """What compaction makes of a history: a recap of all but the last `keep` messages."""
    return rebuild("what happened so far", history[-keep:], history[:-keep])


def test_a_compacted_history_keeps_its_first_prompt_as_title_and_counts_every_prompt() -> None:
    history = [*turn("fix the parser"), *turn("two"), *turn("three")]
    once = compacted(history, 2)
    assert once[0].text.startswith(RECAP_HEAD)
    assert title(once) == "fix the parser" and turn_count(once) == 3
    twice = compacted([*once, *turn("four"), *turn("five")], 2)
    assert title(twice) == "fix the parser" and turn_count(twice) == 5
    alone = compacted([*twice, *turn("six")], 1)  # the recap stands alone before the answer
    assert alone[0].role == "user" and alone[1].role == "assistant"
    assert title(alone) == "fix the parser" and turn_count(alone) == 6


def test_a_rewrite_from_before_recaps_noted_their_prompts_keeps_the_title_and_count(tmp_path: Path) -> None:
    """A transcript an older version wrote: its recaps say only {"recap": true}."""
    path = tmp_path / "s1.jsonl"
    writer = TranscriptWriter(path, HEADER)
    history = [*turn("fix the parser"), *turn("two"), *turn("three")]
    for message in history:
        writer.write(message_record(message))
    old_recap = Message("user", (TextBlock(f"{RECAP_HEAD}\n\nrecap"), TextBlock("three")), {"recap": True})
    writer.write({"type": "rewrite", "messages": [message_to_dict(m) for m in (old_recap, history[-1])]})
    for message in turn("four"):
        writer.write(message_record(message))
    snipped = [old_recap, history[-1], *turn("four")]  # a later rewrite that only cleared results
    writer.write({"type": "rewrite", "messages": [message_to_dict(m) for m in snipped]})
    writer.close()
    messages = read_transcript(path).messages
    assert title(messages) == "fix the parser" and turn_count(messages) == 4
    assert [m.text for m in messages[1:]] == ["ok", "four", "ok"]


def test_a_recap_alone_without_its_notes_is_not_a_title_or_a_turn() -> None:
    recap = Message("user", (TextBlock(f"{RECAP_HEAD}\n\nrecap"),), {"recap": True})
    merged = Message("user", (TextBlock(f"{RECAP_HEAD}\n\nrecap"), TextBlock("go on")), {"recap": True})
    alone = [recap, *turn("later")[1:], user_text("next")]
    assert title(alone) == "next" and turn_count(alone) == 1
    assert title([merged]) == "go on" and turn_count([merged]) == 1
