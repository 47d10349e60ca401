"""Full-text search over saved sessions: words anywhere, an index that keeps up and rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nano_claude.core.messages import Message, TextBlock, ToolUseBlock, tool_result, user_text
from nano_claude.sessions.search import fts5_available, search
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import SessionError, SessionStore

pytestmark = pytest.mark.skipif(not fts5_available(), reason="this Python's SQLite has no FTS5")


def ticking() -> Callable[[], datetime]:
    moments = iter(datetime(2026, 4, 5, 9, 0) + timedelta(minutes=i) for i in range(10_000))
    return lambda: next(moments)


def saved(store: SessionStore, *messages: Message) -> RecordedSession:
    session = RecordedSession.new(store.root, store.clock, list(messages))
    store.save(session, "m")
    return session


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    store = SessionStore(tmp_path / "sessions", clock=ticking())
    saved(store, user_text("why does the parser fail on tabs?"),
          Message("assistant", (TextBlock("Let me look."),
                                ToolUseBlock("t1", "Grep", {"pattern": "expandtabs"}))),
          Message("user", (tool_result("t1", "src/lexer.py:12: line.expandtabs(4)"),)),
          Message("assistant", (TextBlock("The lexer expands tabs to four spaces."),)))
    saved(store, user_text("write a haiku about autumn"),
          Message("assistant", (TextBlock("Leaves fall..."),)))
    return store


def test_every_word_must_match_anywhere_in_a_message_tool_calls_and_results_too(store: SessionStore) -> None:
    assert [h.entry.title for h in search(store, "haiku autumn").hits] == ["write a haiku about autumn"]
    assert search(store, "haiku parser").hits == []
    result = search(store, "lexer.py").hits
    assert [(h.role, h.snippet) for h in result] == [("user", "src/[lexer.py]:12: line.expandtabs(4)")]
    assert any(h.role == "assistant" for h in search(store, "expandtabs").hits)


def test_words_match_as_prefixes_and_quotes_are_only_text(store: SessionStore) -> None:
    hits = search(store, "pars").hits
    assert hits and "[parser]" in hits[0].snippet
    assert search(store, 'tabs" OR "autumn').hits == []  # not FTS syntax: the words, all of them


def test_the_index_is_rebuilt_when_lost_or_corrupt_and_keeps_up_with_new_messages(
        store: SessionStore) -> None:
    first = search(store, "haiku")
    assert first.note == "built the search index from the transcripts"
    assert search(store, "haiku").note == ""
    (store.root / "search.db").unlink()
    assert search(store, "haiku").hits and search(store, "haiku").note == ""
    (store.root / "search.db").write_bytes(b"this is not a database" * 100)
    assert search(store, "haiku").hits

    later = saved(store, user_text("a question about kubernetes"))
    assert [h.entry.session_id for h in search(store, "kubernetes").hits] == [later.id]
    later.messages.append(user_text("and helm charts"))
    store.save(later, "m")
    assert search(store, "helm").hits


def test_sessions_dropped_from_the_index_are_no_longer_found(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", history_limit=1, clock=ticking())
    saved(store, user_text("the zebra session"))
    assert search(store, "zebra").hits
    saved(store, user_text("the yak session"))
    assert search(store, "zebra").hits == [] and search(store, "yak").hits


def test_search_needs_words(store: SessionStore) -> None:
    with pytest.raises(SessionError, match="needs some text"):
        search(store, "   ")
