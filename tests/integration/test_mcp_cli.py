"""`nano_claude mcp list|get|add|add-json|remove|login` through the real CLI, with real servers:
the installed `mcp-server-time` over stdio, and commands that fail in the ways users meet."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

from tests.conftest import Cli

TIME = str(Path(sys.executable).with_name("mcp-server-time"))


def user_file(cli: Cli) -> Path:
    return cli.home / "mcp.json"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def marker_server(marker: Path) -> dict:
    """A server whose start leaves `marker` behind (and which then exits)."""
    return {"command": sys.executable, "args": ["-c", f"open({str(marker)!r}, 'w').close()"]}


def test_add_writes_the_user_file_privately_and_list_and_get_connect_to_it(cli: Cli) -> None:
    added = cli.run("mcp", "add", "time", TIME, "--local-timezone", "UTC")
    assert added.returncode == 0, added.stderr
    assert "Added stdio MCP server time" in added.stdout and "mcp.json" in added.stdout
    data = json.loads(user_file(cli).read_text())
    assert data == {"mcpServers": {"time": {"type": "stdio", "command": TIME,
                                            "args": ["--local-timezone", "UTC"], "env": {}}}}
    assert mode(user_file(cli)) == 0o600

    listed = cli.run("mcp", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("time:"))
    assert "(stdio)" in line and "✔ connected · 2 tools" in line, listed.stdout
    assert "~/.nano_claude/mcp.json (user)" in listed.stdout and "time.log" in listed.stdout

    got = cli.run("mcp", "get", "time")
    assert got.returncode == 0, got.stderr
    assert "mcp__time__get_current_time" in got.stdout and "mcp__time__convert_time" in got.stdout
    assert "args:       --local-timezone UTC" in got.stdout and "✔ connected" in got.stdout


def test_a_server_after_double_dash_gets_its_own_options_and_env_values_stay_hidden(cli: Cli) -> None:
    added = cli.run("mcp", "add", "-e", "API_KEY=supersecret-value", "-e", "REF=${HOME}", "t", "--",
                    TIME, "--local-timezone", "UTC")
    assert added.returncode == 0, added.stderr
    entry = json.loads(user_file(cli).read_text())["mcpServers"]["t"]
    assert entry["args"] == ["--local-timezone", "UTC"]
    assert entry["env"] == {"API_KEY": "supersecret-value", "REF": "${HOME}"}
    got = cli.run("mcp", "get", "t")
    assert got.returncode == 0, got.stderr
    assert "API_KEY=****" in got.stdout and "REF=${HOME}" in got.stdout
    assert "supersecret" not in got.stdout + got.stderr


def test_a_url_becomes_an_http_server_with_its_headers(cli: Cli) -> None:
    added = cli.run("mcp", "add", "web", "https://mcp.example.test/mcp",
                    "-H", "Authorization: Bearer ${TOKEN}")
    assert added.returncode == 0, added.stderr
    entry = json.loads(user_file(cli).read_text())["mcpServers"]["web"]
    assert entry == {"type": "http", "url": "https://mcp.example.test/mcp",
                     "headers": {"Authorization": "Bearer ${TOKEN}"}}


def test_add_json_and_project_scope_write_the_projects_mcp_json(cli: Cli) -> None:
    entry = {"command": TIME, "args": ["--local-timezone", "UTC"]}
    added = cli.run("mcp", "add-json", "clock", json.dumps(entry), "--scope", "project")
    assert added.returncode == 0, added.stderr
    project_file = cli.project / ".mcp.json"
    assert json.loads(project_file.read_text()) == {"mcpServers": {"clock": entry}}
    assert mode(project_file) == 0o644
    assert not user_file(cli).exists()
    by_add = cli.run("mcp", "add", "--scope", "project", "time2", TIME)
    assert by_add.returncode == 0, by_add.stderr
    assert set(json.loads(project_file.read_text())["mcpServers"]) == {"clock", "time2"}

    bad = cli.run("mcp", "add-json", "broken", '{"url": "https://x.test/mcp"}')
    assert bad.returncode == 2 and "no type" in bad.stderr and "nothing was added" in bad.stderr
    assert not user_file(cli).exists()


def test_list_shows_an_unapproved_project_server_as_pending_and_never_starts_it(cli: Cli) -> None:
    marker = cli.project / "started-by-project-server"
    (cli.project / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": marker_server(marker)}}))
    listed = cli.run("mcp", "list")
    assert listed.returncode == 0, listed.stderr
    assert "proj:" in listed.stdout and "⏸ pending approval" in listed.stdout
    got = cli.run("mcp", "get", "proj")
    assert got.returncode == 0 and "⏸ pending approval" in got.stdout
    assert not marker.exists()
    # the same command from the user's own config is trusted: it runs, and leaves the marker
    assert cli.run("mcp", "add-json", "mine", json.dumps(marker_server(marker))).returncode == 0
    cli.run("mcp", "list")
    assert marker.exists()


def test_list_shows_each_failing_server_with_its_error_and_the_others_still_connect(cli: Cli) -> None:
    crash = {"command": sys.executable,
             "args": ["-c", "import sys; sys.stderr.write('boom: no database\\n'); sys.exit(3)"]}
    (cli.home / "mcp.json").write_text(json.dumps({"mcpServers": {
        "missing": {"command": "/nonexistent/mcp-server"},
        "crash": crash,
        "time": {"command": TIME},
        "remote": {"url": "http://127.0.0.1:9/mcp"},
    }}))
    listed = cli.run("mcp", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split(":", 1)[0]: line for line in listed.stdout.splitlines() if not line.startswith(" ")}
    assert "✘ failed" in lines["missing"] and "not found" in lines["missing"]
    assert "✘ failed" in lines["crash"] and "crash.log" in lines["crash"]
    assert "boom: no database" in (cli.home / "logs" / "mcp" / "crash.log").read_text()
    assert "✔ connected" in lines["time"]
    # the skipped entry is named with its fix, not silently dropped
    assert "'remote' has a url but no type" in listed.stdout and '"type": "http"' in listed.stdout


def test_bad_input_is_refused_with_the_fix_and_nothing_is_written(cli: Cli) -> None:
    transport = cli.run("mcp", "add", "--transport", "carrier-pigeon", "x", TIME)
    assert transport.returncode == 2 and "stdio, sse, http" in transport.stderr
    no_command = cli.run("mcp", "add", "x")
    assert no_command.returncode == 2 and "give the command (or URL)" in no_command.stderr
    url_as_stdio = cli.run("mcp", "add", "--transport", "stdio", "x", "https://x.test/mcp")
    assert url_as_stdio.returncode == 2 and "--transport http" in url_as_stdio.stderr
    bad_name = cli.run("mcp", "add", "my server", TIME)
    assert bad_name.returncode == 2 and "letters, digits" in bad_name.stderr
    local = cli.run("mcp", "add", "--scope", "local", "x", TIME)
    assert local.returncode == 2 and "never writes" in local.stderr
    assert not user_file(cli).exists() and not (cli.project / ".mcp.json").exists()

    assert cli.run("mcp", "add", "time", TIME).returncode == 0
    before = user_file(cli).read_text()
    again = cli.run("mcp", "add", "time", TIME, "--local-timezone", "UTC")
    assert again.returncode == 2 and "already has an MCP server named 'time'" in again.stderr
    assert "remove" in again.stderr and user_file(cli).read_text() == before


def test_get_and_remove_of_an_unknown_name_fail_and_say_what_is_there(cli: Cli) -> None:
    assert cli.run("mcp", "add", "time", TIME).returncode == 0
    got = cli.run("mcp", "get", "tme")
    assert got.returncode == 1 and "no MCP server named 'tme'" in got.stderr
    assert "Did you mean time" in got.stderr
    removed = cli.run("mcp", "remove", "nope")
    assert removed.returncode == 1 and "the servers are: time" in removed.stderr


def test_remove_takes_a_server_out_of_the_file_that_has_it(cli: Cli) -> None:
    assert cli.run("mcp", "add", "time", TIME).returncode == 0
    assert cli.run("mcp", "add", "--scope", "project", "clock", TIME).returncode == 0
    removed = cli.run("mcp", "remove", "clock")
    assert removed.returncode == 0 and "Removed MCP server clock from" in removed.stdout
    assert ".mcp.json" in removed.stdout
    assert json.loads((cli.project / ".mcp.json").read_text())["mcpServers"] == {}
    assert set(json.loads(user_file(cli).read_text())["mcpServers"]) == {"time"}
    assert mode(user_file(cli)) == 0o600
    # in both files: the user says which, since the project's file is shared
    assert cli.run("mcp", "add", "--scope", "project", "time", TIME).returncode == 0
    both = cli.run("mcp", "remove", "time")
    assert both.returncode == 2 and "--scope user or --scope project" in both.stderr
    assert cli.run("mcp", "remove", "time", "--scope", "project").returncode == 0
    assert "time" in json.loads(user_file(cli).read_text())["mcpServers"]


def test_a_server_only_claude_code_configures_is_never_removed_from_its_file(cli: Cli) -> None:
    claude = cli.home.parent / ".claude.json"
    claude.write_text(json.dumps({"mcpServers": {"cc": {"command": TIME}}, "numStartups": 3}))
    before = claude.read_bytes()
    listed = cli.run("mcp", "list")
    assert "cc:" in listed.stdout and ".claude.json (user)" in listed.stdout
    removed = cli.run("mcp", "remove", "cc")
    assert removed.returncode == 1
    assert "never writes" in removed.stderr and "claude mcp remove cc" in removed.stderr
    assert claude.read_bytes() == before


def test_login_is_only_for_remote_servers(cli: Cli) -> None:
    assert cli.run("mcp", "add", "time", TIME).returncode == 0
    login = cli.run("mcp", "login", "time")
    assert login.returncode == 2 and "login is for http/sse servers" in login.stderr
    unknown = cli.run("mcp", "login", "nope")
    assert unknown.returncode == 1 and "no MCP server named 'nope'" in unknown.stderr
