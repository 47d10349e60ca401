"""The loop and the permission policy together, against the fake model server: what the
user is asked (with the pending diff), what an answer remembers, what a denial tells the
model, and a SleepTimer wake-up."""

from __future__ import annotations

import json
from pathlib import Path

from nano_claude.core.events import Notice, PermissionAsked
from nano_claude.core.prompter import Verdict
from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet
from nano_claude.tools.base import Wakeup
from nano_claude.tools.bash import BashTool
from nano_claude.tools.files import EditTool, WriteTool
from nano_claude.tools.read import ReadTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import Answers, call, drive

TOOLS = [ReadTool(), WriteTool(), EditTool(), BashTool()]


def rules(**kinds: list[str]) -> RuleSet:
    out = RuleSet()
    for kind, texts in kinds.items():
        out.add(texts, kind, "test")  # type: ignore[arg-type]
    return out


async def test_an_edit_asks_with_its_diff_and_a_refusal_leaves_the_file(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    answers = Answers(verdicts=[Verdict(False, "Not that.")])
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "a.py"}),
                      call("Edit", {"file_path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}),
                      mode="auto", prompter=answers, tools=TOOLS)
    asked = answers.asked[0]
    assert asked.tool == "Edit" and asked.description.endswith("a.py")
    assert "-x = 1" in asked.detail and "+x = 2" in asked.detail
    assert asked.suggestions == ("Edit(a.py)",)
    assert run.result(2).is_error and run.result(2).text == "Not that."
    assert (tmp_path / "a.py").read_text() == "x = 1\n"


async def test_allow_for_the_session_is_not_asked_again(fake_server: FakeModelServer, tmp_path: Path) -> None:
    answers = Answers(verdicts=[Verdict(True, remember="session")])
    run = await drive(fake_server, tmp_path, call("Bash", {"command": "touch one"}),
                      call("Bash", {"command": "touch two"}),
                      call("Bash", {"command": "mkdir three"}, id="t3"),
                      mode="auto", prompter=answers, tools=TOOLS)
    assert [a.description for a in answers.asked] == ["touch one", "mkdir three"]
    assert (tmp_path / "one").exists() and (tmp_path / "two").exists() and (tmp_path / "three").exists()
    assert not run.result(3).is_error


async def test_always_writes_the_rule_and_says_where(fake_server: FakeModelServer, tmp_path: Path) -> None:
    local = tmp_path / ".nano_claude" / "settings.local.json"
    policy = Policy("auto", RuleSet(), tmp_path, tmp_path / "home", save_to=local)
    answers = Answers(verdicts=[Verdict(True, remember="always")])
    run = await drive(fake_server, tmp_path, call("Bash", {"command": "npm run lint --fix"}),
                      mode="auto", prompter=answers, tools=TOOLS, policy=policy)
    assert json.loads(local.read_text()) == {"permissions": {"allow": ["Bash(npm run lint:*)"]}}
    asked = [e for e in run.events if isinstance(e, PermissionAsked)]
    assert asked[0].allowed and str(local) in asked[0].note


async def test_a_denied_call_tells_the_model_the_rule_and_records_the_denial(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("KEY=secret\n")
    policy = Policy("accept-all", rules(deny=["Read(.env)"]), tmp_path, tmp_path / "home")
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": ".env"}),
                      call("Bash", {"command": "cat .env | base64"}),
                      tools=TOOLS, policy=policy)
    for request in (1, 2):
        result = run.result(request)
        assert result.is_error and "Read(.env) from test" in result.text and "secret" not in result.text
    denied = [e for e in run.events if isinstance(e, PermissionAsked)]
    assert [(d.tool, d.allowed) for d in denied] == [("Read", False), ("Bash", False)]


async def test_a_preview_that_fails_answers_without_asking(fake_server: FakeModelServer,
                                                           tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    answers = Answers()
    run = await drive(fake_server, tmp_path,
                      call("Edit", {"file_path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}),
                      mode="auto", prompter=answers, tools=TOOLS)
    assert answers.asked == []
    assert run.result().is_error and "Read" in run.result().text


async def test_a_wakeup_brings_the_model_back_with_its_note(fake_server: FakeModelServer,
                                                            tmp_path: Path) -> None:
    from nano_claude.tools.interact import SleepTimerTool

    def woken(body: dict) -> None:
        assert "timer you set has fired: check the build" in json.dumps(body["messages"][-1])

    from tests.fakes.script import text

    run = await drive(fake_server, tmp_path, call("SleepTimer", {"seconds": 1, "note": "check the build"}),
                      text("Sleeping."), text("Build checked.", expect=woken), finish="",
                      tools=[SleepTimerTool()])
    assert any(isinstance(e, Notice) and "[Wake-up]" in e.text for e in run.events)
    assert run.done.text == "Build checked." and run.ctx.wakeups == []
    assert Wakeup  # the type the tool schedules
