"""What the provider tests share: small tool specs and ways to read a provider's stream."""

from __future__ import annotations

from typing import Any

from nano_claude.core.events import ProviderEvent, Response
from nano_claude.providers.base import Provider, Request, ToolSpec
from tests.fakes.server import FakeModelServer

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
