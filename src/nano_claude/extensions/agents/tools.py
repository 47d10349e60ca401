"""The model's side of sub-agents: Agent, SendMessage, CheckAgentResult, ListAgentTasks and
ListAgentTypes. Each acts through the `Subagents` of the agent calling it (ctx.agents), so
a sub-agent's own calls start grandchildren at the right depth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput, current_call

if TYPE_CHECKING:
    from nano_claude.extensions.agents.runtime import Subagents


def _manager(ctx: ToolContext) -> Subagents:
    if ctx.agents is None:
        raise ToolError("Sub-agents are not available in this session.")
    return ctx.agents


class AgentInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    prompt: str = Field(min_length=1, description="The whole task: the agent sees none of your conversation, "
                        "so say everything it needs (files, what was tried, what to return)")
    description: str | None = Field(None, description="3-5 words for the user to see")
    subagent_type: str | None = Field(None, description="An agent type from ListAgentTypes "
                                      "(default general-purpose)")
    name: str | None = Field(None, description="A name to address it by (SendMessage)")
    model: str | None = Field(None, description="Another model for it; leave out to use yours")
    run_in_background: bool | None = Field(None, description="true: return at once with an id; you are "
                                           "woken with the result when it finishes")
    wait: bool | None = Field(None, description="false: the same as run_in_background true")
    isolation: Literal["worktree"] | None = Field(None, description="worktree: it works in a git "
                                                  "worktree on a new branch; the checkout is not touched")

    @property
    def background(self) -> bool:
        return bool(self.run_in_background) or self.wait is False


class AgentTool:
    name: ClassVar[str] = "Agent"
    description: ClassVar[str] = (
        "Start a sub-agent to do a task on its own: a search across many files, a review, a change in "
        "another part of the code, tests to write and run. It has its own conversation and your tools "
        "(its type may leave some out), and returns its final answer. Several Agent calls in one reply "
        "run at once; run_in_background returns at once and wakes you with the result later. Use it for "
        "work that would fill your context; do small lookups yourself."
    )
    input_model: ClassVar[type[BaseModel]] = AgentInput
    read_only: ClassVar[bool] = True  # starting one changes nothing; its own calls are judged
    concurrency_safe: ClassVar[bool] = True
    permission_kind: ClassVar[str] = "other"

    def permission_target(self, args: AgentInput) -> str:
        return args.subagent_type or "general-purpose"  # `Agent(Explore)` rules match the type

    def summary(self, args: AgentInput) -> str:
        kind = args.subagent_type or "general-purpose"
        how = " (background)" if args.background else ""
        return f"{kind}{how}: {args.description or args.prompt[:60]}"

    async def run(self, args: AgentInput, ctx: ToolContext) -> ToolOutput:
        return await _manager(ctx).start(
            prompt=args.prompt, kind_name=args.subagent_type, description=args.description, name=args.name,
            model=args.model, background=args.background, isolation=args.isolation,
            call_id=current_call.get())


class SendMessageInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(validation_alias=AliasChoices("name", "to"),
                      description="The agent's name or id (`to` works too)")
    message: str = Field(min_length=1, description="What to tell it")


class SendMessageTool:
    name: ClassVar[str] = "SendMessage"
    description: ClassVar[str] = (
        "Send a message to a sub-agent you started. A running one reads it before its next step; a "
        "finished one goes on from where it stopped, with its whole history, and answers again."
    )
    input_model: ClassVar[type[BaseModel]] = SendMessageInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: SendMessageInput) -> str:
        return f"to {args.name}: {args.message[:60]}"

    async def run(self, args: SendMessageInput, ctx: ToolContext) -> ToolOutput:
        return await _manager(ctx).send(args.name, args.message, current_call.get())


class CheckInput(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(validation_alias=AliasChoices("task_id", "taskId", "agent_id", "id", "name"),
                         description="The id the Agent call returned (or the agent's name)")


class CheckAgentResultTool:
    name: ClassVar[str] = "CheckAgentResult"
    description: ClassVar[str] = ("How a background sub-agent is doing, or its result once it has finished. "
                                  "You are woken with results anyway: do not poll.")
    input_model: ClassVar[type[BaseModel]] = CheckInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: CheckInput) -> str:
        return args.task_id

    async def run(self, args: CheckInput, ctx: ToolContext) -> ToolOutput:
        return _manager(ctx).check(args.task_id)


class NoInput(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ListAgentTasksTool:
    name: ClassVar[str] = "ListAgentTasks"
    description: ClassVar[str] = "The sub-agents of this session: id, name, type, status, time and tokens."
    input_model: ClassVar[type[BaseModel]] = NoInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: Any) -> str:
        return ""

    async def run(self, args: Any, ctx: ToolContext) -> ToolOutput:
        runs = list(_manager(ctx).pool.runs.values())
        if not runs:
            return ToolOutput.text("No sub-agents have run in this session.", summary="none")
        lines = [f"{r.id}  {r.name} ({r.kind.name})  {r.status}  {r.elapsed:.0f}s  "
                 f"{r.usage.prompt_tokens + r.usage.output_tokens} tokens  {r.tool_calls} tool calls"
                 f"{'  background' if r.background else ''}  - {r.description}" for r in runs]
        return ToolOutput.text("\n".join(lines), summary=f"{len(runs)} agent{'s' * (len(runs) != 1)}")


class ListAgentTypesTool:
    name: ClassVar[str] = "ListAgentTypes"
    description: ClassVar[str] = "The sub-agent types Agent can start: what each is for, and its tools."
    input_model: ClassVar[type[BaseModel]] = NoInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def summary(self, args: Any) -> str:
        return ""

    async def run(self, args: Any, ctx: ToolContext) -> ToolOutput:
        manager = _manager(ctx)
        lines = []
        for kind in manager.types.types.values():
            if manager.agent.policy.judge(_start(kind.name)).decision == "deny":
                continue  # a rule denies starting it
            tools = ", ".join(kind.tools) if kind.tools is not None else "all of yours"
            if kind.disallowed:
                tools += f" except {', '.join(kind.disallowed)}"
            model = f"; model {kind.model}" if kind.model else ""
            source = "" if kind.source == "built-in" else f"; from {kind.source}"
            lines.append(f"- {kind.name}: {kind.description} (tools: {tools}{model}{source})")
        return ToolOutput.text("\n".join(lines), summary=f"{len(lines)} types")


def _start(kind: str) -> Any:
    from nano_claude.permissions.policy import Call

    return Call("Agent", "other", kind, True)


def agent_tools() -> list[Any]:
    return [AgentTool(), SendMessageTool(), CheckAgentResultTool(), ListAgentTasksTool(),
            ListAgentTypesTool()]
