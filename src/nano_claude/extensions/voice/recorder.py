"""Recording from the microphone: find a recorder, read its sound, stop when the speaker does.

Three recorders, the first one usable wins (NANO_CLAUDE_VOICE_BACKEND names one to force):
the `sounddevice` package (PortAudio, any OS), ALSA's `arecord`, and sox's `rec`. Each
delivers the same raw PCM (audio.py) in chunks to the one loop in `record()`, which measures
each chunk (silence.py) and reports it to whoever draws the meter. A recorder process is
killed on the way out, whatever the way: the end of speech, an error or a cancel (Ctrl+C).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from nano_claude.extensions.voice import NoSpeech, VoiceError
from nano_claude.extensions.voice.audio import CHUNK_BYTES, CHUNK_FRAMES, RATE, WIDTH, level_db, seconds
from nano_claude.extensions.voice.silence import Detector, Ending, Limits

BACKENDS = ("sounddevice", "arecord", "rec")
FORCE = "NANO_CLAUDE_VOICE_BACKEND"
ARGS = {  # raw 16 kHz mono signed 16-bit PCM on stdout, nothing else
    "arecord": ("-q", "-f", "S16_LE", "-r", str(RATE), "-c", "1", "-t", "raw"),
    "rec": ("-q", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-"),
}
INSTALL = {
    "sounddevice": "pip install 'nano-claude-code[voice]'",
    "arecord": "apt install alsa-utils",
    "rec": "apt install sox (brew install sox on macOS)",
}
DEVICES = {
    "sounddevice": "python -m sounddevice lists the devices",
    "arecord": "arecord -l lists the capture devices",
    "rec": "sox records from the default device; AUDIODEV picks another",
}
STALL = 5.0  # seconds without a chunk from a running recorder: it is stuck
LEAD = 0.3  # seconds kept before the speech began, and after it ended


@dataclass(frozen=True)
class Found:
    """A recorder and whether it can be used here: `detail` is where it is, or why it cannot
    be used and what to install."""

    name: str
    usable: bool
    detail: str
    path: str = ""


@dataclass(frozen=True)
class Recording:
    pcm: bytes  # the speech, with LEAD seconds of what came before and after it
    backend: str
    ended: Ending  # "silence" or "limit"
    elapsed: float  # seconds recorded in all
    speech_start: float  # seconds from the start of the recording
    speech_end: float

    @property
    def seconds(self) -> float:
        return seconds(self.pcm)


def find(name: str, environ: Mapping[str, str]) -> Found:
    if name == "sounddevice":
        return _portaudio_found()
    path = shutil.which(name, path=environ.get("PATH", os.defpath))
    if path is None:
        return Found(name, False, f"not found on PATH: {INSTALL[name]}")
    return Found(name, True, path, path)


def survey(environ: Mapping[str, str]) -> list[Found]:
    """Every recorder, in the order they are tried."""
    return [find(name, environ) for name in BACKENDS]


def choose(environ: Mapping[str, str]) -> Found:
    """The recorder /voice uses: the one NANO_CLAUDE_VOICE_BACKEND names, else the first usable."""
    forced = environ.get(FORCE, "").strip()
    if forced:
        if forced not in BACKENDS:
            raise VoiceError(f"{FORCE}={forced!r} names no recorder: use sounddevice, arecord or rec, "
                             "or unset it to use the first one found")
        found = find(forced, environ)
        if not found.usable:
            raise VoiceError(f"{FORCE}={forced}, but {forced} cannot record: {found.detail}")
        return found
    tried = survey(environ)
    usable = next((found for found in tried if found.usable), None)
    if usable is None:
        missing = "; ".join(f"{found.name}: {found.detail}" for found in tried)
        raise VoiceError(f"No way to record sound here ({missing}). Install one of them and try /voice "
                         "again; /voice status shows what is found.")
    return usable


async def record(found: Found, environ: Mapping[str, str], limits: Limits | None = None,
                 on_chunk: Callable[[Detector], None] | None = None) -> Recording:
    """Record until the speech is over (or the time limit). Raises NoSpeech when nobody spoke
    in time, VoiceError when the recorder failed. Cancelling it stops the recorder."""
    detector = Detector(limits)
    pcm = bytearray()
    async with _listening(found, environ) as stream:
        while True:
            chunk = await stream.read()
            pcm += chunk
            stop = detector.feed(level_db(chunk), seconds(chunk))
            if on_chunk is not None:
                on_chunk(detector)
            if stop:
                break
    if detector.ended == "no_speech" or detector.speech_start is None or detector.speech_end is None:
        floor = detector.floor if detector.floor is not None else detector.loudest
        raise NoSpeech(f"No speech heard in {detector.limits.give_up:g} s: the loudest sound was "
                       f"{detector.loudest:.0f} dB, speech starts at {detector.threshold:.0f} dB (noise "
                       f"floor {floor:.0f} dB). Speak up or move closer to the microphone ({found.name} "
                       "records; /voice status shows the others).")
    start = _offset(max(0.0, detector.speech_start - LEAD))
    end = _offset(detector.speech_end + LEAD)
    assert detector.ended in ("silence", "limit")
    return Recording(bytes(pcm[start:end]), found.name, detector.ended, detector.elapsed,
                     detector.speech_start, detector.speech_end)


def _offset(at: float) -> int:
    return int(at * RATE) * WIDTH


class _Stream(Protocol):
    async def read(self) -> bytes:
        """The next chunk of PCM (waits for it)."""
        ...


@contextlib.asynccontextmanager
async def _listening(found: Found, environ: Mapping[str, str]) -> AsyncIterator[_Stream]:
    if found.name == "sounddevice":
        async with _portaudio() as stream:
            yield stream
    else:
        async with _command(found, environ) as stream:
            yield stream


# --- a recorder program (arecord, rec) ------------------------------------------------------

class _Process:
    def __init__(self, found: Found, process: asyncio.subprocess.Process) -> None:
        self.found, self.process = found, process
        self.said: deque[str] = deque(maxlen=20)  # the last lines it wrote to stderr
        self.draining = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.said.append(line.decode(errors="replace").strip())

    async def read(self) -> bytes:
        assert self.process.stdout is not None
        try:
            return await asyncio.wait_for(self.process.stdout.readexactly(CHUNK_BYTES), STALL)
        except asyncio.TimeoutError:
            raise VoiceError(f"{self.found.name} sent no sound for {STALL:g} s: is the microphone in use "
                             f"elsewhere? ({DEVICES[self.found.name]})") from None
        except asyncio.IncompleteReadError:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.draining), 2)
                await asyncio.wait_for(self.process.wait(), 2)
            raise VoiceError(self._failure()) from None

    def _failure(self) -> str:
        # ALSA's library explains itself over several lines; the program's own last line says it best
        lines = [line for line in self.said if line and not line.startswith("ALSA lib")]
        name = self.found.name
        said = lines[-1] if lines else f"it stopped (exit code {self.process.returncode})"
        said = re.sub(rf"^(\S*/)?{name}(:| FAIL)\s*(sox:\s*)?", "", said)  # "/usr/bin/rec FAIL sox: Sorry…"
        return (f"Recording with {name} failed: {said}. Is a microphone connected? ({DEVICES[name]}; "
                "/voice status shows the other recorders)")

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        self.draining.cancel()


@contextlib.asynccontextmanager
async def _command(found: Found, environ: Mapping[str, str]) -> AsyncIterator[_Stream]:
    try:
        process = await asyncio.create_subprocess_exec(
            found.path, *ARGS[found.name], stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=dict(environ), start_new_session=True)
    except OSError as exc:
        raise VoiceError(f"Could not start {found.path}: {exc.strerror or exc}") from exc
    running = _Process(found, process)
    try:
        yield running
    finally:
        await running.stop()


# --- PortAudio (the sounddevice package) ------------------------------------------------------

def _portaudio_found() -> Found:
    try:
        import sounddevice
    except ImportError:
        return Found("sounddevice", False, f"not installed: {INSTALL['sounddevice']}")
    except OSError:  # the package is there, the C library it loads is not
        return Found("sounddevice", False, "installed, but the PortAudio library is missing: apt install "
                     "libportaudio2 (brew install portaudio on macOS)")
    try:
        device = sounddevice.query_devices(kind="input")
    except (sounddevice.PortAudioError, ValueError):
        return Found("sounddevice", False, "PortAudio finds no microphone (no input device)")
    return Found("sounddevice", True, f"input device {device['name']}")


class _Queued:
    def __init__(self, queue: asyncio.Queue[bytes]) -> None:
        self.queue = queue

    async def read(self) -> bytes:
        try:
            return await asyncio.wait_for(self.queue.get(), STALL)
        except asyncio.TimeoutError:
            raise VoiceError(f"The microphone sent no sound for {STALL:g} s ({DEVICES['sounddevice']})") \
                from None


@contextlib.asynccontextmanager
async def _portaudio() -> AsyncIterator[_Stream]:
    import sounddevice

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def arrived(data: object, frames: int, time: object, status: object) -> None:  # PortAudio's thread
        loop.call_soon_threadsafe(queue.put_nowait, bytes(data))  # type: ignore[call-overload]

    try:
        stream = sounddevice.RawInputStream(samplerate=RATE, channels=1, dtype="int16",
                                            blocksize=CHUNK_FRAMES, callback=arrived)
        stream.start()
    except sounddevice.PortAudioError as exc:
        raise VoiceError(f"Recording with sounddevice failed: {exc}. Is a microphone connected? "
                         f"({DEVICES['sounddevice']})") from exc
    try:
        yield _Queued(queue)
    finally:
        stream.abort()
        stream.close()
