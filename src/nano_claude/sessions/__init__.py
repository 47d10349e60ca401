"""Sessions: crash-proof transcripts, the index of saved sessions, resume and search.

transcript.py  the JSON Lines file of one session, written as each message completes
repair.py      a loaded history made valid again (tool calls a kill left unanswered)
session.py     RecordedSession: a conversation that knows its id and what of it is on disk
recorder.py    the loop's events -> the transcript, as they happen
store.py       ~/.nano_claude/sessions/: index, snapshots, daily and history caps, lookups
search.py      full-text search over every saved session (SQLite FTS5)
command.py     `nano_claude sessions list | search TEXT`
"""
