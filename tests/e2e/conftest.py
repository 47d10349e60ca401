"""What every REPL test in a real terminal starts from: tmux with the program's environment,
the fake model server as every provider's endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.terminal import Terminal
from tests.fakes.server import FakeModelServer

MODEL = "claude-sonnet-4-6"


def terminal_env(cli: Cli, server: FakeModelServer) -> dict[str, str]:
    env = {k: v for k, v in cli.env.items() if k != "NO_COLOR"}
    env.update({"TERM": "xterm-256color", "ANTHROPIC_BASE_URL": server.url,
                "ANTHROPIC_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url + "/v1",
                "OPENAI_API_KEY": "sk-test", "NANO_CLAUDE_MODEL": MODEL})
    return env


@pytest.fixture
def term(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> Iterator[Terminal]:
    terminal = Terminal(tmp_path, terminal_env(cli, fake_server), cli.project)
    try:
        yield terminal
    finally:
        terminal.close()
