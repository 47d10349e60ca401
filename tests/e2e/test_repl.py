"""The REPL in a real terminal (tmux) against the fake model server: what a user types,
what they see, and what the model receives."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.conftest import Cli
from tests.e2e.conftest import MODEL
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.script import hanging, text, tool_call
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

Server = FakeModelServer


def last_user_text(server: FakeModelServer) -> str:
    message = server.model_requests[-1].body["messages"][-1]
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def test_a_turn_streams_markdown_and_returns_to_the_prompt(term: Terminal, fake_server: Server) -> None:
    fake_server.script(text("# Plan\n\nThis is **important** work.\n\n"
                            "```python\ndef f():\n\n    return 1\n```\n\n1. first\n2. second\n"))
    term.start().wait_prompt()
    screen = term.wait_for("permissions auto")  # said once the session is built, above the prompt
    assert "nano_claude 0.1.0" in screen and f"model {MODEL} (anthropic)" in screen
    term.type("make a plan")
    term.send("Enter")
    term.wait_for("second")
    screen = term.wait_prompt(2)
    shown = f"screen:\n{screen}"
    assert "important" in screen and "**important**" not in screen, shown  # rendered, not raw
    assert "def f():" in screen and "return 1" in screen and "```" not in screen, shown
    assert re.search(r"1\.? first", screen), shown
    assert screen.count("Plan") == 1, shown  # finished blocks are printed once
    assert last_user_text(fake_server) == "make a plan"


def test_a_permission_prompt_answered_each_way(term: Terminal, fake_server: Server, cli: Cli) -> None:
    project = cli.project
    fake_server.script(
        tool_call("Bash", {"command": "touch no.txt"}), text("fine, I will not"),
        tool_call("Bash", {"command": "touch yes.txt"}), text("made it"),
        tool_call("Bash", {"command": "mkdir -p build/a"}), tool_call("Bash", {"command": "mkdir -p build/b"},
                                                                        id="second"), text("two dirs"),
        tool_call("Bash", {"command": "touch always.txt"}), text("all four done"),
    )
    term.start().wait_prompt()
    term.type("one")
    term.send("Enter")
    screen = term.wait_for(r"touch no\.txt(.|\n)*a yes, and allow")  # the whole prompt, choices included
    assert "y yes" in screen and "n no" in screen and "a yes, and allow" in screen
    term.send("n")
    term.wait_for("fine, I will not")
    assert not (project / "no.txt").exists()
    term.wait_prompt(2)
    term.type("two")
    term.send("Enter")
    term.wait_for("touch yes.txt", count=2)  # the prompt's line and the tool line
    term.send("y")
    term.wait_for("made it")
    assert (project / "yes.txt").exists()
    term.wait_prompt(3)
    term.type("three")
    term.send("Enter")
    term.wait_for(r"allow Bash\(mkdir:\*\)")
    term.send("a")
    term.wait_for("two dirs")
    assert (project / "build" / "a").is_dir() and (project / "build" / "b").is_dir()
    screen = term.screen()
    assert screen.count("wants to run") == 3  # the second mkdir was not asked
    term.wait_prompt(4)
    term.type("four")
    term.send("Enter")
    term.wait_for("touch always.txt")
    term.send("d")
    term.wait_for("all four done")
    assert (project / "always.txt").exists()
    local = json.loads((project / ".nano_claude" / "settings.local.json").read_text())
    assert local["permissions"]["allow"] == ["Bash(touch:*)"]
    declined = fake_server.model_requests[1].body["messages"][-1]["content"][0]
    assert declined["is_error"] and "declined" in declined["content"][0]["text"]


def test_an_edit_prompt_shows_the_pending_diff(term: Terminal, fake_server: Server, cli: Cli) -> None:
    (cli.project / "app.py").write_text("x = 1\ny = 2\n")
    fake_server.script(tool_call("Read", {"file_path": "app.py"}),
                       tool_call("Edit", {"file_path": "app.py", "old_string": "x = 1",
                                          "new_string": "x = 42"}),
                       text("changed"))
    term.start().wait_prompt()
    term.type("change x")
    term.send("Enter")
    screen = term.wait_for(r"\+x = 42")
    assert "-x = 1" in screen and "Edit needs permission" in screen
    term.send("y")
    term.wait_for("changed")
    assert (cli.project / "app.py").read_text() == "x = 42\ny = 2\n"


@pytest.mark.parametrize("key", ["C-c", "Escape"])
def test_cancelling_a_turn_keeps_the_conversation_usable(term: Terminal, fake_server: Server,
                                                         key: str) -> None:
    fake_server.script(hanging("Working on it"), text("second answer"))
    term.start().wait_prompt()
    term.type("start something long")
    term.send("Enter")
    term.wait_for("Working on it")
    term.send(key)
    term.wait_for("Interrupted")
    term.wait_prompt(2)
    term.type("try again")
    term.send("Enter")
    term.wait_for("second answer")
    messages = fake_server.model_requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert last_user_text(fake_server) == "try again"


def test_a_thousand_line_paste_arrives_whole_as_one_message(term: Terminal, fake_server: Server) -> None:
    fake_server.script(text("got it"))
    lines = [f"line {i:04d} of the log" for i in range(1000)]
    term.start().wait_prompt()
    term.type("summarise: ")
    term.paste("\n".join(lines))
    term.wait_for(r"\[Pasted text #1 \+1,000 lines\]")
    term.send("Enter")
    term.wait_for("got it")
    assert len(fake_server.model_requests) == 1
    assert last_user_text(fake_server) == "summarise: " + "\n".join(lines)


def test_history_recall_and_search(term: Terminal, fake_server: Server, cli: Cli) -> None:
    fake_server.script(text("one"), text("two"), text("three"))
    term.start().wait_prompt()
    for message, answer in (("first question", "one"), ("second question", "two")):
        term.type(message)
        term.send("Enter")
        term.wait_for(f"^{answer}")
    term.send("Up", "Up")
    term.wait_for(r"❯ first question$")
    term.send("Enter")
    term.wait_for("three")
    assert last_user_text(fake_server) == "first question"
    history = (cli.home / "input_history").read_text()
    assert "+first question" in history and "+second question" in history
    term.wait_prompt(4)
    term.send("C-r")
    term.type("second")
    term.wait_for("second question")


def test_tab_completes_commands_and_paths(term: Terminal, cli: Cli) -> None:
    (cli.project / "notes.md").write_text("hello\n")
    term.start().wait_prompt()
    term.type("/permi")
    term.send("Tab")
    term.wait_for(r"❯ /permissions")
    term.send("C-u")
    term.type("read @not")
    term.send("Tab")
    term.wait_for(r"❯ read @notes\.md")


def test_model_switch_mid_conversation_keeps_the_history(term: Terminal, fake_server: Server) -> None:
    fake_server.script(text("from claude"), text("from gpt", path_contains="/v1/chat/completions"))
    term.start().wait_prompt()
    term.type("hello")
    term.send("Enter")
    term.wait_for("from claude")
    term.wait_prompt(2)
    term.type("/model gpt-4.1")
    term.send("Enter")
    term.wait_for("gpt-4.1")
    term.wait_prompt(3)
    term.type("and you?")
    term.send("Enter")
    term.wait_for("from gpt")
    request = fake_server.model_requests[-1]
    assert request.body["model"] == "gpt-4.1"
    contents = [m.get("content") for m in request.body["messages"] if m["role"] != "system"]
    assert contents[0] == "hello" and contents[1] == "from claude" and contents[2] == "and you?"


def test_leaving_with_ctrl_d_and_with_ctrl_c_twice(term: Terminal) -> None:
    term.start().wait_prompt()
    term.send("C-c")
    term.wait_for("Ctrl\\+C again to exit")
    term.send("C-c")
    assert term.wait_exit() == 0


def test_ctrl_d_leaves(term: Terminal) -> None:
    term.start().wait_prompt()
    term.send("C-d")
    assert term.wait_exit() == 0


def test_at_file_and_bang_command(term: Terminal, fake_server: Server, cli: Cli) -> None:
    (cli.project / "notes.md").write_text("the secret word is pumpkin\n")
    fake_server.script(text("read it"))
    term.start().wait_prompt()
    term.type("!echo from-the-shell")
    term.send("Enter")
    term.wait_for("^from-the-shell")
    term.wait_prompt(2)
    term.type("what does @notes.md say?")
    term.send("Enter")
    term.wait_for("read it")
    sent = last_user_text(fake_server)
    assert "from-the-shell" in sent and "pumpkin" in sent and "what does @notes.md say?" in sent


def test_multiline_input(term: Terminal, fake_server: Server) -> None:
    fake_server.script(text("ok"))
    term.start().wait_prompt()
    term.type("line one\\")
    term.send("Enter")
    term.type("line two")
    term.send("M-Enter")
    term.type("line three")
    term.send("Enter")
    term.wait_for("ok")
    assert last_user_text(fake_server) == "line one\nline two\nline three"


def test_without_a_terminal_the_output_is_plain(cli: Cli, fake_server: Server) -> None:
    fake_server.script(text("# Heading\n\nplain **answer**"), text("second"))
    result = cli.run(input="hello\n/cost\nagain\n", env={
        "ANTHROPIC_BASE_URL": fake_server.url, "ANTHROPIC_API_KEY": "sk-test", "TERM": "xterm-256color",
        "NO_COLOR": ""}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "# Heading\n\nplain **answer**" in result.stdout and "second" in result.stdout
    assert fake_server.model_requests[-1].body["messages"][-1]["content"][0]["text"] == "again"


def test_a_long_command_shows_a_spinner_and_its_tail(term: Terminal, fake_server: Server) -> None:
    command = "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 0.4; done"
    fake_server.script(tool_call("Bash", {"command": command}), text("counted"))
    term.start("--accept-all").wait_prompt()
    term.type("count")
    term.send("Enter")
    running = term.wait_for(r"Bash\(for i in .*\) \ds")  # the spinner, with its elapsed time
    assert "counted" not in running
    running = term.wait_for("tick-3")
    assert "counted" not in running and "✓" not in running  # the tail shows while it runs
    done = term.wait_for("counted")
    assert "✓ tick-8" in done  # what it came to: its last line


def test_keys_and_tokens_stay_out_of_the_history_file(term: Terminal, cli: Cli) -> None:
    term.start().wait_prompt()
    term.type("/config anthropic_api_key=sk-ant-not-for-disk")
    term.send("Enter")
    term.wait_for("anthropic_api_key")
    term.type("/cloudsave ghp_typedwithoutsetup")
    term.send("Enter")
    term.wait_for("Unknown /cloudsave action")
    term.type("/cost")
    term.send("Enter")
    term.wait_prompt(4)
    term.send("Up", "Up")
    term.wait_for(r"❯ /cloudsave ghp_typedwithoutsetup$")  # recalled within the session
    history = cli.home / "input_history"
    text = history.read_text()
    assert "+/cost" in text and "sk-ant-not-for-disk" not in text and "ghp_" not in text
    assert history.stat().st_mode & 0o777 == 0o600


def test_a_setup_error_is_reported_even_when_no_line_arrives(cli: Cli) -> None:
    result = cli.run(input="", env={"NANO_CLAUDE_MODEL": "claude-sonnet-4-6"})
    assert result.returncode == 2
    assert "ANTHROPIC_API_KEY" in result.stdout + result.stderr


def test_ctrl_c_stops_a_long_command_and_the_repl_stays(term: Terminal, cli: Cli,
                                                      fake_server: Server) -> None:
    """/compact waiting on a slow model: Ctrl+C stops the command, not the REPL, and the
    conversation is as it was."""
    cli.write_config(preserve_last_n_turns=1)
    long = "first answer " + "with many words " * 6000  # an older turn worth summarising
    fake_server.script(text(long), text("second answer"), text("A recap.", delay=30), text("still here"))
    term.start().wait_prompt()
    for n, (said, answer) in enumerate((("hello", "first answer"), ("more", "second answer")), 2):
        term.type(said)
        term.send("Enter")
        term.wait_for(answer)
        term.wait_prompt(n)
    term.type("/compact")
    term.send("Enter")
    deadline = time.monotonic() + 20
    while len(fake_server.model_requests) < 3:  # the summary request is out
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)
    term.send("C-c")
    term.wait_for(r"/compact stopped\.")
    term.wait_prompt(4)
    term.type("go on")
    term.send("Enter")
    term.wait_for("still here")
    messages = fake_server.model_requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 2 + ["user"]  # not compacted
