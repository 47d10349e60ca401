"""Running a skill, typed as /name by the user or called by the model through the Skill tool.

1. The body's placeholders are filled in (substitute.py). Its `` !`command` `` spans (at a
   line's start or after a space) and ```` ```! ```` blocks are found in the body as written,
   so arguments never add a command; placeholders inside one are filled like the rest.
2. `@path` in it attaches that file, as in a typed message (core/mentions.py; not inside code,
   so not in a command or its output). When the model runs the skill, it chose the arguments:
   only the body's own mentions attach, and only files the policy lets it read unasked.
3. The commands run before anything is sent, in the project, with a 2-minute limit each;
   their output (stderr too, and the exit code when it is not 0) takes their place and is not
   scanned again. Every command is judged first, with the skill's own `allowed-tools`
   counted as allow rules: one the policy would ask about or deny stops the skill before any
   runs, saying what would let it run. A skill's commands never ask, and they do not go
   through PreToolUse hooks (the permission policy is what guards them).
4. `allowed-tools` are allowed, and `disallowed-tools` refused, for the rest of the run
   (Policy.turn; the REPL and headless runs empty it when the run ends, a sub-agent's when its
   run ends). Deny rules still win.
5. `model` switches the rest of the run to that model (put back when the run ends).
6. `context: fork` gives the result to a sub-agent (`agent` type, general-purpose by default,
   with the skill's model) instead: its answer is the skill's result.

A project's skill (.nano_claude/skills, .claude/..., .agents/skills in the repository) that
the model runs on its own gets no `allowed-tools`: a cloned repository may not grant itself
commands. Typed by the user, it gets them once the user trusts the project's skills
(catalog.py); from the user's own folders, always.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nano_claude.core.events import Notice
from nano_claude.core.messages import ImageBlock, TextBlock
from nano_claude.extensions.skills.catalog import COMMANDS, SkillFailed, Skills
from nano_claude.extensions.skills.substitute import Places, fill
from nano_claude.permissions.rules import Rule, RuleSet, parse_rule
from nano_claude.tools.base import ToolError, ToolOutput

if TYPE_CHECKING:
    from nano_claude.core.events import Event
    from nano_claude.core.loop import Agent, Session
    from nano_claude.extensions.skills.loader import Skill
    from nano_claude.permissions.policy import Policy, Ruling

Blocks = list[TextBlock | ImageBlock]
COMMAND_TIMEOUT = 120  # seconds, as Claude Code gives a skill's commands
NO_OUTPUT = "[no output, exit code 0]"

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
    A fork's sub-agent reports to `relay` and its usage counts in `session`; what the user
    should know (a project's file in a built-in's place, allowed-tools not in force) goes
    there too."""
    skill = skills.get(name)
    if skill is None:
        raise SkillFailed(f"no skill /{name}; /skills lists them")
    if not skill.user_invocable:
        raise SkillFailed(f"/{skill.name} is for the model only (user-invocable: false in {skill.source}); "
                          "ask for what it does in words and the model runs it")
    tell = relay or (lambda event: None)
    if skills.shadows_builtin(skill):
        tell(Notice(f"/{skill.name} is this project's {skill.source}, not the built-in /{skill.name}"))
    said = await skills.ask_trust(agent.prompter, skill)
    if said:
        tell(Notice(said))
    grants = skills.trusted(skill)
    if not grants and skill.allowed_tools:
        tell(Notice(f"/{skill.name} runs without its allowed-tools ({', '.join(skill.allowed_tools)}): "
                    f"{skills.untrusted(skill)}"))
    prepared = await prepare(agent, skill, arguments, session_id=str(getattr(session, "id", "")),
                             grants=grants, untrusted="" if grants else skills.untrusted(skill))
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
        grants = skills.model_grants(skill)
        prepared = await prepare(agent, skill, arguments, session_id=session_id, grants=grants, by_model=True,
                                 untrusted="" if grants or not skill.plugin else skills.untrusted(skill))
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
    if skills.shadows_builtin(skill):
        text = f"This is the project's own /{skill.name}, not the built-in one.\n\n{text}"
    files = skill.supporting_files()
    if files:
        text += (f"\n\nThe skill's folder is {skill.folder}; read these files from it when the instructions "
                 f"call for them: {', '.join(files)}")
    text += prepared.noted
    return ToolOutput((TextBlock(text), *prepared.blocks), summary=f"ran skill /{skill.name}")


@dataclass
class Filled:
    """A body with its placeholders filled and its `!` commands kept apart. The commands are
    found in the body as written, so an argument cannot add one (`!`cmd`` in the arguments
    stays text); placeholders inside a command are filled, and the policy judges the result."""

    pieces: list[str]  # the text before each command, and after the last
    spans: list[str]  # each command as written in the body
    commands: list[str]  # each command, filled
    appended: str = ""  # `ARGUMENTS: ...` when no placeholder used them

    @classmethod
    def of(cls, body: str, arguments: str, names: tuple[str, ...], places: Places) -> Filled:
        filled, last, used = cls([], [], []), 0, False
        for match in COMMANDS.finditer(body):
            text, took = fill(body[last:match.start()], arguments, names, places)
            command, took_too = fill(_command_of(match), arguments, names, places)
            filled.pieces.append(text)
            filled.spans.append(match.group(0))
            filled.commands.append(command)
            used, last = used or took or took_too, match.end()
        text, took = fill(body[last:], arguments, names, places)
        filled.pieces.append(text)
        if not (used or took) and arguments:
            filled.appended = f"\n\nARGUMENTS: {arguments}"
        return filled

    def text(self, outputs: list[str] | None = None) -> str:
        """The whole text: with the commands' outputs, or (before they run) as written."""
        between = outputs if outputs is not None else self.spans
        out = [part for pair in zip(self.pieces, [*between, ""], strict=True) for part in pair]
        text = "".join(out)
        return f"{text.rstrip()}{self.appended}" if self.appended else text


async def prepare(agent: Agent, skill: Skill, arguments: str, *, session_id: str, grants: bool,
                  by_model: bool = False, untrusted: str = "") -> Prepared:
    """Steps 1 to 4 of the module's list; nothing is left granted when it fails. `untrusted`:
    why a project's skill goes without its grants (when it does)."""
    from nano_claude.core.mentions import attach

    arguments = arguments.strip()
    places = Places(str(skill.folder), str(agent.ctx.root), session_id)
    filled = Filled.of(skill.body, arguments, skill.arguments, places)
    prepared = Prepared(skill, arguments, filled.text())
    prepared.granted = _grant(agent.policy.turn, skill, allow=grants)
    try:
        if by_model:  # the model chose the arguments: only the body's own files, and only unasked ones
            found = await attach(skill.body, agent.ctx, agent.policy, unasked_only=True)
        else:  # before the commands: their output is not read
            found = await attach(prepared.text, agent.ctx, agent.policy)
        prepared.text = await run_commands(agent, skill, filled, grants=grants, by_model=by_model,
                                           untrusted=untrusted)
    except BaseException:
        _revoke(agent.policy.turn, prepared.granted)
        raise
    prepared.blocks, prepared.notes = found.blocks, found.notes
    return prepared


async def run_commands(agent: Agent, skill: Skill, filled: Filled, *, grants: bool,
                       by_model: bool = False, untrusted: str = "") -> str:
    """The text with each `!` command replaced by its output; SkillFailed when the policy
    would not let one run unasked (then none has run)."""
    if not filled.commands:
        return filled.text()
    for command in filled.commands:
        _check(agent, skill, command, grants=grants, by_model=by_model, untrusted=untrusted)
    from nano_claude.tools.bash import BashInput, BashTool

    outputs = []
    for command in filled.commands:
        try:
            result = await BashTool().run(BashInput(command=command, timeout=COMMAND_TIMEOUT), agent.ctx)
            output = "".join(b.text for b in result.content if isinstance(b, TextBlock))
        except ToolError as exc:
            output = f"[{exc}]"
        outputs.append("" if output == NO_OUTPUT else output)
    return filled.text(outputs)


def _command_of(match: re.Match[str]) -> str:
    return (match.group("block") if match.group("block") is not None else match.group("inline")).strip()


def _check(agent: Agent, skill: Skill, command: str, *, grants: bool, by_model: bool, untrusted: str) -> None:
    policy = agent.policy
    ruling = policy.judge_command(command)  # a sub-agent held to forms of Bash is held here too
    if ruling.decision == "allow":
        return
    if ruling.decision == "deny":
        raise SkillFailed(f"/{skill.name} cannot run: its command `{command}` is denied "
                          f"({ruling.rule or ruling.reason}). Change the skill ({skill.source}) or the rule.")
    raise SkillFailed(f"/{skill.name} cannot run: its command `{command}` needs permission "
                      f"({ruling.reason}), and a skill's commands never ask. "
                      + _fix(policy, skill, command, ruling, grants=grants, by_model=by_model,
                             untrusted=untrusted))


def _fix(policy: Policy, skill: Skill, command: str, ruling: Ruling, *, grants: bool, by_model: bool,
         untrusted: str) -> str:
    """What would let the command run: the allow rule to add where one would do, else what
    to change instead."""
    wanted = list(ruling.suggestions) or [f"Bash({command})"]
    still = ruling if ruling.rule else _judged_with(policy, command, wanted)
    if still.decision != "allow":
        if still.rule:
            return (f"The ask rule {still.rule} covers it, and no allow rule overrides an ask rule: change "
                    f"that rule, or take the command out of the skill ({skill.source}).")
        if "only known at run time" in still.reason or "cannot be checked" in still.reason:
            return (f"No rule can allow it ({still.reason}): write it in {skill.source} without the parts "
                    "only known when it runs ($VARIABLES, $(...), computed paths).")
        return (f"No allow rule would let it run unasked ({still.reason}); change the command in "
                f"{skill.source}.")
    rule = ", ".join(wanted)
    if not grants and skill.plugin:
        return f"Its allowed-tools would allow it, but {untrusted} Or allow {rule} in your settings."
    if not grants and by_model:
        return (f"A project's skill gets its allowed-tools only when the user runs it: ask the user to type "
                f"/{skill.name}, or to allow {rule} in their settings.")
    if untrusted and _judged_with(policy, command, list(skill.allowed_tools)).decision == "allow":
        return f"Its allowed-tools would allow it, but {untrusted} Or allow {rule} in your settings."
    return (f"Add {rule} to the skill's allowed-tools (allowed-tools: {rule} in {skill.source}), or allow "
            f"it in your settings' permissions.allow (--allowedTools '{rule}' for a -p run; /permissions "
            "shows the rules).")


def _judged_with(policy: Policy, command: str, allowed: list[str]) -> Ruling:
    """The ruling were these rules allowed for the turn."""
    from nano_claude.core.errors import ConfigError

    try:
        extra = [parse_rule(text, "allow", "a trial") for text in allowed]
    except ConfigError:
        return policy.judge_command(command)
    return replace(policy, turn=RuleSet([*policy.turn.rules, *extra])).judge_command(command)


async def fork(agent: Agent, prepared: Prepared, *, call_id: str,
               relay: Callable[[Event], None] | None = None) -> ToolOutput:
    """The prepared body as a foreground sub-agent's task; its answer. The skill's allowed and
    disallowed tools are the sub-agent's turn rules, so they hold for it alone while it runs
    (not for this agent, nor for other sub-agents running meanwhile)."""
    skill = prepared.skill
    manager = agent.ctx.agents
    _revoke(agent.policy.turn, prepared.granted)
    if manager is None:
        raise SkillFailed(f"/{skill.name} runs as a sub-agent (context: fork), and sub-agents are off for "
                          "this model (the compact tool profile leaves them out; tool_profile full brings "
                          "them back)")
    attached = "".join(f"\n\n{b.text}" for b in prepared.blocks if isinstance(b, TextBlock))
    before, agent.ctx.relay = agent.ctx.relay, relay or agent.ctx.relay
    try:
        return await manager.start(prompt=prepared.text + attached, kind_name=skill.agent,
                                   description=f"/{skill.name} {prepared.arguments}".strip()[:60],
                                   name=skill.name, model=skill.model, background=False, isolation=None,
                                   call_id=call_id, turn=tuple(prepared.granted))
    except ToolError as exc:
        raise SkillFailed(f"/{skill.name} could not start its sub-agent: {exc}") from None
    finally:
        agent.ctx.relay = before


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
