"""Where MCP servers come from, through the real CLI: every source and which one wins a name,
the project's servers held back until trusted, entries that are wrong, and `${VAR}`s.

Most servers here are entries for the one shared HTTP fake (each entry is a connection of
its own, named as the entry says): its `headers` tool tells which entry a call went through."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fakes.script import text, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import (
    SCRIPT,
    HttpServer,
    error_lines,
    mcp_tools,
    remote,
    results,
    run,
    servers,
    write,
)
from tests.toolkit import call


def claude_json(cli: Cli) -> Path:
    return cli.home.parent / ".claude.json"  # HOME is the folder above ~/.nano_claude


def tagged(server: HttpServer, source: str, **headers: str) -> dict:
    return remote(server.url, headers={"X-Source": source, **headers})


def header(server: str, name: str = "x-source") -> object:
    return call(f"mcp__{server}__headers", {"name": name}, id=f"toolu_{server}_{name}")


def test_every_source_is_read_and_the_higher_one_wins_a_name_with_its_whole_entry(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer, tmp_path: Path) -> None:
    project = str(cli.project)
    write(claude_json(cli), {
        "mcpServers": {"a": tagged(mcp_http, "claude-user", **{"X-Extra": "merged?"}),
                       "f": tagged(mcp_http, "claude-user")},
        "projects": {project: {"mcpServers": {"c": tagged(mcp_http, "claude-local"),
                                              "d": tagged(mcp_http, "claude-local")}}},
    })
    write(cli.home / "mcp.json", {"mcpServers": {"a": tagged(mcp_http, "nano-user"),
                                                 "b": tagged(mcp_http, "nano-user")}})
    write(cli.project / ".mcp.json", {"mcpServers": {"b": tagged(mcp_http, "project"),
                                                     "c": tagged(mcp_http, "project")}})
    flag_file = write(tmp_path / "flag.json", {"mcpServers": {"d": tagged(mcp_http, "flag-file"),
                                                              "e": tagged(mcp_http, "flag-file")}})
    inline = servers(e=tagged(mcp_http, "flag-inline"))
    fake_server.script(
        tool_calls(*(header(s) for s in "abcdef"), header("a", "x-extra")),
        text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", str(flag_file), "--mcp-config", inline)
    assert out.returncode == 0, out.stderr
    got = [r.text for r in results(fake_server.model_requests[1])]
    assert got == [
        "nano-user",  # a: ~/.nano_claude/mcp.json over ~/.claude.json's user servers
        "project",  # b: .mcp.json over the user's
        "claude-local",  # c: ~/.claude.json projects[<this project>] over .mcp.json
        "flag-file",  # d: --mcp-config over everything in files
        "flag-inline",  # e: a later --mcp-config over an earlier one
        "claude-user",  # f: only in ~/.claude.json, read as it is
        "<absent>",  # a's winner had no X-Extra: entries are never merged field by field
    ]


@pytest.mark.parametrize("how", ["not approved", "--accept-all", "trust_project_mcp",
                                 "project settings", "approved before", "approved, then changed"])
def test_a_projects_servers_run_headless_only_when_the_user_trusts_them(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer, how: str) -> None:
    write(cli.project / ".mcp.json", {"mcpServers": {"repo": remote(mcp_http.url)}})
    args = ["--mcp-config", servers(mine=remote(mcp_http.url))]
    if how == "--accept-all":
        args.append("--accept-all")
    elif how == "trust_project_mcp":
        cli.write_config(trust_project_mcp=True)
    elif how.startswith("approved"):  # as the REPL records a "Start all" answer
        from nano_claude.extensions.mcp import config as mcp_config
        from nano_claude.paths import Paths

        paths = Paths(cli.home, cli.project / ".nano_claude")
        found = mcp_config.load(paths, cli.project, cli.home.parent, {})
        mcp_config.remember(paths, cli.project, [found.servers["repo"]], [])
        if how.endswith("changed"):  # a later pull changes the command: asked again, not run
            write(cli.project / ".mcp.json", {"mcpServers": {"repo": remote(mcp_http.url, X="y")}})
    elif how == "project settings":  # the repository may not vouch for itself
        write(cli.project / ".nano_claude" / "settings.json", {"trust_project_mcp": True})
        out = run(cli, fake_server, *args)
        assert out.returncode != 0
        assert error_lines(out.stderr) == [
            f"nano_claude: {cli.project / '.nano_claude' / 'settings.json'}: a project's settings cannot "
            "set trust_project_mcp=True (a repository you clone could send your keys elsewhere or run "
            "commands unasked); set it in ~/.nano_claude/config.json, the environment or a flag"]
        assert fake_server.model_requests == []
        return
    fake_server.script(text("done"))
    out = run(cli, fake_server, *args)
    assert out.returncode == 0, out.stderr
    offered = mcp_tools(fake_server.model_requests[0])
    assert "mcp__mine__echo" in offered
    if how in ("not approved", "approved, then changed"):
        assert "mcp__repo__echo" not in offered
        assert error_lines(out.stderr) == [
            f"nano_claude: MCP server 'repo' from {cli.project / '.mcp.json'} was not started: this "
            "project's servers run only once you approve them (start nano_claude here and answer, or /mcp), "
            "or with --accept-all, or setting trust_project_mcp"]
    else:
        assert "mcp__repo__echo" in offered
        assert out.stderr == ""


def test_read_claude_config_false_leaves_claude_codes_servers_out(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    local = {str(cli.project): {"mcpServers": {"cclocal": remote(mcp_http.url)}}}
    write(claude_json(cli), {"mcpServers": {"cc": remote(mcp_http.url)}, "projects": local})
    write(cli.home / "mcp.json", {"mcpServers": {"mine": remote(mcp_http.url)}})
    cli.write_config(read_claude_config=False)
    fake_server.script(text("done"))
    out = run(cli, fake_server)
    assert out.returncode == 0, out.stderr
    # (by default they are read: test_every_source_is_read_and_the_higher_one_wins...)
    assert {t.split("__")[1] for t in mcp_tools(fake_server.model_requests[0])} == {"mine"}


def test_strict_mcp_config_uses_only_the_servers_the_flags_give(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    write(claude_json(cli), {"mcpServers": {"cc": remote(mcp_http.url)}})
    write(cli.home / "mcp.json", {"mcpServers": {"user": remote(mcp_http.url)}})
    write(cli.project / ".mcp.json", {"mcpServers": {"repo": remote(mcp_http.url)}})
    fake_server.script(text("done"))
    out = run(cli, fake_server, "--accept-all", "--strict-mcp-config",
              "--mcp-config", servers(flag=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    assert {t.split("__")[1] for t in mcp_tools(fake_server.model_requests[0])} == {"flag"}


def test_malformed_entries_are_skipped_with_one_line_each_and_the_other_servers_work(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    claude = write(claude_json(cli), {"mcpServers": {
        "notype": {"url": mcp_http.url},
        "socket": {"type": "websocket", "url": "ws://127.0.0.1:1/"},
        "nocmd": {"args": ["--port", "1"]},
        "good": remote(mcp_http.url),
    }})
    broken = cli.home / "mcp.json"
    broken.write_text('{"mcpServers": {"lost": {"command": "x"}},\n  oops\n}')
    fake_server.script(tool_calls(call("mcp__good__echo", {"text": "still here"})), text("done"))
    out = run(cli, fake_server, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"
    assert sorted(error_lines(out.stderr)) == sorted([
        f"nano_claude: {broken} line 2 column 3: Expecting property name enclosed in double quotes; "
        "fix the file (nothing was changed) (its MCP servers were skipped)",
        f"nano_claude: {claude}: MCP server 'notype' has a url but no type; add \"type\": \"http\" "
        "(or \"sse\"); it was skipped",
        f"nano_claude: {claude}: MCP server 'socket': type 'websocket' is not one of stdio, http, sse; "
        "it was skipped",
        f"nano_claude: {claude}: MCP server 'nocmd' has no \"command\"; add the program to run (or a "
        "\"type\" and \"url\" for a remote server); it was skipped",
    ])
    assert {t.split("__")[1] for t in mcp_tools(fake_server.model_requests[0])} == {"good"}
    assert results(fake_server.model_requests[1])[0].text == "echo: still here"
    assert "oops" in broken.read_text()  # a broken file is never rewritten


@pytest.mark.parametrize("value, message", [
    ('{"mcpServers": {', "--mcp-config: not JSON (line 1 column 17: Expecting property name enclosed in "
                         "double quotes)"),
    ("no-such-servers.json", "--mcp-config no-such-servers.json: no such file; give a JSON file or an "
                             "inline JSON object like '{\"mcpServers\": {...}}'"),
    ('{"servers": {}}', "--mcp-config: expected an object with \"mcpServers\": {NAME: {...}}"),
])
def test_an_unreadable_mcp_config_flag_stops_the_run_before_it_starts(
        cli: Cli, fake_server: FakeModelServer, value: str, message: str) -> None:
    out = run(cli, fake_server, "--mcp-config", value)
    assert out.returncode != 0
    assert error_lines(out.stderr) == [f"nano_claude: {message}"]
    assert fake_server.model_requests == []


def test_variables_expand_in_command_args_env_url_and_headers(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer, mcp_sse: HttpServer,
        tmp_path: Path) -> None:
    config = write(tmp_path / "servers.json", {"mcpServers": {
        "local": {"command": "${T_PYTHON}",
                  "args": ["${T_SCRIPT}", "normal", "--tag", "${T_TAG:-the-default}"],
                  "env": {"GREETING": "hello ${T_WHO}", "LEFT": "${T_UNSET_ONE}"}},
        "web": {"type": "http", "url": "http://127.0.0.1:${T_HTTP_PORT}/mcp",
                "headers": {"Authorization": "Bearer ${T_TOKEN}", "X-Default": "${T_NOPE:-fallback}",
                            "X-Unset": "keep ${T_UNSET_TWO}"}},
        "stream": {"type": "sse", "url": "http://127.0.0.1:${T_SSE_PORT}/sse",
                   "headers": {"Authorization": "Bearer ${T_TOKEN}"}},
    }})
    env = {"T_PYTHON": sys.executable, "T_SCRIPT": SCRIPT, "T_WHO": "world", "T_TOKEN": "tok-123",
           "T_HTTP_PORT": str(mcp_http.port), "T_SSE_PORT": str(mcp_sse.port)}
    fake_server.script(tool_calls(
        call("mcp__local__argv", {}),
        call("mcp__local__env", {"name": "GREETING"}),
        call("mcp__local__env", {"name": "LEFT"}),
        header("web", "authorization"), header("web", "x-default"), header("web", "x-unset"),
        header("stream", "authorization"),
    ), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", str(config), env=env)
    assert out.returncode == 0, out.stderr
    assert [r.text for r in results(fake_server.model_requests[1])] == [
        "normal --tag the-default tag=the-default", "hello world", "${T_UNSET_ONE}",
        "Bearer tok-123", "fallback", "keep ${T_UNSET_TWO}", "Bearer tok-123"]
    where = f"nano_claude: --mcp-config {config}: MCP server"
    assert error_lines(out.stderr) == [
        f"{where} 'local': ${{T_UNSET_ONE}} in env.LEFT is not set and has no default; it is passed "
        "as written",
        f"{where} 'web': ${{T_UNSET_TWO}} in headers.X-Unset is not set and has no default; it is passed "
        "as written",
    ]
