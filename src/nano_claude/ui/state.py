"""What the REPL holds between turns: the one object slash commands act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TextIO

from nano_claude.core.events import Relayed, TokenUsage, Usage

if TYPE_CHECKING:
    from nano_claude.config import Paths, Settings
    from nano_claude.core.loop import Agent, Session


class Echo(Protocol):
    """Where command output goes: the renderer in the REPL (above any live display,
    into the scrollback), plain text elsewhere."""

    def echo(self, text: str = "", style: str | None = None) -> None:
        """One or more lines; style is a rich style name ("dim", "green", "red",
        "yellow", "bold", "cyan") that plain output ignores."""
        ...

    @property
    def width(self) -> int:
        """Columns to lay tables out in (a longer line wraps to column 0)."""
        ...


class PlainEcho:
    """Echo to a text stream without escape codes (non-TTY output, tests)."""

    def __init__(self, out: TextIO, width: int = 80) -> None:
        self.out = out
        self.width = width

    def echo(self, text: str = "", style: str | None = None) -> None:
        self.out.write(text + "\n")
        self.out.flush()


@dataclass
class TurnRecord:
    """What one user turn cost: every model request it made."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    requests: int = 0


@dataclass
class ReplState:
    agent: Agent
    session: Session
    settings: Settings
    paths: Paths
    environ: dict[str, str]
    output: Echo
    turns: list[TurnRecord] = field(default_factory=list)  # finished turns, oldest first
    context_tokens: int = 0  # the newest response's prompt + output tokens: the context in use
    running: bool = True  # False: leave the REPL after this command
    # What a command hands back to the REPL (/voice): a message to send as if typed, or text
    # to put into the input for editing first
    send: str | None = None
    draft: str | None = None

    def echo(self, text: str = "", style: str | None = None) -> None:
        self.output.echo(text, style)

    @property
    def width(self) -> int:
        return self.output.width

    def start_turn(self) -> None:
        self.turns.append(TurnRecord())

    def record(self, event: Usage) -> None:
        """A response's usage, as the loop reports it, counted toward the current turn."""
        if not self.turns:
            self.start_turn()
        turn = self.turns[-1]
        turn.usage = turn.usage + event.usage
        turn.cost_usd += event.cost_usd
        turn.requests += 1
        self.context_tokens = event.usage.prompt_tokens + event.usage.output_tokens

    def record_child(self, event: Relayed) -> None:
        """A sub-agent's response: its tokens and cost count toward the turn; the context in
        use stays the parent's own."""
        inner = event.event
        while isinstance(inner, Relayed):
            inner = inner.event
        if not isinstance(inner, Usage):
            return
        if not self.turns:
            self.start_turn()
        turn = self.turns[-1]
        turn.usage = turn.usage + inner.usage
        turn.cost_usd += inner.cost_usd
        turn.requests += 1
