"""/plugin in a real terminal: installing a Claude Code-format plugin shows what it brings and
asks before its hook and MCP server may run; the answer is kept, and /plugin list shows it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


def test_plugin_install_asks_before_its_code_runs_and_list_shows_the_answer(term: Terminal, cli: Cli) -> None:
    source = cli.project.parent / "fmt"
    files = {
        ".claude-plugin/plugin.json": json.dumps({"name": "fmt", "version": "2.0.0"}),
        "skills/tidy/SKILL.md": "---\ndescription: Tidy\n---\nTidy $ARGUMENTS\n",
        "hooks/hooks.json": json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command",
                                                                        "command": "true"}]}]}}),
        ".mcp.json": json.dumps({"mcpServers": {"clock": {"command": "mcp-server-time"}}}),
    }
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    term.start().wait_prompt()

    term.type(f"/plugin install {source}")
    term.send("Enter")
    asked = term.wait_for(r"Allow fmt's hooks and MCP servers\?\n.*\n.*\n\[1-2\]")
    assert "fmt 2.0.0 brings code that runs on this machine:" in asked
    assert "clock: mcp-server-time" in asked and "Stop: true" in asked
    term.type("1")
    term.send("Enter")
    said = term.wait_prompt(2).rsplit(f"❯ /plugin install {source}", 1)[-1]
    assert "Installed fmt 2.0.0 (user scope)" in said and "skills: /fmt:tidy" in said
    assert "It takes effect in the next session" in said

    listed = term.command("/plugin list", 3)
    assert "✔ fmt 2.0.0 (user) · enabled" in listed
    assert "1 skill, 1 hook, 1 MCP server" in listed
    trust = json.loads((cli.home / "plugins" / "trust.json").read_text())
    assert set(trust["user"]) == {"fmt"}
