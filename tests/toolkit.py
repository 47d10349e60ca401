"""Run tools through the real loop against the fake model server.

A scripted model (Anthropic wire protocol, real provider, real registry) calls the
tools; the test then checks the file system and what the model got back: the
tool_result blocks of the request that followed.

    run = await drive(fake_server, tmp_path, call("Write", {...}))
    assert run.result().text == "..." and (tmp_path / "f").read_text() == "..."
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nano_claude.config import Settings
from nano_claude.core.events import Event, PermissionAsked, ToolCallFinished, TurnDone
from nano_claude.core.loop import Agent, LoopOptions, Session
from nano_claude.core.messages import user_text
from nano_claude.core.prompter import (
    HeadlessPrompter,
    NoUserPresent,
    PermissionRequest,
    Prompter,
    Question,
    Verdict,
)
from nano_claude.providers.catalog import model_info
from nano_claude.providers.factory import create_provider
from nano_claude.tools.base import Tool, ToolContext
from nano_claude.tools.registry import Registry, builtin_tools
from tests.fakes.script import Call, Step, text, tool_calls
from tests.fakes.server import FakeModelServer


def call(name: str, input: dict[str, Any], id: str = "") -> Call:
    return Call(name, input, id or f"toolu_{name.lower()}_{abs(hash(repr(input))) % 10**8}")


@dataclass
class Answers:
    """A prompter with canned answers: permission verdicts in order (default: allow) and
    answers to AskUserQuestion (a string, or None for 'nobody there')."""

    verdicts: list[Verdict] = field(default_factory=list)
    answers: list[str | None] = field(default_factory=list)
    asked: list[PermissionRequest] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    async def confirm(self, request: PermissionRequest) -> Verdict:
        self.asked.append(request)
        return self.verdicts.pop(0) if self.verdicts else Verdict(True)

    async def ask(self, question: Question) -> str:
        self.questions.append(question)
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            raise NoUserPresent("nobody answered")
        return answer


@dataclass
class ToolResult:
    """One tool_result as the model received it on the wire (Anthropic shape)."""

    block: dict[str, Any]

    @property
    def is_error(self) -> bool:
        return bool(self.block.get("is_error"))

    @property
    def text(self) -> str:
        content = self.block.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(part.get("text", "") for part in content or [] if part.get("type") == "text")

    @property
    def images(self) -> list[dict[str, Any]]:
        content = self.block.get("content")
        return [p for p in content or [] if isinstance(p, dict) and p.get("type") == "image"]


@dataclass
class Run:
    events: list[Event]
    session: Session
    server: FakeModelServer
    ctx: ToolContext

    def results(self, request: int = 1) -> list[ToolResult]:
        """The tool results sent back in model request number `request` (0-based)."""
        body = self.server.model_requests[request].body or {}
        last = body["messages"][-1]
        return [ToolResult(b) for b in last["content"] if b.get("type") == "tool_result"]

    def result(self, request: int = 1) -> ToolResult:
        found = self.results(request)
        assert len(found) == 1, f"expected one tool result, got {len(found)}"
        return found[0]

    @property
    def finished(self) -> list[ToolCallFinished]:
        return [e for e in self.events if isinstance(e, ToolCallFinished)]

    @property
    def permission_questions(self) -> list[PermissionAsked]:
        return [e for e in self.events if isinstance(e, PermissionAsked)]

    @property
    def done(self) -> TurnDone:
        last = self.events[-1]
        assert isinstance(last, TurnDone), last
        return last


def make_agent(server: FakeModelServer, cwd: Path, *, mode: str = "accept-all",
               prompter: Prompter | None = None, tools: Sequence[Tool] | None = None,
               ctx: ToolContext | None = None, **options: Any) -> Agent:
    settings = Settings(anthropic_api_key="sk-test", anthropic_base_url=server.url,
                        max_retries=0)
    info = model_info("anthropic/claude-sonnet-4-6")
    prompter = prompter or HeadlessPrompter()
    ctx = ctx or ToolContext(cwd=cwd, environ=dict(os.environ), project=cwd, prompter=prompter)
    if ctx.prompter is None:
        ctx.prompter = prompter
    registry = Registry(builtin_tools() if tools is None else tools)
    return Agent(create_provider(info, settings), info, registry, ctx, prompter,
                 LoopOptions(system="test", permission_mode=mode, **options))


async def drive(server: FakeModelServer, cwd: Path, *steps: Call | Sequence[Call] | Step,
                prompt: str = "go", finish: str = "done", session: Session | None = None,
                **agent_kw: Any) -> Run:
    """Script the model: each step is a tool call, a list of parallel calls, or a raw
    Step; a final text answer `finish` ends the run. Returns what happened."""
    script: list[Step] = []
    for step in steps:
        if isinstance(step, Step):
            script.append(step)
        elif isinstance(step, Call):
            script.append(tool_calls(step))
        else:
            script.append(tool_calls(*step))
    if finish:
        script.append(text(finish))
    server.script(*script)
    agent = make_agent(server, cwd, **agent_kw)
    session = session or Session()
    events = [e async for e in agent.run(session, user_text(prompt))]
    await agent.ctx.aclose()
    return Run(events, session, server, agent.ctx)
