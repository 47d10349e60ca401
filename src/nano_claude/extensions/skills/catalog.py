"""The session's skills, attached to its agent as an extension (core/loop.Extension), so the
REPL, headless runs and the Skill tool find the same ones; and what a skill changed for one
turn (the model) that must be put back when the turn ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nano_claude.core.errors import NanoClaudeError

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.core.loop import Agent
    from nano_claude.extensions.skills.listing import UsageFile
    from nano_claude.extensions.skills.loader import Found, Skill
    from nano_claude.providers.base import Provider
    from nano_claude.providers.catalog import ModelInfo


class SkillFailed(NanoClaudeError):
    """A skill that cannot run; the message names the skill, why, and what to change."""


class Skills:
    def __init__(self, found: Found, settings: Settings, usage: UsageFile | None = None) -> None:
        self.found = found
        self.settings = settings
        self.usage = usage
        # agent -> the provider and model it had before a skill's `model` took over for a turn
        self._before: dict[int, tuple[Agent, Provider, ModelInfo]] = {}
        self._lent: list[Provider] = []  # providers made for a skill's model: closed with the session

    def get(self, name: str) -> Skill | None:
        return self.found.get(name)

    def record(self, skill: Skill) -> None:
        if self.usage is not None:
            self.usage.record(skill.name)

    # --- a turn on another model ------------------------------------------------------------

    def use_model(self, agent: Agent, skill: Skill) -> None:
        """The rest of this turn runs on the skill's model; end_turn() switches back."""
        from nano_claude.extensions.agents.runtime import CLAUDE_ALIASES
        from nano_claude.providers.unconfigured import connect

        wanted = skill.model
        if wanted in CLAUDE_ALIASES:  # written for Claude Code: a tier there, any model runs it here
            wanted = CLAUDE_ALIASES[wanted] if agent.model.provider == "anthropic" else None
        if not wanted or wanted in (agent.model.qualified, agent.model.id):
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
