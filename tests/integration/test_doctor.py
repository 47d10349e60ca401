"""`nano_claude doctor` against fake servers: what it reports and its exit code."""

from __future__ import annotations

from tests.conftest import Cli
from tests.fakes.server import FakeModelServer

SECRET = "sk-doctor-secret-123456"
CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens


def test_reports_a_healthy_anthropic_provider(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"data": [{"id": "claude-sonnet-4-6"}]})
    result = cli.run("doctor", env={"ANTHROPIC_API_KEY": SECRET,
                                    "ANTHROPIC_BASE_URL": fake_server.url})
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ reachable" in out and "✓ key accepted" in out
    assert "claude-sonnet-4-6 is in the catalog" in out and "200,000 tokens" in out
    assert fake_server.requests[0].headers["x-api-key"] == SECRET
    assert SECRET not in out


def test_rejected_key_says_which_variable(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"error": {"message": "bad key"}}, status=401)
    result = cli.run("doctor", env={"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": fake_server.url + "/v1"})
    assert result.returncode == 1
    assert "key rejected (401)" in result.stdout and "OPENAI_API_KEY" in result.stdout


def test_ollama_context_window_and_tools_from_api_show(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/api/tags", {"models": [{"name": "qwen2.5-coder:7b"}]})
    fake_server.route("POST", "/api/show", {"model_info": {"qwen2.context_length": 32768},
                                            "capabilities": ["completion", "tools"]})
    result = cli.run("doctor", "--quick", env={"OLLAMA_HOST": fake_server.url})
    assert result.returncode == 0, result.stdout
    assert "context window 32,768 tokens" in result.stdout
    assert "tool calling: native" in result.stdout


def test_unreachable_configured_server_fails_with_a_hint(cli: Cli) -> None:
    result = cli.run("doctor", env={"CUSTOM_BASE_URL": CLOSED + "/v1"})
    assert result.returncode == 1
    assert "not reachable at http://127.0.0.1:9/v1" in result.stdout


def test_custom_server_tool_calling_is_tried_for_real(cli: Cli, fake_server: FakeModelServer) -> None:
    from tests.fakes.script import tool_call

    fake_server.route("GET", "/v1/models", {"data": [{"id": "qwen-coder", "max_model_len": 16384}]})

    def asks_with_a_tool(body: dict) -> None:
        assert body["tools"][0]["function"]["name"] == "ping" and body["stream"] is False

    fake_server.script(tool_call("ping", {"message": "hi"}, expect=asks_with_a_tool))
    result = cli.run("doctor", "--quick", env={"CUSTOM_BASE_URL": fake_server.url + "/v1",
                                               "NANO_CLAUDE_MODEL": "custom/qwen-coder"})
    assert result.returncode == 0, result.stdout
    assert "tool calling: native" in result.stdout
    assert "context window 16,384 tokens" in result.stdout


def test_ollama_prompt_speed_comes_from_its_own_timings(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/api/tags", {"models": [{"name": "qwen2.5-coder:7b"}]})
    fake_server.route("POST", "/api/show", {"model_info": {"qwen2.context_length": 65536}})
    fake_server.route("POST", "/api/generate", {
        "response": "ok", "done": True, "prompt_eval_count": 300,
        "prompt_eval_duration": 2_000_000_000, "load_duration": 1_500_000_000})
    result = cli.run("doctor", env={"OLLAMA_HOST": fake_server.url})
    assert result.returncode == 0, result.stdout
    assert ("prompt processing 150 tokens/s (300 tokens in 2.00 s): a 1,000-token prompt waits "
            "about 6.7 s for its first word; loading the model took 1.5 s") in result.stdout
    [asked] = [r.body for r in fake_server.requests if r.path == "/api/generate"]
    assert asked["options"] == {"num_predict": 1, "num_ctx": 32768}  # the window sent in sessions
    assert asked["keep_alive"] == "30m" and asked["raw"] is True and asked["stream"] is False
    assert len(asked["prompt"]) > 1000


def test_a_llama_cpp_server_reports_its_own_prompt_timings(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"data": [{"id": "qwen-coder", "max_model_len": 16384}]})
    fake_server.route("POST", "/v1/chat/completions", {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 310, "completion_tokens": 1, "total_tokens": 311},
        "timings": {"prompt_n": 310, "prompt_ms": 1240.0}})
    result = cli.run("doctor", env={"CUSTOM_BASE_URL": fake_server.url + "/v1",
                                    "NANO_CLAUDE_MODEL": "custom/qwen-coder"})
    assert "prompt processing 250 tokens/s (310 tokens in 1.24 s)" in result.stdout, result.stdout
    chats = [r.body for r in fake_server.requests if r.path == "/v1/chat/completions"]
    speed_asks = [b for b in chats if "tools" not in b]
    assert [b["max_tokens"] for b in speed_asks] == [1, 1]
    first, second = (b["messages"][0]["content"] for b in speed_asks)
    assert first[:15] != second[:15]  # a fresh nonce each: no server prompt cache answers


def test_a_failed_measurement_is_reported_not_fatal(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/api/tags", {"models": [{"name": "llama3.2"}]})
    fake_server.route("POST", "/api/show", {"capabilities": ["completion", "tools"]})
    fake_server.route("POST", "/api/generate", {"error": "model requires more system memory"}, status=500)
    result = cli.run("doctor", env={"OLLAMA_HOST": fake_server.url})
    assert result.returncode == 0, result.stdout
    assert ('prompt processing: not measured (HTTP 500: {"error": "model requires more system memory"})'
            in result.stdout)
