"""Names and addresses that cannot work fail at once with one line saying what was wrong,
what exists and how to fix it: an embedded model that is not there, a host name that does
not resolve, nothing listening on this machine's port (the real CLI)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli

INVALID_HOST = "api.nowhere.invalid"  # .invalid never resolves (RFC 6761): no network needed


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["local/llama3", "local:qwen2.5-coder"])
def test_an_unknown_embedded_model_is_an_error_that_lists_what_exists(cli: Cli, name: str) -> None:
    result = cli.run("-p", "hi", "-m", name)
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    model = name.split("/")[-1].split(":")[-1]
    assert f"no embedded model {model!r}" in line
    assert "local/smollm2" in line and f"ollama/{model}" in line
    assert result.stdout == ""


def test_local_model_path_names_its_own_embedded_model(cli: Cli, tmp_path) -> None:
    gguf = tmp_path / "tiny-coder-q4.gguf"
    result = cli.run("-p", "hi", "-m", "local/llama3",
                     env={"NANO_CLAUDE_LOCAL_MODEL_PATH": str(gguf)})
    [line] = error_lines(result.stderr)
    assert "local/smollm2, local/tiny-coder-q4" in line


@pytest.mark.parametrize(("model", "env"), [
    ("gpt-4.1", {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": f"https://{INVALID_HOST}/v1"}),
    ("custom/my-model", {"CUSTOM_BASE_URL": f"http://{INVALID_HOST}:8000/v1"}),
], ids=["hosted", "custom"])
def test_a_host_that_does_not_resolve_fails_once_with_a_clear_message(
        cli: Cli, model: str, env: dict[str, str]) -> None:
    result = cli.run("-p", "hi", "-m", model, env=env)
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert f"the host name {INVALID_HOST!r} does not resolve" in line
    assert "check the base URL" in line and "network connection" in line
    assert "retrying" not in result.stderr and "attempts" not in line  # one attempt, no retries


def test_a_refused_connection_on_this_machine_is_not_retried(cli: Cli) -> None:
    """A hosted provider's base URL pointed at this machine (a proxy that is not running):
    nothing listens there, and waiting 15 s of retries would only hide that."""
    result = cli.run("-p", "hi", "-m", "gpt-4.1",
                     env={"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert "cannot reach openai at http://127.0.0.1:9/v1" in line and "Is the server running?" in line
    assert "retrying" not in result.stderr
