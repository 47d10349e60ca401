"""/voice through the real CLI (the REPL reading a pipe), with a stand-in `arecord` first on
PATH playing espeak-ng speech, the fake transcription server and the fake model server:
/voice status, the transcript sent to the model, /voice lang saved and sent along, auto-submit
off, and the messages when a transcriber is missing or its model cannot be fetched, when
nobody speaks, and when Ctrl+C (SIGINT) stops a recording."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.fakes import microphone
from tests.fakes.script import text
from tests.fakes.server import FakeModelServer
from tests.fakes.transcribe_server import FakeTranscriptionServer
from tests.processes import alive

MODEL = "claude-sonnet-4-6"


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if microphone.MISSING:
        pytest.skip(microphone.WHY_MISSING)
    return microphone.padded(microphone.speech("run the tests", tmp_path_factory.mktemp("speech")), 0.5, 2.0)


@pytest.fixture
def transcriber() -> Iterator[FakeTranscriptionServer]:
    with FakeTranscriptionServer().running() as server:
        yield server


def shows(out: str, mark: str, name: str, detail: str) -> bool:
    """A row of /voice status, however wide its name column is."""
    return re.search(rf"^  {re.escape(mark)} {re.escape(name)} +{re.escape(detail)}$", out, re.M) is not None


def voice_env(cli: Cli, model: FakeModelServer, bin_dir: Path, **more: str) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "sk-test", "NANO_CLAUDE_MODEL": MODEL,
            "PATH": f"{bin_dir}:{os.environ['PATH']}", "NANO_CLAUDE_VOICE_BACKEND": "arecord",
            "HF_HUB_OFFLINE": "1", **more}  # never a download from a test


def test_voice_status_then_a_spoken_message_goes_to_the_model(
        cli: Cli, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer, spoken: bytes,
        tmp_path: Path) -> None:
    microphone.install(tmp_path / "bin", "arecord", spoken, speed=4)
    (cli.project / ".nano_claude").mkdir()
    (cli.project / ".nano_claude" / "voice_keyterms.txt").write_text("Parsnip\n")
    fake_server.script(text("Running them now."))
    env = voice_env(cli, fake_server, tmp_path / "bin", NANO_CLAUDE_VOICE_BASE_URL=transcriber.base_url)
    result = cli.run(input="/voice status\n/voice\n", env=env)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert shows(out, "✓", "arecord", f"{tmp_path / 'bin' / 'arecord'} ←")
    assert shows(out, "✓", "voice_base_url", f"{transcriber.base_url} (model whisper-1) ←")
    assert shows(out, "✗", "openai-whisper", "not installed: pip install openai-whisper")
    assert shows(out, "✗", "OpenAI API", "no key: set OPENAI_API_KEY or /config openai_api_key=...")
    assert "Language: auto (/voice lang CODE|auto) · voice_auto_submit: on" in out
    assert "Keyterms whisper is told to expect: Parsnip, project" in out
    assert "Listening (arecord): speak now; it stops 1.5 s after you finish" in out
    assert "Heard: run the tests" in out and "Running them now." in out
    assert "\x1b" not in out and "▁" not in out  # no meter on a pipe
    [request] = fake_server.model_requests
    assert request.body["messages"][-1]["content"][0]["text"] == "run the tests"
    [sent] = transcriber.requests
    assert sent.fields["prompt"] == "Parsnip, project"
    assert 1.0 < sent.seconds < 2.5  # the speech and a little around it, not the silence after


def test_voice_lang_is_saved_and_sent_and_auto_submit_off_sends_nothing(
        cli: Cli, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer, spoken: bytes,
        tmp_path: Path) -> None:
    microphone.install(tmp_path / "bin", "arecord", spoken, speed=4)
    env = voice_env(cli, fake_server, tmp_path / "bin", NANO_CLAUDE_VOICE_BASE_URL=transcriber.base_url,
                    NANO_CLAUDE_VOICE_AUTO_SUBMIT="false")
    result = cli.run(input="/voice lang Klingon!\n/voice lang DE\n/voice\n/voice lang\n", env=env)
    out = result.stdout
    assert "'klingon!' is not a language code: use a two-letter code such as en, de or ja, or auto" in out
    assert f"Voice language set to de (saved to {cli.home / 'config.json'})." in out
    assert json.loads((cli.home / "config.json").read_text())["voice_language"] == "de"
    assert transcriber.requests[0].fields["language"] == "de"
    assert "Heard: run the tests" in out
    assert "voice_auto_submit is off and the input is not a terminal: nothing was sent." in out
    assert "Voice language: de." in out
    assert not fake_server.model_requests


def test_an_offline_machine_without_the_whisper_model_says_how_to_get_it(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    """Through the real faster-whisper and huggingface_hub, with an empty cache; nothing is
    recorded before the transcriber is ready."""
    if importlib.util.find_spec("faster_whisper") is None:
        pytest.skip("faster-whisper is not installed (pip install 'nano-claude-code[voice]')")
    pidfile = microphone.install(tmp_path / "bin", "arecord", None)
    result = cli.run(input="/voice status\n/voice\n", env=voice_env(cli, fake_server, tmp_path / "bin"))
    out = result.stdout
    assert shows(out, "✓", "faster-whisper", "model base: not downloaded, and HF_HUB_OFFLINE is set ←")
    assert ("The whisper model 'base' is not on this machine and cannot be fetched now (HF_HUB_OFFLINE is "
            "set, so nothing is downloaded). Run /voice once with network access to download it, set "
            "NANO_CLAUDE_WHISPER_MODEL to a folder holding a faster-whisper (CTranslate2) model, or set "
            "voice_base_url to a transcription server.") in out
    assert "Listening" not in out and not pidfile.exists()


def test_with_no_transcriber_installed_it_says_what_to_install(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    hidden = tmp_path / "hidden" / "faster_whisper"  # as if faster-whisper were not installed
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'faster_whisper'\")\n")
    pidfile = microphone.install(tmp_path / "bin", "arecord", None)
    env = voice_env(cli, fake_server, tmp_path / "bin", PYTHONPATH=str(hidden.parent))
    out = cli.run(input="/voice status\n/voice\n", env=env).stdout
    assert shows(out, "✗", "faster-whisper", "not installed: pip install 'nano-claude-code[voice]'")
    assert "/voice needs a recorder and a transcriber: install what a ✗ line names." in out
    assert ("No way to transcribe speech here: install faster-whisper (pip install "
            "'nano-claude-code[voice]'; it runs on this machine), set OPENAI_API_KEY to use OpenAI's API, "
            "or set voice_base_url to an OpenAI-compatible transcription server.") in out
    assert not pidfile.exists()


def test_nobody_speaking_sends_nothing(cli: Cli, fake_server: FakeModelServer,
                                       transcriber: FakeTranscriptionServer, tmp_path: Path) -> None:
    microphone.install(tmp_path / "bin", "arecord", None, speed=8)
    env = voice_env(cli, fake_server, tmp_path / "bin", NANO_CLAUDE_VOICE_BASE_URL=transcriber.base_url)
    out = cli.run(input="/voice\n", env=env).stdout
    assert "No speech heard in 8 s: the loudest sound was" in out and "Nothing was sent." in out
    assert not transcriber.requests and not fake_server.model_requests


def test_sigint_while_recording_cancels_it_and_kills_the_recorder(
        cli: Cli, fake_server: FakeModelServer, transcriber: FakeTranscriptionServer, tmp_path: Path) -> None:
    pidfile = microphone.install(tmp_path / "bin", "arecord", None)
    env = {**cli.env, **voice_env(cli, fake_server, tmp_path / "bin",
                                  NANO_CLAUDE_VOICE_BASE_URL=transcriber.base_url)}
    proc = subprocess.Popen([sys.executable, "-m", "nano_claude"], cwd=cli.project, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("/voice\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    recorder = int(pidfile.read_text())
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert "/voice stopped." in out, out + err  # Ctrl+C stops the command; the REPL stays
    assert "Traceback" not in err
    assert not alive(recorder)
    assert not transcriber.requests and not fake_server.model_requests
