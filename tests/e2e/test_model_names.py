"""An embedded model that is not there, named in the REPL (--model, /model): an error that
lists what exists, never SmolLM2 under another name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.server import FakeModelServer

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


@pytest.fixture
def term(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> Iterator[Terminal]:
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "ANTHROPIC_BASE_URL": fake_server.url,
                "ANTHROPIC_API_KEY": "sk-test", "NANO_CLAUDE_MODEL": "claude-sonnet-4-6"})
    terminal = Terminal(tmp_path, env, cli.project)
    try:
        yield terminal
    finally:
        terminal.close()


def test_model_command_refuses_an_unknown_embedded_model(term: Terminal) -> None:
    term.start().wait_prompt()
    term.type("/model local/llama3")
    term.send("Enter")
    screen = term.wait_for("Still using")
    assert "no embedded model 'llama3'" in screen and "local/smollm2" in screen
    assert "ollama/llama3" in screen
    assert "Still using anthropic/claude-sonnet-4-6" in screen


def test_starting_with_an_unknown_embedded_model_says_what_exists(term: Terminal) -> None:
    term.start("--model", "local/llama3")
    assert term.wait_exit() == 2
    screen = term.screen()
    assert "no embedded model 'llama3'" in screen and "local/smollm2" in screen
