"""Keeps the conversation inside the model's context window: measured, in two layers.

Accounting. The conversation's size is the newest response's reported usage
(prompt + output tokens: all the model has read and written so far) plus an
estimate of the messages added since. Estimates are characters / 4 scaled by a
ratio learnt from those reports (code, JSON and CJK text take more tokens per
character than English prose). A report far below the estimate is not believed:
servers that count only the uncached part of the prompt (Ollama before 0.30) or
that silently cut it would otherwise make a full window look empty.

Layer 1, snipping. Tool results older than the last `preserve_last_n_turns` user
turns give way to a marker naming the tool and the size cut. Snipping rewrites
old messages, and a provider's prompt cache only serves an unchanged prefix:
each snip makes the next request re-read and re-cache everything after the
oldest message it touched (on Anthropic, whose breakpoints sit on the tools, the
system prompt and the newest message, everything after the system prompt). So
old results are left alone until they add up to a tenth of the window
(SNIP_STEP), and are then all cleared at once: one cache rebuild per step
instead of one per turn. Between steps the history is only appended to, and
every request extends the one before it.

Layer 2, the recap. When the conversation passes `compact_threshold` of the
window (or the room the answer's max_tokens leaves, if that is less), the older
turns are summarised by the same model in a separate request with no tools,
whose text is not shown, and the conversation goes on as [recap + the recent
turns]. The recap shares the first kept user message, or comes alone before a
kept assistant message, so roles still alternate; the cut never falls between a
tool call and its result. A history too big for one summary request is
summarised in parts, each fitting the window, each recap carried into the next.

A request the provider still refuses as too long (each provider's wording maps
to ContextTooLong in providers/http.py) teaches the ledger to count more, is
compacted harder (one turn kept, every old result cleared) and is sent once more.

What cannot happen. A compaction that would not shrink the conversation by
MIN_SHRINK is not applied (and is not even asked of the model when the numbers
say so beforehand), and the next automatic attempt waits until the conversation
has grown by GROWTH of the window, twice as much after each such attempt in a
row: no loop of summaries. A failed summary leaves the history as it was when it
still fits, and otherwise drops the older turns with a note saying so: no
session stuck for good. A single result or message bigger than the window is
cut (head and tail kept, with a marker) so the newest turn always fits.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from nano_claude.core.errors import ContextTooLong, ProviderError
from nano_claude.core.events import Event, Notice, Response, TokenUsage, Usage
from nano_claude.core.messages import (
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    user_text,
)
from nano_claude.providers.base import Provider, Request, ToolSpec
from nano_claude.providers.catalog import ModelInfo

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.extensions.hooks.runner import HookRunner

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1600  # about what a full-size image costs on the big providers
MESSAGE_TOKENS = 4  # role markers and separators around each message
MIN_RATIO, MAX_RATIO = 0.5, 4.0  # believable model tokens per estimated token
SAFETY = 0.1  # share of the room left for estimates that run low
SNIP_STEP = 0.1  # share of the window old tool results reach before they are cleared
SNIP_MIN_CHARS = 400  # a smaller result costs about what its marker would
KEEP_SHARE = 0.35  # share of the limit the recent turns kept beside a recap may take
HARD_KEEP_SHARE = 0.15  # the same after the provider refused a request as too long
RECAP_SHARE = 0.1  # share of the window a recap may take
MIN_RECAP, MAX_RECAP = 256, 8192  # tokens
GROWTH = 0.05  # share of the window the conversation grows before another automatic attempt
MIN_SHRINK = 0.1  # a compaction saving less than this share is not applied
MAX_PARTS = 6  # summary requests for one recap (twice that if the first split was too big)
RESULT_CHARS = 2000  # of each tool result shown to the summariser
INPUT_CHARS = 500  # of each tool call's arguments shown to the summariser
TEXT_CHARS = 8000  # of each message's text shown to the summariser
MIN_BLOCK_CHARS = 400  # a block cut to fit the window keeps at least this much

FIRST_PROMPT_CHARS = 500  # of the first prompt a recap keeps: enough for a session's title
EARLIER_PROMPTS, FIRST_PROMPT = "earlier_prompts", "first_prompt"  # a recap's meta keys

CLEARED = "[Old tool result cleared to save context"
RECAP_HEAD = ("This conversation was compacted to fit the model's context window. "
              "Summary of the earlier part:")
SUMMARY_SYSTEM = (
    "You write the recap of a coding session between a user and an AI coding assistant that "
    "works through tools. The recap replaces the conversation it covers, so keep what is needed "
    "to carry on: the user's requests and constraints (quote exact instructions), decisions and "
    "their reasons, files read or changed (paths, and what changed), commands run and their "
    "important results, errors and how they were fixed, and the work in progress with its next "
    "step. Be specific and brief: plain sentences or short lists, no preamble, no tool calls."
)


# --- accounting -------------------------------------------------------------------


def block_tokens(block: object) -> int:
    """Estimated tokens of one content block (characters / 4; images a flat amount)."""
    if isinstance(block, TextBlock):
        return len(block.text) // CHARS_PER_TOKEN
    if isinstance(block, ThinkingBlock):
        return len(block.thinking) // CHARS_PER_TOKEN
    if isinstance(block, ToolUseBlock):
        return (len(block.name) + len(json.dumps(block.input, ensure_ascii=False))) // CHARS_PER_TOKEN
    if isinstance(block, ToolResultBlock):
        return sum(block_tokens(inner) for inner in block.content) + MESSAGE_TOKENS
    if isinstance(block, ImageBlock):
        return IMAGE_TOKENS
    return 0


def estimate(message: Message) -> int:
    return MESSAGE_TOKENS + sum(block_tokens(b) for b in message.content)


def estimate_all(messages: Sequence[Message]) -> int:
    return sum(estimate(m) for m in messages)


def estimate_fixed(system: str, tools: Sequence[ToolSpec]) -> int:
    """The part of every request that is not the conversation: system prompt and tool schemas."""
    chars = len(system) + sum(len(t.name) + len(t.description) + len(json.dumps(t.input_schema))
                              for t in tools)
    return chars // CHARS_PER_TOKEN


@dataclass
class Ledger:
    """How many tokens the conversation takes, as the model counts them."""

    reported: int = 0  # the newest response's prompt + output tokens
    covered: int = 0  # how many messages that figure includes
    ratio: float = 1.0  # model tokens per estimated token, learnt from reports
    floor: int = 0  # automatic compaction waits until the conversation is at least this big
    misses: int = 0  # compactions in a row that could not shrink it: each doubles the wait
    _last: Message | None = field(default=None, repr=False)  # the newest message covered

    def scale(self, estimated: int) -> int:
        return math.ceil(estimated * self.ratio)

    def used(self, fixed: int, messages: Sequence[Message]) -> int:
        """Reported tokens plus an estimate of what came after; all estimated when the
        history was rewritten since the report (or nothing was reported yet)."""
        n = self.covered
        if self.reported and 0 < n <= len(messages) and messages[n - 1] is self._last:
            return self.reported + self.scale(estimate_all(messages[n:]))
        return self.scale(fixed + estimate_all(messages))

    def record(self, usage: TokenUsage, fixed: int, messages: Sequence[Message]) -> None:
        """A response arrived: `messages` ends with it, and the request was the rest."""
        expected = fixed + estimate_all(messages[:-1])
        prompt = usage.prompt_tokens
        if expected and prompt >= expected * MIN_RATIO:
            self.ratio = min(prompt / expected, MAX_RATIO)
        else:  # only the uncached part counted, or the server cut the prompt: not believed
            prompt = self.scale(expected)
        self.reported = prompt + usage.output_tokens
        self.covered = len(messages)
        self._last = messages[-1] if messages else None

    def rejected(self, used: int, room: int) -> None:
        """The provider refused a request as too long that we counted as fitting: we count
        too few tokens per character for this model; count more from now on."""
        if 0 < used < room:
            self.ratio = min(self.ratio * room / used * 1.1, MAX_RATIO)
        self.forget()

    def forget(self) -> None:
        """The history was rewritten: the reported figure no longer describes it."""
        self.reported = self.covered = 0
        self._last = None


@dataclass(frozen=True)
class CompactionPolicy:
    auto: bool = True  # False: nothing is rewritten unless the user runs /compact
    threshold: float = 0.7  # share of the window that starts a recap
    preserve_last_n_turns: int = 3  # user turns whose tool results and messages stay whole

    @classmethod
    def from_settings(cls, settings: Settings) -> CompactionPolicy:
        return cls(settings.auto_compact, settings.compact_threshold, settings.preserve_last_n_turns)


@dataclass(frozen=True)
class Window:
    size: int  # the model's context window
    output: int  # max_tokens asked for each answer: it counts against the window too
    threshold: float

    @property
    def room(self) -> int:
        """What a request's prompt may take."""
        return max(self.size - self.output, 0)

    @property
    def limit(self) -> int:
        """Past this, the older turns are summarised."""
        return int(min(self.threshold * self.size, self.room * (1 - SAFETY)))


class Conversation(Protocol):
    """What compaction works on (the loop's Session): one history and its ledger."""

    messages: list[Message]
    ledger: Ledger


# --- the shape of a history ---------------------------------------------------------


def is_prompt(message: Message) -> bool:
    """A user message that starts a turn (text from the user, not tool results)."""
    return message.role == "user" and not message.tool_results


def can_cut(messages: Sequence[Message], index: int) -> bool:
    """Whether the history may start at `index`: never at results whose calls would be cut off."""
    return 0 < index < len(messages) and not (
        messages[index].role == "user" and messages[index].tool_results)


def recent_start(messages: Sequence[Message], turns: int) -> int:
    """Where the last `turns` user turns begin; 0 when there are not that many."""
    starts = [i for i, m in enumerate(messages) if is_prompt(m)]
    return starts[-turns] if turns > 0 and len(starts) >= turns else 0


def choose_cut(messages: Sequence[Message], turns: int, budget: int) -> int:
    """Where the kept recent part starts: at most `turns` user turns and, if possible, no
    more than `budget` estimated tokens; the latest possible cut when even the newest
    turn is bigger. 0 when there is nothing before it to summarise."""
    cuts = [i for i in range(1, len(messages)) if can_cut(messages, i)]
    if not cuts:
        return 0
    start = recent_start(messages, turns)
    suffix = [0] * (len(messages) + 1)
    for i in range(len(messages) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + estimate(messages[i])
    return next((i for i in cuts if i >= start and suffix[i] <= budget), cuts[-1])


def prompt_words(message: Message) -> str:
    """A prompt's text without the recap compaction put before it."""
    texts = [b.text for b in message.content if isinstance(b, TextBlock)]
    return "".join(texts[1:] if message.meta.get("recap") else texts)


def prompts_of(messages: Sequence[Message]) -> tuple[int, str]:
    """(prompts the user wrote, the first one's text) in a history, those a recap replaced
    included, so a session's turn count and title outlive its compactions. A recap
    standing alone (before an assistant message) is not a prompt."""
    count, first = 0, ""
    for message in messages:
        recap = message.meta.get("recap")
        if recap:
            count += int(message.meta.get(EARLIER_PROMPTS) or 0)
            first = first or str(message.meta.get(FIRST_PROMPT) or "")
        if is_prompt(message) and not (recap and len(message.content) == 1):
            count += 1
            first = first or prompt_words(message).strip()
    return count, first


def rebuild(recap: str, kept: Sequence[Message], old: Sequence[Message] = ()) -> list[Message]:
    """[recap + kept]: the recap joins the first kept user message, so roles alternate. Its
    meta notes how many prompts `old` held and the first one's text."""
    block = TextBlock(f"{RECAP_HEAD}\n\n{recap}\n\n(The conversation continues from here.)")
    count, words = prompts_of(old)
    meta = {"recap": True, EARLIER_PROMPTS: count, FIRST_PROMPT: words[:FIRST_PROMPT_CHARS]}
    first = kept[0]
    if first.role == "user":
        return [Message("user", (block, *first.content), {**first.meta, **meta}), *kept[1:]]
    return [Message("user", (block,), meta), *kept]


# --- layer 1: snipping old tool results -----------------------------------------------


@dataclass(frozen=True)
class Snip:
    messages: list[Message]
    count: int  # results cleared
    tokens: int  # estimated tokens saved


def _result_chars(block: ToolResultBlock) -> int:
    return sum(len(b.text) for b in block.content if isinstance(b, TextBlock))


def _snippable(block: ToolResultBlock) -> bool:
    first = block.content[0] if block.content else None
    if isinstance(first, TextBlock) and first.text.startswith(CLEARED):
        return False
    return _result_chars(block) >= SNIP_MIN_CHARS or any(
        isinstance(b, ImageBlock) for b in block.content)


def _cleared(block: ToolResultBlock, tool: str) -> ToolResultBlock:
    images = sum(isinstance(b, ImageBlock) for b in block.content)
    what = f"{_result_chars(block):,} characters" + (f" and {images} image(s)" if images else "")
    text = f"{CLEARED}: {tool} returned {what}. Call it again if you need it.]"
    return ToolResultBlock(block.tool_use_id, (TextBlock(text),), block.is_error)


def snip(messages: Sequence[Message], turns: int) -> Snip:
    """Old tool results replaced by markers naming the tool and the size cut; the calls stay."""
    end = recent_start(messages, turns)
    names = {b.id: b.name for m in messages[:end] for b in m.tool_uses}
    out, count, saved = list(messages), 0, 0
    for i, message in enumerate(messages[:end]):
        if not any(_snippable(b) for b in message.tool_results):
            continue
        blocks = []
        for block in message.content:
            if isinstance(block, ToolResultBlock) and _snippable(block):
                new = _cleared(block, names.get(block.tool_use_id, "a tool"))
                saved += block_tokens(block) - block_tokens(new)
                count += 1
                block = new
            blocks.append(block)
        out[i] = Message(message.role, tuple(blocks), message.meta)
    return Snip(out, count, saved)


# --- cutting what cannot fit ----------------------------------------------------------


def clip(text: str, keep: int) -> str:
    """Head and tail of `text` in about `keep` characters, with a marker of the cut."""
    if len(text) <= keep:
        return text
    head, tail = keep * 2 // 3, keep // 3
    return (f"{text[:head]}\n[... {len(text) - head - tail:,} characters cut to fit the context "
            f"window ...]\n{text[len(text) - tail:]}")


def _clip_block(block: TextBlock | ToolResultBlock, keep: int) -> TextBlock | ToolResultBlock:
    if isinstance(block, TextBlock):
        return TextBlock(clip(block.text, keep))
    inner = tuple(TextBlock(clip(b.text, keep)) if isinstance(b, TextBlock) else b
                  for b in block.content)
    return ToolResultBlock(block.tool_use_id, inner, block.is_error)


def _block_text_chars(block: object) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, ToolResultBlock):
        return max((len(b.text) for b in block.content if isinstance(b, TextBlock)), default=0)
    return 0


def fit_blocks(messages: Sequence[Message], budget: int) -> tuple[list[Message], int]:
    """Cut the biggest texts and tool results until `messages` fit `budget` estimated tokens.

    A single result bigger than the window (a long file read into a small local
    model) would otherwise make every request fail, compaction or not.
    """
    out, cuts = list(messages), 0
    for _ in range(64):  # each pass halves the biggest block at least: this ends
        over = estimate_all(out) - budget
        if over <= 0:
            break
        chars, i, j = max((_block_text_chars(b), i, j) for i, m in enumerate(out)
                          for j, b in enumerate(m.content))
        if chars <= MIN_BLOCK_CHARS:
            break
        keep = max(MIN_BLOCK_CHARS, min(chars // 2, chars - over * CHARS_PER_TOKEN - 100))
        block = out[i].content[j]
        assert isinstance(block, (TextBlock, ToolResultBlock))
        content = (*out[i].content[:j], _clip_block(block, keep), *out[i].content[j + 1:])
        out[i] = Message(out[i].role, content, out[i].meta)
        cuts += 1
    return out, cuts


# --- layer 2: the recap -----------------------------------------------------------------


def transcript(messages: Sequence[Message]) -> list[str]:
    """The messages as plain text for the summariser, one entry each. Plain text because a
    request with tool_use blocks but no tools is refused by some providers."""
    names = {b.id: b.name for m in messages for b in m.tool_uses}
    lines = []
    for message in messages:
        parts = []
        for block in message.content:
            if isinstance(block, TextBlock) and block.text.strip():
                parts.append(clip(block.text, TEXT_CHARS))
            elif isinstance(block, ToolUseBlock):
                args = json.dumps(block.input, ensure_ascii=False)
                parts.append(f"[calls {block.name} {clip(args, INPUT_CHARS)}]")
            elif isinstance(block, ToolResultBlock):
                verb = "failed" if block.is_error else "returned"
                tool = names.get(block.tool_use_id, "a tool")
                parts.append(f"[{tool} {verb}: {clip(block.text, RESULT_CHARS)}]")
            elif isinstance(block, ImageBlock):
                parts.append("[an image]")
        if parts:
            who = "Assistant" if message.role == "assistant" else (
                "User" if is_prompt(message) else "Tools")
            lines.append(f"{who}: " + "\n".join(parts))
    return lines


def _pack(lines: Sequence[str], budget: int) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) + 1 > budget:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    return parts


def split_parts(lines: Sequence[str], budget: int) -> list[list[str]]:
    """Lines packed into parts of at most `budget` characters, MAX_PARTS at most: in a
    history longer than that, the first message and the newest are kept, and a note
    stands for the middle."""
    lines = [clip(line, budget) for line in lines]
    parts = _pack(lines, budget)
    if len(parts) <= MAX_PARTS:
        return parts
    newest: list[str] = []
    for line in reversed(lines[1:]):
        if len(_pack([line, *newest], budget)) > MAX_PARTS - 1:
            break
        newest.insert(0, line)
    omitted = len(lines) - 1 - len(newest)
    head = [clip(lines[0], budget // 2), f"[... {omitted} messages omitted: too long to summarise ...]"]
    return [head, *_pack(newest, budget)]


def instruction(part: Sequence[str], previous: str, focus: str) -> str:
    text = "Write the recap of the conversation below, so it can go on without it."
    if focus:
        text += f"\nThe user asks the recap to focus on: {focus}"
    if previous:
        text += ("\n\nThis is the next part of a longer conversation. Recap of the parts before, "
                 f"to fold into yours:\n<recap>\n{previous}\n</recap>")
    body = "\n\n".join(part)
    return f"{text}\n\n<conversation>\n{body}\n</conversation>"


class Compactor:
    """Compaction for one conversation with the agent's current model.

    Made afresh for each request, so it always sees the model in use, its window
    and the answer's max_tokens.
    """

    def __init__(self, provider: Provider, model: ModelInfo, policy: CompactionPolicy,
                 convo: Conversation, *, system: str, tools: Sequence[ToolSpec],
                 output_tokens: int, account: Callable[[TokenUsage], Usage],
                 hooks: HookRunner | None = None) -> None:
        self.provider = provider
        self.model = model
        self.policy = policy
        self.convo = convo
        self.window = Window(model.context_window, output_tokens, policy.threshold)
        self.fixed = estimate_fixed(system, tools)
        self.account = account
        self.shrunk = False  # whether the last call made the conversation smaller
        self.hooks = hooks  # the session's HookRunner (extensions/hooks): PreCompact runs before a summary
        self.trigger = "auto"  # for PreCompact: "manual" when /compact asked

    @property
    def ledger(self) -> Ledger:
        return self.convo.ledger

    def used(self) -> int:
        return self.ledger.used(self.fixed, self.convo.messages)

    @property
    def recap_tokens(self) -> int:
        wanted = min(MAX_RECAP, max(MIN_RECAP, int(self.window.size * RECAP_SHARE)))
        return min(self.model.max_output, wanted)

    async def fit(self) -> AsyncIterator[Event]:
        """Before a request: snip in steps, and summarise past the threshold (if auto)."""
        self.shrunk = False
        if not self.policy.auto:
            return
        used = self.used()
        cut = snip(self.convo.messages, self.policy.preserve_last_n_turns)
        step = self.ledger.scale(cut.tokens) >= SNIP_STEP * self.window.size
        if cut.count and (step or used > self.window.limit):
            self._replace(cut.messages)
            after = self.used()
            yield Notice(f"Cleared {cut.count} old tool result{'s' * (cut.count != 1)}: "
                         f"{self._figures(used, after)}.")
            used = after
        if used > self.window.limit and used >= self.ledger.floor:
            async with aclosing(self._compact(used, "", hard=False)) as steps:
                async for event in steps:
                    yield event

    async def recover(self) -> AsyncIterator[Event]:
        """The provider refused the request as too long: count more tokens per character
        from now on, clear every old result and keep less beside the recap."""
        self.shrunk = False
        self.ledger.rejected(self.used(), self.window.room)
        used = self.used()
        cut = snip(self.convo.messages, 1)
        if cut.count:
            self._replace(cut.messages)
        async with aclosing(self._compact(used, "", hard=True)) as steps:
            async for event in steps:
                yield event

    async def compact(self, focus: str = "") -> AsyncIterator[Event]:
        """On demand (/compact): summarise the older turns now, whatever the size."""
        self.trigger = "manual"
        async with aclosing(self._compact(self.used(), focus, hard=False)) as steps:
            async for event in steps:
                yield event

    def _plan(self, hard: bool) -> tuple[list[Message], list[Message], int]:
        """(older messages to summarise, recent ones to keep, blocks cut so those fit)."""
        messages = self.convo.messages
        keep = self.window.limit * (HARD_KEEP_SHARE if hard else KEEP_SHARE)
        must = self.window.room * (1 - SAFETY) - self.ledger.scale(self.fixed) - self.recap_tokens
        if must <= 0:  # the system prompt and tools alone nearly fill the room: keep what we can
            must = keep
        cut = choose_cut(messages, 1 if hard else self.policy.preserve_last_n_turns,
                         self._estimated(keep))
        kept, clipped = fit_blocks(messages[cut:], self._estimated(min(keep, must) if hard else must))
        return list(messages[:cut]), kept, clipped

    async def _compact(self, before: int, focus: str, *, hard: bool) -> AsyncIterator[Event]:
        old, kept, clipped = self._plan(hard)
        if not old:
            if clipped:
                self._done(kept)
                figures = self._figures(before, self.used())
                yield Notice(f"Cut the newest turn to fit the context window: {figures}.")
            else:
                self._futile(before)
                yield Notice("Nothing older to summarise: the conversation is a single turn.")
            return
        recap_guess = min(self.recap_tokens, self.ledger.scale(estimate_all(old)))
        if self._size(kept) + recap_guess > before * (1 - MIN_SHRINK):
            self._futile(before)
            yield Notice(f"Compaction would not shrink the conversation ({before:,} tokens); left as "
                         "it is until it grows.")
            return
        if self.hooks is not None:
            decision = await self.hooks.pre_compact(self.trigger, focus)
            for notice in decision.notices:
                yield notice
            if decision.blocked or decision.halt is not None:
                self._futile(before)
                yield Notice(f"A PreCompact hook stopped the compaction: {decision.reason or decision.halt}")
                return
        yield Notice(f"Compacting the conversation ({before:,} tokens, "
                     f"{before / max(self.window.size, 1):.0%} of the window): summarising "
                     f"{len(old)} older messages...")
        answers: list[str] = []
        try:
            async with aclosing(self._summarise(old, focus, answers)) as steps:
                async for event in steps:
                    yield event
            requests = len(answers)
            recap, made = answers[-1], f"summarised in {requests} request{'s' * (requests != 1)}"
        except ProviderError as exc:
            if before <= self.window.room:
                self._futile(before)
                yield Notice(f"Could not summarise the conversation ({exc}); it still fits, so it "
                             "was left as it is.")
                return
            recap, made = (f"[The earlier part of this conversation ({len(old)} messages) was removed "
                           f"to fit the context window; it could not be summarised: {exc}]"), "dropped"
        new = rebuild(recap, kept, old)
        after = self._size(new)
        if after > before * (1 - MIN_SHRINK):
            self._futile(before)
            yield Notice(f"The recap did not shrink the conversation ({before:,} -> {after:,} "
                         "tokens); kept the conversation as it was.")
            return
        self._done(new)
        yield Notice(f"Compacted the conversation: {self._figures(before, after)}; {len(old)} older "
                     f"messages {made}, the {len(kept)} newest kept.")

    async def _summarise(self, old: Sequence[Message], focus: str,
                         answers: list[str]) -> AsyncIterator[Event]:
        """Recap `old` in as many requests as it takes each to fit; raises ProviderError."""
        lines = transcript(old)
        budget = self._part_chars()
        for attempt in (1, 2):
            answers.clear()
            try:
                for part in split_parts(lines, budget):
                    previous = answers[-1] if answers else ""
                    async with aclosing(self._ask(instruction(part, previous, focus), answers)) as asking:
                        async for event in asking:
                            yield event
                return
            except ContextTooLong:
                if attempt == 2:
                    raise
                budget //= 2  # the model counts more tokens than we thought: smaller parts

    async def _ask(self, prompt: str, answers: list[str]) -> AsyncIterator[Event]:
        request = Request(model=self.model.id, system=SUMMARY_SYSTEM, messages=(user_text(prompt),),
                          max_tokens=self.recap_tokens,
                          reasoning_effort="low" if self.model.reasoning else None)
        response: Response | None = None
        async with aclosing(self.provider.stream(request)) as stream:
            async for event in stream:
                if isinstance(event, Response):
                    response = event
                elif isinstance(event, Notice):  # retries; the recap's text is not shown
                    yield event
        if response is None or not response.message.text.strip():
            raise ProviderError("the model returned an empty summary", provider=self.provider.name)
        yield self.account(response.usage)
        answers.append(response.message.text.strip())

    def _part_chars(self) -> int:
        """Characters of transcript one summary request may carry: the window less the
        recap asked for, the recap carried from the part before, and the instructions."""
        overhead = (len(SUMMARY_SYSTEM) + 600) // CHARS_PER_TOKEN
        tokens = self.window.size * (1 - SAFETY) - 2 * self.recap_tokens - self.ledger.scale(overhead)
        return max(1000, int(tokens / self.ledger.ratio) * CHARS_PER_TOKEN)

    def _estimated(self, tokens: float) -> int:
        """Model tokens as estimated tokens."""
        return max(0, int(tokens / self.ledger.ratio))

    def _size(self, messages: Sequence[Message]) -> int:
        return self.ledger.scale(self.fixed + estimate_all(messages))

    def _figures(self, before: int, after: int) -> str:
        return (f"{before:,} -> {after:,} tokens of the {self.window.size:,}-token window "
                f"({after / max(self.window.size, 1):.0%})")

    def _replace(self, messages: list[Message]) -> None:
        self.convo.messages[:] = messages  # the same list: whoever holds it sees the change
        self.ledger.forget()
        self.shrunk = True

    def _done(self, messages: list[Message]) -> None:
        self._replace(messages)
        self.ledger.floor = self.used() + int(GROWTH * self.window.size)
        self.ledger.misses = 0

    def _futile(self, before: int) -> None:
        """Not tried again automatically until the conversation has grown, by twice as much
        after each attempt in a row that could not shrink it."""
        self.ledger.floor = before + int(GROWTH * self.window.size) * 2 ** self.ledger.misses
        self.ledger.misses = min(self.ledger.misses + 1, 10)
