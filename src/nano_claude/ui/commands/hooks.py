"""/hooks: every configured hook with its source file, event, matcher, what it runs and its
last run (when, how it ended, how long it took); /hooks approve | deny decides about the
project's own hooks. Also here: the question those wait on, asked before the first message
(ui/repl.py). Hooks are edited in the settings files, not here (as in Claude Code)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude.config import user_home
from nano_claude.core.errors import UsageError
from nano_claude.core.prompter import NoUserPresent, Option, Prompter, Question
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    from nano_claude.extensions.hooks.config import Hook
    from nano_claude.extensions.hooks.runner import HookRunner

RUN, KEEP_OFF = "Run them", "Keep them off"
WHERE = ("~/.nano_claude/settings.json or .nano_claude/settings.json (or Claude Code's "
         "~/.claude/settings.json, .claude/settings.json)")


async def run(state: ReplState, args: str) -> None:
    hooks: HookRunner | None = state.agent.hooks
    word = args.strip().lower()
    if word in ("approve", "deny"):
        decide(state, hooks, word)
    elif word:
        raise UsageError(f"Unknown /hooks subcommand {word!r}. Usage: {COMMAND.usage}")
    else:
        show(state, hooks)


def show(state: ReplState, hooks: HookRunner | None) -> None:
    if hooks is None:
        state.echo(f"No hooks are configured. Add them under \"hooks\" in {WHERE}.", "dim")
        return
    listed = hooks.found.hooks
    state.echo(f"Hooks ({len(listed)}):", "bold")
    for hook in listed:
        handler = hook.handler
        state.echo(f"{hook.event} · {hook.matcher or '*'} · {handler.type}: {handler.target}")
        status, style = _status(hooks, hook)
        state.echo(f"    from {_short(state, hook.source)} ({hook.scope}) · {status}", style)
    if hooks.found.project and hooks.trust != "approved":
        state.echo("/hooks approve runs this project's hooks; /hooks deny keeps them off.", "dim")


def _status(hooks: HookRunner, hook: Hook) -> tuple[str, str | None]:
    if not hooks.runs(hook):
        if hooks.trust == "pending":
            return "awaiting your trust (asked before your first message, or /hooks approve)", "yellow"
        return "kept off: you did not trust this project's hooks (/hooks approve)", "yellow"
    last = hooks.last_run(hook)
    if last is None:
        return "not run yet", "dim"
    when = time.strftime("%H:%M:%S", time.localtime(last.when))
    line = f"last run {when} · {last.outcome} · {last.seconds:.2f}s"
    if last.failure:
        return f"{line} · {last.failure.removeprefix(last.outcome + ': ')}", "red"
    return line, "dim"


def _short(state: ReplState, path: str) -> str:
    """A project's file relative to the project, anything else with ~ for the home folder."""
    from nano_claude.sessions.command import short_path

    try:
        return str(Path(path).relative_to(state.agent.ctx.root))
    except ValueError:
        return short_path(path, user_home(state.environ))


def decide(state: ReplState, hooks: HookRunner | None, verb: str) -> None:
    if hooks is None or not hooks.found.project:
        state.echo("This project's settings define no hooks: nothing to decide.", "dim")
        return
    unsaved = hooks.decide(verb == "approve")
    if unsaved:
        state.echo(unsaved, "yellow")
    if verb == "approve":
        state.echo(f"This project's {_count(len(hooks.found.project))} will run (remembered for this project "
                   "until they change).", "green")
    else:
        state.echo(f"This project's {_count(len(hooks.found.project))} stay off (remembered; /hooks approve "
                   "runs them).", "yellow")


def _count(n: int) -> str:
    return f"{n} hook{'s' * (n != 1)}"


async def ask_trust(state: ReplState, prompter: Prompter) -> None:
    """A project's hooks run commands on this machine: they run only once the user says so
    (remembered for this exact set of hooks). Nobody answering leaves them off for now."""
    hooks: HookRunner | None = state.agent.hooks
    pending = hooks.pending if hooks is not None else []
    if hooks is None or not pending:
        return
    sources = ", ".join(sorted({_short(state, h.source) for h in pending}))
    listing = "; ".join(f"{h.event}{f' ({h.matcher})' if h.matcher else ''}: {h.handler.target}"
                        for h in pending)
    question = Question(
        f"This project's settings ({sources}) define {_count(len(pending))} to run on your machine: "
        f"{listing}.",
        (Option(RUN, "run them, now and in later sessions here"),
         Option(KEEP_OFF, "keep them off (remembered; /hooks approve runs them later)")),
        allow_freetext=False)
    try:
        answer = await prompter.ask(question)
    except NoUserPresent:
        state.echo("No answer: this project's hooks stay off for now; /hooks approve runs them.", "yellow")
        return
    unsaved = hooks.decide(answer == RUN)
    if unsaved:
        state.echo(unsaved, "yellow")
    if answer != RUN:
        state.echo("This project's hooks stay off (remembered; /hooks approve runs them).", "yellow")


COMMAND = Command("hooks", "the configured hooks: source, event, matcher, last run; approve the project's",
                  run, usage="/hooks [approve | deny]",
                  complete=lambda state, text: [w for w in ("approve", "deny") if w.startswith(text)])
