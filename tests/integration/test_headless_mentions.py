"""@path in a `-p` prompt, through the real CLI and the fake model server: the same
mentions as in the REPL attach, Read rules hold, and each failed mention is a note on
stderr."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.fakes.script import text
from tests.fakes.server import FakeModelServer


def _env(server: FakeModelServer) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"}


def _sent(server: FakeModelServer) -> str:
    content = server.model_requests[-1].body["messages"][-1]["content"]
    return "".join(block.get("text", "") for block in content)


def test_mentions_in_a_prompt_attach_and_failures_are_noted(cli: Cli, fake_server: FakeModelServer) -> None:
    project = cli.project
    (project / "notes.md").write_text("the notes say pumpkin\n")
    (project / "my notes").mkdir()
    (project / "my notes" / "a.txt").write_text("quoted alpha\n")
    (project / "my notes" / "b.txt").write_text("escaped beta\n")
    (project / "secret.txt").write_text("hunter2\n")
    (project / "link.txt").symlink_to("nowhere.txt")
    (project / ".nano_claude").mkdir()
    (project / ".nano_claude" / "settings.json").write_text(
        json.dumps({"permissions": {"deny": ["Read(secret.txt)"]}}))
    fake_server.script(text("read them"))
    prompt = ('compare @notes.md, @"my notes/a.txt" and @my\\ notes/b.txt with @missing.txt, '
              "@link.txt and @secret.txt; mail a@b.com")
    result = cli.run("-p", prompt, "-m", "claude-sonnet-4-6", env=_env(fake_server))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "read them\n"
    sent = _sent(fake_server)
    assert sent.startswith(prompt)
    for content in ("pumpkin", "quoted alpha", "escaped beta"):
        assert content in sent
    assert "hunter2" not in sent
    notes = result.stderr.splitlines()
    assert notes == [
        "nano_claude: not attached: @missing.txt: no such file or directory",
        "nano_claude: not attached: @link.txt: broken symbolic link (it points to nowhere.txt, which "
        "does not exist)",
        "nano_claude: not attached: @secret.txt: denied by a permission rule (Read(secret.txt) from "
        f"{project / '.nano_claude' / 'settings.json'})",
    ]


def test_mentions_in_piped_text_are_not_read(cli: Cli, fake_server: FakeModelServer) -> None:
    """Text piped in after the prompt (a log, a file) is data: an @ in it attaches nothing."""
    (cli.project / "notes.md").write_text("the notes say pumpkin\n")
    fake_server.script(text("ok"), text("ok"))
    result = cli.run("-p", "what does this log say?", "-m", "claude-sonnet-4-6",
                     input="user @notes.md logged in from @gone.txt\n", env=_env(fake_server))
    assert result.returncode == 0, result.stderr
    assert "pumpkin" not in _sent(fake_server) and result.stderr == ""
    result = cli.run("-p", "-m", "claude-sonnet-4-6", input="summarise @notes.md\n", env=_env(fake_server))
    assert result.returncode == 0, result.stderr
    assert "pumpkin" in _sent(fake_server)  # piped alone, it is the prompt



def test_a_prompt_too_big_for_the_window_is_refused_whole_not_cut(cli: Cli,
                                                                  fake_server: FakeModelServer) -> None:
    """No user is present to choose (the REPL asks): the run stops before sending, says
    why and what to do, and nothing is cut."""
    log = "a line of a very long log\n" * 4000  # ~26,000 tokens
    fake_server.route("GET", "/v1/models", {"data": [{"id": "tiny", "max_model_len": 8192}]})
    result = cli.run("-p", "what does this log say?", "-m", "custom/tiny", input=log,
                     env={"CUSTOM_BASE_URL": fake_server.url + "/v1"})
    assert result.returncode == 1
    assert "nothing was sent" in result.stderr and "8,192-token context window" in result.stderr
    assert "Save the text to a file" in result.stderr
    assert result.stdout == ""
    assert fake_server.model_requests == []
    listed = cli.run("sessions", "list")
    assert "what does this log say" not in listed.stdout


def test_a_mention_of_an_unknown_users_home_or_a_bare_broken_link_is_a_note(
        cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "broken").symlink_to("nowhere")
    fake_server.script(text("ok"))
    result = cli.run("-p", "see @~nosuchuser/x and @broken", "-m", "claude-sonnet-4-6", env=_env(fake_server))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "nano_claude: not attached: @~nosuchuser/x: no such file or directory",
        "nano_claude: not attached: @broken: broken symbolic link (it points to nowhere, which does "
        "not exist)",
    ]
