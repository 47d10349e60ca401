"""MCP servers at run time, through the real CLI: what a stdio server may see, where its
stderr goes, and servers that are missing, crash, hang, are slow or offer a bad schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.mcp_servers import STDERR_LINE
from tests.fakes.script import text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import (
    MODEL,
    SECRET,
    HttpServer,
    error_lines,
    fake,
    mcp_tools,
    remote,
    result,
    results,
    run,
    servers,
    write,
)
from tests.processes import alive
from tests.toolkit import call


def test_a_stdio_server_sees_only_allowed_variables_and_its_stderr_goes_to_its_log(
        cli: Cli, fake_server: FakeModelServer) -> None:
    from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS

    fake_server.script(tool_calls(
        call("mcp__fake__env_names", {}),
        call("mcp__fake__env", {"name": "NANO_CLAUDE_PROJECT_DIR"}),
        call("mcp__fake__env", {"name": "CLAUDE_PROJECT_DIR"}),
        call("mcp__fake__env", {"name": "OWN_SETTING"}),
    ), text("done"))
    out = run(cli, fake_server, "--accept-all",
              "--mcp-config", servers(fake=fake(env={"OWN_SETTING": "from its entry"})),
              env={"PARENT_TOKEN": "do-not-leak"})  # and ANTHROPIC_API_KEY, set by run()
    assert out.returncode == 0, out.stderr
    names, project_dir, claude_dir, own = (r.text for r in results(fake_server.model_requests[1]))
    seen = set(names.split())
    assert {"HOME", "PATH", "OWN_SETTING", "NANO_CLAUDE_PROJECT_DIR", "CLAUDE_PROJECT_DIR"} <= seen
    # Python itself may add LC_CTYPE (PEP 538) in a C locale
    assert seen - {"LC_CTYPE"} <= {*DEFAULT_INHERITED_ENV_VARS, "OWN_SETTING", "NANO_CLAUDE_PROJECT_DIR",
                                   "CLAUDE_PROJECT_DIR"}
    assert "ANTHROPIC_API_KEY" not in seen and "PARENT_TOKEN" not in seen
    assert project_dir == claude_dir == str(cli.project)
    assert own == "from its entry"
    assert out.stderr == ""  # not the server's stderr
    log = cli.home / "logs" / "mcp" / "fake.log"
    assert f"{STDERR_LINE} (normal, pid " in log.read_text()
    assert SECRET not in log.read_text()


def test_servers_that_cannot_start_are_reported_and_the_others_still_work(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    config = servers(missing={"command": "/nonexistent/mcp-server", "args": ["--stdio"]},
                     dies=fake("crash-start"), schemas=fake("bad-schema"), good=remote(mcp_http.url))
    fake_server.script(tool_calls(call("mcp__good__echo", {"text": "hi"}),
                                  call("mcp__schemas__good", {"x": "fine"})), text("answered"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", config)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "answered\n"
    log = cli.home / "logs" / "mcp" / "dies.log"
    assert sorted(error_lines(out.stderr)) == [
        f"note: MCP server 'dies' is not available: the server closed the connection before it answered "
        f"(log: {log})",
        "note: MCP server 'missing' is not available: cannot run '/nonexistent/mcp-server': not found; "
        "check \"command\" (and PATH)",
    ]
    assert "cannot start, on purpose" in log.read_text()
    offered = mcp_tools(fake_server.model_requests[0])
    assert "mcp__good__echo" in offered and "mcp__schemas__good" in offered
    assert "mcp__schemas__bad" not in offered  # its schema is not JSON Schema: providers refuse it
    assert not any(t.startswith(("mcp__missing__", "mcp__dies__")) for t in offered)
    assert [r.text for r in results(fake_server.model_requests[1])] == ["echo: hi", "good: fine"]


def test_a_server_that_never_answers_is_given_up_on_and_the_run_answers(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    cli.write_config(mcp_connect_timeout=3)  # room for the good server on a loaded machine
    fake_server.script(text("answered"))
    out = run(cli, fake_server, "--mcp-config", servers(hangs=fake("hang"), good=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "answered\n"
    log = cli.home / "logs" / "mcp" / "hangs.log"
    assert error_lines(out.stderr) == [
        f"note: MCP server 'hangs' is not available: did not answer within 3 s (log: {log})"]
    offered = mcp_tools(fake_server.model_requests[0])
    assert "mcp__good__echo" in offered
    assert not any(t.startswith("mcp__hangs__") for t in offered)
    pid = int(re.search(r"\(hang, pid (\d+)\)", log.read_text()).group(1))
    assert not alive(pid)  # stopped, though it ignores its input closing


def test_a_crashed_server_is_started_again_once_and_the_call_goes_through(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    state = tmp_path / "crashed"
    fake_server.script(tool_call("mcp__flaky__echo", {"text": "first"}),
                       tool_call("mcp__flaky__add", {"a": 1, "b": 2}), text("done"))
    out = run(cli, fake_server, "--accept-all",
              "--mcp-config", servers(flaky=fake("crash", "--state", str(state))))
    assert out.returncode == 0, out.stderr
    assert state.exists()  # the first server did crash
    first, second = result(fake_server.model_requests[1]), result(fake_server.model_requests[2])
    assert (first.text, first.is_error) == ("echo: first", False)
    assert (second.text, second.is_error) == ("sum: 3", False)
    log = (cli.home / "logs" / "mcp" / "flaky.log").read_text()
    assert "crashing on purpose" in log
    assert log.count(STDERR_LINE) == 2  # started, crashed, started once more


def test_a_slow_server_has_its_tools_in_the_first_request(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("mcp__slow__echo", {"text": "worth the wait"}), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(slow=fake("slow")))
    assert out.returncode == 0, out.stderr
    assert "mcp__slow__echo" in mcp_tools(fake_server.model_requests[0])
    assert result(fake_server.model_requests[1]).text == "echo: worth the wait"


def test_a_run_without_mcp_servers_never_imports_the_sdk(cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.home / "mcp.json", {"mcpServers": {}})  # a file with no servers costs nothing either
    fake_server.script(text("no servers"))
    code = ("import sys\nfrom nano_claude.cli import main\n"
            f"code = main(['-p', 'hi', '-m', {MODEL!r}])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types')), code)")
    env = {**cli.env, "ANTHROPIC_BASE_URL": fake_server.url, "ANTHROPIC_API_KEY": SECRET}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cli.project,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "no servers\n[] 0\n"
    assert len(fake_server.model_requests) == 1


def test_a_call_past_the_servers_timeout_is_an_error_the_model_reads_and_the_server_still_works(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    fake_server.script(tool_calls(call("mcp__web__sleep", {"seconds": 3}),
                                  call("mcp__web__echo", {"text": "ok"})), text("done"))
    config = servers(web=remote(mcp_http.url, timeout=300))  # milliseconds, as Claude Code's
    out = run(cli, fake_server, "--accept-all", "--mcp-config", config)
    assert out.returncode == 0, out.stderr
    slow, echo = results(fake_server.model_requests[1])
    assert (slow.text, slow.is_error) == ("mcp__web__sleep did not answer within 0.3 s", True)
    assert (echo.text, echo.is_error) == ("echo: ok", False)
