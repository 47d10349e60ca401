"""The Ollama provider against the fake /api/chat server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from nano_claude.config import Settings
from nano_claude.core.errors import ProviderError, StreamBroken
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
    ToolUseBlock,
    tool_result,
    user_text,
)
from nano_claude.providers.base import Request
from nano_claude.providers.http import Endpoint, RetryPolicy
from nano_claude.providers.ollama import OllamaProvider
from tests.fakes.script import Call, Usage, error, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import BASH, bodies, collect, final

MODEL = "qwen3:8b"
SHOW = {
    "parameters": "temperature 0.6\ntop_k 20",
    "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
    "capabilities": ["completion", "tools", "thinking"],
}

Make = Callable[..., OllamaProvider]


@pytest.fixture
async def make(fake_server: FakeModelServer) -> AsyncIterator[Make]:
    made: list[OllamaProvider] = []

    def build(**settings: Any) -> OllamaProvider:
        endpoint = Endpoint("ollama", fake_server.url, local=True)
        retry = RetryPolicy(max_retries=3, base_delay=0.0)
        p = OllamaProvider(endpoint, Settings(**settings), retry)
        made.append(p)
        return p

    yield build
    for p in made:
        await p.aclose()


@pytest.fixture
def show(fake_server: FakeModelServer) -> Callable[..., None]:
    def answer(body: Any = None, status: int = 200) -> None:
        fake_server.route("POST", "/api/show", SHOW if body is None else body, status)
    return answer


def ask(*messages: Message, **kw: Any) -> Request:
    return Request(model=MODEL, system="You are terse.", messages=messages, **kw)


# --- streaming -------------------------------------------------------------------


async def test_streamed_text_arrives_as_deltas_and_done_counts_become_usage(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("Hello from a local model.", chunk_size=4,
                            usage=Usage(input=321, output=12)))

    events = await collect(make(), ask(user_text("hi")))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "Hello from a local model."
    response = final(events)
    assert response.message.content == (TextBlock("Hello from a local model."),)
    assert response.usage == TokenUsage(input_tokens=321, output_tokens=12)
    assert response.stop_reason == "end_turn"


async def test_cached_prompt_tokens_are_counted_apart(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("ok", usage=Usage(input=40, output=2, cache_read=960)))

    response = final(await collect(make(), ask(user_text("hi"))))

    assert response.usage == TokenUsage(40, 2, 960)


async def test_request_carries_keep_alive_num_predict_and_stream(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("ok"))

    await collect(make(ollama_keep_alive="2h"), ask(user_text("hi"), max_tokens=1234,
                                                    temperature=0.1))

    request = fake_server.model_requests[0]
    assert request.path == "/api/chat"
    body = bodies(fake_server)[0]
    assert body["stream"] is True and body["keep_alive"] == "2h"
    assert body["options"]["num_predict"] == 1234
    assert body["options"]["temperature"] == 0.1
    assert body["messages"] == [{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "hi"}]
    assert "think" not in body


# --- num_ctx --------------------------------------------------------------------------


async def test_num_ctx_is_the_models_window_when_it_fits_under_the_cap(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"model_info": {"general.architecture": "llama", "llama.context_length": 8192}})
    fake_server.script(text("ok"))
    provider = make()

    await collect(provider, ask(user_text("hi")))

    assert bodies(fake_server)[0]["options"]["num_ctx"] == 8192
    assert await provider.context_window(MODEL) == 8192


async def test_num_ctx_is_capped_by_ollama_max_ctx(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()  # 40960 trained
    fake_server.script(text("ok"))

    await collect(make(ollama_max_ctx=16384), ask(user_text("hi")))

    assert bodies(fake_server)[0]["options"]["num_ctx"] == 16384


async def test_num_ctx_falls_back_to_the_modelfile_parameter(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"parameters": "stop \"<|im_end|>\"\nnum_ctx 12288", "model_info": {}})
    fake_server.script(text("ok"))

    await collect(make(), ask(user_text("hi")))

    assert bodies(fake_server)[0]["options"]["num_ctx"] == 12288


async def test_num_ctx_is_set_even_when_the_probe_fails(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"error": "something went wrong"}, status=500)
    fake_server.script(text("ok"))
    provider = make(ollama_max_ctx=20000)

    assert final(await collect(provider, ask(user_text("hi")))).message.text == "ok"

    assert bodies(fake_server)[0]["options"]["num_ctx"] == 20000
    assert await provider.context_window(MODEL) == 20000


async def test_each_model_is_probed_only_once(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("one"), text("two"))
    provider = make()

    await collect(provider, ask(user_text("hi")))
    await collect(provider, ask(user_text("again")))

    probes = [r for r in fake_server.requests if r.path == "/api/show"]
    assert len(probes) == 1 and probes[0].body == {"model": MODEL}


# --- thinking, tools ---------------------------------------------------------------------


async def test_thinking_is_requested_and_streamed_as_thinking(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("Four.", thinking="Two plus two is four."))

    events = await collect(make(), ask(user_text("2+2?"), thinking=True))

    assert bodies(fake_server)[0]["think"] is True
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    assert thinking == "Two plus two is four."
    assert final(events).message.content == (
        ThinkingBlock("Two plus two is four.", origin="ollama"), TextBlock("Four."))


async def test_think_is_not_sent_to_a_model_that_cannot_think(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"capabilities": ["completion", "tools"]})
    fake_server.script(text("ok"))

    await collect(make(), ask(user_text("hi"), thinking=True))

    assert "think" not in bodies(fake_server)[0]


async def test_think_tags_in_content_become_thinking(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("<think>\nshort plan\n</think>\n\nDone.", chunk_size=2))

    response = final(await collect(make(), ask(user_text("hi"))))

    assert response.message.content == (ThinkingBlock("short plan"), TextBlock("Done."))


async def test_tool_calls_arrive_whole_with_the_servers_ids(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(tool_call("Bash", {"command": "ls -la"}, id="call_abc"))

    response = final(await collect(make(), ask(user_text("list"), tools=(BASH,))))

    assert response.message.tool_uses == [ToolUseBlock("call_abc", "Bash", {"command": "ls -la"})]
    assert response.stop_reason == "tool_use"
    assert bodies(fake_server)[0]["tools"][0]["function"]["name"] == "Bash"


async def test_tool_calls_without_ids_get_generated_ones(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(
        tool_calls(Call("Bash", {"command": "pwd"}), Call("Bash", {"command": "id"})))

    uses = final(await collect(make(), ask(user_text("go"), tools=(BASH,)))).message.tool_uses

    assert [u.input for u in uses] == [{"command": "pwd"}, {"command": "id"}]
    assert all(u.id.startswith("call_") for u in uses) and uses[0].id != uses[1].id


async def test_tool_history_is_sent_with_object_arguments_and_tool_names(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text("Two files."))
    history = (
        Message("user", (TextBlock("what is here?"), ImageBlock("image/png", "iVBORw0KGgo="))),
        Message("assistant", (ThinkingBlock("list it", origin="ollama"),
                              ToolUseBlock("c1", "Bash", {"command": "ls"}))),
        Message("user", (tool_result("c1", "a.py\nb.py"),)),
    )

    await collect(make(), ask(*history, tools=(BASH,)))

    messages = bodies(fake_server)[0]["messages"]
    assert messages[1] == {"role": "user", "content": "what is here?", "images": ["iVBORw0KGgo="]}
    assert messages[2] == {"role": "assistant", "content": "", "thinking": "list it",
                           "tool_calls": [{"function": {"name": "Bash",
                                                        "arguments": {"command": "ls"}}}]}
    assert messages[3] == {"role": "tool", "content": "a.py\nb.py", "tool_name": "Bash"}


async def test_a_model_without_tool_support_is_offered_tools_as_text(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"capabilities": ["completion"]})
    fake_server.script(text('{"name": "Bash", "arguments": {"command": "ls"}}'))
    history = (
        user_text("list"),
        Message("assistant", (ToolUseBlock("c1", "Bash", {"command": "pwd"}),)),
        Message("user", (tool_result("c1", "/home"),)),
    )

    response = final(await collect(make(), ask(*history, tools=(BASH,))))

    body = bodies(fake_server)[0]
    assert "tools" not in body
    assert "- Bash: Run a command" in body["messages"][0]["content"]
    assert "<tool_call>" in body["messages"][0]["content"]
    assert body["messages"][2] == {
        "role": "assistant",
        "content": '<tool_call>{"name": "Bash", "arguments": {"command": "pwd"}}</tool_call>'}
    assert body["messages"][3] == {"role": "user",
                                   "content": '<tool_result name="Bash">\n/home\n</tool_result>'}
    assert [(u.name, u.input) for u in response.message.tool_uses] == [("Bash", {"command": "ls"})]


async def test_a_model_set_to_text_calls_gets_no_native_tools(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()  # Ollama says the model can call tools; the user's settings say it calls them badly
    fake_server.script(text('<tool_call>{"name": "Bash", "arguments": {"command": "ls"}}</tool_call>'))
    settings = {"model_overrides": {f"ollama/{MODEL}": {"tool_calls": "text"}}}
    response = final(await collect(make(**settings), ask(user_text("list"), tools=(BASH,))))
    body = bodies(fake_server)[0]
    assert "tools" not in body
    assert "<tool_call>" in body["messages"][0]["content"]
    assert [(u.name, u.input) for u in response.message.tool_uses] == [("Bash", {"command": "ls"})]


async def test_tool_calls_written_in_tags_become_tool_use_blocks(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(text('Listing.\n<tool_call>\n{"name": "Bash", "arguments": '
                            '{"command": "ls"}}\n</tool_call>'))

    response = final(await collect(make(), ask(user_text("list"), tools=(BASH,))))

    assert response.message.text == "Listing."
    assert [(u.name, u.input) for u in response.message.tool_uses] == [("Bash", {"command": "ls"})]
    assert response.stop_reason == "tool_use"


# --- truncation ------------------------------------------------------------------------


async def test_a_prompt_cut_to_num_ctx_is_reported(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"model_info": {"general.architecture": "llama", "llama.context_length": 4096}})
    fake_server.script(text("?", usage=Usage(input=4000, output=1)))

    events = await collect(make(), ask(user_text("word " * 8000)))

    (notice,) = [e.text for e in events if isinstance(e, Notice)]
    assert notice.startswith("the server used only 4000 of about 10")
    assert "raise `ollama_max_ctx` (now 4096)" in notice


async def test_a_cached_follow_up_that_fits_is_not_reported(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    """Older Ollama counts only newly evaluated tokens after a cache hit."""
    show()
    fake_server.script(text("?", usage=Usage(input=150, output=1)))

    events = await collect(make(), ask(user_text("word " * 8000)))

    assert not [e for e in events if isinstance(e, Notice)]


# --- errors --------------------------------------------------------------------------


async def test_a_missing_model_says_how_to_pull_it(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show({"error": f"model '{MODEL}' not found"}, status=404)
    fake_server.script(error(404, f'model "{MODEL}" not found, try pulling it first'))

    with pytest.raises(ProviderError, match=r"run `ollama pull qwen3:8b`"):
        await collect(make(), ask(user_text("hi")))

    assert len(fake_server.model_requests) == 1


async def test_an_error_line_in_the_stream_is_a_provider_error(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    show()
    fake_server.script(error(200, "an error was encountered while running the model: CUDA OOM"))

    with pytest.raises(ProviderError, match="CUDA OOM") as caught:
        await collect(make(), ask(user_text("hi")))

    assert "ollama pull" not in str(caught.value)


async def test_a_stream_that_ends_cleanly_without_its_done_line_is_broken(
        make: Make, show: Callable[..., None], fake_server: FakeModelServer) -> None:
    """A proxy that closes the connection politely still cut the answer short."""
    show()
    fake_server.route("POST", "/api/chat", {
        "model": MODEL, "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "The answer is"}, "done": False})

    with pytest.raises(StreamBroken, match="ended before the response was complete"):
        await collect(make(), ask(user_text("hi")))

    assert len(fake_server.model_requests) == 1
