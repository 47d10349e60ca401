"""The silence logic of voice input on synthetic sound: when speech begins (above the measured
noise floor, not on a click), when it is over (1.5 s after the level falls back), the give-up
when nobody speaks, the length limit; the level and the meter drawn from it."""

from __future__ import annotations

import io
import math
import random
import wave

from nano_claude.extensions.voice.audio import CHUNK_BYTES, CHUNK_SECONDS, SILENT_DB, level_db, to_wav
from nano_claude.extensions.voice.meter import meter
from nano_claude.extensions.voice.silence import Detector, Limits

RATE = 16000


def tone(seconds: float, db: float, hz: float = 220.0) -> bytes:
    """A sine wave whose RMS level is `db` below full scale."""
    peak = 32768 * 10 ** (db / 20) * math.sqrt(2)
    return b"".join(int(peak * math.sin(2 * math.pi * hz * n / RATE)).to_bytes(2, "little", signed=True)
                    for n in range(int(seconds * RATE)))


def room(seconds: float, db: float, seed: int = 0) -> bytes:
    """Noise whose level is about `db` (uniform noise: RMS = peak / sqrt(3))."""
    rng = random.Random(seed)
    peak = int(32768 * 10 ** (db / 20) * math.sqrt(3))
    return b"".join(rng.randint(-peak, peak).to_bytes(2, "little", signed=True)
                    for _ in range(int(seconds * RATE)))


def run(pcm: bytes, limits: Limits | None = None) -> Detector:
    """Feed the sound chunk by chunk, as the recording loop does, until the detector stops it."""
    detector = Detector(limits)
    for at in range(0, len(pcm), CHUNK_BYTES):
        chunk = pcm[at:at + CHUNK_BYTES]
        if detector.feed(level_db(chunk), len(chunk) / (2 * RATE)):
            break
    return detector


def test_level_is_decibels_below_full_scale() -> None:
    assert abs(level_db(tone(0.1, -20)) - -20) < 0.5
    assert abs(level_db(room(0.5, -60)) - -60) < 1
    assert level_db(bytes(CHUNK_BYTES)) == SILENT_DB
    assert level_db(b"") == SILENT_DB


def test_speech_is_heard_above_the_floor_and_stops_one_and_a_half_seconds_after_it_ends() -> None:
    sound = room(1.0, -60) + tone(1.2, -25) + room(5.0, -60, seed=1)
    detector = run(sound)
    assert detector.ended == "silence"
    assert detector.floor is not None and abs(detector.floor - -60) < 2
    assert detector.speech_start is not None and abs(detector.speech_start - 1.0) <= CHUNK_SECONDS
    assert detector.speech_end is not None and abs(detector.speech_end - 2.2) <= CHUNK_SECONDS
    assert abs(detector.elapsed - (detector.speech_end + 1.5)) <= CHUNK_SECONDS  # not at the end of the sound


def test_pauses_between_words_shorter_than_the_trailing_silence_do_not_end_it() -> None:
    words = tone(0.4, -25) + room(1.0, -60, seed=4) + tone(0.4, -25) + room(1.2, -60, seed=5) + tone(0.4, -25)
    detector = run(room(0.5, -60) + words + room(3.0, -60, seed=6))
    assert detector.ended == "silence"
    assert detector.speech_end is not None and abs(detector.speech_end - 3.9) <= CHUNK_SECONDS


def test_a_noisy_room_raises_the_threshold_so_its_noise_is_not_speech() -> None:
    noisy = room(9.0, -40)  # louder than a quiet room's speech threshold (-50 dB)
    detector = run(noisy)
    assert detector.ended == "no_speech"
    assert detector.speech_start is None
    assert detector.threshold >= -40 + 10
    loud = run(room(1.0, -40) + tone(1.0, -15) + room(3.0, -40, seed=2))
    assert loud.ended == "silence" and loud.speech_start is not None and abs(loud.speech_start - 1.0) < 0.1


def test_a_click_shorter_than_the_onset_is_not_speech() -> None:
    detector = run(room(1.0, -60) + tone(CHUNK_SECONDS, -10) + room(8.0, -60, seed=3))
    assert detector.speech_start is None
    assert detector.ended == "no_speech"


def test_digital_silence_needs_real_loudness_before_it_counts_as_speech() -> None:
    """A floor of -100 dB would make -85 dB speech; the threshold never drops below -50."""
    whisper_of_noise = bytes(2 * RATE) + room(8.0, -70)
    assert run(whisper_of_noise).ended == "no_speech"


def test_nobody_speaking_gives_up_at_the_limit() -> None:
    detector = run(room(20.0, -60), Limits(give_up=3.0))
    assert detector.ended == "no_speech"
    assert abs(detector.elapsed - 3.0) <= CHUNK_SECONDS


def test_speech_that_never_stops_is_cut_at_the_longest() -> None:
    detector = run(room(0.5, -60) + tone(10.0, -20), Limits(longest=4.0))
    assert detector.ended == "limit"
    assert abs(detector.elapsed - 4.0) <= CHUNK_SECONDS
    assert detector.feed(-20, CHUNK_SECONDS)  # once ended, it stays ended


def test_the_meter_shows_time_levels_and_whether_speech_is_heard() -> None:
    detector = Detector()
    for _ in range(10):
        detector.feed(-60, CHUNK_SECONDS)
    quiet = meter(detector)
    assert quiet.startswith("●  0.5s ") and quiet.endswith(" listening")
    assert "█" not in quiet
    for _ in range(4):
        detector.feed(-12, CHUNK_SECONDS)
    loud = meter(detector, color=True)
    assert loud.endswith("speaking") and "\x1b[31m●" in loud
    assert loud.split()[2].endswith("████")  # the newest levels on the right, at the top of the scale


def test_wav_is_sixteen_khz_mono_sixteen_bit() -> None:
    with wave.open(io.BytesIO(to_wav(tone(0.5, -20)))) as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth(), wav.getnframes())
    assert shape == (16000, 1, 2, 8000)
