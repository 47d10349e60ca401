"""Typed events: what a provider streams and what the agent loop yields.

A closed union of frozen dataclasses. The renderer, the headless writers, the
transcript and cost tracking all consume the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nano_claude.core.messages import Message, ToolResultBlock


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one response. `input_tokens` excludes cached ones: fresh input only."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read: fresh, cached and newly cached input."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error (a truncated prompt, a retry)."""

    text: str


@dataclass(frozen=True)
class Response:
    """The end of one provider stream: the whole assistant message and its usage."""

    message: Message
    usage: TokenUsage
    stop_reason: str = "end_turn"


@dataclass(frozen=True)
class ToolCallStarted:
    id: str
    name: str
    input: dict


@dataclass(frozen=True)
class ToolCallFinished:
    id: str
    name: str
    result: ToolResultBlock
    display: str = ""  # for the UI, not the model: e.g. the unified diff of an edit
    summary: str = ""  # for the UI, not the model: one line saying what the call came to

    @property
    def is_error(self) -> bool:
        return self.result.is_error


@dataclass(frozen=True)
class PermissionAsked:
    tool: str
    description: str
    allowed: bool
    tool_use_id: str = ""
    input: dict = field(default_factory=dict)
    note: str = ""  # e.g. where an "always" answer saved its rule, or why it could not
    by_user: bool = False  # the user answered (else a rule or the mode decided)


@dataclass(frozen=True)
class Usage:
    """One response's usage, its cost, and the session's running totals."""

    usage: TokenUsage
    cost_usd: float
    total: TokenUsage = field(default_factory=TokenUsage)
    total_cost_usd: float = 0.0


@dataclass(frozen=True)
class MessageAdded:
    """A complete message joined the conversation (for transcripts and stream-json)."""

    message: Message


@dataclass(frozen=True)
class TurnDone:
    """The loop finished: the model stopped, or it hit max turns, or it failed."""

    stop_reason: str  # end_turn | max_turns | error | cancelled
    turns: int
    text: str = ""


@dataclass(frozen=True)
class Error:
    message: str
    kind: str = "error"


@dataclass(frozen=True)
class Relayed:
    """A sub-agent's event as its parent's run carries it: tagged with the tool call that
    started the child (`parent_tool_use_id`, as Claude Code's stream-json has it) and the
    child's id and name. The UI shows it under that call; usage counts toward the session."""

    parent_tool_use_id: str
    agent_id: str
    agent: str
    event: Event


ProviderEvent = TextDelta | ThinkingDelta | Notice | Response
Event = (
    TextDelta | ThinkingDelta | Notice | ToolCallStarted | ToolCallFinished | PermissionAsked
    | Usage | MessageAdded | TurnDone | Error | Relayed
)
