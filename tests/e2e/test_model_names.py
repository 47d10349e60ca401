"""An embedded model that is not there, named in the REPL (--model, /model): an error that
lists what exists, never SmolLM2 under another name."""

from __future__ import annotations

import pytest

from tests.e2e.terminal import TMUX, Terminal

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


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
