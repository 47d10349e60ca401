"""The real CLI against a scripted OpenAI-compatible server whose model goes in circles:
a headless run stops with a clear error and exit code 1 instead of calling tools forever;
and against one whose model never sees tool results, which is found out and sent them
as text."""

from __future__ import annotations

from tests.conftest import Cli, CliResult
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer


def run(cli: Cli, server: FakeModelServer, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """`-p "Say hello in five words."` with a custom model the server lists."""
    server.route("GET", "/v1/models", {"data": [{"id": "my-model", "max_model_len": 32768}]})
    return cli.run("-p", "Say hello in five words.", "-m", "custom/my-model", *args,
                   env={"CUSTOM_BASE_URL": server.url + "/v1", **(env or {})})


def test_a_model_repeating_a_call_is_stopped_and_the_run_fails(cli: Cli,
                                                                fake_server: FakeModelServer) -> None:
    (cli.project / "notes.txt").write_text("buy milk\n")
    fake_server.script(*[tool_call("Glob", {"pattern": "*.txt"}, id=f"call_{i}") for i in range(3)])
    result = run(cli, fake_server)
    assert result.returncode == 1, result.stderr
    assert "error: stopped: the model made the same call 3 times in a row" in result.stderr
    assert 'Glob({"pattern": "*.txt"})' in result.stderr


def test_calls_without_progress_stop_at_the_configured_limit(cli: Cli,
                                                              fake_server: FakeModelServer) -> None:
    patterns = ("*.py", "*.md", "*.toml")
    fake_server.script(*[tool_call("Glob", {"pattern": p}, id=f"call_{i}")
                         for i, p in enumerate(patterns)])
    result = run(cli, fake_server, "--output-format", "json",
                 env={"NANO_CLAUDE_MAX_CALLS_WITHOUT_PROGRESS": "3"})
    assert result.returncode == 1
    data = result.json()
    assert data["is_error"] and data["subtype"] == "error_during_execution"
    assert data["result"].startswith("stopped after 3 tool calls without reading a new file")


def test_a_server_that_hides_tool_results_gets_them_as_text(cli: Cli,
                                                            fake_server: FakeModelServer) -> None:
    """As llama-cpp-python's server with chatml-function-calling: its prompt count does not
    change with a tool result's size, because its template leaves `tool` messages out."""
    (cli.project / "notes.txt").write_text("buy milk\n" * 20)
    fake_server.drops_tool_results = True

    def sees_the_file_as_text(body: dict) -> None:
        assert "tools" not in body
        assert '<tool_result name="Read">' in body["messages"][-1]["content"]
        assert "buy milk" in body["messages"][-1]["content"]

    fake_server.script(tool_call("Read", {"file_path": "notes.txt"}),
                       text("It says to buy milk.", expect=sees_the_file_as_text))
    result = run(cli, fake_server, "--allowedTools", "Read")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "It says to buy milk.\n"
    assert "does not show the model the tool results it is sent" in result.stderr
    assert len(fake_server.probes) == 2
