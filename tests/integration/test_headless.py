"""The real CLI (`python -m nano_claude -p`) against the fake model server, for every
provider family, every output format and the failure cases users meet."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from tests.conftest import Cli
from tests.fakes.script import Usage, broken, error, text, tool_call
from tests.fakes.server import FakeModelServer

SECRET = "sk-test-secret-0123456789"


@dataclass(frozen=True)
class Family:
    id: str
    model: str
    key_env: str
    base_env: str
    base_suffix: str = ""
    extra_env: dict[str, str] | None = None

    def env(self, server: FakeModelServer) -> dict[str, str]:
        env = {self.base_env: server.url + self.base_suffix, **(self.extra_env or {})}
        if self.key_env:
            env[self.key_env] = SECRET
        return env

    def prepare(self, server: FakeModelServer) -> None:
        if self.id == "ollama":
            server.route("POST", "/api/show", {"model_info": {"llama.context_length": 32768},
                                               "capabilities": ["completion", "tools"]})
        if self.id == "lmstudio":  # LM Studio's own API says what context is loaded
            server.route("GET", "/api/v0/models/qwen2.5-coder-7b",
                         {"id": "qwen2.5-coder-7b", "loaded_context_length": 32768})
        if self.id == "custom":  # a vLLM-style listing with the window it runs with
            server.route("GET", "/v1/models", {"data": [{"id": "my-model", "max_model_len": 16384}]})


FAMILIES = [
    Family("anthropic", "claude-sonnet-4-6", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    Family("openai", "gpt-4.1", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
    Family("deepseek", "deepseek-chat", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "/v1"),
    Family("gemini", "gemini-2.5-flash", "GEMINI_API_KEY", "GEMINI_BASE_URL", "/v1beta"),
    Family("gemini-openai", "gemini/gemini-2.5-flash", "GEMINI_API_KEY", "GEMINI_BASE_URL", "/v1beta",
           {"NANO_CLAUDE_GEMINI_API": "openai"}),
    Family("kimi", "kimi:moonshot-v1-32k", "MOONSHOT_API_KEY", "MOONSHOT_BASE_URL", "/v1"),
    Family("qwen", "qwen-plus", "DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "/compatible-mode/v1"),
    Family("zhipu", "glm-4.6", "ZHIPU_API_KEY", "ZHIPU_BASE_URL", "/api/paas/v4"),
    Family("lmstudio", "lmstudio/qwen2.5-coder-7b", "", "LMSTUDIO_BASE_URL", "/v1"),
    Family("ollama", "ollama/qwen2.5-coder", "", "OLLAMA_HOST"),
    Family("custom", "custom/my-model", "", "CUSTOM_BASE_URL", "/v1"),
]
CORE = [f for f in FAMILIES if f.id in ("anthropic", "openai", "ollama")]
ANSI = re.compile(r"\x1b\[")


@pytest.fixture(params=FAMILIES, ids=lambda f: f.id)
def family(request: pytest.FixtureRequest) -> Family:
    return request.param


def run(cli: Cli, server: FakeModelServer, fam: Family, *args: str, **kw) -> object:
    fam.prepare(server)
    return cli.run("-p", *args, "-m", fam.model, env={**fam.env(server), **kw.pop("env", {})}, **kw)


def test_plain_answer(cli: Cli, fake_server: FakeModelServer, family: Family) -> None:
    fake_server.script(text("Hello from the fake model."))
    result = run(cli, fake_server, family, "say hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from the fake model.\n"
    assert not ANSI.search(result.stdout + result.stderr)


def test_tool_call_then_answer(cli: Cli, fake_server: FakeModelServer, family: Family) -> None:
    (cli.project / "notes.txt").write_text("the secret word is swordfish\n")

    def has_tool_result(body: dict) -> None:
        assert "swordfish" in json.dumps(body), "the tool result was not sent back"

    fake_server.script(
        tool_call("Read", {"file_path": "notes.txt"}),
        text("The word is swordfish.", expect=has_tool_result),
    )
    result = run(cli, fake_server, family, "what is the word?", "--output-format", "json")
    assert result.returncode == 0, result.stderr
    out = result.json()
    assert out["type"] == "result" and out["subtype"] == "success" and out["is_error"] is False
    assert out["result"] == "The word is swordfish."
    assert out["num_turns"] == 2
    assert out["usage"]["input_tokens"] > 0 and out["usage"]["output_tokens"] > 0
    assert re.fullmatch(r"[0-9a-f-]{36}", out["session_id"])


@pytest.mark.parametrize("fam", CORE, ids=lambda f: f.id)
def test_stream_json_emits_events_as_they_happen(cli: Cli, fake_server: FakeModelServer,
                                                 fam: Family) -> None:
    (cli.project / "a.txt").write_text("alpha\n")
    fake_server.script(tool_call("Read", {"file_path": "a.txt"}, text="Looking."), text("Done."))
    result = run(cli, fake_server, fam, "read a.txt", "--output-format", "stream-json")
    assert result.returncode == 0, result.stderr
    events = result.json_lines()
    kinds = [(e["type"], e.get("subtype")) for e in events]
    assert kinds == [("system", "init"), ("assistant", None), ("user", None),
                     ("assistant", None), ("result", "success")]
    init = events[0]
    assert "Read" in init["tools"] and init["session_id"] == events[-1]["session_id"]
    first = events[1]["message"]["content"]
    assert first[0] == {"type": "text", "text": "Looking."}
    assert first[1]["type"] == "tool_use" and first[1]["name"] == "Read"
    result_block = events[2]["message"]["content"][0]
    assert result_block["type"] == "tool_result" and "alpha" in json.dumps(result_block)
    assert events[-1]["result"] == "Done."


def test_stream_json_partial_messages_carry_text_deltas(cli: Cli,
                                                        fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]
    fake_server.script(text("one two three four five six", chunk_size=4))
    result = run(cli, fake_server, fam, "count", "--output-format", "stream-json",
                 "--include-partial-messages")
    deltas = [e["event"]["delta"]["text"] for e in result.json_lines() if e["type"] == "stream_event"]
    assert len(deltas) > 3 and "".join(deltas) == "one two three four five six"


def test_piped_input_is_appended_to_the_prompt(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[1]

    def sees_both(body: dict) -> None:
        user = body["messages"][-1]["content"]
        assert "what is wrong?" in json.dumps(user) and "ZeroDivisionError" in json.dumps(user)

    fake_server.script(text("Division by zero.", expect=sees_both))
    result = run(cli, fake_server, fam, "what is wrong?",
                 input="Traceback...\nZeroDivisionError: division by zero\n")
    assert result.returncode == 0, result.stderr


def test_system_prompt_flags(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]

    def replaced(body: dict) -> None:
        system = json.dumps(body["system"])
        assert "You are a pirate." in system and "nano-claude, a coding agent" not in system
        assert "Always answer in rhyme." in system

    fake_server.script(text("Arr.", expect=replaced))
    result = run(cli, fake_server, fam, "hi", "--system-prompt", "You are a pirate.",
                 "--append-system-prompt", "Always answer in rhyme.")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("fam", CORE, ids=lambda f: f.id)
def test_rate_limit_and_overload_are_retried(cli: Cli, fake_server: FakeModelServer,
                                             fam: Family) -> None:
    fake_server.script(
        error(429, "slow down", headers={"retry-after": "0"}),
        error(529 if fam.id == "anthropic" else 503, "overloaded"),
        text("Made it."),
    )
    result = run(cli, fake_server, fam, "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Made it.\n"
    assert "retrying" in result.stderr
    assert len(fake_server.model_requests) == 3


@pytest.mark.parametrize("fam", CORE, ids=lambda f: f.id)
def test_stream_broken_before_output_is_retried(cli: Cli, fake_server: FakeModelServer,
                                                fam: Family) -> None:
    fake_server.script(broken(after=0), text("Second try."))
    result = run(cli, fake_server, fam, "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Second try.\n"


@pytest.mark.parametrize("fam", CORE, ids=lambda f: f.id)
def test_stream_broken_mid_answer_fails_and_keeps_what_arrived(
        cli: Cli, fake_server: FakeModelServer, fam: Family) -> None:
    fake_server.script(broken("The answer is forty-two and", after=2, chunk_size=6))
    result = run(cli, fake_server, fam, "hi")
    assert result.returncode == 1
    assert result.stdout.startswith("The answer")
    assert "error:" in result.stderr and "broke" in result.stderr.lower()


@pytest.mark.parametrize("fam", [f for f in FAMILIES if f.key_env], ids=lambda f: f.id)
def test_rejected_key_names_the_variable_and_never_shows_the_key(
        cli: Cli, fake_server: FakeModelServer, fam: Family) -> None:
    fake_server.script(error(401, f"invalid api key {SECRET}"))
    result = run(cli, fake_server, fam, "hi", "--output-format", "json")
    assert result.returncode == 1
    out = result.json()
    assert out["is_error"] is True and fam.key_env in out["result"]
    assert SECRET not in result.stdout + result.stderr


def test_missing_key_names_the_variable(cli: Cli) -> None:
    result = cli.run("-p", "hi", "-m", "claude-sonnet-4-6")
    assert result.returncode == 2
    assert "ANTHROPIC_API_KEY" in result.stderr


def test_unknown_model_lists_the_providers(cli: Cli) -> None:
    result = cli.run("-p", "hi", "-m", "frobnicator-9")
    assert result.returncode == 2
    assert "unknown model 'frobnicator-9'" in result.stderr and "anthropic" in result.stderr


def test_bad_usage_exits_2(cli: Cli) -> None:
    assert cli.run("-p", "hi", "--max-turns", "0").returncode == 2
    assert cli.run("-p", "hi", "--output-format", "xml").returncode == 2
    empty = cli.run("-p")
    assert empty.returncode == 2 and "needs a prompt" in empty.stderr


def test_malformed_config_names_file_and_line(cli: Cli) -> None:
    (cli.home / "config.json").write_text('{\n "model": "gpt-4o",\n}\n')
    result = cli.run("-p", "hi")
    assert result.returncode == 2
    assert "config.json line 3" in result.stderr


def test_max_turns_stops_the_run_with_an_error(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]
    fake_server.script(tool_call("Read", {"file_path": "x"}), tool_call("Read", {"file_path": "y"}))
    result = run(cli, fake_server, fam, "loop", "--max-turns", "2", "--output-format", "json")
    assert result.returncode == 1
    out = result.json()
    assert out["subtype"] == "error_max_turns" and out["num_turns"] == 2


def test_headless_denies_shell_without_accept_all(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[1]

    def saw_denial(body: dict) -> None:
        assert "--accept-all" in json.dumps(body["messages"][-1])

    fake_server.script(tool_call("Bash", {"command": "touch pwned"}),
                       text("I could not run it.", expect=saw_denial))
    result = run(cli, fake_server, fam, "touch a file")
    assert result.returncode == 0
    assert not (cli.project / "pwned").exists()
    assert "--accept-all" in result.stderr


def test_accept_all_runs_shell(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[1]
    fake_server.script(tool_call("Bash", {"command": "echo made > made.txt"}), text("Done."))
    result = run(cli, fake_server, fam, "make a file", "--accept-all")
    assert result.returncode == 0, result.stderr
    assert (cli.project / "made.txt").read_text() == "made\n"


def test_cost_and_cache_tokens_in_json(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]
    fake_server.script(text("ok", usage=Usage(input=1000, output=500, cache_read=2000,
                                              cache_write=300)))
    out = run(cli, fake_server, fam, "hi", "--output-format", "json").json()
    assert out["usage"] == {"input_tokens": 1000, "output_tokens": 500,
                            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 300}
    expected = (1000 * 3 + 500 * 15 + 2000 * 0.3 + 300 * 3.75) / 1e6
    assert out["total_cost_usd"] == pytest.approx(expected)


def test_version_and_help_answer(cli: Cli) -> None:
    version = cli.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("nano_claude ")
    helptext = cli.run("--help")
    assert helptext.returncode == 0
    for flag in ("--model", "--accept-all", "--max-turns", "--verbose", "--thinking",
                 "--output-format", "--system-prompt", "--append-system-prompt"):
        assert flag in helptext.stdout


def test_a_local_servers_probed_window_caps_max_tokens(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.route("GET", "/v1/models", {"data": [{"id": "tiny", "max_model_len": 2048}]})

    def capped(body: dict) -> None:
        assert body["max_tokens"] <= 1024

    fake_server.script(text("ok", expect=capped))
    result = cli.run("-p", "hi", "-m", "custom/tiny", env={"CUSTOM_BASE_URL": fake_server.url + "/v1"})
    assert result.returncode == 0, result.stderr


def test_thinking_flag_asks_for_thinking_and_verbose_shows_it(cli: Cli,
                                                              fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]

    def asks_to_think(body: dict) -> None:
        assert body["thinking"]["type"] == "enabled" and body["thinking"]["budget_tokens"] >= 1024

    fake_server.script(text("42.", thinking="Let me consider the question.",
                            thinking_signature="sig-1", expect=asks_to_think))
    result = run(cli, fake_server, fam, "what is 6*7?", "--thinking", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42.\n"
    assert "Let me consider the question." in result.stderr


def test_verbose_shows_tool_calls_and_tokens_on_stderr(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[1]
    (cli.project / "a.txt").write_text("alpha\n")
    fake_server.script(tool_call("Read", {"file_path": "a.txt"}), text("alpha it is"))
    result = run(cli, fake_server, fam, "read it", "--verbose")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "alpha it is\n"
    assert "⚙ Read(a.txt)" in result.stderr and "✓ Read 1 line" in result.stderr  # a summary, not line 1
    assert "tokens: in" in result.stderr


def test_no_escape_codes_when_piped_even_without_no_color(cli: Cli,
                                                          fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]
    fake_server.script(error(429, "slow", headers={"retry-after": "0"}), text("plain"))
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    env.update(fam.env(fake_server), TERM="xterm-256color")
    result = Cli(cli.home, cli.project, env).run("-p", "hi", "-m", fam.model, "--verbose")
    assert result.returncode == 0 and "retrying" in result.stderr
    assert not ANSI.search(result.stdout + result.stderr)


def test_commands_the_model_runs_never_see_provider_keys(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]

    def no_key_in_result(body: dict) -> None:
        sent = json.dumps(body["messages"][-1])
        assert "HOME=" in sent and SECRET not in sent and "ANTHROPIC_API_KEY" not in sent

    fake_server.script(tool_call("Bash", {"command": "env"}), text("done", expect=no_key_in_result))
    result = run(cli, fake_server, fam, "print the environment", "--accept-all")
    assert result.returncode == 0, result.stderr


def test_gemini_can_go_through_its_openai_compatible_endpoint(cli: Cli,
                                                              fake_server: FakeModelServer) -> None:
    fam = next(f for f in FAMILIES if f.id == "gemini-openai")
    fake_server.script(text("via openai", path_contains="/v1beta/openai/chat/completions"))
    result = run(cli, fake_server, fam, "hi")
    assert result.returncode == 0, result.stderr
    assert fake_server.model_requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_json_result_lists_permission_denials(cli: Cli, fake_server: FakeModelServer) -> None:
    fam = FAMILIES[0]
    fake_server.script(tool_call("Bash", {"command": "rm -rf build"}, id="toolu_1"),
                       text("I was not allowed."))
    out = run(cli, fake_server, fam, "clean", "--output-format", "json").json()
    assert out["permission_denials"] == [
        {"tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": {"command": "rm -rf build"}}]
    assert out["subtype"] == "success"


def test_a_bare_disallowed_tool_is_not_offered_and_a_pattern_only_denies(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("ok"), text("ok"))
    env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": fake_server.url}
    cli.run("-p", "hi", "-m", "claude-sonnet-4-6", "--disallowedTools", "Bash,WebFetch", env=env)
    cli.run("-p", "hi", "-m", "claude-sonnet-4-6", "--disallowedTools", "Bash(rm:*)", env=env)
    hidden, patterned = ({t["name"] for t in r.body["tools"]} for r in fake_server.model_requests)
    assert "Bash" not in hidden and "WebFetch" not in hidden and "Read" in hidden
    assert "Bash" in patterned
