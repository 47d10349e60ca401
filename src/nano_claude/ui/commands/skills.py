"""/skills: every skill and custom command this session found, with how to run it, where it
came from and when it is for; the files that could not be loaded, and why; names a REPL
command or a higher folder took. `/skills NAME` shows one skill's instructions."""

from __future__ import annotations

from pathlib import Path

from nano_claude.config import user_home
from nano_claude.core.errors import UsageError
from nano_claude.extensions.skills.catalog import skills_of
from nano_claude.extensions.skills.loader import Skill
from nano_claude.ui.commands import Command, find
from nano_claude.ui.state import ReplState
from nano_claude.ui.text import first_line


def where(skill: Skill, cwd: Path, home: Path) -> str:
    """`project · .claude/commands/x.md`: its level and its file, shortened."""
    if skill.level == "built-in":
        return "built-in"
    path = Path(skill.source)
    if path.is_relative_to(cwd):
        shown = str(path.relative_to(cwd))
    elif path.is_relative_to(home):
        shown = "~/" + str(path.relative_to(home))
    else:
        shown = str(path)
    return f"{skill.level} · {shown}"


def traits(skill: Skill) -> list[str]:
    out = []
    if len(skill.commands) > 1:
        out.append("also " + ", ".join(f"/{c}" for c in skill.commands[1:]))
    if skill.triggers:
        out.append("trigger " + ", ".join(f'"{t}"' for t in skill.triggers))
    if skill.kind == "command":
        out.append("custom command")
    if skill.context == "fork":
        out.append(f"runs as a sub-agent ({skill.agent or 'general-purpose'})")
    if skill.model:
        out.append(f"model {skill.model}")
    if skill.allowed_tools:
        out.append("allows " + ", ".join(skill.allowed_tools))
    if skill.disable_model_invocation:
        out.append("only you can run it")
    if not skill.user_invocable:
        out.append("only the model can run it")
    return out


async def run(state: ReplState, args: str) -> None:
    skills = skills_of(state.agent)
    if skills is None:
        state.echo("No skills in this session.", "dim")
        return
    if args:
        _detail(state, args)
        return
    found = skills.found
    cwd, home = state.agent.ctx.cwd, user_home(state.environ)
    listed = found.skills
    state.echo(f"Skills and custom commands ({len(listed)}):", "bold")
    for skill in listed:
        hint = f" {skill.argument_hint}" if skill.argument_hint else ""
        style = None if skill.user_invocable else "dim"
        state.echo(f"/{skill.name}{hint}  ({where(skill, cwd, home)})", style)
        if skill.description:
            state.echo(f"    {first_line(skill.description, 200)}")
        if skill.when_to_use:
            state.echo(f"    when to use: {first_line(skill.when_to_use, 200)}", "dim")
        more = traits(skill)
        if more:
            state.echo(f"    {' · '.join(more)}", "dim")
    taken = [(name, skill) for name, skill in found.by_name.items() if find(name) is not None]
    for name, skill in taken:
        state.echo(f"/{name} from {where(skill, cwd, home)} does not run as typed: the REPL's own /{name} "
                   "wins (the model can still run it with the Skill tool; rename it to type it)", "yellow")
    for hidden, winner in found.shadowed:
        state.echo(f"/{hidden.name} from {where(hidden, cwd, home)} is overridden by the one from "
                   f"{where(winner, cwd, home)}", "dim")
    if found.errors:
        state.echo("Not loaded:", "bold")
        for error in found.errors:
            state.echo(f"  {error}", "yellow")
    state.echo("Run one with /NAME ARGS; the model runs them with the Skill tool. /skills NAME shows one.",
               "dim")


def _detail(state: ReplState, name: str) -> None:
    skills = skills_of(state.agent)
    skill = skills.get(name) if skills is not None else None
    if skill is None:
        raise UsageError(f"No skill /{name.removeprefix('/')}; /skills lists them.")
    hint = f" {skill.argument_hint}" if skill.argument_hint else ""
    state.echo(f"/{skill.name}{hint}  ({where(skill, state.agent.ctx.cwd, user_home(state.environ))})",
               "bold")
    for line in (skill.description, *(["when to use: " + skill.when_to_use] if skill.when_to_use else []),
                 *traits(skill)):
        state.echo(f"    {line}", "dim")
    files = skill.supporting_files()
    if files:
        state.echo(f"    folder {skill.folder}: {', '.join(files)}", "dim")
    state.echo()
    state.echo(skill.body)


def complete(state: ReplState, text: str) -> list[str]:
    skills = skills_of(state.agent)
    return sorted(skills.found.by_name) if skills is not None else []


COMMAND = Command("skills", "list skills and custom commands (/NAME runs one)", run, usage="/skills [NAME]",
                  complete=complete)
