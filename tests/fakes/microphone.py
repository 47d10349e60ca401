"""Sound for the voice tests, where there is no microphone: speech made with espeak-ng and
converted with sox to the PCM a recorder delivers, and stand-in `arecord`/`rec` programs
(recorder.py) that play it, put first on PATH."""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

RECORDER = Path(__file__).with_name("recorder.py")
RATE = 16000
MISSING = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
WHY_MISSING = f"needs {' and '.join(MISSING)} (apt-get install espeak-ng sox)"


def speech(text: str, folder: Path) -> bytes:
    """`text` spoken by espeak-ng, as raw 16 kHz mono signed 16-bit PCM."""
    wav, raw = folder / "speech.wav", folder / "speech.raw"
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1",
                    str(raw)], check=True, capture_output=True)
    return raw.read_bytes()


def noise(seconds: float, peak: int = 30, seed: int = 1) -> bytes:
    """A quiet room (about -66 dB with the default peak)."""
    rng = random.Random(seed)
    return b"".join(rng.randint(-peak, peak).to_bytes(2, "little", signed=True)
                    for _ in range(int(seconds * RATE)))


def padded(pcm: bytes, before: float, after: float) -> bytes:
    return noise(before, seed=2) + pcm + noise(after, seed=3)


def install(folder: Path, name: str, pcm: bytes | None = None, *, speed: float = 1.0, fail: str = "",
            longest: float = 120.0) -> Path:
    """Write `folder/name` (arecord or rec) playing `pcm`; returns the file its pid is written to.
    Put `folder` first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    pidfile = folder / f"{name}.pid"
    args = ["--as", name, "--speed", str(speed), "--pidfile", str(pidfile), "--longest", str(longest)]
    if pcm is not None:
        sound = folder / f"{name}.raw"
        sound.write_bytes(pcm)
        args += ["--pcm", str(sound)]
    if fail:
        args += ["--fail", fail]
    program = folder / name
    program.write_text(f'#!/bin/sh\nexec {shlex.join([sys.executable, str(RECORDER), *args])} "$@"\n')
    program.chmod(0o755)
    return pidfile
