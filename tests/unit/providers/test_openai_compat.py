"""The Chat Completions provider against the fake OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from nano_claude.core.errors import ProviderError
from nano_claude.core.events import (
    Notice,
    Response,
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
from nano_claude.providers.openai_compat import token_usage
from tests.fakes.script import Call, Usage, error, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import BASH, Make, bodies, collect, final, openai_compat

KEY = "sk-test-0123456789abcdef"
READ = ToolSpec("Read", "Read a file", {
    "type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]})



@pytest.fixture
def waits() -> list[float]:
    """Every wait a provider asked for between retries (none actually waited)."""
    return []


@pytest.fixture
async def make(fake_server: FakeModelServer, waits: list[float]) -> AsyncIterator[Make]:
    async with openai_compat(fake_server, retries=3, default="openai", waits=waits) as build:
        yield lambda provider="openai", *, local=False, key=KEY, key_env="OPENAI_API_KEY": build(
            provider, local=local, key=key, key_env=key_env)


def ask(*messages: Message, model: str = "gpt-4.1", **kw: Any) -> Request:
    return Request(model=model, system="You are terse.", messages=messages, **kw)


def assert_no_null_content(server: FakeModelServer) -> None:
    for body in bodies(server):
        for message in body["messages"]:
            assert message.get("content") is not None, message


# --- streaming ------------------------------------------------------------------


async def test_request_streams_with_usage_and_sends_the_key_as_bearer(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(make(), ask(user_text("hi"), tools=(READ,)))

    request = fake_server.model_requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body is not None
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert request.body["tools"] == [{"type": "function", "function": {
        "name": "Read", "description": "Read a file", "parameters": READ.input_schema}}]


async def test_no_authorization_header_without_a_key(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(make("lmstudio", local=True, key="", key_env=""), ask(user_text("hi")))

    assert "authorization" not in fake_server.model_requests[0].headers


async def test_usage_counts_cached_tokens_apart_from_fresh_input(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok", usage=Usage(input=120, output=7, cache_read=880)))

    response = final(await collect(make(), ask(user_text("hi"))))

    assert response.usage == TokenUsage(input_tokens=120, output_tokens=7, cache_read_tokens=880)


def test_deepseek_and_moonshot_cache_fields_are_understood() -> None:
    deepseek = {"prompt_tokens": 1000, "completion_tokens": 9, "prompt_cache_hit_tokens": 600,
                "prompt_cache_miss_tokens": 400}
    assert token_usage(deepseek) == TokenUsage(400, 9, 600)
    moonshot = {"prompt_tokens": 50, "completion_tokens": 3, "cached_tokens": 20}
    assert token_usage(moonshot) == TokenUsage(30, 3, 20)


async def test_a_server_that_ignores_stream_gets_its_whole_answer_read(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("Read", {"file_path": "a.py"}, text="Looking.", whole=True))

    events = await collect(make(), ask(user_text("hi"), tools=(READ,)))

    response = final(events)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Looking."]
    assert response.message.content == (
        TextBlock("Looking."), ToolUseBlock("call_read_1", "Read", {"file_path": "a.py"}))
    assert response.usage == TokenUsage(10, 5)
    assert bodies(fake_server)[0]["stream"] is True


# --- tool calls -------------------------------------------------------------------


async def test_tool_calls_are_assembled_from_streamed_pieces_in_order(
        make: Make, fake_server: FakeModelServer) -> None:
    long_command = "grep -rn 'def main' src/ | head -20 && echo done"
    fake_server.script(tool_calls(
        Call("Read", {"file_path": "/tmp/project/a.py"}, id="call_1"),
        Call("Bash", {"command": long_command}, id="call_2"),
        text="Checking two things.",
    ))

    response = final(await collect(make(), ask(user_text("look"), tools=(READ, BASH))))

    assert response.stop_reason == "tool_use"
    assert response.message.content == (
        TextBlock("Checking two things."),
        ToolUseBlock("call_1", "Read", {"file_path": "/tmp/project/a.py"}),
        ToolUseBlock("call_2", "Bash", {"command": long_command}),
    )


async def test_history_with_tool_calls_never_sends_null_content(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("The file is short."))
    history = (
        user_text("read a.py"),
        Message("assistant", (ToolUseBlock("call_1", "Read", {"file_path": "a.py"}),)),
        Message("user", (tool_result("call_1", "print('hi')"),
                         tool_result("call_2", "no such file", is_error=True))),
    )

    await collect(make(), ask(*history, tools=(READ,)))

    assert_no_null_content(fake_server)
    messages = bodies(fake_server)[0]["messages"]
    assert messages[2] == {"role": "assistant", "content": "", "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "Read", "arguments": '{"file_path": "a.py"}'}}]}
    assert messages[3] == {"role": "tool", "tool_call_id": "call_1", "content": "print('hi')"}
    assert messages[4] == {"role": "tool", "tool_call_id": "call_2",
                           "content": "Error: no such file"}


async def test_images_go_as_data_urls_and_tool_images_follow_the_tool_messages(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("A cat."))
    shot = ImageBlock("image/png", "iVBORw0KGgo=")
    history = (
        Message("user", (TextBlock("what is this?"), shot)),
        Message("assistant", (ToolUseBlock("c1", "Screenshot", {}),)),
        Message("user", (ToolResultBlock("c1", (TextBlock("taken"), shot)),)),
    )

    await collect(make(), ask(*history))

    messages = bodies(fake_server)[0]["messages"]
    image_part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert messages[1] == {"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, image_part]}
    assert messages[3]["role"] == "tool" and messages[3]["content"].startswith("taken")
    assert messages[4] == {"role": "user", "content": [image_part]}


# --- text tool calls and <think> tags -------------------------------------------------


@pytest.mark.parametrize("written", [
    '{"name": "Bash", "arguments": {"command": "ls"}}',
    'I will list the files.\n<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n'
    "</tool_call>",
    'I will list the files.\n```json\n{"name": "Bash", "parameters": {"command": "ls"}}\n```',
], ids=["bare-json", "tool-call-tags", "fenced-json"])
async def test_tool_calls_written_as_text_become_tool_use_blocks(
        make: Make, fake_server: FakeModelServer, written: str) -> None:
    fake_server.script(text(written))

    response = final(await collect(make("custom", local=True), ask(user_text("ls"), tools=(BASH,))))

    (use,) = response.message.tool_uses
    assert (use.name, use.input) == ("Bash", {"command": "ls"})
    assert use.id.startswith("call_")
    assert response.stop_reason == "tool_use"
    assert response.message.text in ("", "I will list the files.")


async def test_text_that_looks_like_a_call_stays_text_when_no_tools_are_offered(
        make: Make, fake_server: FakeModelServer) -> None:
    written = '{"name": "Bash", "arguments": {"command": "ls"}}'
    fake_server.script(text(written))

    response = final(await collect(make(), ask(user_text("show me a call"))))

    assert response.message.content == (TextBlock(written),)
    assert response.stop_reason == "end_turn"


async def test_think_tags_from_a_local_server_become_thinking(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(
        text("<think>\nThe user wants a greeting.\n</think>\n\nHello!", chunk_size=3))

    events = await collect(make("lmstudio", local=True, key=""), ask(user_text("hi")))

    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "The user wants a greeting."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello!"
    assert final(events).message.content == (
        ThinkingBlock("The user wants a greeting."), TextBlock("Hello!"))


async def test_think_tags_from_a_cloud_model_are_left_as_written(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("Use <think> tags like this."))

    response = final(await collect(make(), ask(user_text("hi"))))

    assert response.message.text == "Use <think> tags like this."


# --- reasoning models and kept state ----------------------------------------------------


async def test_reasoning_models_get_developer_role_completion_tokens_and_effort(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(make(), ask(user_text("hi"), model="o3", reasoning_effort="high",
                              temperature=0.2, max_tokens=4000))

    body = bodies(fake_server)[0]
    assert body["messages"][0] == {"role": "developer", "content": "You are terse."}
    assert body["max_completion_tokens"] == 4000
    assert body["reasoning_effort"] == "high"
    assert "max_tokens" not in body and "temperature" not in body


async def test_other_models_get_system_role_max_tokens_and_temperature(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(make(), ask(user_text("hi"), reasoning_effort="high", temperature=0.2,
                              max_tokens=4000))

    body = bodies(fake_server)[0]
    assert body["messages"][0]["role"] == "system"
    assert body["max_tokens"] == 4000 and body["temperature"] == 0.2
    assert "max_completion_tokens" not in body and "reasoning_effort" not in body


async def test_deepseek_reasoning_is_kept_and_sent_back_in_the_tool_turn(
        make: Make, fake_server: FakeModelServer) -> None:
    def sends_reasoning_back(body: dict[str, Any]) -> None:
        assistant = body["messages"][2]
        assert assistant["reasoning_content"] == "I should read the file first."
        assert assistant["content"] == ""

    fake_server.script(
        tool_call("Read", {"file_path": "a.py"}, thinking="I should read the file first."),
        text("It prints hi.", expect=sends_reasoning_back),
    )
    provider = make("deepseek", key_env="DEEPSEEK_API_KEY")
    request = ask(user_text("what does a.py do?"), model="deepseek-reasoner", tools=(READ,))

    events = await collect(provider, request)
    first = final(events).message
    assert [e.text for e in events if isinstance(e, ThinkingDelta)]
    assert first.content[0] == ThinkingBlock("I should read the file first.", origin="deepseek")

    history = (*request.messages, first, Message("user", (tool_result("call_read_1", "hi"),)))
    await collect(provider, ask(*history, model="deepseek-reasoner", tools=(READ,)))


async def test_reasoning_from_another_provider_is_not_sent(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    earlier = Message("assistant", (ThinkingBlock("private", signature="sig", origin="anthropic"),
                                    TextBlock("hello")))

    await collect(make("deepseek"), ask(user_text("hi"), earlier, user_text("again"),
                                        model="deepseek-chat"))

    assert "reasoning_content" not in bodies(fake_server)[0]["messages"][2]


async def test_gemini_thought_signatures_survive_the_round_trip(
        make: Make, fake_server: FakeModelServer) -> None:
    def signature_sent_back(body: dict[str, Any]) -> None:
        call = body["messages"][2]["tool_calls"][0]
        assert call["extra_content"] == {"google": {"thought_signature": "c2lnbmF0dXJl"}}

    fake_server.script(
        tool_calls(Call("Read", {"file_path": "a.py"}, id="g1", signature="c2lnbmF0dXJl")),
        text("done", expect=signature_sent_back),
    )
    provider = make("gemini", key_env="GEMINI_API_KEY")
    request = ask(user_text("read a.py"), model="gemini-2.5-flash", tools=(READ,))

    first = final(await collect(provider, request)).message
    assert first.tool_uses[0].signature == "c2lnbmF0dXJl"
    history = (*request.messages, first, Message("user", (tool_result("g1", "x = 1"),)))
    await collect(provider, ask(*history, model="gemini-2.5-flash", tools=(READ,)))


async def test_signatures_are_not_sent_to_servers_that_would_reject_them(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    earlier = Message("assistant", (ToolUseBlock("g1", "Read", {}, signature="sig"),))

    await collect(make(), ask(user_text("hi"), earlier, Message("user", (tool_result("g1", "x"),))))

    assert "extra_content" not in bodies(fake_server)[0]["messages"][2]["tool_calls"][0]


async def test_qwen_thinking_is_switched_on_with_its_own_field(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))

    await collect(make("qwen"), ask(user_text("hi"), model="qwen-plus", thinking=True,
                                    thinking_budget=3000))

    body = bodies(fake_server)[0]
    assert body["enable_thinking"] is True and body["thinking_budget"] == 3000


# --- truncation ---------------------------------------------------------------------


async def test_a_prompt_the_server_truncated_is_reported(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("?", usage=Usage(input=1024, output=1)))

    events = await collect(make("lmstudio", local=True, key=""),
                           ask(user_text("x " * 10_000), model="qwen3-8b"))

    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1
    assert notices[0].startswith("the server used only 1024 of about 5")
    assert "it probably truncated the prompt; raise its context size" in notices[0]
    assert isinstance(events[-1], Response)


async def test_no_truncation_notice_when_the_server_read_the_whole_prompt(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("?", usage=Usage(input=4800, output=1)))

    events = await collect(make("lmstudio", local=True, key=""),
                           ask(user_text("x " * 10_000), model="qwen3-8b"))

    assert not [e for e in events if isinstance(e, Notice)]


# --- errors and retries -------------------------------------------------------------


async def test_rate_limit_waits_as_long_as_retry_after_says_then_retries(
        make: Make, fake_server: FakeModelServer, waits: list[float]) -> None:
    fake_server.script(error(429, "Rate limit reached", headers={"retry-after": "7"}), text("ok"))
    provider = make()

    events = await collect(provider, ask(user_text("hi")))

    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "rate limited" in notices[0] and "retrying in 7.0s" in notices[0]
    assert waits == [7.0]
    assert final(events).message.text == "ok"
    assert len(fake_server.model_requests) == 2


async def test_an_error_reported_inside_the_stream_is_a_provider_error(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(error(200, "the model produced invalid output"))

    with pytest.raises(ProviderError, match="the model produced invalid output"):
        await collect(make("custom", local=True), ask(user_text("hi")))


# --- context window probes ------------------------------------------------------------


async def test_vllm_window_is_read_from_the_model_list_once(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"object": "list", "data": [
        {"id": "other", "object": "model", "max_model_len": 4096},
        {"id": "Qwen/Qwen3-8B", "object": "model", "max_model_len": 16384}]})
    provider = make("custom", local=True, key="")

    assert await provider.context_window("Qwen/Qwen3-8B") == 16384
    assert await provider.context_window("Qwen/Qwen3-8B") == 16384
    assert len(fake_server.requests) == 1


async def test_llamacpp_window_comes_from_props_not_the_trained_size(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"object": "list", "data": [
        {"id": "model.gguf", "object": "model", "meta": {"n_ctx_train": 131072}}]})
    fake_server.route("GET", "/props", {"default_generation_settings": {"n_ctx": 8192}})

    assert await make("custom", local=True, key="").context_window("model.gguf") == 8192


async def test_lmstudio_window_is_the_loaded_context_length(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/api/v0/models/qwen3-8b", {
        "id": "qwen3-8b", "state": "loaded", "max_context_length": 40960,
        "loaded_context_length": 4096})

    assert await make("lmstudio", local=True, key="").context_window("qwen3-8b") == 4096


async def test_a_failed_probe_gives_no_window_and_does_not_break_requests(
        make: Make, fake_server: FakeModelServer) -> None:
    for path in ("/v1/models", "/props", "/api/v0/models/m"):
        fake_server.route("GET", path, {"error": "nope"}, status=404)
    fake_server.script(text("still works"))
    provider = make("custom", local=True, key="")

    assert await provider.context_window("m") is None
    assert final(await collect(provider, ask(user_text("hi"), model="m"))).message.text == (
        "still works")


async def test_cloud_providers_are_never_probed(make: Make, fake_server: FakeModelServer) -> None:
    assert await make().context_window("gpt-4.1") is None
    assert fake_server.requests == []


async def test_an_assistant_turn_with_only_thinking_sends_empty_string_content(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"))
    history = (
        user_text("hi"),
        Message("assistant", (ThinkingBlock("hmm", origin="openai"),)),
        user_text("well?"),
    )

    await collect(make(), ask(*history))

    assert_no_null_content(fake_server)
    assert json.dumps(bodies(fake_server)[0]).count('"content": ""') == 1
