"""Full-text search over every saved session: SQLite FTS5, in search.db beside the transcripts.

The index is derived data. Before each search it is brought up to date from the
transcripts, reading only what was appended since the last search (transcripts only
grow), and rebuilt whole when it is lost or unreadable or a transcript got shorter.
When the Python's SQLite lacks FTS5, search scans the transcripts instead and says so.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from nano_claude.core.messages import message_from_dict
from nano_claude.sessions.store import Entry, SessionError, SessionStore
from nano_claude.sessions.transcript import message_text, read_transcript

MAX_TEXT = 50_000  # characters of one message that are indexed (a huge tool result is cut)
SNIPPET_WORDS = 12
SCAN_CONTEXT = 40  # characters either side of a match, when scanning
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (session_id TEXT PRIMARY KEY, offset INTEGER NOT NULL,
                                  seq INTEGER NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS messages USING fts5(
    text, session_id UNINDEXED, seq UNINDEXED, role UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
"""


@dataclass(frozen=True)
class Hit:
    entry: Entry
    role: str
    snippet: str  # the match in [brackets]


@dataclass
class Found:
    hits: list[Hit]
    note: str = ""  # how the search was done, when that is worth saying


def fts5_available() -> bool:
    con = sqlite3.connect(":memory:")
    try:
        con.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        con.close()


def search(store: SessionStore, text: str, limit: int = 30) -> Found:
    """Matches of every word of `text` (each also as a prefix), best first."""
    terms = text.split()
    if not terms:
        raise SessionError('search needs some text: the words to find, e.g. "parse error"')
    entries = {e.session_id: e for e in store.entries()}
    if not fts5_available():
        return Found(_scan(store, entries, terms, limit),
                     "this Python's SQLite has no FTS5: scanned the transcripts instead")
    path = store.root / "search.db"
    try:
        try:
            rebuilt, rows = _indexed_search(path, store, entries, terms, limit)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise
            path.unlink(missing_ok=True)  # corrupt: it is only an index, build it again
            rebuilt, rows = _indexed_search(path, store, entries, terms, limit)
    except sqlite3.OperationalError as exc:  # locked by another process for too long, disk full...
        raise SessionError(f"search failed: {path}: {exc}") from exc
    hits = [Hit(entries[sid], role, snippet) for sid, role, snippet in rows if sid in entries]
    return Found(hits, "built the search index from the transcripts" if rebuilt else "")


def _indexed_search(path: Path, store: SessionStore, entries: dict[str, Entry], terms: list[str],
                    limit: int) -> tuple[bool, list[tuple[str, str, str]]]:
    index = SearchIndex(path)
    try:
        return index.refresh(store, entries), index.query(terms, limit)
    finally:
        index.close()


class SearchIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.created = not self.path.exists()
        con = sqlite3.connect(self.path)
        try:
            self.path.chmod(0o600)  # it holds the conversations' text
            con.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            con.close()
            raise
        return con

    def close(self) -> None:
        self.con.close()

    def refresh(self, store: SessionStore, entries: dict[str, Entry]) -> bool:
        """Index what the transcripts gained since the last refresh. True: built from nothing."""
        con = self.con
        rows = con.execute("SELECT session_id, offset, seq FROM files")
        known = {sid: (offset, seq) for sid, offset, seq in rows}
        for gone in set(known) - set(entries):
            self._forget(gone)
        for session_id in entries:
            path = store.transcript(session_id)
            offset, seq = known.get(session_id, (0, 0))
            try:
                size = path.stat().st_size
                if size < offset:  # not the file that was indexed: start over
                    self._forget(session_id)
                    offset = seq = 0
                if size == offset:
                    continue
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read(size - offset)
            except OSError:
                continue
            whole = data[:data.rfind(b"\n") + 1]  # a line still being written waits for next time
            for line in whole.split(b"\n"):
                seq = self._add(session_id, seq, line)
            con.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)",
                        (session_id, offset + len(whole), seq))
        con.commit()
        return self.created and bool(entries)

    def _forget(self, session_id: str) -> None:
        self.con.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
        self.con.execute("DELETE FROM files WHERE session_id = ?", (session_id,))

    def _add(self, session_id: str, seq: int, line: bytes) -> int:
        try:
            record = json.loads(line)
            if record.get("type") != "message":  # a rewrite repeats what is indexed already
                return seq
            message = message_from_dict(record["message"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return seq  # unreadable lines are reported when the session is loaded
        text = message_text(message)[:MAX_TEXT]
        if text.strip():
            self.con.execute("INSERT INTO messages (text, session_id, seq, role) VALUES (?, ?, ?, ?)",
                             (text, session_id, seq, message.role))
        return seq + 1

    def query(self, terms: list[str], limit: int) -> list[tuple[str, str, str]]:
        match = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
        return list(self.con.execute(
            "SELECT session_id, role, snippet(messages, 0, '[', ']', '…', ?) FROM messages "
            "WHERE messages MATCH ? ORDER BY bm25(messages), session_id, seq LIMIT ?",
            (SNIPPET_WORDS, match, limit)))


def _scan(store: SessionStore, entries: dict[str, Entry], terms: list[str], limit: int) -> list[Hit]:
    """Every message holding all the words (case-insensitive), newest session first."""
    lowered = [t.lower() for t in terms]
    hits: list[Hit] = []
    for entry in entries.values():
        try:
            messages = read_transcript(store.transcript(entry.session_id)).messages
        except OSError:
            continue
        for message in messages:
            text = message_text(message)
            low = text.lower()
            if all(t in low for t in lowered):
                at = low.find(lowered[0])
                end = at + len(lowered[0])
                start = max(0, at - SCAN_CONTEXT)
                snippet = (("…" if start else "") + text[start:at] + "[" + text[at:end] + "]"
                           + text[end:end + SCAN_CONTEXT] + ("…" if end + SCAN_CONTEXT < len(text) else ""))
                hits.append(Hit(entry, message.role, " ".join(snippet.split())))
                if len(hits) >= limit:
                    return hits
    return hits
