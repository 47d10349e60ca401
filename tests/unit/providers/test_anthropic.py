"""The Anthropic provider against the fake Messages API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from nano_claude.config import Settings
from nano_claude.core.errors import ProviderError
from nano_claude.core.events import (
    Notice,
    ThinkingDelta,
    TokenUsage,
)
from nano_claude.core.messages import (
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    tool_result,
    user_text,
)
from nano_claude.providers.anthropic import AnthropicProvider
from nano_claude.providers.base import Request
from nano_claude.providers.http import Endpoint, RetryPolicy
from tests.fakes.script import Call, Step, Usage, error, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import BASH, READ, bodies, collect, final

KEY = "sk-ant-test-0123456789abcdef"
MODEL = "claude-sonnet-4-5"


@pytest.fixture
async def provider(fake_server: FakeModelServer) -> AsyncIterator[AnthropicProvider]:
    endpoint = Endpoint("anthropic", fake_server.url, KEY, "ANTHROPIC_API_KEY")
    p = AnthropicProvider(endpoint, Settings(), RetryPolicy(max_retries=3, base_delay=0.0))
    yield p
    await p.aclose()


def ask(*messages: Message, **kw: Any) -> Request:
    return Request(model=MODEL, system="You are terse.", messages=messages, **kw)


async def test_request_speaks_the_messages_api_with_the_key_in_a_header(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, ask(user_text("hi"), max_tokens=1000, temperature=0.2))

    request = fake_server.model_requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    body = request.body or {}
    assert body["model"] == MODEL and body["max_tokens"] == 1000 and body["stream"] is True
    assert body["temperature"] == 0.2
    assert body["system"][0]["type"] == "text" and body["system"][0]["text"] == "You are terse."
    assert body["messages"][0]["role"] == "user"
    assert "thinking" not in body


async def test_usage_separates_fresh_input_from_cache_reads_and_writes(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok", usage=Usage(input=12, output=7, cache_read=300, cache_write=40)))

    response = final(await collect(provider, ask(user_text("hi"))))

    assert response.usage == TokenUsage(input_tokens=12, output_tokens=7,
                                        cache_read_tokens=300, cache_write_tokens=40)


async def test_tool_call_is_assembled_from_json_deltas(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_calls(
        Call("Read", {"path": "src/app/main.py", "limit": 40}, id="toolu_01"),
        Call("Bash", {"command": "ls -la"}, id="toolu_02"),
        text="Let me look.", chunk_size=4,
    ))

    response = final(await collect(provider, ask(user_text("look"), tools=(READ, BASH))))

    assert response.stop_reason == "tool_use"
    assert response.message.text == "Let me look."
    assert response.message.tool_uses == [
        ToolUseBlock("toolu_01", "Read", {"path": "src/app/main.py", "limit": 40}),
        ToolUseBlock("toolu_02", "Bash", {"command": "ls -la"}),
    ]


async def test_tool_definitions_and_results_are_sent_in_anthropic_shape(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("done"))
    history = (
        user_text("read it"),
        Message("assistant", (ToolUseBlock("toolu_01", "Read", {"path": "a.py"}),)),
        Message("user", (
            ToolResultBlock("toolu_01", (TextBlock("print(1)"), ImageBlock("image/png", "iVBO"))),
            tool_result("toolu_02", "no such file", is_error=True),
        )),
    )

    await collect(provider, ask(*history, tools=(READ,)))

    body = bodies(fake_server)[0]
    assert body["tools"][0]["name"] == "Read"
    assert body["tools"][0]["description"] == "Read a file"
    assert body["tools"][0]["input_schema"] == READ.input_schema
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "a.py"}}]
    ok, failed = body["messages"][2]["content"]
    assert ok["type"] == "tool_result" and ok["tool_use_id"] == "toolu_01"
    assert ok["content"] == [
        {"type": "text", "text": "print(1)"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
    ]
    assert "is_error" not in ok
    assert failed["is_error"] is True
    assert failed["content"][0]["text"] == "no such file"


async def test_cache_control_marks_last_tool_system_and_newest_message(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    history = (user_text("first"), Message("assistant", (TextBlock("answer"),)),
               Message("user", (TextBlock("second"), TextBlock("third"))))

    await collect(provider, ask(*history, tools=(READ, BASH)))

    body = bodies(fake_server)[0]
    ephemeral = {"type": "ephemeral"}
    assert body["system"][0]["cache_control"] == ephemeral
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][1]["cache_control"] == ephemeral
    newest = body["messages"][-1]["content"]
    assert newest[-1]["cache_control"] == ephemeral and "cache_control" not in newest[0]
    marked = [b for m in body["messages"] for b in m["content"] if "cache_control" in b]
    assert len(marked) == 1  # with system and tools: 3 of the 4 breakpoints allowed


async def test_thinking_streams_and_its_signature_is_sent_back_next_request(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_call("Read", {"path": "a.py"}, id="toolu_01",
                  thinking="I should read the file first.", thinking_signature="sig-abc=="),
        text("It prints 1."),
    )
    request = ask(user_text("what does a.py do?"), tools=(READ,), thinking=True,
                  thinking_budget=2048, max_tokens=8192)

    events = await collect(provider, request)

    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "I should read the file first."
    first = final(events).message
    assert first.content[0] == ThinkingBlock("I should read the file first.", "sig-abc==",
                                             "anthropic")
    follow_up = ask(*request.messages, first, Message("user", (tool_result("toolu_01", "1"),)),
                    tools=(READ,), thinking=True, thinking_budget=2048, max_tokens=8192)
    final(await collect(provider, follow_up))

    sent = bodies(fake_server)[1]["messages"][1]["content"]
    assert sent[0] == {"type": "thinking", "thinking": "I should read the file first.",
                       "signature": "sig-abc=="}
    assert sent[1]["type"] == "tool_use"


async def test_thinking_raises_max_tokens_above_the_budget_and_drops_temperature(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, ask(user_text("hi"), thinking=True, thinking_budget=10_000,
                                max_tokens=4096, temperature=0.5))

    body = bodies(fake_server)[0]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 10_000}
    assert 10_000 < body["max_tokens"] <= 64_000
    assert "temperature" not in body


async def test_thinking_budget_is_cut_to_fit_the_model_output_limit(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, Request(model="claude-opus-4-1", system="", thinking=True,
                                    thinking_budget=40_000, max_tokens=2000,
                                    messages=(user_text("hi"),)))

    body = bodies(fake_server)[0]
    assert body["max_tokens"] <= 32_768
    assert 1024 <= body["thinking"]["budget_tokens"] < body["max_tokens"]
    assert "system" not in body  # an empty system prompt is left out, not sent empty


async def test_thinking_is_not_requested_from_a_model_that_cannot_think(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, Request(model="claude-3-5-haiku-latest", system="s", thinking=True,
                                    temperature=0.7, messages=(user_text("hi"),)))

    body = bodies(fake_server)[0]
    assert "thinking" not in body and body["temperature"] == 0.7


async def test_redacted_thinking_is_kept_and_sent_back_as_redacted(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(Step(text="Done.", thinking_signature="ENCRYPTED-DATA"), text("ok"))

    first = final(await collect(provider, ask(user_text("hi"), thinking=True))).message
    assert first.content[0] == ThinkingBlock("", "ENCRYPTED-DATA", "anthropic", redacted=True)
    await collect(provider, ask(user_text("hi"), first, user_text("again"), thinking=True))

    sent = bodies(fake_server)[1]["messages"][1]["content"]
    assert sent[0] == {"type": "redacted_thinking", "data": "ENCRYPTED-DATA"}


async def test_conversation_from_another_provider_is_sent_without_its_thinking(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    history = (
        user_text("list files"),
        Message("assistant", (
            ThinkingBlock("deepseek reasoning", "", "deepseek"),
            ThinkingBlock("gemini thought", "gsig", "gemini"),
            TextBlock(""),
            ToolUseBlock("call_abc", "Bash", {"command": "ls"}),
        )),
        Message("user", (tool_result("call_abc", "a.py"),)),
        Message("assistant", (ThinkingBlock("only thinking", "", "deepseek"),)),
        user_text("thanks"),
    )

    response = final(await collect(provider, ask(*history, tools=(BASH,), thinking=True)))

    assert response.message.text == "ok"
    messages = bodies(fake_server)[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "user"]
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "call_abc", "name": "Bash", "input": {"command": "ls"}}]
    assert all(m["content"] for m in messages)


async def test_thinking_waits_while_answering_tool_calls_made_without_it(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    history = (
        user_text("list files"),
        Message("assistant", (ToolUseBlock("call_abc", "Bash", {"command": "ls"}),)),
        Message("user", (tool_result("call_abc", "a.py"),)),
    )

    await collect(provider, ask(*history, tools=(BASH,), thinking=True))

    assert "thinking" not in bodies(fake_server)[0]


async def test_529_overloaded_is_retried(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(529, "Overloaded"), error(529, "Overloaded"), text("ok"))

    events = await collect(provider, ask(user_text("hi")))

    assert sum(isinstance(e, Notice) for e in events) == 2
    assert final(events).message.text == "ok"


async def test_overloaded_error_event_mid_stream_is_retried(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(200, "Overloaded"), text("ok"))

    events = await collect(provider, ask(user_text("hi")))

    assert any(isinstance(e, Notice) for e in events)
    assert final(events).message.text == "ok"


async def test_invalid_request_error_event_mid_stream_is_not_retried(
        provider: AnthropicProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(200, body='{"type": "error", "error": '
                                       '{"type": "invalid_request_error", "message": "bad"}}'))

    with pytest.raises(ProviderError, match="invalid_request_error") as caught:
        await collect(provider, ask(user_text("hi")))
    assert not caught.value.retryable


async def test_closing_an_unused_provider_is_harmless(fake_server: FakeModelServer) -> None:
    endpoint = Endpoint("anthropic", fake_server.url, KEY, "ANTHROPIC_API_KEY")
    p = AnthropicProvider(endpoint, Settings(), RetryPolicy())

    await p.aclose()

    assert p.name == "anthropic" and fake_server.requests == []
