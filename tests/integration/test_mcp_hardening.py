"""What a careless server or a cloned repository must not be able to do to a run: noise on
the screen, a whole server lost to one failing list, a hung start left running, secrets
shown, a saved mode trusting every repository, resources read past a deny rule."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import (
    error_lines,
    fake,
    mcp_tools,
    result,
    run,
    servers,
    tool_names,
    write,
)

RAW = str(Path(__file__).resolve().parents[1] / "fakes" / "mcp_raw_server.py")


def raw(*flags: str) -> dict:
    return {"command": sys.executable, "args": [RAW, *flags]}


def test_a_server_printing_a_banner_on_stdout_puts_nothing_on_the_screen(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("mcp__raw__fine", {}), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(raw=raw("--banner")))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no SDK traceback about the line that is not JSON
    assert result(fake_server.model_requests[1]).text == "fine"


def test_a_server_that_cannot_list_its_prompts_and_resources_keeps_its_tools(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("done"))
    out = run(cli, fake_server, "--mcp-config", servers(raw=raw("--no-lists")))
    assert out.returncode == 0, out.stderr
    assert mcp_tools(fake_server.model_requests[0]) == ["mcp__raw__fine", "mcp__raw__broken_images"]


def test_a_hung_server_behind_a_shell_is_stopped_with_its_children(cli: Cli) -> None:
    marker = f"hung-{uuid.uuid4().hex[:8]}"
    write(cli.home / "mcp.json", {"mcpServers": {"stuck": {
        "command": "sh", "args": ["-c", f"sleep 300 # {marker}\necho never"]}}})
    write(cli.home / "config.json", {"mcp_connect_timeout": 1})
    started = time.monotonic()
    out = cli.run("mcp", "list", timeout=30)
    assert out.returncode == 0, out.stderr
    assert "stuck" in out.stdout and "✘ failed: did not answer within 1 s" in out.stdout
    deadline = time.monotonic() + 10
    while _running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(marker), "the server's processes were left running"
    assert time.monotonic() - started < 20


def _running(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return any(int(pid) != os.getpid() for pid in found.stdout.split())


def test_a_servers_variables_are_shown_by_name_never_by_value(cli: Cli) -> None:
    write(cli.home / "mcp.json", {"mcpServers": {"raw": {**raw(), "args": [RAW, "--token", "${MYTOKEN}"]}}})
    for command in (["mcp", "list"], ["mcp", "get", "raw"]):
        out = cli.run(*command, env={"MYTOKEN": "sk-SECRET-4242"})
        assert out.returncode == 0, out.stderr
        assert "${MYTOKEN}" in out.stdout and "sk-SECRET-4242" not in out.stdout + out.stderr
    log = (cli.home / "logs" / "mcp" / "raw.log").read_text()
    assert "${MYTOKEN}" in log and "sk-SECRET-4242" not in log


def test_a_saved_accept_all_mode_does_not_start_a_projects_servers(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".mcp.json", {"mcpServers": {"repo": raw()}})
    cli.write_config(permission_mode="accept-all")
    fake_server.script(text("done"))
    out = run(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert mcp_tools(fake_server.model_requests[0]) == []
    assert any("MCP server 'repo'" in line and "was not started" in line for line in error_lines(out.stderr))


def test_a_deny_rule_on_a_server_hides_its_resources_too(cli: Cli, fake_server: FakeModelServer) -> None:
    config = servers(notes=fake(), other=raw())
    fake_server.script(text("done"), text("done"))
    assert run(cli, fake_server, "--mcp-config", config).returncode == 0
    assert "ListMcpResources" in tool_names(fake_server.model_requests[0])
    out = run(cli, fake_server, "--mcp-config", config, "--disallowedTools", "mcp__notes",
              prompt="what does @notes:notes://first say?")
    assert out.returncode == 0, out.stderr
    offered = tool_names(fake_server.model_requests[1])
    assert "ListMcpResources" not in offered and "ReadMcpResource" not in offered
    assert "mcp__other__fine" in offered
    sent = fake_server.model_requests[1].body["messages"][-1]["content"]
    assert not any("the first note's text" in str(block) for block in sent)


def test_images_no_provider_would_take_reach_the_model_as_notes(cli: Cli,
                                                                fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("mcp__raw__broken_images", {}), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(raw=raw()))
    assert out.returncode == 0, out.stderr
    answer = result(fake_server.model_requests[1])
    assert answer.images == []  # nothing the provider would refuse on every later request
    assert "not valid base64 data; not shown" in answer.text
    assert "said to be image/png, but its bytes are no PNG" in answer.text and "two images" in answer.text
