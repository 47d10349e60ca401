"""What the provider tests share: small tool specs and ways to read a provider's stream."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from nano_claude.config import Settings
from nano_claude.core.events import ProviderEvent, Response
from nano_claude.providers import quirks
from nano_claude.providers.base import Provider, Request, ToolSpec
from nano_claude.providers.http import Endpoint, RetryPolicy
from nano_claude.providers.openai_compat import OpenAICompatProvider
from tests.fakes.server import FakeModelServer

Make = Callable[..., OpenAICompatProvider]

READ = ToolSpec("Read", "Read a file", {
    "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})
BASH = ToolSpec("Bash", "Run a command", {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]})


async def collect(p: Provider, request: Request) -> list[ProviderEvent]:
    return [event async for event in p.stream(request)]


def final(events: list[ProviderEvent]) -> Response:
    """The one Response, which must end the stream."""
    responses = [e for e in events if isinstance(e, Response)]
    assert len(responses) == 1 and events[-1] is responses[0]
    return responses[0]


def bodies(server: FakeModelServer) -> list[dict[str, Any]]:
    return [r.body or {} for r in server.model_requests]


@contextlib.asynccontextmanager
async def openai_compat(server: FakeModelServer, *, retries: int, default: str = "custom",
                        servers: quirks.ServerMemory = quirks.SERVERS,
                        waits: list[float] | None = None) -> AsyncIterator[Make]:
    """A maker of OpenAI-compatible providers against the fake server, closed at the end.
    Retries do not sleep; their delays go to `waits`. `servers`: what is remembered about
    servers (a fresh ServerMemory keeps one test's learning from another's)."""
    made: list[OpenAICompatProvider] = []

    async def no_wait(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    def build(provider: str = default, *, local: bool | None = None, key: str = "", key_env: str = "",
              **settings: Any) -> OpenAICompatProvider:
        endpoint = Endpoint(provider, server.url + "/v1", key, key_env,
                            provider == "custom" if local is None else local)
        retry = RetryPolicy(max_retries=retries, base_delay=0.0)
        p = OpenAICompatProvider(endpoint, Settings(**settings), retry, sleep=no_wait, servers=servers)
        made.append(p)
        return p

    try:
        yield build
    finally:
        for p in made:
            await p.aclose()
