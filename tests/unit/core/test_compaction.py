"""Compaction's parts: token accounting, snipping, where a history may be cut, fitting."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nano_claude.config import Settings
from nano_claude.core.compaction import (
    CLEARED,
    MAX_PARTS,
    RECAP_HEAD,
    CompactionPolicy,
    Ledger,
    choose_cut,
    estimate,
    estimate_all,
    fit_blocks,
    rebuild,
    snip,
    split_parts,
)
from nano_claude.core.events import TokenUsage
from nano_claude.core.messages import (
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    tool_result,
    user_text,
)


def assistant(text: str = "", *calls: ToolUseBlock) -> Message:
    return Message("assistant", ((TextBlock(text),) if text else ()) + calls)


def results(*blocks: ToolResultBlock) -> Message:
    return Message("user", blocks)


def read_turn(k: int, size: int = 2000) -> list[Message]:
    call = ToolUseBlock(f"t{k}", "Read", {"file_path": f"f{k}.py"})
    return [user_text(f"turn {k}"), assistant("Reading.", call),
            results(tool_result(f"t{k}", "x" * size)), assistant(f"Done {k}.")]


# --- accounting -------------------------------------------------------------------------


def test_size_is_the_reported_usage_plus_an_estimate_of_what_came_after() -> None:
    ledger = Ledger()
    history = [user_text("a" * 4000), assistant("ok")]
    expected = 1000 + estimate(history[0])
    ledger.record(TokenUsage(input_tokens=100, output_tokens=7, cache_read_tokens=2 * expected - 100),
                  1000, history)
    assert ledger.used(1000, history) == 2 * expected + 7  # as reported, nothing added since

    history.append(user_text("b" * 400))

    # What came after is estimated with what the reports taught: 2 tokens per estimated token.
    assert ledger.used(1000, history) == 2 * expected + 7 + 2 * estimate(history[-1])


def test_a_report_far_below_the_estimate_is_not_believed() -> None:
    # Ollama before 0.30 counts only the tokens it did not have cached.
    ledger = Ledger()
    history = [user_text("a" * 40_000), assistant("ok")]
    ledger.record(TokenUsage(input_tokens=12, output_tokens=3), 500, history)
    assert ledger.used(500, history) == 500 + estimate(history[0]) + 3
    assert ledger.ratio == 1.0


def test_a_rewritten_history_is_estimated_afresh() -> None:
    ledger = Ledger()
    history = [user_text("a" * 4000), assistant("ok")]
    ledger.record(TokenUsage(input_tokens=5000, output_tokens=3), 0, history)
    rewritten = [user_text("recap"), assistant("ok")]  # same length, other messages
    assert ledger.used(0, rewritten) == ledger.scale(estimate_all(rewritten))


def test_a_refusal_for_length_makes_later_counts_larger() -> None:
    ledger = Ledger()
    ledger.rejected(used=4000, room=8000)
    assert ledger.ratio == pytest.approx(2.2)
    assert ledger.used(0, [user_text("a" * 400)]) == ledger.scale(estimate(user_text("a" * 400)))


def test_the_policy_comes_from_the_settings_and_they_are_checked() -> None:
    policy = CompactionPolicy.from_settings(
        Settings(auto_compact=False, compact_threshold=0.5, preserve_last_n_turns=2))
    assert policy == CompactionPolicy(False, 0.5, 2)
    assert CompactionPolicy.from_settings(Settings()) == CompactionPolicy(True, 0.7, 3)
    with pytest.raises(ValidationError):
        Settings(compact_threshold=0.99)
    with pytest.raises(ValidationError):
        Settings(preserve_last_n_turns=0)


# --- snipping ---------------------------------------------------------------------------


def test_old_tool_results_become_markers_naming_the_tool_and_the_size_cut() -> None:
    history = [m for k in range(4) for m in read_turn(k)]

    cut = snip(history, 2)

    assert cut.count == 2 and cut.tokens > 900
    old = [r for m in cut.messages[:8] for r in m.tool_results]
    assert [r.text for r in old] == [
        f"{CLEARED}: Read returned 2,000 characters. Call it again if you need it.]"] * 2
    assert cut.messages[8:] == history[8:]  # the last two turns are whole
    assert [m.tool_uses for m in cut.messages] == [m.tool_uses for m in history]  # calls stay


def test_snipping_keeps_small_results_errors_flags_and_does_not_clear_twice() -> None:
    call = ToolUseBlock("t9", "Bash", {"command": "false"})
    history = [user_text("go"), assistant("", call),
               results(tool_result("t9", "e" * 3000, is_error=True)), assistant("Failed."),
               *read_turn(1, size=50), *read_turn(2)]

    once = snip(history, 1)
    twice = snip(once.messages, 1)

    (failed,) = once.messages[2].tool_results
    assert failed.is_error and "Bash returned 3,000 characters" in failed.text
    assert once.messages[6].tool_results[0].text == "x" * 50  # smaller than its marker would be
    assert twice.count == 0 and twice.messages == once.messages


# --- where a history may be cut -------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[Message]:
    """Turns of a real session: a prompt, rounds of (parallel) tool calls, maybe an answer."""
    messages: list[Message] = []
    ids = itertools.count()
    for _ in range(draw(st.integers(1, 6))):
        messages.append(user_text("p" * draw(st.integers(1, 3000))))
        for _ in range(draw(st.integers(0, 4))):
            calls = tuple(ToolUseBlock(f"c{next(ids)}", "Read", {"file_path": "f"})
                          for _ in range(draw(st.integers(1, 3))))
            messages.append(assistant("", *calls))
            messages.append(results(*(tool_result(c.id, "r" * draw(st.integers(0, 5000)))
                                      for c in calls)))
        if draw(st.booleans()) or messages[-1].role == "user":
            messages.append(assistant("a" * draw(st.integers(1, 2000))))
    return messages


def valid(messages: list[Message]) -> None:
    assert messages[0].role == "user"
    for before, after in itertools.pairwise(messages):
        assert before.role != after.role
    for i, message in enumerate(messages):
        if message.tool_uses:
            assert {c.id for c in message.tool_uses} == {r.tool_use_id for r in messages[i + 1].tool_results}
        if message.tool_results:
            assert {r.tool_use_id for r in message.tool_results} <= {c.id for c in messages[i - 1].tool_uses}


@settings(max_examples=300, deadline=None)
@given(histories(), st.integers(1, 4), st.integers(0, 5000))
def test_a_recap_and_the_kept_turns_make_a_valid_history(
        history: list[Message], turns: int, budget: int) -> None:
    cut = choose_cut(history, turns, budget)
    if cut == 0:
        return
    compacted = rebuild("the recap", history[cut:])
    valid(compacted)
    assert compacted[0].text.startswith(RECAP_HEAD)
    assert compacted[1:] == history[cut + 1:] or compacted[1:] == history[cut:]


def test_the_cut_keeps_the_last_turns_when_they_fit_and_less_when_they_do_not() -> None:
    history = [m for k in range(5) for m in read_turn(k, size=400)]
    assert choose_cut(history, 2, 10_000) == 12  # the last two turns
    huge = [*history, *read_turn(5, size=40_000)]
    # Even the last turn alone is over the budget: keep only its answer, and let the big
    # result go into the recap.
    assert choose_cut(huge, 2, 1000) == len(huge) - 1


# --- what cannot fit ------------------------------------------------------------------------


def test_a_result_bigger_than_the_window_is_cut_keeping_its_head_and_tail() -> None:
    text = "".join(f"line {i}\n" for i in range(20_000))
    kept = [assistant("", ToolUseBlock("t", "Read", {})), results(tool_result("t", text))]

    fitted, cuts = fit_blocks(kept, 2000)

    assert cuts >= 1 and estimate_all(fitted) <= 2000
    result = fitted[1].tool_results[0].text
    assert result.startswith("line 0\nline 1\n") and result.endswith("line 19999\n")
    assert "characters cut to fit the context window" in result


def test_a_long_history_is_split_into_parts_that_fit_and_never_too_many() -> None:
    lines = [f"User: message {i} " + "w" * 900 for i in range(200)]

    parts = split_parts(lines, 5000)

    assert len(parts) <= MAX_PARTS
    assert all(sum(len(line) + 1 for line in part) <= 5000 for part in parts)
    flat = [line for part in parts for line in part]
    assert flat[0].startswith("User: message 0 ") and flat[-1].startswith("User: message 199 ")
    assert "messages omitted" in flat[1]


def test_the_settings_reach_the_loop(tmp_path: Path) -> None:
    from nano_claude.assemble import build_agent
    from nano_claude.config import Settings
    from nano_claude.core.prompter import HeadlessPrompter

    settings = Settings(auto_compact=False, compact_threshold=0.5, preserve_last_n_turns=7,
                        anthropic_api_key="sk-test")
    agent = build_agent(settings, model="claude-sonnet-4-6", cwd=tmp_path, environ={"HOME": str(tmp_path)},
                        prompter=HeadlessPrompter())
    assert agent.options.compaction == CompactionPolicy(False, 0.5, 7)
