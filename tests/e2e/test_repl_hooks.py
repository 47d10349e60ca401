"""Hooks in the REPL, in a real terminal: the question a project's hooks wait on before the
first message (and that the answer is kept), a failing hook shown in one line, and /hooks."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.conftest import terminal_env
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

QUESTION = r"\s+".join(["This project's", "settings", r"\(\.claude/settings\.json\)", "define", "1", "hook",
                        "to", "run", "on", "your"])


def send(term: Terminal, message: str) -> None:
    term.type(message)
    term.send("Enter")


def logger(folder: Path) -> tuple[str, Path]:
    log = folder / "prompts.jsonl"
    hook = folder / "log.py"
    hook.write_text("import json, sys\n"
                    f"open({str(log)!r}, 'a').write(json.dumps(json.load(sys.stdin)) + '\\n')\n")
    return f"{sys.executable} {hook}", log


def test_project_hooks_are_asked_about_before_the_first_message_and_the_answer_is_kept(
        term: Terminal, cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    command, log = logger(tmp_path)
    settings = cli.project / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [
        {"type": "command", "command": command}]}]}}))
    fake_server.script(text("first answer"), text("second answer"))
    term.start().wait_prompt()
    send(term, "/hooks")
    shown = term.wait_for(r"awaiting your trust")
    assert "UserPromptSubmit · * · command:" in shown and "from .claude/settings.json (project)" in shown
    term.wait_prompt(2)
    send(term, "hello")
    screen = term.wait_for(QUESTION)
    assert "Run them" in screen and "Keep them off" in screen
    term.wait_for(r"^\[1-2\]\s*$")
    send(term, "1")
    term.wait_for("first answer")
    assert [json.loads(line)["prompt"] for line in log.read_text().splitlines()] == ["hello"]
    term.wait_prompt(3)
    send(term, "/hooks")
    term.wait_for(r"last run \d\d:\d\d:\d\d · exit 0 · \d+\.\d\ds")
    term.wait_prompt(4)
    send(term, "/exit")
    term.wait_for("Session saved")

    again = Terminal(tmp_path / "again", terminal_env(cli, fake_server), cli.project)
    again.workdir.mkdir()
    try:
        again.start().wait_prompt()
        send(again, "and again")
        again.wait_for("second answer")
        assert not re.search(QUESTION, again.screen())
        assert [json.loads(line)["prompt"] for line in log.read_text().splitlines()] == ["hello", "and again"]
    finally:
        again.close()


def test_keep_them_off_runs_nothing_until_hooks_approve(
        term: Terminal, cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    command, log = logger(tmp_path)
    settings = cli.project / ".nano_claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [
        {"type": "command", "command": command}]}]}}))
    fake_server.script(text("without hooks"), text("with hooks"))
    term.start().wait_prompt()
    send(term, "hello")
    term.wait_for(r"^\[1-2\]\s*$")
    send(term, "2")
    term.wait_for("without hooks")
    assert not log.exists()
    term.wait_prompt(2)
    send(term, "/hooks approve")
    term.wait_for("This project's 1 hook will run")
    term.wait_prompt(3)
    send(term, "again")
    term.wait_for("with hooks")
    assert [json.loads(line)["prompt"] for line in log.read_text().splitlines()] == ["again"]


def test_a_failing_hook_is_one_line_and_the_turn_goes_on(term: Terminal, cli: Cli,
                                                         fake_server: FakeModelServer) -> None:
    failing = {"type": "command", "command": "echo 'lint config missing' >&2; exit 1"}
    (cli.home / "settings.json").write_text(json.dumps({"hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [failing]}]}}))
    fake_server.script(tool_call("Bash", {"command": "echo hello-from-bash"}), text("all done"))
    term.start("--allowedTools", "Bash").wait_prompt()
    send(term, "run it")
    screen = term.wait_for("all done")
    assert re.search(r"note: PreToolUse hook `echo 'lint config missing' >&2; exit 1` failed: exit 1: lint "
                     r"config missing", screen)
    term.wait_prompt(2)
    send(term, "/hooks")
    shown = term.wait_for(r"last run \d\d:\d\d:\d\d · exit 1 · \d+\.\d\ds · lint config\s+missing")
    assert "from ~/.nano_claude/settings.json (user)" in shown


def test_a_prompt_a_hook_blocks_is_not_sent_and_says_why(term: Terminal, cli: Cli,
                                                         fake_server: FakeModelServer) -> None:
    block = {"type": "command",
             "command": "grep -q password && { echo 'no passwords, please' >&2; exit 2; }; exit 0"}
    (cli.home / "settings.json").write_text(json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [block]}]}}))
    fake_server.script(text("fine answer"))
    term.start().wait_prompt()
    send(term, "my password is hunter2")
    term.wait_for(r"Not sent: a UserPromptSubmit hook blocked it: no passwords, please")
    term.wait_prompt(2)
    assert fake_server.model_requests == []
    send(term, "something else")
    term.wait_for("fine answer")


def test_prompt_hooks_see_a_skill_line_as_typed_before_its_commands_run(
        term: Terminal, cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    skill = cli.home / "skills" / "mark.md"
    skill.parent.mkdir(parents=True)
    skill.write_text("---\ndescription: mark the tree\nallowed-tools: Bash(touch:*)\n---\n"
                     "Marked: !`touch marker.txt && echo touched`\nFor: $ARGUMENTS\n")
    hook = tmp_path / "gate.py"
    hook.write_text("import json, os, sys\nevent = json.load(sys.stdin)\n"
                    "if 'later' in event['prompt']:\n"
                    "    print('not now: ' + event['prompt'], file=sys.stderr)\n    sys.exit(2)\n"
                    "there = os.path.exists('marker.txt')\n"
                    "print('marker there: ' + str(there) + '; typed: ' + event['prompt'])\n")
    (cli.home / "settings.json").write_text(json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [
        {"type": "command", "command": f"{sys.executable} {hook}"}]}]}}))
    fake_server.script(text("marked it"))
    term.start().wait_prompt()
    send(term, "/mark later")
    term.wait_for(r"Not sent: a UserPromptSubmit hook blocked it: not now: /mark later")
    assert not (cli.project / "marker.txt").exists()
    term.wait_prompt(2)
    send(term, "/mark now")
    term.wait_for("marked it")
    assert (cli.project / "marker.txt").exists()
    [request] = fake_server.model_requests
    sent = request.body["messages"][-1]["content"]
    said = "\n".join(block["text"] for block in sent if block.get("type") == "text")
    assert said.index("Marked: touched\nFor: now") < said.index(
        "Context from a UserPromptSubmit hook:\nmarker there: False; typed: /mark now")
