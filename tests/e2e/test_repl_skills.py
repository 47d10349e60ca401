"""Skills in the REPL, in a real terminal: /skills, Tab completion of skill names with their
argument hints, running `/name args`, a forked skill's sub-agent shown as it works, and a REPL
command that keeps its name over a skill's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import mentions, text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

DEPLOY = """---
name: deploy
description: Deploy to an environment
triggers: [/deploy, ship it]
when_to_use: Use when the user wants to deploy a version to an environment.
argument-hint: [env] [version]
arguments: [env, version]
---
Deploy $VERSION to the $ENV environment.
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def send(term: Terminal, message: str) -> None:
    term.type(message)
    term.send("Enter")


def test_skills_lists_each_with_trigger_hint_source_and_when_to_use_and_the_broken_ones(
        term: Terminal, cli: Cli) -> None:
    write(cli.home / "skills/deploy.md", DEPLOY)
    write(cli.project / ".claude/commands/help.md", "---\ndescription: my help\n---\nHELP-SKILL\n")
    write(cli.project / ".claude/skills/broken/SKILL.md", "---\ndescription: x\ncontext: sideways\n---\nx\n")
    term.start().wait_prompt()
    send(term, "/skills")
    shown = term.wait_for(r"Run one with /NAME ARGS").split("❯ /skills", 1)[1]
    assert "/deploy [env] [version]  (user · ~/.nano_claude/skills/deploy.md)" in shown
    assert "    Deploy to an environment" in shown
    assert "    when to use: Use when the user wants to deploy a version to an environment." in shown
    assert 'trigger "ship it"' in shown
    assert "/commit [notes on the change]  (built-in)" in shown
    assert "/review [PR-number | commit range]  (built-in)" in shown
    assert "/help from project · .claude/commands/help.md does not run as typed: the REPL's own /help wins" \
        in shown
    broken = " ".join(shown.split("Not loaded:", 1)[1].split())  # as one line, however it wrapped
    assert ".claude/skills/broken/SKILL.md: context 'sideways' is not" in broken
    term.wait_prompt(2)
    send(term, "/help")  # the built-in still answers to its name
    assert "HELP-SKILL" not in term.wait_for(r"Keys")


def test_tab_completes_a_skill_name_and_shows_its_argument_hint(term: Terminal, cli: Cli) -> None:
    write(cli.home / "skills/deploy.md", DEPLOY)
    term.start().wait_prompt()
    term.wait_for(r"permissions auto")  # the session is built: its skills are known
    term.type("/depl")
    term.wait_for(r"/deploy \[env\] \[version\]\s+Deploy to an environment")  # the menu as you type
    term.send("Tab")
    term.wait_for(r"❯ /deploy\s*$")
    term.type(" ")  # after the name: what its arguments are
    term.wait_for(r"❯ /deploy \[env\] \[version\]\s*$")  # shown dim, not inserted
    term.type("prod")
    term.wait_for(r"❯ /deploy prod\s*$")


def test_running_a_skill_in_the_repl_sends_its_filled_in_body(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.home / "skills/deploy.md", DEPLOY)
    fake_server.script(text("Deploying 2.1.0 to staging now."))
    term.start().wait_prompt()
    send(term, "/deploy staging 2.1.0")
    term.wait_for(r"Deploying 2\.1\.0 to staging now\.")
    sent = fake_server.model_requests[0].body["messages"][0]["content"][0]["text"]
    assert sent.endswith("Deploy 2.1.0 to the staging environment.")
    assert "<command-args>staging 2.1.0</command-args>" in sent


def test_a_forked_skills_sub_agent_is_shown_as_it_works(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "cache.py").write_text("CACHE = {}\n")
    write(cli.project / ".claude/skills/research/SKILL.md",
          "---\ndescription: Research\ncontext: fork\n---\nFORK-BODY: find $ARGUMENTS\n")
    fake_server.script(
        tool_call("Read", {"file_path": "cache.py"}, id="child_read", when=mentions("FORK-BODY")),
        text("it is cache.py", when=mentions("FORK-BODY")),
        text("The cache lives in cache.py."),
    )
    term.start().wait_prompt()
    send(term, "/research the cache")
    screen = term.wait_for(r"The cache lives in cache\.py\.")
    assert "⎿ research · ✓ Read(cache.py)" in screen
    assert "it is cache.py" not in screen  # the sub-agent's answer goes to the model, not the screen
