"""A server that refuses part of a request is answered in a shape it accepts, and remembered.

The fake server plays the refusals real servers send: llama-cpp-python closing a
streaming tool request without a chunk, vLLM refusing `tool_choice`, a server
without tool calling, one that rejects an unknown parameter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nano_claude.core.errors import ProviderError
from nano_claude.core.events import Notice, TextDelta
from nano_claude.core.messages import Message, ToolUseBlock, tool_result, user_text
from nano_claude.providers import quirks
from nano_claude.providers.base import Request
from tests.fakes.script import broken, error, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import BASH, READ, Make, bodies, collect, final, openai_compat


@pytest.fixture
def memory() -> quirks.ServerMemory:
    return quirks.ServerMemory()


@pytest.fixture
async def make(fake_server: FakeModelServer, memory: quirks.ServerMemory) -> AsyncIterator[Make]:
    async with openai_compat(fake_server, retries=2, servers=memory) as build:
        yield build


def ask(*messages: Message, tools: bool = True) -> Request:
    return Request(model="smollm2", system="Be brief.", messages=messages or (user_text("hi"),),
                   tools=(READ, BASH) if tools else ())


async def test_a_stream_with_tools_closed_without_a_chunk_is_retried_without_streaming(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(broken(after=0), tool_call("Read", {"path": "a.py"}))
    events = await collect(make(), ask())
    response = final(events)
    assert [(u.name, u.input) for u in response.message.tool_uses] == [("Read", {"path": "a.py"})]
    assert any(isinstance(e, Notice) and "no streaming with tools" in e.text for e in events)
    first, second = bodies(fake_server)
    assert first["stream"] is True and first["tool_choice"] == "auto"
    assert second["stream"] is False and "stream_options" not in second and second["tools"]


async def test_what_was_learned_holds_for_the_next_request_and_a_new_provider(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(broken(after=0), text("one"), text("two"), text("three", ))
    await collect(make(), ask())
    await collect(make(), ask())
    plain = await collect(make(), ask(tools=False))
    streams = [b["stream"] for b in bodies(fake_server)]
    assert streams == [True, False, False, True]  # plain answers still stream
    assert final(plain).message.text == "three"


async def test_llama_cpp_streaming_tool_choice_error_is_a_refusal(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(error(500, "Automatic streaming tool choice is not supported"), text("ok"))
    response = final(await collect(make(), ask()))
    assert response.message.text == "ok"
    assert bodies(fake_server)[1]["stream"] is False


async def test_a_refused_tool_choice_is_left_out(make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(
        error(400, '"auto" tool choice requires --enable-auto-tool-choice and '
                   "--tool-call-parser to be set"),
        tool_call("Bash", {"command": "ls"}))
    response = final(await collect(make(), ask()))
    assert response.message.tool_uses[0].name == "Bash"
    retry = bodies(fake_server)[1]
    assert "tool_choice" not in retry and retry["tools"] and retry["stream"] is True


async def test_a_server_without_tool_calling_gets_the_tools_in_the_prompt(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(
        error(400, "This server does not support tools"),
        text('Reading it.\n<tool_call>{"name": "Read", "arguments": {"path": "a.py"}}</tool_call>'))
    events = await collect(make(), ask(user_text("show a.py")))
    response = final(events)
    assert response.message.text == "Reading it."
    assert [(u.name, u.input) for u in response.message.tool_uses] == [("Read", {"path": "a.py"})]
    assert response.stop_reason == "tool_use"
    retry = bodies(fake_server)[1]
    assert "tools" not in retry and "tool_choice" not in retry
    assert "<tool_call>" in retry["messages"][0]["content"] and "Read" in retry["messages"][0]["content"]


async def test_text_tools_write_the_history_as_text(make: Make, fake_server: FakeModelServer,
                                                     memory: quirks.ServerMemory) -> None:
    memory.learn(fake_server.url + "/v1", quirks.ServerShape(native_tools=False))
    fake_server.script(text("It says hi."))
    history = (
        user_text("show a.py"),
        Message("assistant", (ToolUseBlock("call_1", "Read", {"path": "a.py"}),)),
        Message("user", (tool_result("call_1", "print('hi')"),)),
    )
    await collect(make(), ask(*history))
    wire = bodies(fake_server)[0]["messages"]
    assert [m["role"] for m in wire] == ["system", "user", "assistant", "user"]
    assert wire[2] == {"role": "assistant",
                       "content": '<tool_call>{"name": "Read", "arguments": {"path": "a.py"}}</tool_call>'}
    assert wire[3]["content"] == "<tool_result name=\"Read\">\nprint('hi')\n</tool_result>"


async def test_a_model_set_to_text_calls_gets_the_tools_in_the_prompt_from_the_start(
        make: Make, fake_server: FakeModelServer, memory: quirks.ServerMemory) -> None:
    overrides = {"custom/smol*": {"tool_calls": "text"}}
    fake_server.script(
        text('<tool_call>{"name": "Read", "arguments": {"path": "a.py"}}</tool_call>'),
        error(400, "Unrecognized request argument supplied: stream_options"), text("done"),
        tool_call("Bash", {"command": "ls"}))
    first = final(await collect(make(model_overrides=overrides), ask(user_text("show a.py"))))
    assert [(u.name, u.input) for u in first.message.tool_uses] == [("Read", {"path": "a.py"})]
    await collect(make(model_overrides=overrides), ask())  # refused a parameter: learned, retried
    other = Request(model="big-model", system="Be brief.", messages=(user_text("hi"),), tools=(READ, BASH))
    await collect(make(model_overrides=overrides), other)  # the same server, another model
    sent = bodies(fake_server)
    assert [("tools" in b, "<tool_call>" in b["messages"][0]["content"]) for b in sent] == [
        (False, True), (False, True), (False, True), (True, False)]
    assert "stream_options" not in sent[3]  # the refusal was learned for the server
    assert memory.get(fake_server.url + "/v1").native_tools  # the setting is not the server's


async def test_an_unknown_parameter_is_dropped(make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(error(400, "Unrecognized request argument supplied: stream_options"),
                       text("fine"))
    response = final(await collect(make(), ask(tools=False)))
    assert response.message.text == "fine"
    retry = bodies(fake_server)[1]
    assert "stream_options" not in retry and retry["stream"] is True


async def test_a_server_error_that_is_no_refusal_is_raised_not_an_empty_answer(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(error(400, "messages: field required"))
    with pytest.raises(ProviderError, match="messages: field required"):
        await collect(make(), ask())


async def test_an_empty_stream_without_tools_is_an_error(make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(broken(after=0), broken(after=0), broken(after=0))
    with pytest.raises(ProviderError, match="without sending anything"):
        await collect(make(), ask(tools=False))


async def test_a_refusal_after_text_was_shown_is_not_retried(
        make: Make, fake_server: FakeModelServer) -> None:
    fake_server.script(broken("partial answer here", after=1))
    events: list[object] = []
    with pytest.raises(ProviderError):
        async for event in make().stream(ask()):
            events.append(event)
    assert any(isinstance(e, TextDelta) for e in events)
    assert len(bodies(fake_server)) == 1


@pytest.mark.parametrize(("error_text", "expected"), [
    ("Automatic streaming tool choice is not supported", quirks.ServerShape(stream_with_tools=False)),
    ("tool_choice is not supported", quirks.ServerShape(tool_choice=False)),
    ("model does not support tools", quirks.ServerShape(native_tools=False)),
    ("Extra inputs are not permitted: body.temperature",
     quirks.ServerShape(dropped=frozenset({"temperature"}))),
    ("Unsupported parameter: 'max_tokens'", quirks.ServerShape(dropped=frozenset({"max_tokens"}))),
    ("CUDA out of memory", None),
    ("the server is busy", None),
])
def test_refusals_are_read_from_the_error_text(error_text: str, expected: quirks.ServerShape | None) -> None:
    body = {"model": "m", "messages": [], "stream": True, "tools": [{}], "tool_choice": "auto",
            "max_tokens": 10, "temperature": 0.2}
    assert quirks.shape_after_refusal(quirks.ServerShape(), body, error_text) == expected
