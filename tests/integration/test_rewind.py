"""/rewind in the real REPL (reading lines from a pipe) against the fake model server:
files and conversation restored, a resumed session rewinding turns of an earlier run,
the transcript resuming at the rewound point, and in a terminal the rewound message
back in the input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX
from tests.fakes.script import Step, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.test_sessions import CLAUDE, in_a_terminal, keys, prompts_sent


def edit(old: str, new: str, id: str) -> Step:
    return tool_call("Edit", {"file_path": "app.py", "old_string": old, "new_string": new}, id=id)


def two_turns(cli: Cli) -> list[Step]:
    """Turn 1 edits app.py and creates notes.md; turn 2 edits app.py again."""
    (cli.project / "app.py").write_text("x = 1\n")
    return [
        tool_call("Read", {"file_path": "app.py"}, id="call_read_1"),
        edit("x = 1", "x = 2", "call_edit_1"),
        tool_call("Write", {"file_path": "notes.md", "content": "x is two\n"}, id="call_write_1"),
        text("x is two"),
        edit("x = 2", "x = 3", "call_edit_2"),
        text("x is three"),
    ]


def repl(cli: Cli, server: FakeModelServer, lines: str, *args: str) -> str:
    result = cli.run("-m", CLAUDE, "--accept-all", *args, input=lines, env=keys(server))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rewind_both_restores_the_files_and_the_conversation(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(*two_turns(cli), text("starting over"))
    out = repl(cli, fake_server, "make x two\nmake x three\n/rewind 1 both\nmake x ten\n")
    assert (cli.project / "app.py").read_text() == "x = 1\n"
    assert not (cli.project / "notes.md").exists()
    assert "Restored 2 files to before message 1:" in out
    assert "  app.py" in out and "  notes.md (deleted: it did not exist then)" in out
    assert "Changes made by shell commands (Bash, !command) are not tracked" in out
    assert "Conversation rewound to before message 1 (make x two): 12 messages removed." in out
    assert prompts_sent(fake_server.model_requests[-1].body) == ["make x ten"]

    fake_server.script(text("still ten"))
    repl(cli, fake_server, "and now?\n", "-c")  # the transcript resumes at the rewound point
    assert prompts_sent(fake_server.model_requests[-1].body) == ["make x ten", "and now?"]


def test_a_resumed_session_lists_and_rewinds_the_turns_of_an_earlier_run(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(*two_turns(cli))
    repl(cli, fake_server, "make x two\nmake x three\n")
    assert (cli.project / "app.py").read_text() == "x = 3\n"

    out = repl(cli, fake_server, "/rewind\n2\nfiles\n", "-c")
    listing = out.split("Your messages in this conversation")[1]
    assert "make x two" in listing and "app.py, notes.md (new)" in listing
    assert "make x three" in listing
    assert "Restored 1 file to before message 2:\n  app.py" in out
    assert (cli.project / "app.py").read_text() == "x = 2\n"
    assert (cli.project / "notes.md").exists()


def test_rewinding_the_conversation_keeps_the_files_and_resumes_there(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(*two_turns(cli))
    out = repl(cli, fake_server, "make x two\nmake x three\n/rewind 2 conversation\n")
    assert "Conversation rewound to before message 2 (make x three): 4 messages removed." in out
    assert (cli.project / "app.py").read_text() == "x = 3\n"

    fake_server.script(text("noted"))
    repl(cli, fake_server, "keep it at three\n", "-c")
    assert prompts_sent(fake_server.model_requests[-1].body) == ["make x two", "keep it at three"]


def test_the_edits_of_a_headless_run_can_be_rewound_later(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(*two_turns(cli)[:4])
    result = cli.run("-p", "make x two", "-m", CLAUDE, "--accept-all", env=keys(fake_server))
    assert result.returncode == 0, result.stderr
    assert (cli.project / "app.py").read_text() == "x = 2\n"

    out = repl(cli, fake_server, "/rewind 1 files\n", "-c")
    assert "Restored 2 files to before message 1:" in out
    assert (cli.project / "app.py").read_text() == "x = 1\n"
    assert not (cli.project / "notes.md").exists()


@pytest.mark.skipif(TMUX is None, reason="tmux is not installed")
def test_in_a_terminal_the_rewound_message_is_back_in_the_input(cli: Cli, fake_server: FakeModelServer,
                                                                tmp_path: Path) -> None:
    fake_server.script(text("first answer"), text("second answer"))
    term = in_a_terminal(cli, fake_server, tmp_path)
    try:
        term.start("-m", CLAUDE).wait_prompt()
        term.type("say something")
        term.send("Enter")
        term.wait_for("first answer")
        term.wait_prompt(2)
        term.type("/rewind 1 conversation")
        term.send("Enter")
        term.wait_for("Your message is back in the input")
        term.wait_for(r"\] ❯ say something$")
        term.type(" else")
        term.send("Enter")
        term.wait_for("second answer")
    finally:
        term.close()
    assert prompts_sent(fake_server.model_requests[-1].body) == ["say something else"]
