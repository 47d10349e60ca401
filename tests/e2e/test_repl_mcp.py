"""MCP servers in the REPL, in a real terminal, with the real `mcp-server-time`: /mcp, the
question a project's .mcp.json servers wait on, and /mcp add during a session."""

from __future__ import annotations

import json
import re
import stat
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.conftest import terminal_env
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import text
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

TIME = str(Path(sys.executable).with_name("mcp-server-time"))
QUESTION = r"This project's \.mcp\.json wants to start 1 MCP server: time\s+\([\s\S]*?mcp-server-time\)"


def tool_names(request) -> set[str]:
    return {tool["name"] for tool in request.body.get("tools", [])}


def last_output(screen: str, command: str) -> str:
    """What the newest run of `command` printed."""
    return screen.rsplit(f"❯ {command}", 1)[-1]


def wait_connected(term: Terminal, name: str, prompts: int, timeout: float = 30) -> tuple[str, int]:
    """Ask /mcp until it shows `name` connected; its output, and the prompts shown so far."""
    deadline = time.monotonic() + timeout
    while True:
        prompts += 1
        shown = term.command("/mcp", prompts)
        if re.search(rf"^{name}: .*✔ connected", shown, re.M):
            return shown, prompts
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not connect within {timeout}s:\n{shown}")


def send(term: Terminal, message: str) -> None:
    term.type(message)
    term.send("Enter")


def test_mcp_shows_a_configured_server_connected_with_its_tools(term: Terminal, cli: Cli) -> None:
    (cli.home / "mcp.json").write_text(json.dumps({"mcpServers": {"time": {"command": TIME}}}))
    term.start().wait_prompt()
    shown, prompts = wait_connected(term, "time", 1)
    assert "✔ connected · 2 tools" in shown and "(stdio)" in shown
    assert "from ~/.nano_claude/mcp.json (user)" in shown and "time.log" in shown
    detail = term.command("/mcp time", prompts + 1)
    assert "mcp__time__get_current_time" in detail and "mcp__time__convert_time" in detail
    term.type("/mcp g")  # Tab completes the subcommand, then the server's name
    term.send("Tab")
    term.wait_for(r"❯ /mcp get $|❯ /mcp get\s*$")
    term.type("ti")
    term.send("Tab")
    term.wait_for(r"❯ /mcp get time\s*$")


def test_project_servers_are_asked_about_before_the_first_message_and_start_all_is_remembered(
        term: Terminal, cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    (cli.project / ".mcp.json").write_text(json.dumps({"mcpServers": {"time": {"command": TIME}}}))
    fake_server.script(text("first answer"), text("second answer"))
    term.start().wait_for(r"starts? only once you\s+approve")
    term.wait_prompt()
    pending = term.command("/mcp", 2)  # a command first: nothing is asked yet
    assert "⏸ pending approval" in pending and "wants to start" not in term.screen()
    send(term, "what time is it?")
    screen = term.wait_for(QUESTION)
    assert "Start all" in screen and "Choose" in screen and "None" in screen
    term.wait_for(r"^\[1-3\]\s*$")
    send(term, "1")
    term.wait_for("first answer")
    first = tool_names(fake_server.model_requests[0])
    assert {"mcp__time__get_current_time", "mcp__time__convert_time"} <= first
    send(term, "/exit")
    term.wait_for("Session saved")  # (tmux now and then takes long to see the exit: not waited for)

    again = Terminal(tmp_path / "again", terminal_env(cli, fake_server), cli.project)
    again.workdir.mkdir()
    try:
        again.start().wait_prompt()
        wait_connected(again, "time", 1)
        send(again, "and now?")
        again.wait_for("second answer")
        assert not re.search(QUESTION, again.screen())
        assert "mcp__time__get_current_time" in tool_names(fake_server.model_requests[1])
    finally:
        again.close()


def test_none_keeps_project_servers_off_until_mcp_approve(term: Terminal, cli: Cli,
                                                           fake_server: FakeModelServer) -> None:
    (cli.project / ".mcp.json").write_text(json.dumps({"mcpServers": {"time": {"command": TIME}}}))
    fake_server.script(text("answered without tools"), text("answered with tools"))
    term.start().wait_prompt()
    send(term, "what time is it?")
    term.wait_for(r"^\[1-3\]\s*$")
    send(term, "3")
    term.wait_for("answered without tools")
    assert not any(name.startswith("mcp__") for name in tool_names(fake_server.model_requests[0]))
    shown = term.command("/mcp", 3)
    assert "time: " in shown and "⊘ denied" in shown
    assert not (cli.home / "logs" / "mcp" / "time.log").exists()  # it never started
    term.type("/mcp approve time")
    term.send("Enter")
    term.wait_for(r"^time: .*✔ connected · 2 tools")
    term.wait_prompt(4)
    send(term, "and now?")
    term.wait_for("answered with tools")
    assert "mcp__time__get_current_time" in tool_names(fake_server.model_requests[1])


def test_choose_asks_about_each_project_server(term: Terminal, cli: Cli,
                                               fake_server: FakeModelServer) -> None:
    servers = {"alpha": {"command": TIME}, "beta": {"command": TIME, "args": ["--local-timezone", "UTC"]}}
    (cli.project / ".mcp.json").write_text(json.dumps({"mcpServers": servers}))
    fake_server.script(text("done"))
    term.start().wait_prompt()
    send(term, "hello")
    term.wait_for(r"wants to start 2 MCP servers: alpha [\s\S]*?,\s+beta")
    term.wait_for(r"^\[1-3\]\s*$")
    send(term, "2")
    term.wait_for(r"Start alpha: .*mcp-server-time\?")
    term.wait_for(r"^\[1-2\]\s*$")
    send(term, "yes")
    term.wait_for(r"Start beta: .*mcp-server-time --local-timezone UTC\?")
    term.wait_for(r"^\[1-2\]\s*$")  # the first one shows its answer now
    send(term, "2")
    term.wait_for("done")
    names = tool_names(fake_server.model_requests[0])
    assert "mcp__alpha__get_current_time" in names and not any(n.startswith("mcp__beta") for n in names)
    assert "Kept off: beta" in term.screen()


def test_mcp_add_gives_the_next_request_the_servers_tools(term: Terminal, cli: Cli,
                                                          fake_server: FakeModelServer) -> None:
    fake_server.script(text("it is noon"))
    term.start().wait_prompt()
    assert "No MCP servers are configured" in term.command("/mcp", 2)
    term.type(f"/mcp add clock -e TOKEN=sekrit-123 -- {TIME} --local-timezone UTC")
    term.send("Enter")
    term.wait_for(r"^clock: .*✔ connected · 2 tools")
    entry = json.loads((cli.home / "mcp.json").read_text())["mcpServers"]["clock"]
    assert entry["command"] == TIME and entry["args"] == ["--local-timezone", "UTC"]
    assert stat.S_IMODE((cli.home / "mcp.json").stat().st_mode) == 0o600
    term.wait_prompt(3)
    send(term, "what time is it?")
    term.wait_for("it is noon")
    assert {"mcp__clock__get_current_time", "mcp__clock__convert_time"} <= tool_names(
        fake_server.model_requests[0])
    history = (cli.home / "input_history").read_text()
    assert "what time is it?" in history and "sekrit-123" not in history  # a token stays out of it


def test_an_mcp_prompt_is_a_slash_command_and_a_resource_an_at_mention(
        term: Terminal, cli: Cli, fake_server: FakeModelServer) -> None:
    from tests.integration.mcp_support import fake

    (cli.home / "mcp.json").write_text(json.dumps({"mcpServers": {"notes": fake()}}))
    fake_server.script(text("reviewed"), text("read it"))
    term.start().wait_prompt()
    _, prompts = wait_connected(term, "notes", 1)
    term.type("/mcp__notes__re")  # Tab completes the prompt's command
    term.send("Tab")
    term.wait_for(r"❯ /mcp__notes__review\s*$")
    term.type(" parser.py speed")
    term.send("Enter")
    term.wait_for("reviewed")
    sent = fake_server.model_requests[0].body["messages"][-1]["content"]
    assert [b["text"] for b in sent if b["type"] == "text"] == ["Please review parser.py, looking for speed."]
    term.wait_prompt(prompts + 1)
    term.type("what does @notes:notes://f")  # ... and Tab completes a resource's URI
    term.send("Tab")
    term.wait_for(r"❯ what does @notes:notes://first\s*$")
    term.type(" say?")
    term.send("Enter")
    term.wait_for("read it")
    sent = fake_server.model_requests[1].body["messages"][-1]["content"]
    texts = [b["text"] for b in sent if b["type"] == "text"]
    assert texts[0] == "what does @notes:notes://first say?"
    assert '<resource server="notes" uri="notes://first">\nthe first note\'s text\n</resource>' in texts[1]
    term.type("/mcp__notes__review")  # a required argument left out: said, nothing sent
    term.send("Enter")
    term.wait_for(r"/mcp__notes__review file \[focus\]: missing file")
    assert len(fake_server.model_requests) == 2
