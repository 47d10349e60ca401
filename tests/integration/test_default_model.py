"""Which model runs when none is named: config, then a key, then a local server,
then the embedded model, else a message that says what to do."""

from __future__ import annotations

from tests.conftest import Cli
from tests.fakes.script import text
from tests.fakes.server import FakeModelServer

CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port
NO_LOCAL = {"OLLAMA_HOST": CLOSED, "LMSTUDIO_BASE_URL": CLOSED + "/v1"}


def model_of(server: FakeModelServer) -> str:
    return server.model_requests[0].body["model"]


def test_config_model_wins(cli: Cli, fake_server: FakeModelServer) -> None:
    cli.write_config(model="deepseek/deepseek-reasoner", deepseek_api_key="sk-x",
                     deepseek_base_url=fake_server.url + "/v1")
    fake_server.script(text("hi"))
    result = cli.run("-p", "hi", env={"ANTHROPIC_API_KEY": "sk-other", **NO_LOCAL})
    assert result.returncode == 0, result.stderr
    assert model_of(fake_server) == "deepseek-reasoner"


def test_first_provider_with_a_key(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("hi"))
    result = cli.run("-p", "hi", env={"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": fake_server.url,
                                      "GEMINI_API_KEY": "g-x", **NO_LOCAL})
    assert result.returncode == 0, result.stderr
    assert model_of(fake_server) == "gpt-4.1"


def test_a_local_ollama_that_answers(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/api/tags", {"models": [{"name": "qwen2.5-coder:7b"}]})
    fake_server.route("POST", "/api/show", {"model_info": {"qwen2.context_length": 32768}})
    fake_server.script(text("hi from ollama"))
    result = cli.run("-p", "hi", env={"OLLAMA_HOST": fake_server.url,
                                      "LMSTUDIO_BASE_URL": CLOSED + "/v1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi from ollama\n"
    assert model_of(fake_server) == "qwen2.5-coder:7b"


def test_nothing_available_says_how_to_fix_it(cli: Cli) -> None:
    result = cli.run("-p", "hi", env={**NO_LOCAL,
                                      "NANO_CLAUDE_LOCAL_MODEL_PATH": "/nonexistent/model.gguf"})
    assert result.returncode == 2
    assert "ANTHROPIC_API_KEY" in result.stderr and "[local]" in result.stderr
    assert "/nonexistent/model.gguf is not a file" in result.stderr
