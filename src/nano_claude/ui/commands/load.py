"""/load: pick a saved session from a list grouped by day (several merge; H loads them
all), or /load NAME: a file /save wrote, or a session by its id.

A session picked by number or id is continued: new messages go to its own transcript.
A file, a merge and the full history become a new session (the originals stay as
they are).
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from nano_claude.config import user_home
from nano_claude.core.prompter import NoUserPresent, Question
from nano_claude.providers.quirks import estimate_prompt_tokens
from nano_claude.sessions.command import short_path, turns
from nano_claude.sessions.store import Entry, Loaded, SessionError, SessionStore
from nano_claude.sessions.transcript import turn_count
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.save import autosave, disk_errors, store_of
from nano_claude.ui.state import ReplState

PICK = "Enter number(s) (e.g. 1, or 1,3 to merge them), H for the full history, or q to cancel"


def switch_to(state: ReplState, loaded: Loaded, what: str) -> None:
    """Make `loaded` the conversation (the one it replaces is saved first)."""
    autosave(state)
    session = loaded.session
    state.session = session
    state.turns = []
    state.context_tokens = 0
    state.agent.ctx.read_files.clear()  # the model must read a file again before editing it
    state.echo(f"{what}: {turns(turn_count(session.messages))}, {len(session.messages)} messages "
               f"(id: {session.id[:8]}). /history shows it.", "green")
    for line in (*loaded.warnings, *loaded.notes):
        state.echo(line, "yellow")


def continue_by_id(state: ReplState, store: SessionStore, ref: str, missing: str) -> None:
    """Continue the session whose id starts with `ref`; `missing`: the error when none does."""
    if not any(e.session_id.startswith(ref) for e in store.entries()):
        raise SessionError(missing)
    continue_session(state, store, store.find(ref))


def continue_session(state: ReplState, store: SessionStore, entry: Entry) -> None:
    if entry.session_id == getattr(state.session, "id", None):
        state.echo(f"Session {entry.short_id} is the conversation you are in.")
        return
    switch_to(state, store.load(entry.session_id), f"Loaded session {entry.short_id}")


async def ask(state: ReplState, question: str) -> str:
    """The user's answer, "" when there is nobody to answer (end of input, Ctrl+C)."""
    try:
        return (await state.agent.prompter.ask(Question(question))).strip()
    except NoUserPresent:
        return ""


async def run(state: ReplState, args: str) -> None:
    store = store_of(state)
    with disk_errors(store):
        await pick(state, store, args)


async def pick(state: ReplState, store: SessionStore, args: str) -> None:
    if args:
        load_named(state, store, args)
        return
    entries = store.entries()
    if not entries:
        state.echo(f"No saved sessions yet (they are kept in {store.root}).")
        return
    show(state, store, entries)
    answer = await ask(state, PICK)
    if answer.lower() in ("", "q"):
        state.echo("Nothing loaded.")
    elif answer.lower() == "h":
        await load_everything(state, store, entries)
    else:
        picked = _numbers(answer, len(entries))
        if picked is None:
            state.echo(f"Expected numbers from 1 to {len(entries)} (like 2 or 1,3), or H.", "red")
        elif len(picked) == 1:
            continue_session(state, store, entries[picked[0] - 1])
        else:
            ids = [entries[n - 1].session_id for n in picked]
            merged = store.merge(ids, state.agent.ctx.cwd)
            switch_to(state, merged, f"Merged {len(ids)} sessions, oldest first, into a new session")


def show(state: ReplState, store: SessionStore, entries: list[Entry]) -> None:
    """The seed's listing: sessions by day, newest first, then the full history."""
    current = getattr(state.session, "id", None)
    number = 0
    for day, group in groupby(entries, key=lambda e: e.saved_at[:10]):
        state.echo(f"── {day} ──", "bold")
        for entry in group:
            number += 1
            mark = "  (this session)" if entry.session_id == current else ""
            line = f"[{number:>2}] {entry.saved_at[11:19]}  id:{entry.short_id}  turns:{entry.turn_count}"
            state.echo(f"{line}  {entry.title}{mark}")
    total = sum(e.turn_count for e in entries)
    where = short_path(str(store.index_path), user_home(state.environ))
    state.echo("── Complete History ──", "bold")
    state.echo(f"[ H] Load ALL history ({len(entries)} sessions / {total} total turns)  {where}")


def _numbers(answer: str, count: int) -> list[int] | None:
    parts = [p.strip() for p in answer.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= count for p in parts):
        return None
    return list(dict.fromkeys(int(p) for p in parts))


async def load_everything(state: ReplState, store: SessionStore, entries: list[Entry]) -> None:
    """Every session as one conversation, once the user has seen what it would cost."""
    merged = store.merge([e.session_id for e in entries], state.agent.ctx.cwd)
    messages = merged.session.messages
    tokens = estimate_prompt_tokens("", messages, ())
    window = state.agent.model.context_window
    state.echo(f"The full history is {len(entries)} sessions, {turn_count(messages)} turns, "
               f"{len(messages)} messages: about {tokens:,} tokens (the model's window is {window:,}).")
    if tokens > window:
        state.echo("That is more than the window: older turns will be compacted before the next answer.",
                   "yellow")
    if (await ask(state, "Load it? (y/n)")).lower() not in ("y", "yes"):
        state.echo("Nothing loaded.")
        return
    switch_to(state, merged, f"Loaded the full history ({len(entries)} sessions) as a new session")


def load_named(state: ReplState, store: SessionStore, name: str) -> None:
    """A snapshot file (the sessions folder, mr_sessions/, daily/, or a path), else a
    session id or the start of one."""
    path = store.snapshot_file(name)
    if path is not None:
        switch_to(state, store.load_file(path, state.agent.ctx.cwd), f"Loaded {_shown(state, path)}")
        return
    continue_by_id(state, store, name, f"no session called {name!r}: no such file in {store.root} (or its "
                   "mr_sessions/ and daily/ folders), and no session id starts with it")


def _shown(state: ReplState, path: Path) -> str:
    return short_path(str(path), user_home(state.environ))


def complete(state: ReplState, text: str) -> list[str]:
    return [name for name in store_of(state).named() if name.startswith(text)]


COMMAND = Command("load", "load a saved session: a list to pick from, or by name or id", run,
                  usage="/load [NAME]", complete=complete)
