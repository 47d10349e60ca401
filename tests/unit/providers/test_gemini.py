"""The Gemini provider against the fake generateContent server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from nano_claude.config import Settings
from nano_claude.core.errors import AuthError, ProviderError
from nano_claude.core.events import (
    Notice,
    TextDelta,
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
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.gemini import GeminiProvider
from nano_claude.providers.http import Endpoint, RetryPolicy
from tests.fakes.script import Call, Step, Usage, error, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import READ, bodies, collect, final

KEY = "AIzaSy-test-0123456789abcdef"
MODEL = "gemini-2.5-flash"


@pytest.fixture
async def provider(fake_server: FakeModelServer) -> AsyncIterator[GeminiProvider]:
    endpoint = Endpoint("gemini", fake_server.url, KEY, "GEMINI_API_KEY")
    p = GeminiProvider(endpoint, Settings(), RetryPolicy(max_retries=3, base_delay=0.0))
    yield p
    await p.aclose()


def ask(*messages: Message, **kw: Any) -> Request:
    return Request(model=MODEL, system="You are terse.", messages=messages, **kw)


def all_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in all_keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in all_keys(v)}
    return set()


async def test_request_uses_the_native_api_with_the_key_in_a_header_not_the_url(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, ask(user_text("hi"), max_tokens=1000, temperature=0.3))

    request = fake_server.model_requests[0]
    assert request.path == f"/models/{MODEL}:streamGenerateContent?alt=sse"
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in request.path
    body = request.body or {}
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["generationConfig"] == {"maxOutputTokens": 1000, "temperature": 0.3}


async def test_usage_counts_cached_tokens_apart_and_thoughts_as_output(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok", thinking="a few thought tokens",
                            usage=Usage(input=30, output=9, cache_read=200)))

    response = final(await collect(provider, ask(user_text("hi"))))

    assert response.usage == TokenUsage(input_tokens=30, output_tokens=9, cache_read_tokens=200)


async def test_function_call_gets_an_id_and_its_result_goes_back_by_name(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_calls(Call("Read", {"path": "a.py"}), Call("Read", {"path": "b.py"}),
                   text="Reading both."),
        text("Both print 1."),
    )
    request = ask(user_text("read a.py and b.py"), tools=(READ,))

    first = final(await collect(provider, request))

    assert first.stop_reason == "tool_use"
    a, b = first.message.tool_uses
    assert (a.name, a.input, b.input) == ("Read", {"path": "a.py"}, {"path": "b.py"})
    assert a.id and b.id and a.id != b.id
    results = Message("user", (tool_result(a.id, "print(1)"),
                               tool_result(b.id, "missing", is_error=True)))
    final(await collect(provider, ask(*request.messages, first.message, results, tools=(READ,))))

    model_turn, answer = bodies(fake_server)[1]["contents"][1:]
    assert model_turn["role"] == "model"
    assert model_turn["parts"][0] == {"text": "Reading both."}
    assert model_turn["parts"][1]["functionCall"] == {"name": "Read", "args": {"path": "a.py"}}
    assert answer["role"] == "user"
    assert answer["parts"] == [
        {"functionResponse": {"name": "Read", "response": {"content": "print(1)"}}},
        {"functionResponse": {"name": "Read", "response": {"error": "missing"}}},
    ]


async def test_thought_signature_on_a_function_call_goes_back_on_that_call(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_calls(Call("Read", {"path": "a.py"}, signature="c2lnLWZj")),
        text("done"),
    )

    first = final(await collect(provider, ask(user_text("go"), tools=(READ,)))).message
    (call,) = first.tool_uses
    assert call.signature == "c2lnLWZj"
    follow = ask(user_text("go"), first, Message("user", (tool_result(call.id, "x"),)),
                 tools=(READ,))
    await collect(provider, follow)

    (part,) = bodies(fake_server)[1]["contents"][1]["parts"]
    assert part == {"functionCall": {"name": "Read", "args": {"path": "a.py"}},
                    "thoughtSignature": "c2lnLWZj"}


async def test_thinking_is_not_requested_from_a_model_that_cannot_think(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(provider, Request(model="gemini-2.0-flash", system="", thinking=True,
                                    messages=(user_text("hi"),)))

    body = bodies(fake_server)[0]
    assert "thinkingConfig" not in body["generationConfig"]
    assert "systemInstruction" not in body


async def test_thinking_streams_as_thought_deltas_and_signed_thoughts_go_back(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(
        text("The answer is 4.", thinking="Two plus two is four.", thinking_signature="dGhvdWdodA"),
        text("ok"),
    )
    request = ask(user_text("2+2?"), thinking=True, thinking_budget=2048, max_tokens=8192)

    events = await collect(provider, request)

    assert "".join(e.text for e in events if isinstance(e, ThinkingDelta)) == "Two plus two is four."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "The answer is 4."
    message = final(events).message
    assert message.content == (ThinkingBlock("Two plus two is four.", "dGhvdWdodA", "gemini"),
                               TextBlock("The answer is 4."))
    config = bodies(fake_server)[0]["generationConfig"]
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 2048}
    assert config["maxOutputTokens"] > 2048
    await collect(provider, ask(user_text("2+2?"), message, user_text("thanks")))

    assert bodies(fake_server)[1]["contents"][1]["parts"] == [
        {"text": "Two plus two is four.", "thought": True, "thoughtSignature": "dGhvdWdodA"},
        {"text": "The answer is 4."},
    ]


async def test_signature_on_answer_text_goes_back_on_the_same_text(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(Step(text="Hello world", thinking_signature="dGV4dHNpZw"), text("ok"))

    message = final(await collect(provider, ask(user_text("hi")))).message
    assert message.text == "Hello world"
    await collect(provider, ask(user_text("hi"), message, user_text("again")))

    assert bodies(fake_server)[1]["contents"][1]["parts"] == [
        {"text": "Hello world", "thoughtSignature": "dGV4dHNpZw"}]


async def test_conversation_from_another_provider_is_sent_without_its_thinking(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    history = (
        user_text("list files"),
        Message("assistant", (
            ThinkingBlock("deepseek reasoning", "", "deepseek"),
            ThinkingBlock("claude thinking", "claude-sig", "anthropic"),
            TextBlock("Listing."),
            ToolUseBlock("toolu_01", "Bash", {"command": "ls"}),
        )),
        Message("user", (ToolResultBlock("toolu_01", (TextBlock("a.py"),
                                                      ImageBlock("image/png", "iVBO"))),)),
        Message("assistant", (ThinkingBlock("only thinking", "", "deepseek"),)),
        user_text("thanks"),
    )

    response = final(await collect(provider, ask(*history)))

    assert response.message.text == "ok"
    contents = bodies(fake_server)[0]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [
        {"text": "Listing."},
        # Google's stand-in signature for a call Gemini did not make itself.
        {"functionCall": {"name": "Bash", "args": {"command": "ls"}},
         "thoughtSignature": "skip_thought_signature_validator"},
    ]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "Bash", "response": {"content": "a.py"}}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        {"text": "thanks"},
    ]


class _Edit(BaseModel):
    old: str = Field(description="text to replace")
    new: str


class _EditInput(BaseModel):
    """Edit a file."""

    path: str = Field(description="file to edit")
    limit: int | None = None
    mode: Literal["replace", "append"] = "replace"
    kind: Literal["edit"] = "edit"
    edits: list[_Edit] = []
    first: _Edit | None = None
    env: dict[str, str] = {}


async def test_tool_schemas_are_cleaned_to_what_gemini_accepts(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    edit = ToolSpec("Edit", "Edit a file", _EditInput.model_json_schema())
    clock = ToolSpec("Now", "The time", {"type": "object", "properties": {}})

    await collect(provider, ask(user_text("hi"), tools=(edit, clock)))

    edit_decl, clock_decl = bodies(fake_server)[0]["tools"][0]["functionDeclarations"]
    params = edit_decl["parameters"]
    rejected = {"$defs", "$ref", "$schema", "title", "default", "additionalProperties", "const"}
    assert not all_keys(params) & rejected
    props = params["properties"]
    assert props["path"] == {"type": "string", "description": "file to edit"}
    assert props["limit"] == {"type": "integer", "nullable": True}
    assert props["mode"]["enum"] == ["replace", "append"]
    assert props["kind"]["enum"] == ["edit"]
    assert props["edits"]["items"]["properties"]["old"]["description"] == "text to replace"
    assert props["first"]["nullable"] is True and props["first"]["required"] == ["old", "new"]
    assert props["env"] == {"type": "object"}
    assert params["required"] == ["path"]
    assert clock_decl == {"name": "Now", "description": "The time"}  # no empty OBJECT


async def test_safety_stop_is_reported_with_a_notice(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("I can", stop_reason="SAFETY"))

    events = await collect(provider, ask(user_text("hi")))

    assert any(isinstance(e, Notice) and "SAFETY" in e.text for e in events)
    assert final(events).stop_reason == "refusal"


async def test_max_tokens_stop_is_mapped(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(text("cut sh", stop_reason="max_tokens"))

    assert final(await collect(provider, ask(user_text("hi")))).stop_reason == "max_tokens"


async def test_retry_delay_in_a_429_body_becomes_the_retry_after(
        fake_server: FakeModelServer) -> None:
    body = json.dumps({"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED",
                                 "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                              "retryDelay": "37s"}]}})
    fake_server.script(error(429, body=body))
    endpoint = Endpoint("gemini", fake_server.url, KEY, "GEMINI_API_KEY")
    no_retries = GeminiProvider(endpoint, Settings(), RetryPolicy(max_retries=0))

    with pytest.raises(ProviderError) as caught:
        await collect(no_retries, ask(user_text("hi")))
    await no_retries.aclose()

    assert caught.value.retryable and caught.value.retry_after == 37.0


async def test_503_overloaded_is_retried(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(503, "The model is overloaded."), text("ok"))

    events = await collect(provider, ask(user_text("hi")))

    assert any(isinstance(e, Notice) for e in events)
    assert final(events).message.text == "ok"


async def test_error_chunk_mid_stream_is_retried(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(200, "The model is overloaded."), text("ok"))

    events = await collect(provider, ask(user_text("hi")))

    assert any(isinstance(e, Notice) for e in events)
    assert final(events).message.text == "ok"


async def test_invalid_key_reported_as_400_is_an_auth_error(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    body = json.dumps({"error": {"code": 400, "message": "API key not valid. Please pass a valid "
                                 "API key.", "status": "INVALID_ARGUMENT",
                                 "details": [{"reason": "API_KEY_INVALID"}]}})
    fake_server.script(error(400, body=body))

    with pytest.raises(AuthError, match="GEMINI_API_KEY"):
        await collect(provider, ask(user_text("hi")))
    assert len(fake_server.model_requests) == 1


async def test_bad_request_is_not_retried(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(error(400, "Invalid JSON payload"))

    with pytest.raises(ProviderError, match="Invalid JSON payload") as caught:
        await collect(provider, ask(user_text("hi")))
    assert not caught.value.retryable


async def test_tool_call_round_trip_through_the_script_helper(
        provider: GeminiProvider, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("Read", {"path": "x"}), text("fine"))

    first = final(await collect(provider, ask(user_text("go"), tools=(READ,)))).message
    (call,) = first.tool_uses
    results = Message("user", (tool_result(call.id, "content of x"),))
    second = final(await collect(provider, ask(user_text("go"), first, results, tools=(READ,))))

    assert second.message.text == "fine"
    sent = bodies(fake_server)[1]["contents"][2]["parts"][0]
    assert sent["functionResponse"]["name"] == "Read"
