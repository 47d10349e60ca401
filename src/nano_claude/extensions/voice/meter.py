"""The live level meter: one line, redrawn in place while /voice records."""

from __future__ import annotations

from nano_claude.extensions.voice.silence import Detector

BARS = "▁▂▃▄▅▆▇█"
LOW_DB, HIGH_DB = -60.0, -10.0  # the range the bars span: a quiet room to a loud voice


def bar(level: float) -> str:
    share = (min(max(level, LOW_DB), HIGH_DB) - LOW_DB) / (HIGH_DB - LOW_DB)
    return BARS[round(share * (len(BARS) - 1))]


def meter(detector: Detector, *, color: bool = False) -> str:
    """`● 2.3s ▁▃▅▇▅▃ speaking`: the dot is red while speech is heard (with color)."""
    dot = "\x1b[31m●\x1b[0m" if color and detector.speaking else "●"
    bars = "".join(bar(level) for level in detector.recent).rjust(detector.recent.maxlen or 0, BARS[0])
    what = "speaking" if detector.speaking else "listening"
    return f"{dot} {detector.elapsed:4.1f}s {bars} {what}"
