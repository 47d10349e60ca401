"""/voice in the real REPL, in a real terminal: a stand-in `arecord` first on PATH plays
espeak-ng speech in real time, the fake transcription server writes it down, and the fake
model server answers. The level meter shows while recording; the transcript is sent (or, with
voice_auto_submit off, put into the input); Ctrl+C stops a recording and the REPL goes on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.terminal import TMUX, Terminal
from tests.fakes import microphone
from tests.fakes.script import text
from tests.fakes.server import FakeModelServer
from tests.fakes.transcribe_server import FakeTranscriptionServer
from tests.processes import alive

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

METER = r"● +\d+\.\ds [▁▂▃▄▅▆▇█]{24} "


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if microphone.MISSING:
        pytest.skip(microphone.WHY_MISSING)
    return microphone.speech("run the tests", tmp_path_factory.mktemp("speech"))


@pytest.fixture
def transcriber() -> Iterator[FakeTranscriptionServer]:
    with FakeTranscriptionServer().running() as server:
        yield server


def start(term: Terminal, bin_dir: Path, transcriber: FakeTranscriptionServer, **env: str) -> None:
    term.env.update({"PATH": f"{bin_dir}:{os.environ['PATH']}", "NANO_CLAUDE_VOICE_BACKEND": "arecord",
                     "NANO_CLAUDE_VOICE_BASE_URL": transcriber.base_url, "HF_HUB_OFFLINE": "1", **env})
    term.start().wait_prompt()
    term.type("/voice")
    term.send("Enter")


def said(server: FakeModelServer) -> list[str]:
    return [r.body["messages"][-1]["content"][0]["text"] for r in server.model_requests]


def test_voice_shows_the_meter_sends_the_transcript_and_the_reply_appears(
        term: Terminal, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer, spoken: bytes,
        tmp_path: Path) -> None:
    microphone.install(tmp_path / "bin", "arecord", microphone.padded(spoken, 1.0, 3.0))  # in real time
    fake_server.script(text("Running the tests now."))
    start(term, tmp_path / "bin", transcriber)
    term.wait_for(METER + "listening")
    term.wait_for(METER + "speaking")
    term.wait_for("Heard: run the tests")
    term.wait_for("Running the tests now.")
    screen = term.wait_prompt(2)
    assert said(fake_server) == ["run the tests"]
    assert "speaking" not in screen and "listening" not in screen.split("Listening (arecord)")[-1]  # cleared
    assert "Recorded 0.9 s of speech; transcribing (voice_base_url)…" in screen


def test_with_auto_submit_off_the_transcript_waits_in_the_input(
        term: Terminal, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer, spoken: bytes,
        tmp_path: Path) -> None:
    microphone.install(tmp_path / "bin", "arecord", microphone.padded(spoken, 0.5, 2.0), speed=4)
    fake_server.script(text("On it."))
    start(term, tmp_path / "bin", transcriber, NANO_CLAUDE_VOICE_AUTO_SUBMIT="false")
    term.wait_for("It is in the input: edit it, then press Enter to send it.")
    term.wait_for(r"\] ❯ run the tests\s*$")
    assert not fake_server.model_requests
    term.type(" again")
    term.send("Enter")
    term.wait_for("On it.")
    assert said(fake_server) == ["run the tests again"]


def test_ctrl_c_stops_the_recording_sends_nothing_and_the_repl_goes_on(
        term: Terminal, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer,
        tmp_path: Path) -> None:
    pidfile = microphone.install(tmp_path / "bin", "arecord", None)  # a quiet room, until killed
    fake_server.script(text("Still here."))
    start(term, tmp_path / "bin", transcriber)
    term.wait_for(METER + "listening")
    term.send("C-c")
    term.wait_for("Voice input cancelled: nothing was sent.")
    term.wait_prompt(2)
    assert not alive(int(pidfile.read_text()))
    assert not term.exited
    term.type("hello")
    term.send("Enter")
    term.wait_for("Still here.")
    assert said(fake_server) == ["hello"] and not transcriber.requests
