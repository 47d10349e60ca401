"""/permissions: the mode and the rules in force; /permissions MODE changes the mode for
this session; /permissions why CMD says what a shell command would meet, and why."""

from __future__ import annotations

import difflib

from nano_claude.permissions.policy import MODES
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.live import apply_setting
from nano_claude.ui.state import ReplState

MEANING = {
    "auto": "reads run; edits, commands and fetches ask unless a rule allows them",
    "accept-all": "every tool runs without asking (deny and ask rules still apply)",
    "manual": "every tool call asks first",
    "plan": "read-only: changes are refused until you leave plan mode",
}


async def run(state: ReplState, args: str) -> None:
    word, _, rest = args.partition(" ")
    if not args:
        show(state)
    elif word == "why":
        why(state, rest.strip())
    elif word in MODES:
        await apply_setting(state, "permission_mode", word)
        state.echo(f"Permission mode: {word} for this session — {MEANING[word]}.", "green")
    else:
        near = difflib.get_close_matches(word, [*MODES, "why"], n=1)
        hint = f" Did you mean {near[0]}?" if near else ""
        state.echo(f"Unknown permission mode {word!r}.{hint} Modes: {', '.join(MODES)}; "
                   "or /permissions why CMD.", "red")


def show(state: ReplState) -> None:
    policy = state.agent.policy
    state.echo(f"Permission mode: {policy.mode} — {MEANING[policy.mode]}", "bold")
    rules = [*policy.rules.rules, *policy.session.rules]
    for kind in ("deny", "ask", "allow"):
        for rule in (r for r in rules if r.kind == kind):
            state.echo(f"  {kind:5}  {rule}  ({rule.source or 'built in'})")
    for extra in policy.extra_dirs:
        state.echo(f"  dir    {extra}")
    if not rules:
        state.echo(f"  No rules; add them to {state.paths.user_settings} or {state.paths.project_local}.",
                   "dim")


def why(state: ReplState, command: str) -> None:
    if not command:
        state.echo('Usage: /permissions why CMD, e.g. /permissions why git push --force', "red")
        return
    ruling = state.agent.policy.judge_command(command)
    style = {"allow": "green", "ask": "yellow", "deny": "red"}[ruling.decision]
    state.echo(f"{ruling.decision}: {ruling.reason}", style)
    if ruling.rule:
        state.echo(f"rule: {ruling.rule}")
    if ruling.suggestions:
        state.echo(f"to allow it: {' '.join(ruling.suggestions)}", "dim")


def complete(state: ReplState, text: str) -> list[str]:
    return [word for word in (*MODES, "why ") if word.startswith(text.strip())]


COMMAND = Command("permissions", "show the permission mode and rules, change the mode, or ask why", run,
                  usage="/permissions [MODE | why CMD]", complete=complete)
