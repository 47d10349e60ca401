"""A history a kill left behind, made valid for every provider: each call answered once."""

from __future__ import annotations

from nano_claude.core.messages import Message, TextBlock, ToolUseBlock, tool_result, user_text
from nano_claude.sessions.repair import ASKING, LOST, NOT_STARTED, RUNNING, repair
from nano_claude.sessions.transcript import CallTrace


def asks(*calls: tuple[str, str, dict]) -> Message:
    return Message("assistant", tuple(ToolUseBlock(i, name, args) for i, name, args in calls))


def answered(history: list[Message]) -> bool:
    """Every tool_use answered in the next message, and every result answering one."""
    for before, after in zip(history, [*history[1:], None], strict=True):
        ids = {c.id for c in before.tool_uses} if before.role == "assistant" else set()
        got = [r.tool_use_id for r in after.tool_results] if after is not None else []
        if ids and sorted(ids) != sorted(got):
            return False
        if after is not None and after.role == "user" and got and not ids:
            return False
    return True


def test_calls_a_kill_left_unanswered_are_answered_by_what_was_happening() -> None:
    history = [user_text("do four things"),
               asks(("a", "Read", {"file_path": "x.py"}), ("b", "Bash", {"command": "make"}),
                    ("c", "Write", {"file_path": "y.py"}), ("d", "Edit", {"file_path": "z.py"}))]
    calls = {"a": CallTrace("Read", {}, result=tool_result("a", "print(1)")),
             "b": CallTrace("Bash", {}),
             "c": CallTrace("Write", {}, asking=True)}
    fixed = repair(history, calls)
    assert fixed.messages[:2] == history and answered(fixed.messages)
    results = {r.tool_use_id: r for r in fixed.messages[2].tool_results}
    assert results["a"] == tool_result("a", "print(1)")  # it had finished: its result is kept
    assert results["b"].text == RUNNING and results["c"].text == ASKING and results["d"].text == NOT_STARTED
    assert all(results[i].is_error for i in "bcd")
    assert fixed.notes == [
        "Read(x.py) had finished when the session stopped; its result is kept.",
        "Bash(make) was running when the session stopped; the model is told it was interrupted.",
        "Write(y.py) was waiting for your permission when the session stopped; it did not run.",
        "Edit(z.py) had not started when the session stopped; the model is told it did not run.",
    ]


def test_a_valid_history_comes_back_as_the_same_objects() -> None:
    history = [user_text("hi"), asks(("a", "Bash", {"command": "ls"})),
               Message("user", (tool_result("a", "f"),)), Message("assistant", (TextBlock("done"),))]
    fixed = repair(history, {})
    assert all(x is y for x, y in zip(fixed.messages, history, strict=True)) and fixed.notes == []


def test_results_of_a_lost_call_are_dropped_and_calls_of_a_lost_result_answered() -> None:
    history = [user_text("go"),
               Message("user", (tool_result("gone", "orphan"), TextBlock("and this"))),  # its call was lost
               asks(("a", "Bash", {"command": "ls"}), ("b", "Bash", {"command": "pwd"})),
               Message("user", (TextBlock("note"), tool_result("b", "/p"))),  # a's result was lost
               asks(("c", "Bash", {"command": "id"})),
               Message("assistant", (TextBlock("moving on"),))]  # c's results line was lost
    fixed = repair(history, {})
    assert answered(fixed.messages)
    assert fixed.messages[1].content == (TextBlock("and this"),)
    third = fixed.messages[3]
    assert [b.tool_use_id for b in third.tool_results] == ["b", "a"]
    assert third.content[-1] == TextBlock("note")
    assert third.tool_results[1].text == LOST
    assert fixed.messages[5].tool_results[0].text == LOST
    assert "2 earlier tool call(s) had no result" in fixed.notes[0]
    assert "Dropped 1 tool result" in fixed.notes[1]


def test_a_last_prompt_without_an_answer_is_pointed_out() -> None:
    fixed = repair([user_text("first"), Message("assistant", (TextBlock("ok"),)), user_text("second")], {})
    assert len(fixed.messages) == 3
    assert fixed.notes == ["Your last message has no answer: the session stopped while the model was "
                           "answering."]
