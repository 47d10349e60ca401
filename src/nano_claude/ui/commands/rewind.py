"""/rewind [N [conversation|files|both]]: go back to before one of your messages.

The conversation is cut back to before that message (the transcript records the cut,
so a resumed session starts there too) and the REPL puts the message back in the input
to edit and send again. The files: each file Write, Edit or NotebookEdit changed since
goes back to what it was then, from the session's checkpoints (sessions/checkpoints.py),
without git; a file the agent created is deleted. What shell commands changed cannot be
known, so it is not restored, and the listing says so.
"""

from __future__ import annotations

from pathlib import Path

from nano_claude.config import user_home
from nano_claude.core.compaction import is_prompt
from nano_claude.core.messages import Message, TextBlock
from nano_claude.core.prompter import NoUserPresent, Option, Question
from nano_claude.sessions.checkpoints import MAX_FILE_BYTES, Before, Checkpoints, Restored, Turn
from nano_claude.sessions.command import short_path
from nano_claude.sessions.store import SessionError, SessionStore
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.history import shorten
from nano_claude.ui.commands.load import ask
from nano_claude.ui.commands.save import disk_errors, recorded, store_of
from nano_claude.ui.state import ReplState

WHAT = ("conversation", "files", "both")
SHELL_NOTE = ("Changes made by shell commands (Bash, !command) are not tracked: rewinding does not "
              "restore them.")
USAGE = "/rewind [N [conversation|files|both]]"
TEXT_WIDTH = 44
FILES_SHOWN = 3

Listed = list[tuple[int, Turn | None]]  # the user's messages: index in the history, their turn


def said(message: Message) -> str:
    """What the user typed: the message's first text, without a recap compaction put
    before it or the files @path attached after it."""
    texts = [b.text for b in message.content if isinstance(b, TextBlock)]
    if message.meta.get("recap") and len(texts) > 1:
        texts = texts[1:]
    return texts[0] if texts else ""


async def run(state: ReplState, args: str) -> None:
    session = recorded(state)
    store = store_of(state)
    checkpoints = Checkpoints(store.checkpoints(session.id))
    with disk_errors(store):
        listed = checkpoints.prompts(session.messages)
        if not listed:
            state.echo("Nothing to rewind: you have not sent a message in this conversation yet.")
            return
        picked = await _pick(state, listed, args.split())
        if picked is None:
            return
        number, what = picked
        index = listed[number - 1][0]
        if what in ("files", "both"):
            _report(state, checkpoints.restore(session.messages, index), number)
        if what in ("conversation", "both"):
            _cut(state, store, index, number)


async def _pick(state: ReplState, listed: Listed, words: list[str]) -> tuple[int, str] | None:
    """Which message, and what to restore: from the arguments, else asked."""
    if len(words) > 2:
        raise SessionError(f"usage: {USAGE}")
    if words:
        number = _number(words[0], len(listed))
    else:
        show(state, listed)
        answer = await ask(state, f"Rewind to before which message? [1-{len(listed)}, or q to cancel]")
        if answer.lower() in ("", "q"):
            state.echo("Nothing rewound.")
            return None
        number = _number(answer, len(listed))
    if len(words) == 2:
        what = next((w for w in WHAT if w.startswith(words[1].lower())), None)
        if what is None:
            raise SessionError(f"{words[1]!r}: say what to restore: conversation, files or both ({USAGE})")
        return number, what
    what = await _ask_what(state)
    if what is None:
        state.echo("Nothing rewound.")
        return None
    return number, what


def _number(text: str, count: int) -> int:
    if not (text.isdigit() and 1 <= int(text) <= count):
        raise SessionError(f"{text!r} is not one of your messages: give a number from 1 to {count} "
                           "(/rewind lists them)")
    return int(text)


async def _ask_what(state: ReplState) -> str | None:
    question = Question("Restore what?", (
        Option("conversation", "the conversation as it was before that message; the files stay as they are"),
        Option("files", "the files as they were before that message; the conversation goes on"),
        Option("both", "the conversation and the files"),
        Option("cancel", "rewind nothing"),
    ), allow_freetext=False)
    try:
        answer = await state.agent.prompter.ask(question)
    except NoUserPresent:
        return None
    return answer if answer in WHAT else None


def show(state: ReplState, listed: Listed) -> None:
    """Your messages, numbered, with their time and the files each turn changed."""
    times = [turn.time for _, turn in listed if turn is not None and turn.time]
    one_day = len({t[:10] for t in times}) <= 1
    messages = state.session.messages
    state.echo("Your messages in this conversation (rewinding goes back to before the one you pick):", "bold")
    for number, (index, turn) in enumerate(listed, 1):
        when = "" if turn is None or not turn.time else turn.time[11:16] if one_day else turn.time[5:16]
        width = 5 if one_day else 11
        text = shorten(said(messages[index]), TEXT_WIDTH)
        files = _files(state, turn.files) if turn is not None else ""
        state.echo(f"{number:>3}  {when:<{width}}  {text:<{TEXT_WIDTH}}  {files}".rstrip())
    state.echo(SHELL_NOTE, "dim")


def _files(state: ReplState, changed: list[Before]) -> str:
    names = [_shown(state, b.path) + ("" if b.existed else " (new)") for b in changed]
    more = f", +{len(names) - FILES_SHOWN} more" if len(names) > FILES_SHOWN else ""
    return ", ".join(names[:FILES_SHOWN]) + more


def _shown(state: ReplState, path: Path) -> str:
    """Relative to the cwd inside it, else with ~ for the home folder."""
    try:
        return str(path.relative_to(state.agent.ctx.cwd.resolve()))
    except ValueError:
        return short_path(str(path), user_home(state.environ))


def _report(state: ReplState, done: Restored, number: int) -> None:
    changed = [*done.written, *done.deleted]
    if not (changed or done.too_big or done.failed):
        state.echo(f"No file was changed by Write, Edit or NotebookEdit since message {number}: "
                   "no file to restore.")
    if changed:
        state.echo(f"Restored {_count(len(changed))} to before message {number}:", "green")
    for path in changed:
        note = " (deleted: it did not exist then)" if path in done.deleted else ""
        if path in done.outside:
            note += " (it had been changed outside nano_claude since: those changes are undone too)"
        state.echo(f"  {_shown(state, path)}{note}", "yellow" if path in done.outside else None)
    for before in done.too_big:
        state.echo(f"  {_shown(state, before.path)}: not restored: it was {before.size / 2**20:.1f} MB, over "
                   f"the {MAX_FILE_BYTES // 2**20} MB kept for a checkpoint", "yellow")
    for path, reason in done.failed:
        state.echo(f"  {_shown(state, path)}: could not be restored: {reason}", "red")
    if done.unchanged:
        names = ", ".join(_shown(state, p) for p in done.unchanged)
        state.echo(f"  already as they were: {names}", "dim")
    state.echo(SHELL_NOTE, "dim")


def _count(files: int) -> str:
    return "1 file" if files == 1 else f"{files} files"


def _cut(state: ReplState, store: SessionStore, index: int, number: int) -> None:
    """The conversation back to before message `index`, on disk at once (a "rewrite"
    record, as compaction writes): a resumed session starts from here."""
    session = recorded(state)
    removed = len(session.messages) - index
    first = shorten(said(session.messages[index]), TEXT_WIDTH)
    del session.messages[index:]
    session.loaded = min(session.loaded, index)
    store.sync(session, state.agent.model.qualified)
    state.context_tokens = 0  # the newest usage report described the longer conversation
    state.echo(f"Conversation rewound to before message {number} ({first}): "
               f"{removed} message{'' if removed == 1 else 's'} removed.", "green")


def complete(state: ReplState, text: str) -> list[str]:
    """A message number, then what to restore."""
    number, space, what = text.partition(" ")
    if not space:
        count = sum(1 for m in state.session.messages if is_prompt(m))
        return [str(n) for n in range(1, count + 1) if str(n).startswith(number)]
    return [f"{number} {w}" for w in WHAT if w.startswith(what)]


COMMAND = Command("rewind", "go back to before one of your messages: the conversation, the files, or both",
                  run, usage=USAGE, complete=complete)
