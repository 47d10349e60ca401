"""What every wire protocol must do alike, one test body run over each of them.

Built through the real factory from settings, against the fake server speaking
that provider's protocol. What only one protocol does lives in its own file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from nano_claude.config import Settings
from nano_claude.core.errors import AuthError, StreamBroken
from nano_claude.core.events import Notice, ProviderEvent, Response, TextDelta
from nano_claude.core.messages import TextBlock, ToolUseBlock, user_text
from nano_claude.providers.base import Provider, Request
from nano_claude.providers.catalog import PROVIDERS, lookup
from nano_claude.providers.factory import create_provider
from tests.fakes.script import Call, broken, error, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.unit.providers.kit import READ, collect, final

KEY = "sk-every-provider-0123456789"


@dataclass(frozen=True)
class Wire:
    provider: str
    model: str
    suffix: str = ""  # path the base URL ends in

    @property
    def key_env(self) -> str:
        return PROVIDERS[self.provider].key_env


WIRES = [
    Wire("anthropic", "claude-sonnet-4-5"),
    Wire("gemini", "gemini-2.5-flash", "/v1beta"),
    Wire("openai", "gpt-4.1", "/v1"),
    Wire("ollama", "qwen3:8b"),
]
KEYED = [w for w in WIRES if w.key_env]


@pytest.fixture
async def made(fake_server: FakeModelServer, request: pytest.FixtureRequest
               ) -> AsyncIterator[tuple[Wire, Provider]]:
    wire: Wire = request.param
    if wire.provider == "ollama":
        fake_server.route("POST", "/api/show", {"model_info": {"qwen3.context_length": 40960},
                                                "capabilities": ["completion", "tools"]})
    settings = Settings(**{f"{wire.provider}_base_url": fake_server.url + wire.suffix,
                           **({f"{wire.provider}_api_key": KEY} if wire.key_env else {})},
                        max_retries=3, retry_base_delay=0.0)
    provider = create_provider(lookup(wire.provider, wire.model), settings)
    yield wire, provider
    await provider.aclose()


def every(wires: list[Wire]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("made", wires, ids=lambda w: w.provider, indirect=True)


def ask(wire: Wire, **kw: object) -> Request:
    return Request(model=wire.model, system="You are terse.", messages=(user_text("hi"),), **kw)


@every(WIRES)
async def test_streamed_text_arrives_as_several_deltas_then_one_response(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(text("Hello there, how are you today?", chunk_size=6))

    events = await collect(provider, ask(wire))

    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "Hello there, how are you today?"
    response = final(events)
    assert response.message.role == "assistant"
    assert response.message.content == (TextBlock("Hello there, how are you today?"),)
    assert response.stop_reason == "end_turn"
    assert response.message.meta["model"] == wire.model


@every(WIRES)
async def test_a_tool_call_arrives_whole_with_its_arguments(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(tool_call("Read", {"path": "src/app.py"}, text="Looking."))

    response = final(await collect(provider, ask(wire, tools=(READ,))))

    (call,) = response.message.tool_uses
    assert (call.name, call.input) == ("Read", {"path": "src/app.py"}) and call.id
    assert response.message.text == "Looking."
    assert response.stop_reason == "tool_use"


@every([w for w in WIRES if w.provider != "ollama"])  # Ollama sends arguments as objects
async def test_malformed_tool_json_becomes_an_invalid_json_input(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(tool_calls(Call("Read", {}, id="call_1", raw_arguments='{"path": "a.py')))

    response = final(await collect(provider, ask(wire, tools=(READ,))))

    (call,) = response.message.tool_uses
    assert isinstance(call, ToolUseBlock)
    assert call.input["__invalid_json__"] == '{"path": "a.py'
    assert call.input["__error__"]


@every(WIRES)
async def test_429_with_retry_after_is_retried_with_a_notice(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(error(429, "rate limited", headers={"retry-after": "0"}), text("ok"))

    events = await collect(provider, ask(wire))

    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "rate limited" in notices[0].text
    assert final(events).message.text == "ok"
    assert len(fake_server.model_requests) == 2


@every(KEYED)
async def test_401_raises_auth_error_naming_the_variable_but_not_the_key(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(error(401, f"invalid api key {KEY}"))

    with pytest.raises(AuthError) as caught:
        await collect(provider, ask(wire))

    assert wire.key_env in str(caught.value)
    assert KEY not in str(caught.value) and KEY not in caught.value.body
    assert len(fake_server.model_requests) == 1  # a wrong key is not retried


@every(WIRES)
async def test_stream_broken_before_any_output_is_retried_and_succeeds(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(broken("lost text", after=0), text("recovered"))

    events = await collect(provider, ask(wire))

    assert any(isinstance(e, Notice) for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "recovered"
    assert final(events).message.text == "recovered"


@every(WIRES)
async def test_stream_broken_after_text_raises_stream_broken(
        made: tuple[Wire, Provider], fake_server: FakeModelServer) -> None:
    wire, provider = made
    fake_server.script(broken("partial answer that never ends", after=2, chunk_size=5))

    seen: list[ProviderEvent] = []
    with pytest.raises(StreamBroken):
        async for event in provider.stream(ask(wire)):
            seen.append(event)

    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial an"
    assert not any(isinstance(e, Response) for e in seen)
    assert len(fake_server.model_requests) == 1
