"""/save [NAME]: the conversation as a snapshot file under ~/.nano_claude/sessions/.

The transcript is written as the conversation goes; /save adds a copy under a name
of your choosing (`/load NAME` brings it back) and brings the index up to date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nano_claude.sessions.command import turns
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import SessionError, SessionStore
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState


@contextlib.contextmanager
def disk_errors(store: SessionStore) -> Iterator[None]:
    """A file that cannot be read or written is a message, not the end of the REPL."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or store.root
        raise SessionError(f"cannot use {where}: {exc.strerror or exc}") from exc


def store_of(state: ReplState) -> SessionStore:
    return SessionStore.of(state.paths.home, state.settings)  # the caps as /config left them


def recorded(state: ReplState) -> RecordedSession:
    """The REPL's session as a recorded one (a conversation /clear began is not, yet)."""
    if not isinstance(state.session, RecordedSession):
        state.session = RecordedSession.adopt(state.session, state.agent.ctx.cwd)
    return state.session


def autosave(state: ReplState) -> None:
    """Before the conversation is replaced: bring the index up to date with it."""
    session = state.session
    if isinstance(session, RecordedSession) and session.changed:
        store_of(state).save(session, state.agent.model.qualified)


async def run(state: ReplState, args: str) -> None:
    if not state.session.messages:
        state.echo("Nothing to save yet: the conversation is empty.")
        return
    session = recorded(state)
    store = store_of(state)
    with disk_errors(store):
        path, saved = store.save_named(session, args, state.agent.model.qualified)
    entry = saved.entry
    state.echo(f"Session saved → {path} (id: {entry.short_id}, {turns(entry.turn_count)})", "green")
    state.echo(f"history.json: {saved.sessions} sessions / {saved.total_turns} total turns", "dim")


COMMAND = Command("save", "save the conversation to a file (/load NAME brings it back)", run,
                  usage="/save [NAME]")
