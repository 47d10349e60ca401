"""~/.nano_claude/sessions/: the index, the seed's snapshots and their caps, lookups, loads."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nano_claude.core.compaction import rebuild
from nano_claude.core.messages import Message, TextBlock, user_text
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import INDEX_VERSION, SessionError, SessionStore
from nano_claude.sessions.transcript import title, turn_count

MODEL = "anthropic/claude-sonnet-4-6"


def ticking(start: datetime = datetime(2026, 4, 5, 9, 0, 0)) -> Callable[[], datetime]:
    """A clock a minute later at every reading."""
    moments = iter(start + timedelta(minutes=i) for i in range(10_000))
    return lambda: next(moments)


def chat(store: SessionStore, prompt: str, cwd: Path, session_id: str = "") -> RecordedSession:
    """A one-turn session, saved as the REPL saves it on the way out."""
    answer = Message("assistant", (TextBlock("ok"),))
    session = RecordedSession.new(cwd, store.clock, [user_text(prompt), answer])
    if session_id:
        session.id = session_id
    store.save(session, MODEL)
    return session


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_save_writes_the_seed_layout(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    session = chat(store, "fix the parser", tmp_path)
    short = session.id[:8]
    assert files_under(store.root) == [".lock", f"daily/2026-04-05/session_090000_{short}.json",
                                       "history.json", "mr_sessions/session_latest.json",
                                       f"transcripts/{session.id}.jsonl"]
    latest = json.loads(store.latest_path.read_text())
    assert latest["session_id"] == session.id and latest["started_at"] == "2026-04-05 09:00:00"
    assert latest["saved_at"] > latest["started_at"]
    assert latest["turn_count"] == 1 and latest["title"] == "fix the parser" and len(latest["messages"]) == 2
    index = json.loads(store.index_path.read_text())
    assert index["total_turns"] == 1 and index["sessions"][0]["model"] == MODEL
    assert index["sessions"][0]["cwd"] == str(tmp_path)


def test_daily_snapshots_keep_the_newest_up_to_the_daily_limit(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", daily_limit=2, clock=ticking())
    made = [chat(store, f"task {i}", tmp_path) for i in range(4)]
    kept = sorted(p.name for p in (store.daily_root / "2026-04-05").iterdir())
    assert [name.split("_")[-1] for name in kept] == [f"{s.id[:8]}.json" for s in made[2:]]
    assert len(store.entries()) == 4  # the cap is on the day's snapshots, not on sessions


def test_the_history_limit_drops_the_oldest_sessions_and_their_transcripts(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", history_limit=3, clock=ticking())
    made = [chat(store, f"task {i}", tmp_path) for i in range(5)]
    assert [e.title for e in store.entries()] == ["task 4", "task 3", "task 2"]
    assert [store.transcript(s.id).exists() for s in made] == [False, False, True, True, True]
    assert json.loads(store.index_path.read_text())["total_turns"] == 3


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", history_limit=2, daily_limit=1, clock=ticking())
    for i in range(3):
        session = chat(store, f"task {i}", tmp_path)
    store.save_named(session, "mine", MODEL)
    leftovers = [name for name in files_under(store.root) if Path(name).name.startswith(".")]
    assert leftovers == [".lock"]
    for snapshot in [store.index_path, store.latest_path, store.root / "mine.json"]:
        json.loads(snapshot.read_text())


def test_a_lost_or_stale_index_is_rebuilt_from_the_transcripts(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    first = chat(store, "first task", tmp_path)
    second = chat(store, "second task", tmp_path)
    second.messages.append(user_text("one more"))
    store.sync(second, MODEL)  # written, then killed before the index was saved
    store.index_path.unlink()
    entries = {e.session_id: e for e in store.entries()}
    assert entries[first.id].title == "first task" and entries[first.id].cwd == str(tmp_path)
    assert entries[second.id].turn_count == 2 and entries[second.id].model == MODEL
    assert json.loads(store.index_path.read_text())["total_turns"] == 3
    store.index_path.write_text("{ not json")
    assert len(store.entries()) == 2


def test_sessions_are_found_by_id_prefix_and_by_directory(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    here, there = tmp_path / "here", tmp_path / "there"
    chat(store, "a", here, "abc12345-0000")
    chat(store, "b", there, "abd99999-0000")
    chat(store, "c", here, "f0000000-0000")
    assert store.find("abc").title == "a" and store.find("abd99999-0000").title == "b"
    with pytest.raises(SessionError, match="'ab' starts 2 session ids"):
        store.find("ab")
    with pytest.raises(SessionError, match="no saved session has the id 'zzz'"):
        store.find("zzz")
    latest_here = store.latest(here)
    assert latest_here is not None and latest_here.title == "c"
    latest_there = store.latest(there)
    assert latest_there is not None and latest_there.title == "b"
    assert store.latest(tmp_path / "nowhere") is None
    with pytest.raises(SessionError, match="no saved session in"):
        store.open(tmp_path / "nowhere", latest_here=True)


def test_a_loaded_session_continues_its_transcript(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    saved = chat(store, "first", tmp_path)
    loaded = store.open(tmp_path, latest_here=True).session
    assert loaded.id == saved.id and loaded.messages == saved.messages and not loaded.changed
    loaded.messages.append(user_text("second"))
    assert loaded.changed
    store.save(loaded, MODEL)
    assert [e.turn_count for e in store.entries()] == [2]


def test_merge_makes_a_new_session_oldest_first(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    older, newer = chat(store, "older", tmp_path), chat(store, "newer", tmp_path)
    merged = store.merge([newer.id, older.id], tmp_path).session
    assert [m.text for m in merged.messages] == ["older", "ok", "newer", "ok"]
    assert merged.id not in (older.id, newer.id) and merged.forked_from == (older.id, newer.id)
    assert not merged.changed  # nothing to save until the user says something
    assert not store.transcript(merged.id).exists()


def test_a_seed_snapshot_loads_and_bad_messages_are_skipped(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    old = tmp_path / "session_110523_a3f9.json"
    old.write_text(json.dumps({"session_id": "a3f9c1b2", "saved_at": "2026-04-05 11:05:23", "turn_count": 1,
                               "messages": [{"role": "user", "content": "hi"},
                                            {"role": "system", "content": "odd"},
                                            {"role": "assistant", "content": "hello"}]}))
    loaded = store.load_file(old, tmp_path)
    assert [m.text for m in loaded.session.messages] == ["hi", "hello"]
    assert loaded.session.forked_from == ("a3f9c1b2",)
    assert loaded.warnings == [f"{old}: skipped 1 message(s) that could not be read"]
    (tmp_path / "nothing.json").write_text("[]")
    with pytest.raises(SessionError, match="is not a session file"):
        store.load_file(tmp_path / "nothing.json", tmp_path)


def test_snapshot_names_are_plain_file_names(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    session = chat(store, "x", tmp_path)
    path, _ = store.save_named(session, "debug_auth", MODEL)
    assert path == store.root / "debug_auth.json" and store.snapshot_file("debug_auth") == path
    assert store.named() == ["debug_auth"]
    for bad in ("../escape", ".hidden", "a/b"):
        with pytest.raises(SessionError, match="cannot be a session name"):
            store.save_named(session, bad, MODEL)
    auto, _ = store.save_named(session, "", MODEL)
    assert auto.name.startswith("session_20260405_") and auto.name.endswith(f"_{session.id[:8]}.json")


def test_a_compacted_session_keeps_its_title_and_every_turn_saved_resumed_rebuilt_and_merged(
        tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    session = chat(store, "fix the parser", tmp_path)
    for prompt in ("two", "three"):
        session.messages += [user_text(prompt), Message("assistant", (TextBlock("ok"),))]
    session.messages[:] = rebuild("the parser was fixed", session.messages[-2:], session.messages[:-2])
    session.messages.append(user_text("four"))
    saved = store.save(session, MODEL).entry
    assert (saved.title, saved.turn_count) == ("fix the parser", 4)
    assert json.loads(store.latest_path.read_text())["title"] == "fix the parser"
    other = chat(store, "later work", tmp_path)
    merged = store.merge([other.id, session.id], tmp_path).session
    assert (title(merged.messages), turn_count(merged.messages)) == ("fix the parser", 5)

    store.index_path.unlink()  # rebuilt from the transcript, with its rewrite
    assert {(e.title, e.turn_count) for e in store.entries()} == {("fix the parser", 4), ("later work", 1)}
    resumed = store.load(session.id).session
    assert (title(resumed.messages), turn_count(resumed.messages)) == ("fix the parser", 4)


def test_an_index_an_older_version_wrote_is_re_read_from_the_transcripts_once(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    session = chat(store, "fix the parser", tmp_path)
    index = json.loads(store.index_path.read_text())
    del index["version"]
    index["sessions"][0].update(title="This conversation was compacted to fit…", turn_count=0)
    store.index_path.write_text(json.dumps(index))
    assert [(e.title, e.turn_count) for e in store.entries()] == [("fix the parser", 1)]
    assert json.loads(store.index_path.read_text())["version"] == INDEX_VERSION
    assert store.entries()[0].session_id == session.id
