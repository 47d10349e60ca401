"""Permission answers in a real terminal: what `a` and `d` offer for a shell command, and
where `d` keeps the rule."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


def test_always_saves_a_prefix_rule_and_keeps_it_out_of_git(term: Terminal,
                                                            fake_server: FakeModelServer, cli: Cli) -> None:
    project = cli.project
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    (project / "a.json").write_text('{"a": 1}')
    (project / "b.json").write_text('{"b": 2}')
    fake_server.script(tool_call("Bash", {"command": "python3 -m json.tool a.json"}), text("first done"),
                       tool_call("Bash", {"command": "python3 -m json.tool b.json"}), text("second done"))
    term.start().wait_prompt()
    term.type("format a")
    term.send("Enter")
    screen = term.wait_for(r"always\s+\(saves Bash\(python3 -m json\.tool:\*\)")
    assert r"allow Bash(python3 -m json.tool:*) for this session" in screen
    term.send("d")
    term.wait_for("first done")
    term.wait_prompt(2)
    term.type("format b")
    term.send("Enter")
    term.wait_for("second done")
    assert term.screen().count("wants to run") == 1  # the saved prefix covered the second file
    local = project / ".nano_claude" / "settings.local.json"
    assert json.loads(local.read_text())["permissions"]["allow"] == ["Bash(python3 -m json.tool:*)"]
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project,
                            capture_output=True, text=True, check=True).stdout
    assert "settings.local.json" not in status and ".nano_claude/.gitignore" in status, status
