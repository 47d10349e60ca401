"""Running a skill, typed as /name by the user or called by the model through the Skill tool.

1. The body's placeholders are filled in (substitute.py).
2. `@path` in it attaches that file, as in a typed message (core/mentions.py; not inside code,
   so not in a command or its output).
3. Its `` !`command` `` spans (at a line's start or after a space) and ```` ```! ```` blocks run
   before anything is sent, in the project, with a 2-minute limit each; their output (stderr
   too, and the exit code when it is not 0) takes their place and is not scanned again. Every
   command is judged first, with the skill's own `allowed-tools` counted as allow rules: one
   the policy would ask about or deny stops the skill before any runs, with the rule to add.
   A skill's commands never ask.
4. `allowed-tools` are allowed, and `disallowed-tools` refused, for the rest of the run
   (Policy.turn; the REPL and headless runs empty it when the run ends). Deny rules still win.
5. `model` switches the rest of the run to that model (put back when the run ends).
6. `context: fork` gives the result to a sub-agent (`agent` type, general-purpose by default,
   with the skill's model) instead: its answer is the skill's result.

A project's skill (.nano_claude/skills, .claude/..., .agents/skills in the repository) that
the model runs on its own gets no `allowed-tools`: a cloned repository may not grant itself
commands. Typed by the user, or from the user's own folders, it does.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nano_claude.core.messages import ImageBlock, TextBlock
from nano_claude.extensions.skills.catalog import SkillFailed, Skills
from nano_claude.extensions.skills.substitute import Places, substitute
from nano_claude.permissions.rules import Rule, RuleSet, parse_rule
from nano_claude.tools.base import ToolError, ToolOutput

if TYPE_CHECKING:
    from nano_claude.core.events import Event
    from nano_claude.core.loop import Agent, Session
    from nano_claude.extensions.skills.loader import Skill

Blocks = list[TextBlock | ImageBlock]
COMMAND_TIMEOUT = 120  # seconds, as Claude Code gives a skill's commands
NO_OUTPUT = "[no output, exit code 0]"
# ```! fenced blocks, or !`inline` at a line's start or after whitespace
_COMMAND = re.compile(r"^```!\s*\n(?P<block>.*?)\n?^```[ \t]*$|(?<!\S)!`(?P<inline>[^`\n]+)`", re.M | re.S)


@dataclass
class Prepared:
    """A skill's body ready to send: commands run, placeholders filled, files attached."""

    skill: Skill
    arguments: str
    text: str
    blocks: Blocks = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # @path mentions that could not be attached
    granted: list[Rule] = field(default_factory=list)  # the turn rules it added

    @property
    def noted(self) -> str:
        """The mentions that could not be attached, said after the text."""
        return "".join(f"\n\n[{note}]" for note in self.notes)

    @property
    def head(self) -> str:
        shown = f"<command-name>/{self.skill.name}</command-name>"
        return shown + (f"\n<command-args>{self.arguments}</command-args>" if self.arguments else "")


async def run_typed(agent: Agent, skills: Skills, name: str, arguments: str, *,
                    session: Session | None = None, relay: Callable[[Event], None] | None = None) -> Blocks:
    """The user's message for `/name arguments`; raises SkillFailed (nothing is sent then).
    A fork's sub-agent reports to `relay` and its usage counts in `session`."""
    skill = skills.get(name)
    if skill is None:
        raise SkillFailed(f"no skill /{name}; /skills lists them")
    if not skill.user_invocable:
        raise SkillFailed(f"/{skill.name} is for the model only (user-invocable: false in {skill.source}); "
                          "ask for what it does in words and the model runs it")
    prepared = await prepare(agent, skill, arguments, session_id=str(getattr(session, "id", "")), grants=True)
    skills.record(skill)
    if skill.context == "fork":
        def relayed(event: Event) -> None:
            if session is not None:
                agent.absorb(session, event)
            if relay is not None:
                relay(event)

        output = await fork(agent, prepared, call_id=f"skill_{secrets.token_hex(6)}", relay=relayed)
        answer = "".join(b.text for b in output.content if isinstance(b, TextBlock))
        failed = " (it did not finish)" if output.is_error else ""
        kind = skill.agent or "general-purpose"
        return [TextBlock(f"{prepared.head}\n\nThe skill ran as a sub-agent ({kind}){failed}; its answer:"
                          f"\n\n{answer}")]
    try:
        skills.use_model(agent, skill)
    except SkillFailed:
        _revoke(agent.policy.turn, prepared.granted)
        raise
    return [TextBlock(f"{prepared.head}\n\n{prepared.text}{prepared.noted}"), *prepared.blocks]


async def run_tool(agent: Agent, skills: Skills, name: str, arguments: str, call_id: str) -> ToolOutput:
    """The Skill tool's result: the body (progressive disclosure), or a fork's answer."""
    skill = skills.get(name)
    if skill is None:
        shown = ", ".join(s.name for s in skills.found.skills if s.model_invocable) or "none"
        raise ToolError(f"No skill named {name!r}. The skills are: {shown}.")
    if skill.disable_model_invocation:
        raise ToolError(f"The skill {skill.name!r} is only for the user to run (disable-model-invocation); "
                        f"if it is needed, ask the user to type /{skill.name}.")
    session_id = str(getattr(agent.session, "id", ""))
    try:
        prepared = await prepare(agent, skill, arguments, session_id=session_id,
                                 grants=skill.level != "project", by_model=True)
        skills.record(skill)
        if skill.context == "fork":
            return await fork(agent, prepared, call_id=call_id)
    except SkillFailed as exc:
        raise ToolError(str(exc)) from None
    try:
        skills.use_model(agent, skill)
    except SkillFailed as exc:
        _revoke(agent.policy.turn, prepared.granted)
        raise ToolError(str(exc)) from None
    where = f" ({skill.source})" if skill.level != "built-in" else ""
    text = f"Skill /{skill.name}{where}. Follow these instructions now.\n\n{prepared.text}"
    files = skill.supporting_files()
    if files:
        text += (f"\n\nThe skill's folder is {skill.folder}; read these files from it when the instructions "
                 f"call for them: {', '.join(files)}")
    text += prepared.noted
    return ToolOutput((TextBlock(text), *prepared.blocks), summary=f"ran skill /{skill.name}")


async def prepare(agent: Agent, skill: Skill, arguments: str, *, session_id: str, grants: bool,
                  by_model: bool = False) -> Prepared:
    """Steps 1 to 4 of the module's list; nothing is left granted when it fails."""
    from nano_claude.core.mentions import attach

    arguments = arguments.strip()
    places = Places(str(skill.folder), str(agent.ctx.root), session_id)
    text = substitute(skill.body, arguments, skill.arguments, places)
    prepared = Prepared(skill, arguments, text)
    prepared.granted = _grant(agent.policy.turn, skill, allow=grants)
    try:
        found = await attach(text, agent.ctx, agent.policy)  # before the commands: their output is not read
        prepared.text = await run_commands(agent, skill, text, grants=grants, by_model=by_model)
    except BaseException:
        _revoke(agent.policy.turn, prepared.granted)
        raise
    prepared.blocks, prepared.notes = found.blocks, found.notes
    return prepared


async def run_commands(agent: Agent, skill: Skill, text: str, *, grants: bool, by_model: bool = False) -> str:
    """`text` with each `!` command replaced by its output; SkillFailed when the policy would
    not let one run unasked (then none has run)."""
    matches = list(_COMMAND.finditer(text))
    if not matches:
        return text
    commands = [(m.group("block") if m.group("block") is not None else m.group("inline")).strip()
                for m in matches]
    for command in commands:
        _check(agent, skill, command, grants=grants, by_model=by_model)
    from nano_claude.tools.bash import BashInput, BashTool

    out, last = [], 0
    for match, command in zip(matches, commands, strict=True):
        try:
            result = await BashTool().run(BashInput(command=command, timeout=COMMAND_TIMEOUT), agent.ctx)
            output = "".join(b.text for b in result.content if isinstance(b, TextBlock))
        except ToolError as exc:
            output = f"[{exc}]"
        out += [text[last:match.start()], "" if output == NO_OUTPUT else output]
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _check(agent: Agent, skill: Skill, command: str, *, grants: bool, by_model: bool) -> None:
    ruling = agent.policy.judge_command(command)
    if ruling.decision == "allow":
        return
    if ruling.decision == "deny":
        raise SkillFailed(f"/{skill.name} cannot run: its command `{command}` is denied "
                          f"({ruling.rule or ruling.reason}). Change the skill ({skill.source}) or the rule.")
    rule = ruling.suggestions[0] if ruling.suggestions else f"Bash({command})"
    if not grants and by_model:
        fix = (f"A project's skill gets its allowed-tools only when the user runs it: ask the user to type "
               f"/{skill.name}, or to allow {rule} in their settings.")
    else:
        fix = (f"Add {rule} to the skill's allowed-tools (allowed-tools: {rule} in {skill.source}), or allow "
               f"it in your settings' permissions.allow (--allowedTools '{rule}' for a -p run; /permissions "
               "shows the rules).")
    raise SkillFailed(f"/{skill.name} cannot run: its command `{command}` needs permission "
                      f"({ruling.reason}), and a skill's commands never ask. {fix}")


async def fork(agent: Agent, prepared: Prepared, *, call_id: str,
               relay: Callable[[Event], None] | None = None) -> ToolOutput:
    """The prepared body as a foreground sub-agent's task; its answer. The skill's allowed and
    disallowed tools hold for the sub-agent (through the session rules it shares with this
    agent) while it runs, and no longer."""
    skill = prepared.skill
    manager = agent.ctx.agents
    _revoke(agent.policy.turn, prepared.granted)
    if manager is None:
        raise SkillFailed(f"/{skill.name} runs as a sub-agent (context: fork), and sub-agents are off for "
                          "this model (the compact tool profile leaves them out; tool_profile full brings "
                          "them back)")
    attached = "".join(f"\n\n{b.text}" for b in prepared.blocks if isinstance(b, TextBlock))
    lent = agent.policy.session
    lent.rules.extend(prepared.granted)
    before, agent.ctx.relay = agent.ctx.relay, relay or agent.ctx.relay
    try:
        return await manager.start(prompt=prepared.text + attached, kind_name=skill.agent,
                                   description=f"/{skill.name} {prepared.arguments}".strip()[:60],
                                   name=skill.name, model=skill.model, background=False, isolation=None,
                                   call_id=call_id)
    except ToolError as exc:
        raise SkillFailed(f"/{skill.name} could not start its sub-agent: {exc}") from None
    finally:
        agent.ctx.relay = before
        _revoke(lent, prepared.granted)


def _grant(rules: RuleSet, skill: Skill, *, allow: bool) -> list[Rule]:
    """The skill's allowed-tools (when `allow`) and disallowed-tools, added to `rules`."""
    source = f"/{skill.name}"
    added = [parse_rule(text, "deny", f"disallowed-tools of {source}") for text in skill.disallowed_tools]
    if allow:
        added += [parse_rule(text, "allow", f"allowed-tools of {source}") for text in skill.allowed_tools]
    rules.rules.extend(added)
    return added


def _revoke(rules: RuleSet, added: list[Rule]) -> None:
    for rule in added:
        for index, held in enumerate(rules.rules):
            if held is rule:
                del rules.rules[index]
                break
