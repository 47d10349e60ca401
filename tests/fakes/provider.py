"""An in-process strict provider for loop tests: scripted turns, recorded requests.

Like pydantic-ai's TestModel: a request with no turn left fails the test, and
`verify()` fails it when turns were left unconsumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from nano_claude.core.errors import ProviderError
from nano_claude.core.events import ProviderEvent, Response, TextDelta, TokenUsage
from nano_claude.core.messages import Block, Message, TextBlock, ToolUseBlock
from nano_claude.providers.base import Request


@dataclass
class Turn:
    blocks: tuple[Block, ...] = ()
    usage: TokenUsage = field(default_factory=lambda: TokenUsage(10, 5))
    fail: ProviderError | None = None  # raised after streaming the text
    hang: bool = False  # wait forever after the text (for cancellation tests)


def say(text: str) -> Turn:
    return Turn((TextBlock(text),))


def call(name: str, input: dict, id: str = "", text: str = "") -> Turn:
    blocks: tuple[Block, ...] = (TextBlock(text),) if text else ()
    return Turn((*blocks, ToolUseBlock(id or f"t_{name}", name, input)))


def calls(*uses: ToolUseBlock) -> Turn:
    return Turn(tuple(uses))


@dataclass
class ScriptedProvider:
    turns: list[Turn]
    name: str = "scripted"
    requests: list[Request] = field(default_factory=list)
    closed: bool = False

    async def stream(self, request: Request) -> AsyncIterator[ProviderEvent]:
        self.requests.append(request)
        if not self.turns:
            raise AssertionError("ScriptedProvider: unexpected request, no turn left")
        turn = self.turns.pop(0)
        for block in turn.blocks:
            if isinstance(block, TextBlock):
                for i in range(0, len(block.text), 4):
                    yield TextDelta(block.text[i:i + 4])
        if turn.hang:
            await asyncio.Event().wait()
        if turn.fail is not None:
            raise turn.fail
        stop = "tool_use" if any(isinstance(b, ToolUseBlock) for b in turn.blocks) else "end_turn"
        yield Response(Message("assistant", turn.blocks), turn.usage, stop)

    async def aclose(self) -> None:
        self.closed = True

    def verify(self) -> None:
        assert not self.turns, f"ScriptedProvider: {len(self.turns)} turn(s) never requested"
