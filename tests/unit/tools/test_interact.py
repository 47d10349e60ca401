"""AskUserQuestion (through the Prompter) and SleepTimer (a wake-up in ctx.wakeups)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from nano_claude.core.prompter import Option, PermissionRequest, Question, Verdict
from nano_claude.tools.base import ToolContext, ToolError, Wakeup
from nano_claude.tools.interact import (
    MAX_PENDING,
    AskInput,
    AskUserQuestionTool,
    SleepInput,
    SleepTimerTool,
)
from tests.fakes.server import FakeModelServer
from tests.toolkit import Answers, call, drive

DATABASES = {
    "question": "Which database should the app use?",
    "options": [{"label": "Postgres", "description": "the team already runs it"},
                {"label": "SQLite", "description": "no server to run"}],
}


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(cwd=tmp_path, environ=dict(os.environ))


class Silent:
    """A user who never answers; records that the question was withdrawn."""

    def __init__(self) -> None:
        self.withdrawn = False

    async def confirm(self, request: PermissionRequest) -> Verdict:
        return Verdict(True)

    async def ask(self, question: Question) -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.withdrawn = True
            raise
        return ""


# --- AskUserQuestion ----------------------------------------------------------


async def test_ask_returns_the_chosen_option_with_its_description(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    user = Answers(answers=["Postgres"])
    run = await drive(fake_server, tmp_path, call("AskUserQuestion", DATABASES),
                      tools=[AskUserQuestionTool()], prompter=user)
    assert not run.result().is_error
    assert run.result().text == 'The user chose "Postgres" (the team already runs it).'
    assert user.questions == [Question("Which database should the app use?",
                                       (Option("Postgres", "the team already runs it"),
                                        Option("SQLite", "no server to run")), True)]


async def test_ask_returns_a_free_text_answer(fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(fake_server, tmp_path, call("AskUserQuestion", DATABASES),
                      tools=[AskUserQuestionTool()], prompter=Answers(answers=["DuckDB, actually"]))
    assert run.result().text == "The user answered: DuckDB, actually"


async def test_ask_with_no_user_present_tells_the_model_to_decide(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(fake_server, tmp_path, call("AskUserQuestion", {"question": "Ship it?"}),
                      tools=[AskUserQuestionTool()], prompter=Answers())
    text = run.result().text
    assert not run.result().is_error
    assert text.startswith("No user is present") and "Decide yourself" in text


async def test_ask_without_a_prompter_is_treated_as_no_user(ctx: ToolContext) -> None:
    out = await AskUserQuestionTool().run(AskInput(question="Ship it?"), ctx)
    assert out.content[0].text.startswith("No user is present")


async def test_ask_times_out_and_withdraws_the_question(ctx: ToolContext) -> None:
    ctx.prompter = user = Silent()
    out = await AskUserQuestionTool(timeout=0.05).run(AskInput(question="Ship it?"), ctx)
    text = out.content[0].text
    assert text.startswith("The user did not answer within 0.05 seconds") and "best judgment" in text
    assert user.withdrawn


@pytest.mark.parametrize(("options", "freetext", "problem"), [
    ([{"label": "A"}, {"label": "a"}], True, "distinct label"),
    ([{"label": "  "}, {"label": "B"}], True, "non-empty label"),
    ([], False, "at least two"),
    ([{"label": "Only"}], False, "at least two"),
])
async def test_ask_rejects_questions_the_user_could_not_answer_well(
        ctx: ToolContext, options: list[dict[str, str]], freetext: bool, problem: str) -> None:
    ctx.prompter = user = Answers(answers=["A"])
    args = AskInput.model_validate({"question": "Q?", "options": options, "allow_freetext": freetext})
    with pytest.raises(ToolError, match=problem):
        await AskUserQuestionTool().run(args, ctx)
    assert user.questions == []


async def test_ask_with_too_many_options_is_an_error_result(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    five = [{"label": str(i)} for i in range(5)]
    run = await drive(fake_server, tmp_path, call("AskUserQuestion", {"question": "Q?", "options": five}),
                      tools=[AskUserQuestionTool()], prompter=Answers(answers=["1"]))
    assert run.result().is_error and "options" in run.result().text


# --- SleepTimer ---------------------------------------------------------------


async def test_sleep_timer_schedules_a_wakeup_and_tells_the_model_to_end_its_turn(ctx: ToolContext) -> None:
    out = await SleepTimerTool(clock=lambda: 1000.0).run(SleepInput(seconds=90, note="check CI"), ctx)
    assert ctx.wakeups == [Wakeup(due=1090.0, note="check CI", seconds=90)]
    text = out.content[0].text
    assert "woken in 90 seconds" in text and "check CI" in text and "End your turn now" in text


async def test_sleep_timer_refuses_more_than_a_few_pending_wakeups(ctx: ToolContext) -> None:
    tool = SleepTimerTool(clock=lambda: 0.0)
    for i in range(MAX_PENDING):
        await tool.run(SleepInput(seconds=60 + i), ctx)
    with pytest.raises(ToolError, match="already pending"):
        await tool.run(SleepInput(seconds=5), ctx)
    assert len(ctx.wakeups) == MAX_PENDING


async def test_sleep_timer_through_the_loop_rejects_out_of_bounds_durations(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    run = await drive(fake_server, tmp_path,
                      [call("SleepTimer", {"seconds": 0}), call("SleepTimer", {"seconds": 3601})],
                      call("SleepTimer", {"seconds": 30, "note": "look at the build"}),
                      tools=[SleepTimerTool()], max_turns=3)  # end before the loop wakes it
    too_short, too_long = run.results(1)
    assert too_short.is_error and "greater than or equal to 1" in too_short.text
    assert too_long.is_error and "less than or equal to 3600" in too_long.text
    assert not run.result(2).is_error
    assert [(w.seconds, w.note) for w in run.ctx.wakeups] == [(30, "look at the build")]
