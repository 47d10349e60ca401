"""/voice: say a message instead of typing it. It records until you stop talking, shows what
it heard and sends it (voice_auto_submit off: puts it into the input to edit first).
`/voice status` names the recorders and transcribers found and what the others need;
`/voice lang CODE|auto` sets the language you speak and saves it.

The recording runs on the event loop (recorder processes are read asynchronously, a
transcription runs in a thread), and this command watches the keys itself while it runs:
commands run outside the REPL's cancellable turns, so Esc or Ctrl+C would otherwise not reach
it. Either key stops the recorder and sends nothing.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState

if TYPE_CHECKING:
    from nano_claude.extensions.voice.silence import Detector

T = TypeVar("T")
USAGE = "/voice [status | lang CODE|auto]"
LANGUAGES = ("auto", "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "uk", "ja", "zh", "ko", "hi", "ar")


async def run(state: ReplState, args: str) -> None:
    sub, _, rest = args.partition(" ")
    if not sub:
        await speak(state)
    elif sub == "status":
        await status(state)
    elif sub == "lang":
        await language(state, rest.strip().lower())
    else:
        state.echo(f"Unknown /voice subcommand {sub!r}. Usage: {USAGE}", "red")


async def speak(state: ReplState) -> None:
    from nano_claude.extensions.voice import NoSpeech

    try:
        done = await _cancellable(state, _speak(state))
    except NoSpeech as exc:
        state.echo(f"{exc} Nothing was sent.", "yellow")
        return
    if done is None:
        state.echo("Voice input cancelled: nothing was sent.", "yellow")
        return
    text = done
    if not text:
        state.echo("Heard nothing that could be written down: nothing was sent.", "yellow")
    elif state.settings.voice_auto_submit:
        state.send = text
    elif _tty():
        state.draft = text
        state.echo("It is in the input: edit it, then press Enter to send it.", "dim")
    else:
        state.echo("voice_auto_submit is off and the input is not a terminal: nothing was sent.", "yellow")


async def _speak(state: ReplState) -> str:
    """Record, transcribe and show the transcript; returns it."""
    from nano_claude.extensions.voice import keyterms, recorder
    from nano_claude.extensions.voice import transcribe as transcription
    from nano_claude.extensions.voice.silence import Limits

    environ = state.environ
    found = await asyncio.to_thread(recorder.choose, environ)
    ready = await transcription.prepare(state.settings, environ, lambda said: state.echo(said, "dim"))
    root = state.agent.ctx.root
    terms = asyncio.ensure_future(asyncio.to_thread(keyterms.keyterms, root))
    limits = Limits()
    keys = "Esc or Ctrl+C" if _tty() else "Ctrl+C"
    state.echo(f"Listening ({found.name}): speak now; it stops {limits.trailing:g} s after you finish "
               f"({keys} cancels).", "dim")
    meter = _Meter(state)
    try:
        recording = await recorder.record(found, environ, limits, meter.draw)
    finally:
        meter.clear()
        if not terms.done():
            terms.cancel()
    cut = f", stopped at the {limits.longest:g} s limit" if recording.ended == "limit" else ""
    state.echo(f"Recorded {recording.speech_end - recording.speech_start:.1f} s of speech{cut}; transcribing "
               f"({ready.by.name})…", "dim")
    prompt = keyterms.initial_prompt(await terms)
    transcript = await transcription.transcribe(recording.pcm, state.settings, ready, prompt)
    if transcript.text:
        state.echo(f"Heard: {transcript.text}", "bold")
    return transcript.text


async def _cancellable(state: ReplState, work: Awaitable[T]) -> T | None:
    """Run `work` until it ends, or Esc or Ctrl+C is pressed, or the REPL is told to leave
    (SIGTERM; SIGINT when the input is not a terminal): then None, and it is cancelled."""
    task = asyncio.ensure_future(work)
    keys = None
    if _tty():
        from nano_claude.ui.keys import KeyWatch, is_cancel

        keys = KeyWatch()
        keys.start(lambda key, data: task.cancel() if is_cancel(key) else None)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if not state.running:
                task.cancel()
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        if keys is not None:
            keys.stop()
    if task.cancelled():
        return None
    return task.result()


class _Meter:
    """The level meter, redrawn in place on one line of a terminal (nothing on a pipe)."""

    def __init__(self, state: ReplState) -> None:
        from nano_claude.ui.render import Renderer

        output = state.output
        out = output.out if isinstance(output, Renderer) else None
        self.out = out if out is not None and out.isatty() and state.environ.get("TERM") != "dumb" else None
        self.color = isinstance(output, Renderer) and not output.plain
        self.drawn = False

    def draw(self, detector: Detector) -> None:
        from nano_claude.extensions.voice.meter import meter

        if self.out is not None:
            self.out.write("\r" + meter(detector, color=self.color) + "\x1b[K")
            self.out.flush()
            self.drawn = True

    def clear(self) -> None:
        if self.out is not None and self.drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()


async def status(state: ReplState) -> None:
    from nano_claude.extensions.voice import VoiceError, keyterms, recorder
    from nano_claude.extensions.voice import transcribe as transcription

    environ, settings = state.environ, state.settings
    recorders = await asyncio.to_thread(recorder.survey, environ)
    try:
        used = (await asyncio.to_thread(recorder.choose, environ)).name
    except VoiceError as exc:
        used, problem = "", str(exc)
    else:
        problem = ""
    state.echo(f"Recording (the first usable one records; {recorder.FORCE}=sounddevice|arecord|rec "
               "picks one):", "bold")
    _rows(state, [(r.name, r.usable, r.detail) for r in recorders], used)
    if problem and environ.get(recorder.FORCE):
        state.echo(f"  {problem}", "red")
    transcribers = await asyncio.to_thread(transcription.survey, settings, environ)
    first = next((t.name for t in transcribers if t.usable), "")
    state.echo("Transcription (the first usable one transcribes):", "bold")
    _rows(state, [(t.name, t.usable, t.detail) for t in transcribers], first)
    auto = "on" if settings.voice_auto_submit else "off (the transcript goes into the input)"
    state.echo(f"Language: {settings.voice_language} (/voice lang CODE|auto) · voice_auto_submit: {auto}")
    terms = keyterms.initial_prompt(await asyncio.to_thread(keyterms.keyterms, state.agent.ctx.root))
    state.echo(f"Keyterms whisper is told to expect: {terms or '(none)'}", "dim")
    if not used or not first:
        state.echo("/voice needs a recorder and a transcriber: install what a ✗ line names.", "yellow")


def _rows(state: ReplState, rows: list[tuple[str, bool, str]], used: str) -> None:
    width = max(len(name) for name, _, _ in rows)
    for name, usable, detail in rows:
        mark = "←" if name == used else " "
        state.echo(f"  {'✓' if usable else '✗'} {name:<{width}}  {detail} {mark}".rstrip(),
                   None if usable else "dim")


async def language(state: ReplState, code: str) -> None:
    from nano_claude.config import save_user_setting
    from nano_claude.core.errors import ConfigError
    from nano_claude.ui.commands.live import apply_setting

    if not code:
        state.echo(f"Voice language: {state.settings.voice_language}. /voice lang CODE (en, de, ja...) sets "
                   "it; /voice lang auto lets whisper tell.")
        return
    if code != "auto" and not re.fullmatch(r"[a-z]{2,3}", code):
        state.echo(f"{code!r} is not a language code: use a two-letter code such as en, de or ja, or auto "
                   "(whisper tells the language itself).", "red")
        return
    try:
        save_user_setting(state.paths, "voice_language", code)
    except (ConfigError, OSError) as exc:
        state.echo(f"Not saved, nothing changed: {exc}", "red")
        return
    await apply_setting(state, "voice_language", code)
    shown = "auto (whisper tells the language)" if code == "auto" else code
    state.echo(f"Voice language set to {shown} (saved to {state.paths.user_config}).", "green")


def _tty() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def complete(state: ReplState, text: str) -> list[str]:
    if text.startswith("lang "):
        typed = text[5:].strip()
        return [f"lang {code}" for code in LANGUAGES if code.startswith(typed)]
    return [option for option in ("status", "lang ") if option.startswith(text)]


COMMAND = Command("voice", "speak a message: record until you stop talking, transcribe, send", run,
                  usage=USAGE, complete=complete)
