"""/cloudsave: the session in a secret GitHub Gist, and back (sessions/cloud.py).

    /cloudsave setup TOKEN     check a token (scope "gist") with GitHub, keep it in cloud.json
    /cloudsave [push [DESC]]   upload this session: a new secret gist, then updates of it
    /cloudsave auto on|off     upload the session on the way out of the REPL
    /cloudsave list            your session gists, newest first
    /cloudsave load ID         a session gist as a new session, as /load FILE does

The requests run in a thread, so the REPL keeps drawing while GitHub answers.
"""

from __future__ import annotations

import asyncio

from nano_claude.config import save_user_setting, user_home
from nano_claude.core.errors import ConfigError
from nano_claude.sessions import cloud
from nano_claude.sessions.command import short_path, turns
from nano_claude.sessions.transcript import turn_count
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.live import apply_setting
from nano_claude.ui.commands.load import switch_to
from nano_claude.ui.commands.save import disk_errors, recorded, store_of
from nano_claude.ui.state import ReplState

USAGE = "/cloudsave [setup TOKEN | push [DESC] | auto on|off | list | load ID]"


def _shown(state: ReplState, path: object) -> str:
    return short_path(str(path), user_home(state.environ))


async def setup(state: ReplState, token: str) -> None:
    if not token:
        state.echo(f"Usage: /cloudsave setup TOKEN, with {cloud.NEEDS}", "yellow")
        return
    login = await asyncio.to_thread(cloud.setup, state.paths.home, cloud.api_of(state.settings), token)
    where = _shown(state, cloud.account_path(state.paths.home))
    state.echo(f"GitHub token for {login} saved in {where} (readable by you only). "
               "/cloudsave uploads this session.", "green")


async def push(state: ReplState, note: str) -> None:
    if not state.session.messages:
        state.echo("Nothing to upload yet: the conversation is empty.")
        return
    session = recorded(state)
    pushed = await asyncio.to_thread(cloud.push, state.paths.home, cloud.api_of(state.settings), session,
                                     state.agent.model.qualified, note)
    if pushed.replaced:
        state.echo(f"Gist {pushed.replaced} is gone from your account: uploaded to a new one.", "yellow")
    what = "Uploaded to a new secret gist" if pushed.created else "Updated gist"
    state.echo(f"{what} {pushed.gist_id} ({turns(turn_count(session.messages))}): {pushed.url}", "green")


async def auto(state: ReplState, switch: str) -> None:
    switch = switch.lower()
    if not switch:
        now = "on" if state.settings.cloudsave_auto else "off"
        state.echo(f"Upload on exit is {now} (/cloudsave auto on|off)")
        return
    if switch not in ("on", "off"):
        state.echo("Usage: /cloudsave auto on|off", "yellow")
        return
    value = switch == "on"
    if value:  # a missing token now, rather than a failed upload at every exit
        cloud.Account.read(state.paths.home).token_for(cloud.api_of(state.settings))
    try:
        save_user_setting(state.paths, "cloudsave_auto", value)
    except (ConfigError, OSError) as exc:
        state.echo(f"Not saved, nothing changed: {exc}", "red")
        return
    await apply_setting(state, "cloudsave_auto", value)
    state.echo(f"Upload on exit: {switch} (cloudsave_auto saved to {_shown(state, state.paths.user_config)})",
               "green")


async def show_list(state: ReplState, _: str) -> None:
    gists, more = await asyncio.to_thread(cloud.listing, state.paths.home, cloud.api_of(state.settings))
    if not gists:
        state.echo("No nano-claude sessions in your gists yet: /cloudsave uploads this one.")
        return
    mine = cloud.Account.read(state.paths.home).uploads.get(getattr(state.session, "id", ""))
    for gist in gists:
        mark = "  (this session)" if mine is not None and mine.gist == gist.id else ""
        state.echo(f"{gist.id}  {gist.when}  {gist.description}{mark}")
    scope = f" among your {cloud.MAX_PAGES * cloud.PER_PAGE:,} newest gists" if more else ""
    state.echo(f"{len(gists)} session gist(s){scope}; /cloudsave load ID restores one", "dim")


async def load(state: ReplState, ref: str) -> None:
    if not ref:
        state.echo("Usage: /cloudsave load ID (/cloudsave list shows them)", "yellow")
        return
    home, url = state.paths.home, cloud.api_of(state.settings)
    store = store_of(state)
    downloaded = await asyncio.to_thread(cloud.download, home, url, ref, store.root)
    with disk_errors(store):
        loaded = store.load_file(downloaded.path, state.agent.ctx.cwd)
    switch_to(state, loaded, f"Loaded gist {downloaded.gist_id} as a new session")
    cloud.adopt(home, url, loaded.session, downloaded)
    state.echo(f"A copy is kept in {_shown(state, downloaded.path)}: /load {downloaded.path.stem} brings it "
               "back without the network.", "dim")


ACTIONS = {"setup": setup, "push": push, "auto": auto, "list": show_list, "load": load}


async def run(state: ReplState, args: str) -> None:
    action, _, rest = args.partition(" ")
    handler = ACTIONS.get(action.lower()) if action else push
    if handler is None:  # the word is not repeated: it may be a token typed without "setup"
        state.echo(f"Unknown /cloudsave action. Usage: {USAGE}", "red")
        return
    await handler(state, rest.strip())


def carries_token(args: str) -> bool:
    """`setup TOKEN`, or a word that is no action (a token typed without "setup")."""
    action = args.split(" ", 1)[0].lower()
    return bool(action) and (action == "setup" or action not in ACTIONS)


def complete(state: ReplState, text: str) -> list[str]:
    if text.lower().startswith("auto "):
        return [f"auto {s}" for s in ("on", "off") if f"auto {s}".startswith(text.lower())]
    return [f"{a} " if a in ("setup", "load", "auto") else a for a in ACTIONS if a.startswith(text.lower())]


COMMAND = Command("cloudsave", "upload the session to a secret GitHub Gist, list yours, load one back", run,
                  usage=USAGE, complete=complete, secret=carries_token)
