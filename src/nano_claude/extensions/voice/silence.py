"""When speech begins and when it is over, from the level of each chunk of sound.

The noise floor is measured while nobody speaks: the median level of the last second heard,
so a click or a moment of digital silence at the start does not move it. Speech begins once
the level stays `margin_db` above that floor (and above `quietest_db`, so a dead-silent line
does not make a breath into speech) for `onset` seconds. It is over once the level has stayed
back down for `trailing` seconds; the level may dip a little below the threshold it rose
above (`HYSTERESIS_DB`) without ending a word. Time is counted in samples, not by a clock: the
same sound gives the same decision however fast it arrives.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Literal

from nano_claude.extensions.voice.audio import SILENT_DB

Ending = Literal["silence", "limit", "no_speech"]
HYSTERESIS_DB = 4.0
FLOOR_WINDOW = 1.0  # seconds of quiet the noise floor is the median of
SHOWN = 24  # levels kept for the meter


@dataclass(frozen=True)
class Limits:
    trailing: float = 1.5  # quiet this long after speech ends the recording
    give_up: float = 8.0  # nobody spoke this long after the start: stop, nothing heard
    longest: float = 30.0  # a recording never runs longer
    margin_db: float = 12.0  # speech is this much louder than the noise floor...
    quietest_db: float = -50.0  # ...and never quieter than this
    onset: float = 0.1  # this long above the threshold starts speech: a click does not
    settle: float = 0.2  # listening this long measures the floor before speech can begin


class Detector:
    """Fed the level of each chunk in order; says when to stop and why."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.elapsed = 0.0
        self.floor: float | None = None
        self.loudest = SILENT_DB
        self.recent: deque[float] = deque(maxlen=SHOWN)
        self.speech_start: float | None = None
        self.speech_end: float | None = None  # the end of the last chunk loud enough to be speech
        self.ended: Ending | None = None
        self._quiet: deque[float] = deque()
        self._rising: float | None = None  # when the level last rose above the threshold

    @property
    def speaking(self) -> bool:
        return self.speech_start is not None and self.ended is None

    @property
    def threshold(self) -> float:
        floor = SILENT_DB if self.floor is None else self.floor
        return max(floor + self.limits.margin_db, self.limits.quietest_db)

    def feed(self, level: float, duration: float) -> bool:
        """One chunk's level and length in seconds. True once the recording should stop
        (`ended` says why)."""
        if self.ended is not None:
            return True
        start, self.elapsed = self.elapsed, self.elapsed + duration
        self.loudest = max(self.loudest, level)
        self.recent.append(level)
        if self.speech_start is None:
            self._listen(level, start, duration)
        elif level > self.threshold - HYSTERESIS_DB:
            self.speech_end = self.elapsed
        limits = self.limits
        if self.speech_start is None:
            if self.elapsed >= limits.give_up:
                self.ended = "no_speech"
        elif self.speech_end is not None and self.elapsed - self.speech_end >= limits.trailing:
            self.ended = "silence"
        elif self.elapsed >= limits.longest:
            self.ended = "limit"
        return self.ended is not None

    def _listen(self, level: float, start: float, duration: float) -> None:
        if self.floor is not None and start >= self.limits.settle and level > self.threshold:
            if self._rising is None:
                self._rising = start
            if self.elapsed - self._rising >= self.limits.onset - 1e-9:
                self.speech_start, self.speech_end = self._rising, self.elapsed
            return
        self._rising = None
        self._quiet.append(level)
        while len(self._quiet) * duration > FLOOR_WINDOW:
            self._quiet.popleft()
        self.floor = statistics.median(self._quiet)
