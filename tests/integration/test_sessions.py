"""Sessions through the real CLI: transcripts that survive `kill -9`, -c and --resume for
-p and the REPL, resume on another provider, /save /load /resume, autosave on the way
out, and search over every saved session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import hanging, text, tool_call
from tests.fakes.server import FakeModelServer

CLAUDE, GPT = "claude-sonnet-4-6", "gpt-4.1"


def keys(server: FakeModelServer) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": server.url,
            "OPENAI_API_KEY": "sk-oai-test", "OPENAI_BASE_URL": server.url + "/v1"}


def sessions(cli: Cli) -> Path:
    return cli.home / "sessions"


def transcripts(cli: Cli) -> list[Path]:
    return sorted((sessions(cli) / "transcripts").glob("*.jsonl"))


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def messages_in(path: Path) -> list[dict[str, Any]]:
    return [r["message"] for r in records(path) if r["type"] == "message"]


def index(cli: Cli) -> dict[str, Any]:
    return json.loads((sessions(cli) / "history.json").read_text())


def prompts_sent(body: dict[str, Any]) -> list[str]:
    """The user's own words in a request (either wire format), in order."""
    found = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            found.append(content)
        else:
            found.extend(b["text"] for b in content if b.get("type") == "text")
    return found


def spawn(cli: Cli, server: FakeModelServer, *args: str) -> subprocess.Popen[str]:
    """A run to kill: -p runs get no standard input; the REPL reads lines from a pipe."""
    stdin = subprocess.DEVNULL if "-p" in args else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "nano_claude", *args], cwd=cli.project,
                            env={**cli.env, **keys(server)}, stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"the run {'ended' if proc.returncode else 'timed out'}:\n{out}\n{err}")
        time.sleep(0.02)


def kill_group_of(pid_file: Path) -> None:
    """The command the killed run left behind (kill -9 gives the run no chance to stop it)."""
    try:
        os.killpg(os.getpgid(int(pid_file.read_text())), signal.SIGKILL)
    except (ProcessLookupError, ValueError):
        pass


# --- kill -9 --------------------------------------------------------------------------------


def test_kill_9_mid_answer_keeps_every_finished_message_and_resumes_valid(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("Bash", {"command": "echo tool-ran"}, id="toolu_1"),
                       hanging("half of an answ"))
    proc = spawn(cli, fake_server, "-p", "run it", "-m", CLAUDE, "--accept-all")
    wait_until(proc, lambda: len(fake_server.model_requests) == 2 and len(transcripts(cli)) == 1
               and len(messages_in(transcripts(cli)[0])) == 3)
    proc.kill()
    proc.communicate(timeout=30)

    path = transcripts(cli)[0]
    kept = messages_in(path)
    assert [m["role"] for m in kept] == ["user", "assistant", "user"]
    assert kept[1]["content"][0]["id"] == "toolu_1"
    assert "tool-ran" in kept[2]["content"][0]["content"][0]["text"]
    assert "half of an answ" not in path.read_text()  # the message in flight, and only it, is lost

    fake_server.script(text("picked up"))
    resumed = cli.run("-p", "go on", "-c", "-m", CLAUDE, "--output-format", "json", env=keys(fake_server))
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.json()["session_id"] == path.stem  # the same session, appended to
    body = fake_server.model_requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "user"]
    assert prompts_sent(body) == ["run it", "go on"]
    assert [r["role"] for r in messages_in(path)] == ["user", "assistant", "user", "user", "assistant"]


def test_kill_9_while_a_tool_runs_resumes_with_the_call_answered_as_interrupted(
        cli: Cli, fake_server: FakeModelServer) -> None:
    pid_file = cli.project / "bash.pid"
    command = f"echo $$ > {pid_file}; sleep 300"
    fake_server.script(tool_call("Bash", {"command": command}, id="toolu_slow"))
    proc = spawn(cli, fake_server, "-p", "wait for it", "-m", CLAUDE, "--accept-all")
    try:
        wait_until(proc, lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        kill_group_of(pid_file)
    assert "tool_call" in [r["type"] for r in records(transcripts(cli)[0])]

    fake_server.script(text("ok"))
    resumed = cli.run("-p", "what happened?", "-c", "-m", CLAUDE, env=keys(fake_server))
    assert resumed.returncode == 0, resumed.stderr
    assert "was running when the session stopped" in resumed.stderr
    body = fake_server.model_requests[-1].body
    answer = body["messages"][2]["content"][0]
    assert answer["type"] == "tool_result" and answer["tool_use_id"] == "toolu_slow"
    assert answer["is_error"] is True and "Interrupted" in answer["content"][0]["text"]


def test_kill_9_during_a_permission_question_resumes_knowing_the_call_never_ran(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("Write", {"file_path": "notes.txt", "content": "hi"}, id="toolu_w"))
    proc = spawn(cli, fake_server, "-m", CLAUDE)  # the REPL, reading lines from a pipe
    assert proc.stdin is not None
    proc.stdin.write("write the notes\n")
    proc.stdin.flush()
    wait_until(proc, lambda: any("permission_pending" in p.read_text() for p in transcripts(cli)))
    proc.kill()
    proc.communicate(timeout=30)

    fake_server.script(text("understood"))
    resumed = cli.run("-c", "-m", CLAUDE, input="go on\n", env=keys(fake_server))
    assert resumed.returncode == 0, resumed.stderr
    assert "Write(notes.txt) was waiting for your permission when the session stopped" in resumed.stdout
    answer = fake_server.model_requests[-1].body["messages"][2]["content"][0]
    assert answer["tool_use_id"] == "toolu_w" and "Not run" in answer["content"][0]["text"]
    assert not (cli.project / "notes.txt").exists()


# --- continue and resume --------------------------------------------------------------------------


def test_continue_and_resume_a_headless_session(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("one"), text("two"), text("three"))
    first = cli.run("-p", "first", "-m", CLAUDE, "--output-format", "json", env=keys(fake_server))
    session_id = first.json()["session_id"]
    second = cli.run("-p", "second", "-c", "-m", CLAUDE, "--output-format", "json", env=keys(fake_server))
    assert second.json()["session_id"] == session_id
    assert prompts_sent(fake_server.model_requests[-1].body) == ["first", "second"]
    third = cli.run("-p", "third", "--resume", session_id[:6], "-m", CLAUDE, env=keys(fake_server))
    assert third.returncode == 0, third.stderr
    assert prompts_sent(fake_server.model_requests[-1].body) == ["first", "second", "third"]
    assert len(transcripts(cli)) == 1
    assert index(cli)["sessions"][0]["turn_count"] == 3

    elsewhere = cli.project / "elsewhere"
    elsewhere.mkdir()
    lost = subprocess.run([sys.executable, "-m", "nano_claude", "-p", "hi", "-c", "-m", CLAUDE],
                          cwd=elsewhere, env={**cli.env, **keys(fake_server)}, capture_output=True, text=True,
                          timeout=60)
    assert lost.returncode == 2 and "no saved session in" in lost.stderr
    unknown = cli.run("-p", "hi", "--resume", "nope", "-m", CLAUDE, env=keys(fake_server))
    assert unknown.returncode == 2 and "no saved session has the id 'nope'" in unknown.stderr


def test_continue_and_resume_in_the_repl(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("hi there"), text("again to you"), text("third answer"))
    first = cli.run("-m", CLAUDE, input="hello\n/exit\n", env=keys(fake_server))
    assert first.returncode == 0, first.stderr
    session_id = transcripts(cli)[0].stem
    assert f"Session saved: {session_id[:8]}" in first.stdout
    again = cli.run("-c", "-m", CLAUDE, input="again\n", env=keys(fake_server))
    assert f"Resumed session {session_id[:8]}" in again.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["hello", "again"]
    third = cli.run("--resume", session_id, "-m", CLAUDE, input="third\n", env=keys(fake_server))
    assert third.returncode == 0, third.stderr
    assert prompts_sent(fake_server.model_requests[-1].body) == ["hello", "again", "third"]
    assert len(transcripts(cli)) == 1


@pytest.mark.parametrize(("first", "then"), [(CLAUDE, GPT), (GPT, CLAUDE)], ids=["anthropic-openai",
                                                                                 "openai-anthropic"])
def test_a_conversation_with_tool_calls_continues_on_another_provider(
        cli: Cli, fake_server: FakeModelServer, first: str, then: str) -> None:
    (cli.project / "data.txt").write_text("forty-two\n")
    fake_server.script(tool_call("Read", {"file_path": "data.txt"}, id="call_read_1"), text("It says 42."),
                       text("Yes, 42."))
    started = cli.run("-p", "what is in data.txt?", "-m", first, env=keys(fake_server))
    assert started.returncode == 0, started.stderr
    continued = cli.run("-p", "sure?", "-c", "-m", then, env=keys(fake_server))
    assert continued.returncode == 0, continued.stderr
    body = fake_server.model_requests[-1].body
    if then == GPT:
        roles = [m["role"] for m in body["messages"] if m["role"] != "system"]
        assert roles == ["user", "assistant", "tool", "assistant", "user"]
        call = next(m for m in body["messages"] if m.get("tool_calls"))["tool_calls"][0]
        result = next(m for m in body["messages"] if m["role"] == "tool")
        assert call["id"] == result["tool_call_id"] == "call_read_1" and call["function"]["name"] == "Read"
        assert "forty-two" in json.dumps(result["content"])
    else:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant", "user"]
        use = next(b for b in body["messages"][1]["content"] if b["type"] == "tool_use")
        result = body["messages"][2]["content"][0]
        assert use["id"] == result["tool_use_id"] == "call_read_1" and use["name"] == "Read"
        assert "forty-two" in json.dumps(result["content"])
    assert prompts_sent(body)[-1] == "sure?"


def test_a_corrupt_transcript_line_is_skipped_with_a_warning(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("one"), text("two"))
    cli.run("-p", "first", "-m", CLAUDE, env=keys(fake_server))
    path = transcripts(cli)[0]
    with path.open("a") as f:
        f.write('{"type": "message", "message": {"role": "user", "content": [{"type": "tex\n')
    resumed = cli.run("-p", "second", "-c", "-m", CLAUDE, env=keys(fake_server))
    assert resumed.returncode == 0, resumed.stderr
    assert "skipped unreadable line" in resumed.stderr and "line 4" in resumed.stderr
    assert prompts_sent(fake_server.model_requests[-1].body) == ["first", "second"]


# --- the REPL's commands ---------------------------------------------------------------------------


def test_save_then_load_by_name(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("noted"), text("you said hello"))
    saved = cli.run("-m", CLAUDE, input="/save\nhello\n/save mywork\n", env=keys(fake_server))
    assert "Nothing to save yet: the conversation is empty." in saved.stdout
    path = sessions(cli) / "mywork.json"
    assert f"Session saved → {path}" in saved.stdout
    snapshot = json.loads(path.read_text())
    assert snapshot["turn_count"] == 1 and snapshot["title"] == "hello"
    assert [m["role"] for m in snapshot["messages"]] == ["user", "assistant"]
    loaded = cli.run("-m", CLAUDE, input="/load mywork\nwhat did I say?\n", env=keys(fake_server))
    assert "Loaded ~/.nano_claude/sessions/mywork.json: 1 turn, 2 messages" in loaded.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["hello", "what did I say?"]
    missing = cli.run("-m", CLAUDE, input="/load nothing-here\n", env=keys(fake_server))
    assert "no session called 'nothing-here'" in missing.stdout


def two_sessions(cli: Cli, server: FakeModelServer) -> None:
    server.script(text("a1"), text("b1"))
    cli.run("-p", "alpha", "-m", CLAUDE, env=keys(server))
    cli.run("-p", "beta", "-m", CLAUDE, env=keys(server))


def test_load_lists_sessions_by_day_and_continues_the_one_picked(cli: Cli,
                                                                 fake_server: FakeModelServer) -> None:
    two_sessions(cli, fake_server)
    fake_server.script(text("back to alpha"))
    result = cli.run("-m", CLAUDE, input="/load\n2\nmore\n", env=keys(fake_server))
    assert result.returncode == 0, result.stderr
    today = index(cli)["sessions"][0]["saved_at"][:10]
    assert f"── {today} ──" in result.stdout
    assert "turns:1  beta" in result.stdout.split("[ 1]")[1].splitlines()[0]
    assert "[ H] Load ALL history (2 sessions / 2 total turns)" in result.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["alpha", "more"]
    assert len(transcripts(cli)) == 2  # continued: alpha's transcript grew


def test_load_merges_sessions_oldest_first_and_h_loads_everything(cli: Cli,
                                                                  fake_server: FakeModelServer) -> None:
    two_sessions(cli, fake_server)
    fake_server.script(text("merged"), text("everything"))
    merged = cli.run("-m", CLAUDE, input="/load\n1,2\nboth?\n", env=keys(fake_server))
    assert "Merged 2 sessions, oldest first" in merged.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["alpha", "beta", "both?"]
    everything = cli.run("-m", CLAUDE, input="/load\nH\ny\nall?\n", env=keys(fake_server))
    assert "The full history is 3 sessions" in everything.stdout and "tokens" in everything.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["alpha", "beta", "alpha", "beta", "both?",
                                                                 "all?"]
    refused = cli.run("-m", CLAUDE, input="/load\nh\nn\n", env=keys(fake_server))
    assert "Nothing loaded." in refused.stdout


def test_resume_continues_the_latest_session_or_a_file_from_mr_sessions(
        cli: Cli, fake_server: FakeModelServer) -> None:
    two_sessions(cli, fake_server)
    fake_server.script(text("beta again"), text("from the file"))
    latest = cli.run("-m", CLAUDE, input="/resume\nand?\n", env=keys(fake_server))
    assert prompts_sent(fake_server.model_requests[-1].body) == ["beta", "and?"]
    assert "Loaded session" in latest.stdout
    from_file = cli.run("-m", CLAUDE, input="/resume session_latest.json\nfile?\n", env=keys(fake_server))
    assert "mr_sessions/session_latest.json" in from_file.stdout
    assert prompts_sent(fake_server.model_requests[-1].body) == ["beta", "and?", "file?"]


# --- autosave -------------------------------------------------------------------------------------


def test_sigterm_saves_the_session_on_the_way_out(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("listening"))
    proc = spawn(cli, fake_server, "-m", CLAUDE)
    assert proc.stdin is not None
    proc.stdin.write("remember me\n")
    proc.stdin.flush()
    wait_until(proc, lambda: bool(transcripts(cli)) and len(messages_in(transcripts(cli)[0])) == 2)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert "Session saved" in out, err
    entry = index(cli)["sessions"][0]
    assert entry["title"] == "remember me" and entry["turn_count"] == 1
    latest = json.loads((sessions(cli) / "mr_sessions" / "session_latest.json").read_text())
    assert latest["session_id"] == entry["session_id"] and len(latest["messages"]) == 2
    assert len(list((sessions(cli) / "daily").glob("*/session_*.json"))) == 1


def in_a_terminal(cli: Cli, server: FakeModelServer, tmp_path: Path) -> Terminal:
    env = {**{k: v for k, v in cli.env.items() if k != "NO_COLOR"}, **keys(server), "TERM": "xterm-256color"}
    return Terminal(tmp_path, env, cli.project)


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
@pytest.mark.parametrize("twice", [False, True], ids=["ctrl-d", "ctrl-c-twice"])
def test_leaving_a_terminal_repl_saves_the_session(cli: Cli, fake_server: FakeModelServer, tmp_path: Path,
                                                    twice: bool) -> None:
    fake_server.script(text("hi"))
    term = in_a_terminal(cli, fake_server, tmp_path)
    try:
        term.start("-m", CLAUDE).wait_prompt()
        term.type("keep this")
        term.send("Enter")
        term.wait_prompt(2)
        if twice:
            term.send("C-c")
            term.wait_for("Ctrl\\+C again to exit")
            term.send("C-c")
        else:
            term.send("C-d")
        assert term.wait_exit() == 0
        assert "Session saved:" in term.screen()
    finally:
        term.close()
    assert index(cli)["sessions"][0]["title"] == "keep this"


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_load_in_a_terminal_asks_for_a_number(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    two_sessions(cli, fake_server)
    fake_server.script(text("alpha again"))
    term = in_a_terminal(cli, fake_server, tmp_path)
    try:
        term.start("-m", CLAUDE).wait_prompt()
        term.type("/load")
        term.send("Enter")
        term.wait_for("or q to cancel")
        term.type("2")
        term.send("Enter")
        term.wait_for("Loaded session")
        term.wait_prompt(2)
        term.type("more")
        term.send("Enter")
        term.wait_for("alpha again")
    finally:
        term.close()
    assert prompts_sent(fake_server.model_requests[-1].body) == ["alpha", "more"]


def test_sigterm_of_a_headless_run_saves_it_with_the_call_answered(cli: Cli,
                                                                    fake_server: FakeModelServer) -> None:
    pid_file = cli.project / "bash.pid"
    fake_server.script(tool_call("Bash", {"command": f"echo $$ > {pid_file}; sleep 300"}, id="toolu_t"))
    proc = spawn(cli, fake_server, "-p", "wait", "-m", CLAUDE, "--accept-all")
    try:
        wait_until(proc, lambda: pid_file.exists() and pid_file.read_text().strip() != "")
        proc.terminate()
        proc.communicate(timeout=30)
    finally:
        kill_group_of(pid_file)
    assert proc.returncode == 143
    entry = index(cli)["sessions"][0]
    assert entry["title"] == "wait" and entry["message_count"] == 3
    last = messages_in(transcripts(cli)[0])[-1]["content"][0]
    assert last["tool_use_id"] == "toolu_t" and "Interrupted by the user" in last["content"][0]["text"]


def test_clear_starts_a_new_session_and_both_are_saved(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("one"), text("two"))
    result = cli.run("-m", CLAUDE, input="first topic\n/clear\nsecond topic\n", env=keys(fake_server))
    assert result.returncode == 0, result.stderr
    assert prompts_sent(fake_server.model_requests[-1].body) == ["second topic"]
    assert sorted(e["title"] for e in index(cli)["sessions"]) == ["first topic", "second topic"]
    assert len(transcripts(cli)) == 2


def test_the_session_limits_are_settings(cli: Cli, fake_server: FakeModelServer) -> None:
    cli.write_config(session_history_limit=2, session_daily_limit=1)
    fake_server.script(text("1"), text("2"), text("3"))
    for prompt in ("one", "two", "three"):
        cli.run("-p", prompt, "-m", CLAUDE, env=keys(fake_server))
    assert [e["title"] for e in index(cli)["sessions"]] == ["three", "two"]
    assert len(transcripts(cli)) == 2
    assert all(len(list(day.iterdir())) == 1 for day in (sessions(cli) / "daily").iterdir())
    bad = cli.run("-p", "x", env={"NANO_CLAUDE_SESSION_HISTORY_LIMIT": "0"})
    assert bad.returncode == 2 and "session_history_limit" in bad.stderr


# --- search ------------------------------------------------------------------------------------


def test_search_finds_words_in_every_session_and_rebuilds_a_lost_index(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(text("The parser chokes on tabs."), text("Use a dict."))
    cli.run("-p", "why does parsing fail?", "-m", CLAUDE, env=keys(fake_server))
    cli.run("-p", "how to count words", "-m", CLAUDE, env=keys(fake_server))
    found = cli.run("sessions", "search", "pars")
    assert found.returncode == 0, found.stderr
    assert "why does parsing fail?" in found.stdout and "[parser]" in found.stdout
    assert "count words" not in found.stdout

    (sessions(cli) / "search.db").unlink()
    (sessions(cli) / "history.json").unlink()
    rebuilt = cli.run("sessions", "search", "dict")
    assert "how to count words" in rebuilt.stdout and "[dict]" in rebuilt.stdout
    assert "built the search index" in rebuilt.stderr
    listed = cli.run("sessions", "list")
    assert "2 saved session(s)" in listed.stdout and "why does parsing fail?" in listed.stdout

    in_repl = cli.run("-m", CLAUDE, input="/history search tabs\n", env=keys(fake_server))
    assert "[tabs]" in in_repl.stdout and "why does parsing fail?" in in_repl.stdout
    none = cli.run("sessions", "search", "zebra")
    assert "No saved session mentions 'zebra'" in none.stdout


# --- compaction --------------------------------------------------------------------------------


def test_a_compacted_session_keeps_its_first_prompt_as_title_and_counts_every_turn(
        cli: Cli, fake_server: FakeModelServer) -> None:
    cli.write_config(preserve_last_n_turns=1)
    long_answer = "The parser splits on tabs. " * 4000  # enough that a recap shrinks the conversation
    fake_server.script(text(long_answer), text("done"), text("Recap: the parser was fixed."), text("ok"))
    result = cli.run("-m", CLAUDE, input="fix the parser\nsecond\n/compact\nthird\n", env=keys(fake_server))
    assert result.returncode == 0, result.stderr
    assert "Compacted the conversation" in result.stdout
    assert prompts_sent(fake_server.model_requests[-1].body)[0].startswith("This conversation was compacted")
    session_id = transcripts(cli)[0].stem
    assert any(r["type"] == "rewrite" for r in records(transcripts(cli)[0]))

    listed = cli.run("sessions", "list")
    line = listed.stdout.splitlines()[0]
    assert f"{session_id[:8]}    3 turns" in line and line.endswith("  fix the parser")
    fake_server.script(text("four it is"))
    resumed = cli.run("-p", "fourth", "--resume", session_id, "-m", CLAUDE, env=keys(fake_server))
    assert resumed.returncode == 0, resumed.stderr
    entry = index(cli)["sessions"][0]
    assert (entry["title"], entry["turn_count"]) == ("fix the parser", 4)

    (sessions(cli) / "history.json").unlink()  # rebuilt from the transcript and its rewrite
    in_repl = cli.run("-m", CLAUDE, input="/load\nq\n", env=keys(fake_server))
    assert f"id:{session_id[:8]}  turns:4  fix the parser" in in_repl.stdout
