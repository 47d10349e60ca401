"""The session's skills, attached to its agent as an extension (core/loop.Extension), so the
REPL, headless runs and the Skill tool find the same ones; what a skill changed for one turn
(the model) that must be put back when the turn ends; and whether the project's own skills
are trusted.

A project's skill that declares `allowed-tools` or runs `!` commands came with the
repository: its allowed-tools are in force only once the user trusts the project's skills
(once for this exact set of them, kept with the approvals of the project's hooks and MCP
servers in ~/.nano_claude/mcp.json), or for a run with --accept-all, or with the user's
setting trust_project_skills. The REPL asks the first time such a skill is typed; a "no"
holds for the session. Until then its `!` commands run only where the policy allows them
on its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nano_claude.core.errors import ConfigError, NanoClaudeError

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.core.loop import Agent
    from nano_claude.core.prompter import Prompter
    from nano_claude.extensions.skills.listing import UsageFile
    from nano_claude.extensions.skills.loader import Found, Skill
    from nano_claude.paths import Paths
    from nano_claude.providers.base import Provider
    from nano_claude.providers.catalog import ModelInfo

# ```! fenced blocks, or !`inline` at a line's start or after whitespace (run.py runs them)
COMMANDS = re.compile(r"^```!\s*\n(?P<block>.*?)\n?^```[ \t]*$|(?<!\S)!`(?P<inline>[^`\n]+)`", re.M | re.S)
TRUST_KEY = "skills"  # beside "hooks" in projectApprovals
TRUST, NOT_NOW = "Trust them", "Not now"


class SkillFailed(NanoClaudeError):
    """A skill that cannot run; the message names the skill, why, and what to change."""


def needs_trust(skill: Skill) -> bool:
    """A project's skill that grants itself tools or runs commands (a plugin's skill is trusted
    with its plugin's code instead: extensions/plugins)."""
    return not skill.plugin and skill.level == "project" and runs_commands(skill)


def runs_commands(skill: Skill) -> bool:
    return bool(skill.allowed_tools) or COMMANDS.search(skill.body) is not None


@dataclass
class ProjectTrust:
    """Whether the project's skills that need it are trusted: "approved", "denied" (this
    session) or "pending" (not asked yet)."""

    state: Literal["approved", "denied", "pending"] = "approved"
    digest: str = ""
    paths: Paths | None = None
    project: Path | None = None

    @classmethod
    def of(cls, found: Found, paths: Paths | None, project: Path, *, granted: bool) -> ProjectTrust:
        """`granted`: --accept-all or trust_project_skills, for this run."""
        wanted = sorted((s.source, s.allowed_tools, s.body) for s in found.skills if needs_trust(s))
        if not wanted:
            return cls()
        digest = hashlib.sha256(json.dumps(wanted).encode()).hexdigest()
        if granted:
            return cls("approved", digest, paths, project)
        if paths is None:
            return cls("pending", digest, paths, project)
        from nano_claude.extensions.hooks import trust

        decided = trust.decision(paths, project, digest, key=TRUST_KEY)
        return cls("approved" if decided == "approved" else "pending", digest, paths, project)

    def decide(self, trusted: bool) -> str:
        """The user's answer: a yes is kept for this set of skills, a no holds for the session.
        Returns a warning when the answer could not be kept."""
        self.state = "approved" if trusted else "denied"
        if not trusted or self.paths is None or self.project is None:
            return ""
        from nano_claude.extensions.hooks import trust

        try:
            trust.remember(self.paths, self.project, self.digest, True, key=TRUST_KEY)
        except (ConfigError, OSError) as exc:
            return f"trusted for this session only: {exc}"
        return ""


class Skills:
    def __init__(self, found: Found, settings: Settings, usage: UsageFile | None = None,
                 trust: ProjectTrust | None = None) -> None:
        self.found = found
        self.settings = settings
        self.usage = usage
        self.trust = trust or ProjectTrust()
        # agent -> the provider and model it had before a skill's `model` took over for a turn
        self._before: dict[int, tuple[Agent, Provider, ModelInfo]] = {}
        self._lent: list[Provider] = []  # providers made for a skill's model: closed with the session

    def get(self, name: str) -> Skill | None:
        return self.found.get(name)

    def record(self, skill: Skill) -> None:
        if self.usage is not None:
            self.usage.record(skill.name)

    def shadows_builtin(self, skill: Skill) -> bool:
        """A project's file that took the name of a built-in (/commit, /review)."""
        return skill.level == "project" and any(
            hidden.level == "built-in" and winner is skill for hidden, winner in self.found.shadowed)

    # --- trust in the project's skills -------------------------------------------------------

    def trusted(self, skill: Skill) -> bool:
        if skill.plugin:
            return skill.plugin_allowed or not runs_commands(skill)
        return not needs_trust(skill) or self.trust.state == "approved"

    def model_grants(self, skill: Skill) -> bool:
        """Does a skill the model runs on its own get its allowed-tools? The user's own skills and
        allowed plugins' do; a project's (a cloned repository's) never."""
        return skill.plugin_allowed if skill.plugin else skill.level != "project"

    def untrusted(self, skill: Skill | None = None) -> str:
        """Why a project's skill goes without its allowed-tools, and how to change that."""
        if skill is not None and skill.plugin:
            return (f"you have not allowed the plugin {skill.plugin}'s code: nano_claude plugin enable "
                    f"{skill.plugin} (or /plugin enable) shows it and asks.")
        when = ("you chose not to trust them this session (start nano_claude again to be asked again)"
                if self.trust.state == "denied" else
                "answer the question nano_claude asks when you type one in the REPL")
        return (f"this project's skills are not trusted: {when}, or run with --accept-all, or set "
                "trust_project_skills in your own config.")

    async def ask_trust(self, prompter: Prompter, skill: Skill) -> str:
        """Asked when the user runs a project's skill whose allowed-tools wait for trust;
        returns what to tell the user (empty: nothing). Nobody to ask (headless): it stays
        untrusted."""
        from nano_claude.core.prompter import NoUserPresent, Option, Question

        if self.trust.state != "pending" or not needs_trust(skill) or not skill.allowed_tools:
            return ""
        waiting = [s for s in self.found.skills if needs_trust(s)]
        listing = "; ".join(f"/{s.name} ({s.source})" + (f" allows {', '.join(s.allowed_tools)}"
                                                          if s.allowed_tools else " runs commands")
                            for s in waiting)
        question = Question(
            f"This project's skills allow themselves tools, or run commands before they are sent: "
            f"{listing}. Let them use their allowed-tools?",
            (Option(TRUST, "yes, now and in later sessions, until these files change"),
             Option(NOT_NOW, "run them without their allowed-tools this session")),
            allow_freetext=False)
        try:
            answer = await prompter.ask(question)
        except NoUserPresent:
            return ""
        return self.trust.decide(answer == TRUST)

    # --- a turn on another model ------------------------------------------------------------

    def use_model(self, agent: Agent, skill: Skill) -> None:
        """The rest of this turn runs on the skill's model; end_turn() switches back."""
        from nano_claude.extensions.agents.runtime import model_meant
        from nano_claude.providers.unconfigured import connect

        wanted = model_meant(skill.model, agent.model)
        if wanted is None:
            return
        try:
            info, provider = connect(wanted, self.settings, unconfigured_ok=False)
        except NanoClaudeError as exc:
            raise SkillFailed(f"/{skill.name} asks for the model {wanted!r}, which cannot run here: {exc}. "
                              f"Remove `model:` from {skill.source} to use the session's model.") from exc
        self._before.setdefault(id(agent), (agent, agent.provider, agent.model))
        self._lent.append(provider)
        agent.switch_model(provider, info)

    async def end_turn(self, agent: Agent) -> None:
        before = self._before.pop(id(agent), None)
        if before is None:
            return
        _, provider, info = before
        lent = agent.provider
        agent.switch_model(provider, info)
        if lent in self._lent:
            self._lent.remove(lent)
        await lent.aclose()

    # --- core/loop.Extension ---------------------------------------------------------------------

    async def before_request(self, agent: Agent) -> list[str]:
        return []

    async def aclose(self) -> None:
        lent, self._lent = self._lent, []
        for provider in lent:
            await provider.aclose()


def skills_of(agent: Any) -> Skills | None:
    """The skills attached to `agent` (assemble.attach_skills), if any."""
    return next((e for e in getattr(agent, "extensions", ()) if isinstance(e, Skills)), None)


def session_skills(agent: Any) -> Skills | None:
    """The session's skills, seen from `agent` or any sub-agent under it."""
    while agent is not None:
        found = skills_of(agent)
        if found is not None:
            return found
        run = getattr(getattr(agent.ctx, "agents", None), "run", None)
        agent = run.owner.agent if run is not None else None
    return None
