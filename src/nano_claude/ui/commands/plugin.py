"""/plugin: install, list and manage plugins and marketplaces, as `nano_claude plugin ...` does
(extensions/plugins/command.py runs both). Git and pip run in a thread, so the REPL stays
responsive and Ctrl+C stops the command; questions go through the session's prompter."""

from __future__ import annotations

import asyncio
import shlex

from nano_claude.core.errors import UsageError
from nano_claude.core.prompter import NoUserPresent, Option, Question
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

ACTIONS = ("install", "list", "info", "enable", "disable", "disable-all", "update", "uninstall", "validate",
           "recommend", "marketplace")


async def run(state: ReplState, args: str) -> None:
    from nano_claude.extensions.plugins.command import Io, World
    from nano_claude.extensions.plugins.command import run as run_action

    try:
        argv = shlex.split(args)
    except ValueError as exc:
        raise UsageError(f"/plugin {args}: {exc} (close the quote)") from None
    loop = asyncio.get_running_loop()

    def say(text: str, style: str | None = None) -> None:
        loop.call_soon_threadsafe(state.echo, text, style)

    def confirm(question: str, shown: list[str]) -> bool:
        for line in shown:
            say(line, None)
        asked = Question(question, (Option("allow", "let it run on this machine"),
                                    Option("no", "install it without its code")), allow_freetext=False)
        try:
            answer = asyncio.run_coroutine_threadsafe(state.agent.prompter.ask(asked), loop).result()
        except NoUserPresent:
            return False
        return answer == "allow"

    world = await asyncio.to_thread(World, state.environ, state.agent.ctx.root)
    await asyncio.to_thread(run_action, argv, world, Io(say, confirm, repl=True), prog="/plugin")
    await asyncio.sleep(0)  # the last lines the thread scheduled are echoed before the prompt returns


def _complete(state: ReplState, text: str) -> list[str]:
    if " " not in text:
        return [a for a in ACTIONS if a.startswith(text)]
    action, _, rest = text.partition(" ")
    if action in ("info", "enable", "disable", "update", "uninstall") and " " not in rest:
        from nano_claude.extensions.plugins import store_for

        names = {i.name for i in store_for(state.paths, state.agent.ctx.root, state.settings).installed()}
        return [f"{action} {n}" for n in sorted(names) if n.startswith(rest)]
    if action == "marketplace" and " " not in rest:
        return [f"marketplace {a}" for a in ("add", "list", "update", "remove") if a.startswith(rest)]
    return []


COMMAND = Command(
    name="plugin",
    help="install and manage plugins (skills, commands, agents, hooks, MCP servers, Python tools)",
    run=run,
    usage="/plugin [install NAME@SOURCE | list | info NAME | enable NAME | disable NAME | disable-all | "
          "update [NAME] | uninstall NAME | validate PATH | recommend [KEYWORDS] | marketplace ...]",
    aliases=("plugins",),
    complete=_complete,
)
