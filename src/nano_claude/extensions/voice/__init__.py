"""Voice input for /voice: record until the speaker stops, then turn the speech into text.

audio.py holds the one PCM format every recorder delivers (16 kHz mono 16-bit); silence.py
decides when speech began and ended; recorder.py finds a recorder (sounddevice, arecord, sox's
rec) and runs the one recording loop over it; transcribe.py finds a transcriber (a server at
voice_base_url, faster-whisper, openai-whisper, OpenAI's API); keyterms.py gathers the words
whisper should expect. Nothing here is imported until /voice runs: the REPL starts without it.
"""

from __future__ import annotations

from nano_claude.core.errors import NanoClaudeError


class VoiceError(NanoClaudeError):
    """Recording or transcription cannot go on; the message says what failed and how to fix it."""


class NoSpeech(VoiceError):
    """The recording ended before anyone spoke: there is nothing to transcribe."""
