"""Recording for /voice through the real recording path: speech made with espeak-ng, played in
real time by a stand-in `arecord` (or `rec`) first on PATH, which never stops by itself, so
only the silence detection ends a recording. Also: the give-up and the length limit, Ctrl+C
(a cancel) killing the recorder, recorders that fail (the real ones, with no sound card), and
the message when there is none."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from nano_claude.extensions.voice import NoSpeech, VoiceError
from nano_claude.extensions.voice.audio import CHUNK_BYTES, level_db
from nano_claude.extensions.voice.recorder import FORCE, LEAD, choose, find, record
from nano_claude.extensions.voice.silence import Detector, Limits
from tests.fakes import microphone


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if microphone.MISSING:
        pytest.skip(microphone.WHY_MISSING)
    return microphone.speech("run the tests", tmp_path_factory.mktemp("speech"))


def environ(bin_dir: Path, backend: str | None = "arecord", path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FORCE}
    env["PATH"] = f"{bin_dir}:{os.environ['PATH'] if path is None else path}"
    if backend:
        env[FORCE] = backend
    return env


def voiced(pcm: bytes) -> bytes:
    """The part of the speech from its first loud chunk to its last."""
    loud = [at for at in range(0, len(pcm), CHUNK_BYTES) if level_db(pcm[at:at + CHUNK_BYTES]) > -40]
    return pcm[loud[0]:loud[-1] + CHUNK_BYTES]


def test_recording_stops_one_and_a_half_seconds_after_the_speech_not_at_the_end_of_the_sound(
        tmp_path: Path, spoken: bytes) -> None:
    microphone.install(tmp_path, "arecord", microphone.padded(spoken, 1.0, 4.0))
    env = environ(tmp_path)
    levels: list[float] = []
    started = time.monotonic()
    recording = asyncio.run(record(choose(env), env, on_chunk=lambda d: levels.append(d.recent[-1])))
    took = time.monotonic() - started
    said = len(spoken) / 32000
    assert recording.backend == "arecord" and recording.ended == "silence"
    assert 0.9 <= recording.speech_start <= 1.3
    assert recording.speech_end <= 1.0 + said + 0.05
    assert abs(recording.elapsed - recording.speech_end - 1.5) <= 0.06
    assert recording.elapsed < 1.0 + said + 4.0 - 1.0  # well before the sound ran out
    assert abs(took - recording.elapsed) < 0.7  # played in real time, stopped as soon as decided
    assert voiced(spoken) in recording.pcm  # the speech is in the clip, whole
    assert recording.seconds <= recording.speech_end - recording.speech_start + 2 * LEAD + 0.01
    assert len(levels) == round(recording.elapsed / 0.05) and max(levels) > -30  # the meter saw it


def test_sox_rec_records_the_same_way(tmp_path: Path, spoken: bytes) -> None:
    microphone.install(tmp_path, "rec", microphone.padded(spoken, 0.5, 3.0), speed=4)
    env = environ(tmp_path, "rec")
    recording = asyncio.run(record(choose(env), env))
    assert recording.backend == "rec" and recording.ended == "silence"
    assert voiced(spoken) in recording.pcm


def test_nobody_speaking_gives_up_after_eight_seconds_of_sound(tmp_path: Path) -> None:
    microphone.install(tmp_path, "arecord", None, speed=8)  # a quiet room, eight times as fast
    env = environ(tmp_path)
    with pytest.raises(NoSpeech) as caught:
        asyncio.run(record(choose(env), env))
    said = str(caught.value)
    assert said.startswith("No speech heard in 8 s: the loudest sound was -")
    assert "speech starts at -50 dB" in said and "arecord records" in said


def test_speech_that_goes_on_is_cut_at_the_length_limit(tmp_path: Path, spoken: bytes) -> None:
    microphone.install(tmp_path, "arecord", microphone.padded(spoken * 12, 0.5, 0), speed=4)
    env = environ(tmp_path)
    recording = asyncio.run(record(choose(env), env, Limits(longest=3.0)))
    assert recording.ended == "limit"
    assert abs(recording.elapsed - 3.0) <= 0.05


def test_cancelling_kills_the_recorder(tmp_path: Path) -> None:
    pidfile = microphone.install(tmp_path, "arecord", None)
    env = environ(tmp_path)

    async def cancel_while_recording() -> None:
        heard = asyncio.Event()

        def chunk(detector: Detector) -> None:
            if detector.elapsed >= 0.25:
                heard.set()

        task = asyncio.ensure_future(record(choose(env), env, on_chunk=chunk))
        await asyncio.wait_for(heard.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_while_recording())
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):  # killed, and reaped
        os.kill(pid, 0)


def test_a_recorder_that_fails_says_what_it_said(tmp_path: Path) -> None:
    microphone.install(tmp_path, "arecord", fail="main:831: audio open error: No such file or directory")
    env = environ(tmp_path)
    with pytest.raises(VoiceError) as caught:
        asyncio.run(record(choose(env), env))
    assert str(caught.value).startswith(
        "Recording with arecord failed: main:831: audio open error: No such file or directory. Is a "
        "microphone connected? (arecord -l lists the capture devices")
    assert "ALSA lib" not in str(caught.value)


@pytest.mark.parametrize("name", ["arecord", "rec"])
def test_the_real_recorder_without_a_sound_card_says_so(tmp_path: Path, name: str) -> None:
    if shutil.which(name) is None:
        pytest.skip(f"{name} is not installed (apt-get install alsa-utils sox)")
    if shutil.which("arecord") and "card " in subprocess.run(["arecord", "-l"], capture_output=True,
                                                               text=True).stdout:
        pytest.skip("this machine has a sound card: the recorder would really record")
    env = environ(tmp_path, name)
    with pytest.raises(VoiceError) as caught:
        asyncio.run(record(choose(env), env))
    said = str(caught.value)
    assert said.startswith(f"Recording with {name} failed: ") and "Is a microphone connected?" in said
    assert "exit code" not in said  # the program's own words, not just its status


def test_no_recorder_at_all_names_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = environ(empty, None, path="")
    with pytest.raises(VoiceError) as caught:
        choose(env)
    said = str(caught.value)
    assert said.startswith("No way to record sound here (sounddevice: ")
    assert "arecord: not found on PATH: apt install alsa-utils" in said
    assert "rec: not found on PATH: apt install sox" in said
    with pytest.raises(VoiceError, match=r"NANO_CLAUDE_VOICE_BACKEND=rec, but rec cannot record: not found"):
        choose({**env, FORCE: "rec"})
    with pytest.raises(VoiceError, match=r"NANO_CLAUDE_VOICE_BACKEND='pulse' names no recorder"):
        choose({**env, FORCE: "pulse"})


def test_sounddevice_says_what_it_lacks_and_the_next_recorder_is_used(tmp_path: Path) -> None:
    microphone.install(tmp_path, "arecord", None)
    found = find("sounddevice", {})
    if found.usable:
        pytest.skip(f"sounddevice can record here ({found.detail})")
    assert found.detail in (
        "not installed: pip install 'nano-claude-code[voice]'",
        "installed, but the PortAudio library is missing: apt install libportaudio2 (brew install portaudio "
        "on macOS)",
        "PortAudio finds no microphone (no input device)")
    assert choose(environ(tmp_path, None)).name == "arecord"
