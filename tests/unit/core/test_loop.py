from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel

from nano_claude.core.errors import StreamBroken
from nano_claude.core.events import (
    Error,
    MessageAdded,
    PermissionAsked,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnDone,
    Usage,
)
from nano_claude.core.loop import INTERRUPTED, Agent, LoopOptions, Session
from nano_claude.core.messages import (
    INVALID_JSON_KEY,
    JSON_ERROR_KEY,
    Message,
    TextBlock,
    ToolUseBlock,
    user_text,
)
from nano_claude.core.prompter import HeadlessPrompter, PermissionRequest, Verdict
from nano_claude.providers.catalog import lookup
from nano_claude.tools.base import ToolContext, ToolOutput
from nano_claude.tools.registry import Registry, builtin_tools
from tests.fakes.provider import ScriptedProvider, Turn, call, calls, say
from tests.processes import alive

MODEL = lookup("anthropic", "claude-sonnet-4-6")


def assert_history_valid(messages: list[Message]) -> None:
    """Every tool_use is answered by a tool_result in the very next message."""
    for i, message in enumerate(messages):
        uses = {u.id for u in message.tool_uses}
        if uses:
            assert i + 1 < len(messages), "tool_use left unanswered at the end"
            answered = {r.tool_use_id for r in messages[i + 1].tool_results}
            assert uses == answered


class AllowAll:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def confirm(self, request: PermissionRequest) -> Verdict:
        self.asked.append((request.tool, request.description))
        return Verdict(True)


def make_agent(tmp_path: Path, *turns: Turn, mode: str = "auto", prompter=None,
               max_turns: int = 10, registry: Registry | None = None) -> Agent:
    provider = ScriptedProvider(list(turns))
    ctx = ToolContext(cwd=tmp_path, environ=dict(os.environ))
    return Agent(provider, MODEL, registry or Registry(builtin_tools()), ctx,
                 prompter or HeadlessPrompter(),
                 LoopOptions(system="sys", max_turns=max_turns, permission_mode=mode))


async def collect(agent: Agent, session: Session, prompt: str = "go") -> list:
    return [e async for e in agent.run(session, user_text(prompt))]


async def test_plain_answer_streams_and_finishes(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, say("Hello there, friend"))
    session = Session()
    events = await collect(agent, session)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there, friend"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1
    done = events[-1]
    assert isinstance(done, TurnDone) and done.stop_reason == "end_turn" and done.turns == 1
    assert done.text == "Hello there, friend"
    assert [m.role for m in session.messages] == ["user", "assistant"]
    agent.provider.verify()


async def test_tool_result_is_sent_back_and_model_continues(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("alpha\nbeta\n")
    agent = make_agent(tmp_path, call("Read", {"file_path": "notes.txt"}), say("It says alpha."))
    session = Session()
    events = await collect(agent, session)
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert len(finished) == 1 and not finished[0].is_error
    assert "1\talpha" in finished[0].result.text
    second = agent.provider.requests[1]
    assert second.messages[-1].tool_results[0].tool_use_id == "t_Read"
    assert events[-1].stop_reason == "end_turn"
    assert_history_valid(session.messages)


async def test_unknown_tool_becomes_error_result_listing_tools(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Reed", {"file_path": "x"}), say("sorry"))
    events = await collect(agent, Session())
    result = next(e for e in events if isinstance(e, ToolCallFinished)).result
    assert result.is_error
    assert "Unknown tool 'Reed'" in result.text and "Did you mean 'Read'" in result.text
    assert "Bash" in result.text


async def test_malformed_json_arguments_become_error_result(tmp_path: Path) -> None:
    bad = {INVALID_JSON_KEY: '{"file_path": "a.txt"', JSON_ERROR_KEY: "unterminated object"}
    agent = make_agent(tmp_path, call("Read", bad), say("retrying"))
    events = await collect(agent, Session())
    result = next(e for e in events if isinstance(e, ToolCallFinished)).result
    assert result.is_error and "not valid JSON" in result.text and "unterminated" in result.text


async def test_invalid_arguments_name_the_missing_field(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Read", {"path": "a.txt"}), say("ok"))
    events = await collect(agent, Session())
    result = next(e for e in events if isinstance(e, ToolCallFinished)).result
    assert result.is_error and "file_path" in result.text and "Field required" in result.text


class SlowProbeInput(BaseModel):
    name: str


class SlowProbe:
    """A read-only tool that proves calls overlap: each waits until both have started."""

    name: ClassVar[str] = "Probe"
    description: ClassVar[str] = "test probe"
    input_model: ClassVar[type[BaseModel]] = SlowProbeInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def __init__(self, expected: int) -> None:
        self.running = 0
        self.peak = 0
        self.expected = expected
        self.all_started = asyncio.Event()

    def summary(self, args: SlowProbeInput) -> str:
        return args.name

    async def run(self, args: SlowProbeInput, ctx: ToolContext) -> ToolOutput:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running == self.expected:
            self.all_started.set()
        await asyncio.wait_for(self.all_started.wait(), 5)
        self.running -= 1
        return ToolOutput.text(f"probed {args.name}")


async def test_read_only_calls_of_one_turn_run_in_parallel(tmp_path: Path) -> None:
    probe = SlowProbe(expected=3)
    registry = Registry(builtin_tools())
    registry.register_tool(probe)
    turn = calls(*(ToolUseBlock(f"p{i}", "Probe", {"name": str(i)}) for i in range(3)))
    agent = make_agent(tmp_path, turn, say("done"), registry=registry)
    session = Session()
    events = await collect(agent, session)
    assert probe.peak == 3
    results = session.messages[2].tool_results
    assert [r.tool_use_id for r in results] == ["p0", "p1", "p2"]
    assert [r.text for r in results] == ["probed 0", "probed 1", "probed 2"]
    assert isinstance(events[-1], TurnDone) and events[-1].stop_reason == "end_turn"


async def test_headless_denies_bash_in_auto_mode_with_a_reason(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Bash", {"command": "touch made.txt"}), say("ok"))
    events = await collect(agent, Session())
    asked = [e for e in events if isinstance(e, PermissionAsked)]
    assert asked and asked[0].allowed is False and asked[0].description == "touch made.txt"
    result = next(e for e in events if isinstance(e, ToolCallFinished)).result
    assert result.is_error and "--accept-all" in result.text
    assert not (tmp_path / "made.txt").exists()


async def test_accept_all_runs_bash_without_asking(tmp_path: Path) -> None:
    prompter = AllowAll()
    agent = make_agent(tmp_path, call("Bash", {"command": "echo hi > made.txt; echo done"}),
                       say("ok"), mode="accept-all", prompter=prompter)
    events = await collect(agent, Session())
    result = next(e for e in events if isinstance(e, ToolCallFinished)).result
    assert not result.is_error and result.text == "done"
    assert (tmp_path / "made.txt").read_text() == "hi\n"
    assert prompter.asked == []


async def test_manual_mode_asks_even_for_reads(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    prompter = AllowAll()
    agent = make_agent(tmp_path, call("Read", {"file_path": "a.txt"}), say("ok"),
                       mode="manual", prompter=prompter)
    await collect(agent, Session())
    assert prompter.asked == [("Read", "a.txt")]


async def test_max_turns_stops_with_a_valid_history(tmp_path: Path) -> None:
    turns = [call("Read", {"file_path": "missing.txt"}, id=f"r{i}") for i in range(2)]
    agent = make_agent(tmp_path, *turns, max_turns=2)
    session = Session()
    events = await collect(agent, session)
    done = events[-1]
    assert isinstance(done, TurnDone) and done.stop_reason == "max_turns" and done.turns == 2
    assert_history_valid(session.messages)
    agent.provider.verify()


async def test_cancel_during_a_tool_kills_its_processes_and_answers_the_call(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    agent = make_agent(tmp_path, call("Bash", {"command": command}), mode="accept-all")
    session = Session()

    async def consume() -> None:
        async for event in agent.run(session, user_text("go")):
            if isinstance(event, ToolCallStarted):
                started.set()

    started = asyncio.Event()
    task = asyncio.create_task(consume())
    await started.wait()
    for _ in range(200):  # until the command has written its child's pid
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child = int(pidfile.read_text())
    for _ in range(200):
        if not alive(child):
            break
        await asyncio.sleep(0.05)  # still there: give the kill a moment
    assert not alive(child), "the command's child survived the cancel"
    assert_history_valid(session.messages)
    assert session.messages[-1].tool_results[0].text == INTERRUPTED


async def test_cancel_while_streaming_keeps_text_already_shown(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Turn((TextBlock("partial answer"),), hang=True))
    session = Session()
    got_text = asyncio.Event()

    async def consume() -> None:
        async for event in agent.run(session, user_text("go")):
            if isinstance(event, TextDelta):
                got_text.set()

    task = asyncio.create_task(consume())
    await got_text.wait()
    await asyncio.sleep(0)  # let the rest of the text arrive
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.messages[-1].role == "assistant"
    assert session.messages[-1].text.startswith("part")


async def test_stream_broken_mid_answer_keeps_text_and_reports_error(tmp_path: Path) -> None:
    broken = StreamBroken("connection to scripted broke", provider="scripted")
    agent = make_agent(tmp_path, Turn((TextBlock("half an ans"),), fail=broken))
    session = Session()
    events = await collect(agent, session)
    assert any(isinstance(e, Error) and "broke" in e.message for e in events)
    assert events[-1].stop_reason == "error"
    assert session.messages[-1].text == "half an ans"
    assert session.messages[-1].meta.get("partial") is True


async def test_empty_response_is_an_error_not_a_silent_success(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, Turn(()))
    events = await collect(agent, Session())
    assert any(isinstance(e, Error) and "empty response" in e.message for e in events)
    assert events[-1].stop_reason == "error"


async def test_switching_model_keeps_the_whole_history(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    agent = make_agent(tmp_path, call("Read", {"file_path": "a.txt"}), say("first"))
    session = Session()
    await collect(agent, session, "one")
    other = ScriptedProvider([say("second")])
    agent.switch_model(other, lookup("openai", "gpt-4.1"))
    await collect(agent, session, "two")
    sent = other.requests[0]
    assert sent.model == "gpt-4.1"
    assert [m.role for m in sent.messages] == ["user", "assistant", "user", "assistant", "user"]
    assert sent.messages[1].tool_uses[0].name == "Read"


async def test_usage_is_totalled_and_priced_from_the_catalog(tmp_path: Path) -> None:
    from nano_claude.core.events import TokenUsage

    turns = [Turn((TextBlock("a"),), TokenUsage(1_000_000, 0, 0, 0))]
    agent = make_agent(tmp_path, *turns)
    session = Session()
    events = await collect(agent, session)
    usage = next(e for e in events if isinstance(e, Usage))
    assert usage.cost_usd == pytest.approx(3.0)  # sonnet: $3 per million input tokens
    assert session.usage.input_tokens == 1_000_000


async def test_requests_extend_the_previous_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    agent = make_agent(tmp_path, call("Read", {"file_path": "a.txt"}), say("done"))
    await collect(agent, Session())
    first, second = agent.provider.requests
    assert second.messages[: len(first.messages)] == first.messages
    assert second.system == first.system and second.tools == first.tools


async def test_max_tokens_is_capped_to_the_model_limit(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, say("x"))
    agent.options.max_tokens = 10_000_000
    await collect(agent, Session())
    assert agent.provider.requests[0].max_tokens == MODEL.max_output


def test_events_are_emitted_in_order_for_a_tool_turn(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    agent = make_agent(tmp_path, call("Read", {"file_path": "a.txt"}, text="Let me look."),
                       say("done"))
    events = asyncio.run(collect(agent, Session()))
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == ["MessageAdded", "MessageAdded", "Usage", "ToolCallStarted",
                     "ToolCallFinished", "MessageAdded", "MessageAdded", "Usage", "TurnDone"]
    assert isinstance(events[0], MessageAdded) and events[0].message.role == "user"


@pytest.mark.parametrize("stop_at", ["assistant", "ToolCallStarted", "Usage"])
async def test_closing_the_run_early_leaves_every_call_answered(tmp_path: Path, stop_at: str) -> None:
    (tmp_path / "a.txt").write_text("x")
    agent = make_agent(tmp_path, call("Read", {"file_path": "a.txt"}), say("never reached"))
    session = Session()
    run = agent.run(session, user_text("go"))
    async for event in run:
        if (stop_at == "assistant" and isinstance(event, MessageAdded)
                and event.message.role == "assistant") or type(event).__name__ == stop_at:
            break
    await run.aclose()
    assert session.messages[-1].role == "user"
    assert_history_valid(session.messages)
    assert len(agent.provider.turns) == 1  # the second request was never made


async def test_default_max_tokens_is_modest_and_within_the_model(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, say("x"), say("y"))
    await collect(agent, Session())
    assert agent.provider.requests[0].max_tokens == 16384
    agent.model = lookup("openai", "gpt-4o-mini")  # 16384 limit
    await collect(agent, Session())
    assert agent.provider.requests[1].max_tokens == 16384


def test_a_tool_registered_later_is_offered_from_the_next_request() -> None:
    registry = Registry(builtin_tools())
    before = registry.specs()
    assert registry.specs() is before  # derived once while the set is unchanged
    registry.register_tool(SlowProbe(expected=1))
    assert [s.name for s in registry.specs()] == [*(s.name for s in before), "Probe"]
