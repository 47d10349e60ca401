"""The provider seam: a neutral request in, a stream of neutral events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from nano_claude.core.events import ProviderEvent
from nano_claude.core.messages import Message


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class Request:
    model: str  # the provider's own model id (no "provider/" prefix)
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 8192
    thinking: bool = False
    thinking_budget: int = 4096
    reasoning_effort: str | None = None  # low | medium | high, for reasoning models
    temperature: float | None = None


class Provider(Protocol):
    """One wire protocol bound to one endpoint and key.

    `stream` yields TextDelta / ThinkingDelta / Notice events as they arrive and
    ends with exactly one Response. Failures raise ProviderError subclasses;
    retries of transient failures happen inside.
    """

    name: str

    def stream(self, request: Request) -> AsyncIterator[ProviderEvent]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ProbesWindow(Protocol):
    """A provider that can ask its server for the context window it really runs with
    (Ollama's num_ctx, a local server's loaded context)."""

    async def context_window(self, model: str) -> int | None: ...
