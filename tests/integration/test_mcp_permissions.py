"""Permission rules on MCP tools, through the real CLI in auto mode with nobody to ask: a tool
runs only when a rule (in Claude Code's syntax) allows it, or when its server marks it
read-only and the user trusts that mark.

One run holds several servers, all entries for the shared HTTP fake, each judged by a
different rule: the call on each shows what its rule did."""

from __future__ import annotations

from tests.conftest import Cli
from tests.fakes.script import text, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import HttpServer, mcp_tools, remote, results, run, servers
from tests.toolkit import call

DENIED = "Permission denied: {tool} needs approval"


def test_allow_rules_in_claude_codes_syntax_let_mcp_tools_run_and_the_rest_are_refused(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    names = ("none", "exact", "server", "star", "glob", "hidden")
    config = servers(**{name: remote(mcp_http.url) for name in names})
    calls = [call(f"mcp__{name}__add", {"a": 2, "b": 3}, id=f"toolu_{name}_add") for name in names[:5]]
    calls += [call("mcp__none__echo", {"text": "read-only"}, id="toolu_none_echo"),  # trusted? not by default
              call("mcp__glob__echo", {"text": "not ad*"}, id="toolu_glob_echo")]
    fake_server.script(tool_calls(*calls), text("done"))
    out = run(cli, fake_server, "--mcp-config", config, "--allowedTools", "mcp__exact__add,mcp__server",
              "--allowedTools", "mcp__star__* mcp__glob__ad*", "--disallowedTools", "mcp__hidden")
    assert out.returncode == 0, out.stderr
    first, second = fake_server.model_requests
    assert not any(t.startswith("mcp__hidden__") for t in mcp_tools(first))  # denied: not even offered
    assert "mcp__none__add" in mcp_tools(first)  # asks: offered, refused when called
    got = {r.block["tool_use_id"]: r for r in results(second)}
    for name in ("exact", "server", "star", "glob"):
        assert (got[f"toolu_{name}_add"].text, got[f"toolu_{name}_add"].is_error) == ("sum: 5", False), name
    for tool_id, tool in (("toolu_none_add", "mcp__none__add"), ("toolu_none_echo", "mcp__none__echo"),
                          ("toolu_glob_echo", "mcp__glob__echo")):
        assert got[tool_id].is_error, tool_id
        assert got[tool_id].text.startswith(DENIED.format(tool=tool)), got[tool_id].text
    assert "--allowedTools 'mcp__none__add'" in got["toolu_none_add"].text  # the fix, for the user


def test_a_tool_marked_read_only_runs_unasked_only_when_the_user_trusts_the_mark(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    cli.write_config(mcp_trust_read_only=True)
    fake_server.script(tool_calls(call("mcp__web__echo", {"text": "marked read-only"}, id="toolu_echo"),
                                  call("mcp__web__add", {"a": 1, "b": 1}, id="toolu_add")), text("done"))
    out = run(cli, fake_server, "--mcp-config", servers(web=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    echo, add = results(fake_server.model_requests[1])
    assert (echo.text, echo.is_error) == ("echo: marked read-only", False)
    assert add.is_error and add.text.startswith(DENIED.format(tool="mcp__web__add"))  # no mark: still asks
