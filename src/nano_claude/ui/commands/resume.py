"""/resume: continue the session saved last; /resume FILE loads a snapshot from
mr_sessions/ (or any path), /resume ID a session by its id."""

from __future__ import annotations

from nano_claude.sessions.store import SessionStore
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.load import continue_by_id, continue_session, switch_to
from nano_claude.ui.commands.save import disk_errors, store_of
from nano_claude.ui.state import ReplState


async def run(state: ReplState, args: str) -> None:
    store = store_of(state)
    with disk_errors(store):
        resume(state, store, args)


def resume(state: ReplState, store: SessionStore, args: str) -> None:
    if not args:
        entry = store.latest(exclude=getattr(state.session, "id", ""))
        if entry is None:
            state.echo("No saved session to resume yet.")
            return
        continue_session(state, store, entry)
        return
    path = store.snapshot_file(args, store.latest_path.parent)
    if path is not None:
        switch_to(state, store.load_file(path, state.agent.ctx.cwd), f"Loaded {path}")
        return
    continue_by_id(state, store, args, f"no session file {args!r} in {store.latest_path.parent}, and no "
                   "session id starts with it (/load lists the saved sessions)")


COMMAND = Command("resume", "continue the last saved session (or FILE from mr_sessions/, or ID)", run,
                  usage="/resume [FILE | ID]")
