"""A server whose chat template drops `tool` messages is found out before its model
calls tools blind.

llama-cpp-python's chatml-function-calling template renders a tool result as an empty
turn, so the model never sees it and calls again, forever. The first time results go
to a local server, the provider asks it for one token twice, the results replaced by a
filler and by nothing: a server whose prompt count does not change is sent tools,
calls and results as text from then on, and that is remembered for the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from nano_claude.core.events import Notice
from nano_claude.core.messages import Message, tool_result, user_text
from nano_claude.providers import quirks
from nano_claude.providers.base import Request
from nano_claude.providers.openai_compat import OpenAICompatProvider
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import BASH, READ, Make, bodies, collect, final, openai_compat

FILE = "".join(f"line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(10))
URL_SUFFIX = "/v1"


@pytest.fixture
def memory() -> quirks.ServerMemory:
    return quirks.ServerMemory()


@pytest.fixture
async def make(fake_server: FakeModelServer, memory: quirks.ServerMemory) -> AsyncIterator[Make]:
    async with openai_compat(fake_server, retries=0, servers=memory) as build:
        yield lambda provider="custom", local=True: build(provider, local=local, max_retries=0)


def ask(*messages: Message) -> Request:
    return Request(model="smollm2", system="Be brief.", messages=messages, tools=(READ, BASH))


async def read_turn(provider: OpenAICompatProvider) -> tuple[list[Any], Request]:
    """The model asks to read a file, then gets its contents back: the events of that
    second request, and the request."""
    first = ask(user_text("What is in notes.txt?"))
    call = final(await collect(provider, first)).message
    second = ask(*first.messages, call, Message("user", (tool_result(call.tool_uses[0].id, FILE),)))
    return await collect(provider, second), second


async def test_a_server_that_drops_results_gets_them_as_text_and_is_remembered(
        make: Make, fake_server: FakeModelServer, memory: quirks.ServerMemory) -> None:
    fake_server.drops_tool_results = True
    fake_server.script(tool_call("Read", {"path": "notes.txt"}),
                       text("It lists ten lines about a fox."), text("Still text."))
    events, second = await read_turn(make())
    response = final(events)
    assert response.message.text == "It lists ten lines about a fox."
    [notice] = [e.text for e in events if isinstance(e, Notice)]
    assert "does not show the model the tool results" in notice
    sent = bodies(fake_server)
    assert "tools" in sent[0] and "tools" not in sent[1]
    assert [m["role"] for m in sent[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert "<tool_result name=\"Read\">" in sent[1]["messages"][3]["content"]
    assert "line 9: the quick brown fox" in sent[1]["messages"][3]["content"]
    probes = [p.body or {} for p in fake_server.probes]
    assert len(probes) == 2 and all(p["max_tokens"] == 1 and p["tool_choice"] == "none"
                                    and not p["stream"] for p in probes)
    assert [p["messages"][-1]["content"] for p in probes] == [quirks.PROBE_RESULT, ""]
    # the conversation as it is, tools included: the server's prompt cache still serves it
    assert probes[0]["messages"][:2] == sent[0]["messages"] and probes[0]["tools"] == sent[0]["tools"]
    assert not memory.get(fake_server.url + URL_SUFFIX).native_tools
    await collect(make(), ask(*second.messages, response.message, user_text("and now?")))
    assert "tools" not in bodies(fake_server)[2]  # a new provider for the same server knows
    assert len(fake_server.probes) == 2  # and does not ask again


async def test_a_server_that_shows_results_keeps_native_tools_and_is_asked_once(
        make: Make, fake_server: FakeModelServer, memory: quirks.ServerMemory) -> None:
    fake_server.script(tool_call("Read", {"path": "notes.txt"}), text("A fox, ten times."),
                       tool_call("Read", {"path": "notes.txt"}), text("Still a fox."))
    events, _ = await read_turn(make())
    assert final(events).message.text == "A fox, ten times."
    assert not any(isinstance(e, Notice) for e in events)
    events, _ = await read_turn(make())
    assert final(events).message.text == "Still a fox."
    assert all("tools" in b for b in bodies(fake_server))
    shape = memory.get(fake_server.url + URL_SUFFIX)
    assert shape.native_tools and shape.results_checked and len(fake_server.probes) == 2


async def test_a_cloud_api_is_not_asked(make: Make, fake_server: FakeModelServer) -> None:
    fake_server.drops_tool_results = True  # even if it did, a cloud API is not suspected
    fake_server.script(tool_call("Read", {"path": "notes.txt"}), text("A fox."))
    events, _ = await read_turn(make("openai", local=False))
    assert final(events).message.text == "A fox."
    assert fake_server.probes == []


def test_results_count_as_shown_when_the_filler_shows_in_the_count() -> None:
    answered = Message("user", (tool_result("c1", "x"), tool_result("c2", "y")))
    filler = len(quirks.PROBE_RESULT) // 4
    assert quirks.sees_tool_results(500 + 2 * filler, 500, answered)
    assert not quirks.sees_tool_results(503, 500, answered)
    probe = quirks.with_results(
        Message("user", (tool_result("c1", "x"),)), quirks.PROBE_RESULT)
    assert probe.tool_results[0].text == quirks.PROBE_RESULT
    assert probe.tool_results[0].tool_use_id == "c1"


def test_calls_the_template_taught_in_escaped_form_are_read() -> None:
    """That server's template HTML-escapes the prompt, so in text mode its model sees, and
    writes, `&lt;tool_call&gt;`."""
    written = ("Reading it. &lt;tool_call&gt;{&#34;name&#34;: &#34;Read&#34;, &#34;arguments&#34;: "
               "{&#34;path&#34;: &#34;a.py&#34;}}&lt;/tool_call&gt;")
    rest, calls = quirks.parse_text_tool_calls(written, ["Read"])
    assert calls == [("Read", {"path": "a.py"})] and rest == "Reading it."
    assert quirks.parse_text_tool_calls("a &lt; b", ["Read"]) == ("a &lt; b", [])
