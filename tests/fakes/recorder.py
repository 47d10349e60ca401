"""A stand-in for `arecord` and sox's `rec` where there is no sound card: it checks it was
asked for what the real program would be asked (raw 16 kHz mono signed 16-bit PCM on stdout),
then plays a file of such PCM to stdout in real time (or `--speed` times as fast), then quiet
room noise until it is killed. It never stops by itself before `--longest` seconds of sound,
so only the caller's silence detection ends a recording.

Run through the wrapper `microphone.install()` writes under the program's name.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

EXPECTED = {
    "arecord": ["-q", "-f", "S16_LE", "-r", "16000", "-c", "1", "-t", "raw"],
    "rec": ["-q", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-"],
}
CHUNK = 800 * 2  # 50 ms
NOISE = 30  # peak of the room noise (about -66 dB)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--as", dest="name", required=True)
    parser.add_argument("--pcm", type=Path)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--longest", type=float, default=120.0)
    parser.add_argument("--fail", default="", help="write this to stderr and exit 1 instead")
    ours, theirs = parser.parse_known_args()
    if theirs != EXPECTED[ours.name]:
        print(f"{ours.name}: unexpected arguments {theirs} (expected {EXPECTED[ours.name]})", file=sys.stderr)
        return 2
    if ours.pidfile:
        ours.pidfile.write_text(str(os.getpid()))
    if ours.fail:
        print("ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default", file=sys.stderr)
        print(f"{ours.name}: {ours.fail}", file=sys.stderr)
        return 1
    sound = ours.pcm.read_bytes() if ours.pcm else b""
    noise = random.Random(7)
    out = sys.stdout.buffer
    start, sent = time.monotonic(), 0
    while sent < ours.longest * 32000:
        chunk = sound[sent:sent + CHUNK]
        if len(chunk) < CHUNK:
            chunk += b"".join(noise.randint(-NOISE, NOISE).to_bytes(2, "little", signed=True)
                              for _ in range((CHUNK - len(chunk)) // 2))
        due = start + sent / 32000 / ours.speed
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            out.write(chunk)
            out.flush()
        except BrokenPipeError:
            return 0
        sent += CHUNK
    return 0


if __name__ == "__main__":
    sys.exit(main())
