"""The model's side of skills: `Skill {name, args}` runs one (its instructions come back as the
result: they enter the conversation only now), `SkillList` says what there is. The system
prompt lists names and descriptions only (listing.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import AliasChoices, BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolOutput, current_call

if TYPE_CHECKING:
    from nano_claude.core.loop import Agent
    from nano_claude.extensions.skills.catalog import Skills


class SkillInput(BaseModel):
    name: str = Field(validation_alias=AliasChoices("name", "skill", "command"),
                      description="The skill's name, as the listing gives it (without the /)")
    args: str = Field("", validation_alias=AliasChoices("args", "arguments"),
                      description="Its arguments, as the user would type them after /name")


class SkillListInput(BaseModel):
    pass


class SkillTool:
    name: ClassVar[str] = "Skill"
    description: ClassVar[str] = (
        "Run a skill: a set of instructions for a particular task, listed by name and description in "
        "the system prompt. Its full instructions come back as the result; follow them. Run the skill "
        "before doing such a task yourself. When the user types /NAME the skill is already running: "
        "do not run it again."
    )
    input_model: ClassVar[type[BaseModel]] = SkillInput
    read_only: ClassVar[bool] = True  # it loads instructions; what they lead to is asked for on its own
    concurrency_safe: ClassVar[bool] = False  # it may switch the model or set the turn's rules

    def __init__(self, skills: Skills, agent: Agent) -> None:
        self.skills = skills
        self.agent = agent  # the session's own; a sub-agent's call acts on the sub-agent

    def summary(self, args: SkillInput) -> str:
        return f"/{args.name} {args.args}".strip()

    def permission_target(self, args: SkillInput) -> str:
        return args.name.removeprefix("/")

    async def run(self, args: SkillInput, ctx: ToolContext) -> ToolOutput:
        from nano_claude.extensions.skills.run import run_tool

        caller = ctx.agents.agent if ctx.agents is not None else self.agent
        return await run_tool(caller, self.skills, args.name.removeprefix("/"), args.args, current_call.get())


class SkillListTool:
    name: ClassVar[str] = "SkillList"
    description: ClassVar[str] = (
        "List the skills you can run with the Skill tool: name, description, when to use it, its "
        "arguments, and its folder with supporting files."
    )
    input_model: ClassVar[type[BaseModel]] = SkillListInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def __init__(self, skills: Skills) -> None:
        self.skills = skills

    def summary(self, args: Any) -> str:
        return "skills"

    async def run(self, args: Any, ctx: ToolContext) -> ToolOutput:
        shown = [s for s in self.skills.found.skills if s.model_invocable]
        if not shown:
            return ToolOutput.text("No skills are available.", summary="no skills")
        lines = []
        for skill in shown:
            lines.append(f"- {skill.name}" + (f" {skill.argument_hint}" if skill.argument_hint else ""))
            for label, value in (("description", skill.description), ("when to use", skill.when_to_use),
                                 ("arguments", " ".join(f"${a}" for a in skill.arguments)),
                                 ("runs as", "a sub-agent" if skill.context == "fork" else "")):
                if value:
                    lines.append(f"  {label}: {value}")
            files = skill.supporting_files()
            if files:
                lines.append(f"  folder: {skill.folder} ({', '.join(files)})")
        return ToolOutput.text("\n".join(lines), summary=f"{len(shown)} skills")


def skill_tools(skills: Skills, agent: Agent) -> list[Any]:
    return [SkillTool(skills, agent), SkillListTool(skills)]
