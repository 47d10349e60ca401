"""A local server's real context window, learned before the prompt is built (the real CLI
against fake vLLM, llama.cpp, LM Studio and Ollama servers): it picks the tool profile and
the compaction window, is remembered so later starts ask nothing, and a server that is
down or silent costs a start nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nano_claude.extensions.agents.tools import agent_tools
from nano_claude.tools.registry import COMPACT, builtin_tools
from tests.conftest import Cli, CliResult
from tests.fakes import ollama_wire
from tests.fakes.openai_wire import llamacpp_models, llamacpp_props, lmstudio_model, vllm_models
from tests.fakes.script import Usage, text, tool_call
from tests.fakes.server import FakeModelServer

# assemble adds the sub-agent tools, and the skill tools (the built-in /commit and /review are always there)
FULL = sorted([*(t.name for t in [*builtin_tools(), *agent_tools()]), "Skill", "SkillList"])
CODER = "Qwen/Qwen2.5-Coder-32B-Instruct"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens


def sent_tools(server: FakeModelServer, index: int = 0) -> list[str]:
    tools = server.model_requests[index].body.get("tools", [])
    return sorted(t["function"]["name"] for t in tools)


def probes(server: FakeModelServer) -> list[str]:
    """Requests that were not model requests: what the start asked the server."""
    return [f"{r.method} {r.path}" for r in server.requests if not r.protocol]


def remembered(cli: Cli) -> dict[str, Any]:
    path = Path(cli.env["XDG_CACHE_HOME"]) / "nano_claude" / "windows.json"
    return json.loads(path.read_text())["windows"] if path.exists() else {}


def run_custom(cli: Cli, server_url: str, *args: str, model: str = CODER) -> CliResult:
    return cli.run("-p", "hi", "-m", f"custom/{model}", *args,
                   env={"CUSTOM_BASE_URL": server_url + "/v1"})


def test_a_32k_vllm_model_gets_every_tool(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", vllm_models((CODER, 32768)))
    fake_server.script(text("Hi."))
    result = run_custom(cli, fake_server.url)
    assert result.returncode == 0, result.stderr
    assert sent_tools(fake_server) == FULL
    assert probes(fake_server) == ["GET /v1/models"]


def test_the_window_is_remembered_and_a_second_start_asks_nothing(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", vllm_models(("other", 4096), (CODER, 32768)))
    fake_server.script(text("Hi."), text("Hi again."))
    assert run_custom(cli, fake_server.url).returncode == 0
    [(key, entry)] = remembered(cli).items()
    assert key == f"custom {fake_server.url}/v1 {CODER}" and entry["window"] == 32768
    asked_first = probes(fake_server)

    result = run_custom(cli, fake_server.url)
    assert result.returncode == 0, result.stderr
    assert asked_first == ["GET /v1/models"] and probes(fake_server) == asked_first  # none more
    assert sent_tools(fake_server, 1) == FULL


def test_the_remembered_window_is_the_compaction_window(cli: Cli, fake_server: FakeModelServer) -> None:
    """20,000 prompt tokens are past 70% of the 8,192 assumed for an unlisted model (which
    would send a summary request, unscripted here) but well inside the 32,768 remembered."""
    fake_server.route("GET", "/v1/models", vllm_models((CODER, 32768)))
    (cli.project / "notes.txt").write_text("remember the milk\n")
    fake_server.script(text("Hi."))
    assert run_custom(cli, fake_server.url).returncode == 0
    fake_server.script(tool_call("Read", {"file_path": "notes.txt"}, usage=Usage(input=20000)),
                       text("It says to remember the milk.", usage=Usage(input=20100)))
    result = cli.run("-p", "what do my notes say?", "-m", f"custom/{CODER}",
                     env={"CUSTOM_BASE_URL": fake_server.url + "/v1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "It says to remember the milk."
    assert probes(fake_server) == ["GET /v1/models"]  # the second start read it from the cache


SERVERS = [
    # (id, model, base URL suffix, routes, tool profile expected)
    ("llama.cpp-32k", "custom/model.gguf", "/v1",
     [("GET", "/v1/models", llamacpp_models("model.gguf", 131072)),
      ("GET", "/props", llamacpp_props(32768))], "full"),
    ("llama.cpp-4k", "custom/model.gguf", "/v1",  # trained for 131,072 but started with -c 4096
     [("GET", "/v1/models", llamacpp_models("model.gguf", 131072)),
      ("GET", "/props", llamacpp_props(4096))], "compact"),
    ("lmstudio-loaded-32k", "lmstudio/qwen2.5-coder-32b-instruct", "/v1",
     [("GET", "/api/v0/models/qwen2.5-coder-32b-instruct",
       lmstudio_model("qwen2.5-coder-32b-instruct", 131072, loaded=32768))], "full"),
    ("ollama-32k", "ollama/qwen2.5-coder:32b", "",
     [("POST", "/api/show", ollama_wire.show("qwen2", 32768))], "full"),
    ("ollama-4k", "ollama/llama3.2:1b", "",
     [("POST", "/api/show", ollama_wire.show("llama", 4096))], "compact"),
]
BASE_ENV = {"custom": "CUSTOM_BASE_URL", "lmstudio": "LMSTUDIO_BASE_URL", "ollama": "OLLAMA_HOST"}


@pytest.mark.parametrize(("model", "suffix", "routes", "profile"),
                         [s[1:] for s in SERVERS], ids=[s[0] for s in SERVERS])
def test_each_server_says_its_window_in_its_own_terms(
        cli: Cli, fake_server: FakeModelServer, model: str, suffix: str,
        routes: list[tuple[str, str, Any]], profile: str) -> None:
    for method, path, body in routes:
        fake_server.route(method, path, body)
    fake_server.script(text("Hi."))
    env = {BASE_ENV[model.split("/")[0]]: fake_server.url + suffix}
    result = cli.run("-p", "hi", "-m", model, env=env)
    assert result.returncode == 0, result.stderr
    assert sent_tools(fake_server) == (FULL if profile == "full" else sorted(COMPACT))
    [entry] = remembered(cli).values()
    assert entry["window"] in (4096, 32768)


def test_a_server_that_says_nothing_leaves_the_compact_profile(
        cli: Cli, fake_server: FakeModelServer) -> None:
    for path in ("/v1/models", "/props", f"/api/v0/models/{CODER}"):
        fake_server.route("GET", path, {"error": "not found"}, status=404)
    fake_server.script(text("Hi."), text("Hi."))
    assert run_custom(cli, fake_server.url).returncode == 0
    assert sent_tools(fake_server) == sorted(COMPACT)
    asked = len(probes(fake_server))
    assert run_custom(cli, fake_server.url).returncode == 0
    assert len(probes(fake_server)) == asked  # "it did not say" is remembered too (for a day)


def test_a_server_that_is_down_costs_the_start_nothing(cli: Cli) -> None:
    result = run_custom(cli, CLOSED, "--output-format", "stream-json", "--verbose")
    assert result.returncode == 1
    init = result.json_lines()[0]
    assert sorted(init["tools"]) == sorted(COMPACT)  # the 8,192-token guess stands
    assert "cannot reach custom at http://127.0.0.1:9/v1" in result.stdout + result.stderr
    assert "retrying" not in result.stdout + result.stderr
    assert remembered(cli) == {}  # nothing learned, so the next start asks again


def test_a_server_too_busy_to_answer_the_probe_is_not_waited_for(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.hold("GET", "/v1/models")
    fake_server.script(text("Hi."))
    result = run_custom(cli, fake_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hi.\n" and result.stderr == ""
    assert sent_tools(fake_server) == sorted(COMPACT)
    assert remembered(cli) == {}


def test_doctor_shows_the_learned_window_and_remembers_it(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", vllm_models((CODER, 32768)))
    fake_server.script(tool_call("ping", {"message": "hi"}))
    result = cli.run("doctor", "--quick", env={"CUSTOM_BASE_URL": fake_server.url + "/v1",
                                               "NANO_CLAUDE_MODEL": f"custom/{CODER}"})
    assert ("context window 32,768 tokens (reported by the server; remembered for later starts)"
            in result.stdout), result.stdout
    assert [e["window"] for e in remembered(cli).values()] == [32768]
