"""The audio every recorder delivers: raw 16 kHz mono signed 16-bit little-endian PCM, the
format whisper works in, so nothing is resampled on the way."""

from __future__ import annotations

import io
import math
import sys
import wave
from array import array

RATE = 16_000  # samples a second
WIDTH = 2  # bytes a sample
BYTES_PER_SECOND = RATE * WIDTH
CHUNK_SECONDS = 0.05  # what the recording loop looks at, and the meter redraws, at a time
CHUNK_FRAMES = int(RATE * CHUNK_SECONDS)
CHUNK_BYTES = CHUNK_FRAMES * WIDTH
SILENT_DB = -100.0  # the level of digital silence (a log of zero has no value)


def samples(pcm: bytes) -> array:
    """The samples as numbers (the PCM is little-endian whatever the machine)."""
    values = array("h", pcm[: len(pcm) - len(pcm) % WIDTH])
    if sys.byteorder == "big":
        values.byteswap()
    return values


def level_db(pcm: bytes) -> float:
    """Loudness in dB below full scale (RMS): 0 is the loudest a sample can be, speech into a
    microphone is around -35 to -10, a quiet room -60 or lower."""
    values = samples(pcm)
    if not values:
        return SILENT_DB
    rms = math.sqrt(sum(v * v for v in values) / len(values))
    return max(SILENT_DB, 20 * math.log10(rms / 32768)) if rms else SILENT_DB


def seconds(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


def to_wav(pcm: bytes) -> bytes:
    """The PCM in a WAV file, as transcription servers take it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(WIDTH)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    return out.getvalue()
