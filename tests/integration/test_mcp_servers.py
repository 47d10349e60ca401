"""Real MCP servers users run, through the real CLI: mcp-server-time and mcp-server-git from
PyPI, and @modelcontextprotocol/server-everything from npm over every transport."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fakes.script import text, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import BIN, mcp_tools, remote, results, run, servers
from tests.toolkit import call


def git_repo(path: Path) -> Path:
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "First commit of the test repository"], check=True)
    (path / "notes.txt").write_text("not added yet\n")
    return path


def test_time_and_git_servers_tools_are_offered_and_their_results_reach_the_model(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    config = servers(time={"command": str(BIN / "mcp-server-time")},
                     git={"command": str(BIN / "mcp-server-git"), "args": ["--repository", str(repo)]})
    fake_server.script(
        tool_calls(call("mcp__time__convert_time", {"source_timezone": "UTC", "time": "12:00",
                                                    "target_timezone": "Asia/Tokyo"}),
                   call("mcp__git__git_log", {"repo_path": str(repo), "max_count": 1}),
                   call("mcp__git__git_status", {"repo_path": str(repo)})),
        text("It is 21:00 in Tokyo."))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", config, prompt="what time is it in Tokyo?")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "It is 21:00 in Tokyo.\n"
    assert out.stderr == ""  # the servers' own chatter goes to their logs
    first, second = fake_server.model_requests
    offered = mcp_tools(first)
    assert {"mcp__time__get_current_time", "mcp__time__convert_time", "mcp__git__git_status",
            "mcp__git__git_log", "mcp__git__git_commit"} <= set(offered)
    assert offered == mcp_tools(second)  # same tools, same order: the cached prefix holds
    converted, log, status = results(second)
    assert not (converted.is_error or log.is_error or status.is_error)
    assert "T21:00:00+09:00" in converted.text and "Asia/Tokyo" in converted.text
    assert "First commit of the test repository" in log.text
    assert "notes.txt" in status.text and "On branch main" in status.text


@pytest.mark.parametrize("transport", ["stdio", "sse", "http"])
def test_server_everything_over_every_transport(cli: Cli, fake_server: FakeModelServer, transport: str,
                                                request: pytest.FixtureRequest) -> None:
    if transport == "stdio":
        entry = {"command": request.getfixturevalue("everything"), "args": ["stdio"]}
    else:
        server = request.getfixturevalue("everything_sse" if transport == "sse" else "everything_http")
        entry = remote(server.url, transport)
    fake_server.script(
        tool_calls(call("mcp__everything__echo", {"message": "over " + transport}),
                   call("mcp__everything__get-sum", {"a": 2, "b": 40}),
                   call("mcp__everything__get-tiny-image", {})),
        text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(everything=entry))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"
    first, second = fake_server.model_requests
    assert {"mcp__everything__echo", "mcp__everything__get-sum",
            "mcp__everything__get-tiny-image"} <= set(mcp_tools(first))
    schemas = {t["name"]: t["input_schema"] for t in first.body["tools"]}
    assert schemas["mcp__everything__get-sum"]["properties"].keys() == {"a", "b"}
    echo, total, image = results(second)
    assert echo.text == f"Echo: over {transport}"
    assert total.text == "The sum of 2 and 40 is 42."
    assert [i["source"]["media_type"] for i in image.images] == ["image/png"]
    assert "Here's the image you requested" in image.text


def test_servers_are_told_the_project_and_added_folders_as_their_roots(
        cli: Cli, fake_server: FakeModelServer, everything: str, tmp_path: Path) -> None:
    extra = tmp_path / "shared-lib"
    extra.mkdir()
    fake_server.script(tool_calls(call("mcp__everything__get-roots-list", {})), text("done"))
    config = servers(everything={"command": everything, "args": ["stdio"]})
    out = run(cli, fake_server, "--accept-all", "--add-dir", str(extra), "--mcp-config", config)
    assert out.returncode == 0, out.stderr
    [roots] = results(fake_server.model_requests[1])
    assert not roots.is_error, roots.text
    assert cli.project.resolve().as_uri() in roots.text and extra.resolve().as_uri() in roots.text
