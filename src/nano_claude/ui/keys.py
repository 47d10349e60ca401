"""Keys pressed while a turn runs: Esc or Ctrl+C cancels it, a permission prompt takes
its answer, and anything typed ahead is kept for the next prompt.

The terminal is in raw mode for the turn (no echo, Ctrl+C is a key rather than a
signal); prompt_toolkit's parser turns the bytes into key presses, escape
sequences included, so an arrow key is never mistaken for Esc. Bracketed paste is on
too, so a paste typed ahead arrives as one paste (and a long one can be collapsed),
not as a stream of keys.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from prompt_toolkit.input import Input, create_input
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output, create_output

ESCAPE_DELAY = 0.05  # a lone ESC byte is the Esc key once nothing follows it this soon

Handler = Callable[[str, str], None]  # (key, data): key is a prompt_toolkit Keys value or the character


class KeyWatch:
    """Reads key presses from the terminal between start() and stop()."""

    def __init__(self, inp: Input | None = None, out: Output | None = None) -> None:
        self.input = inp or create_input()
        self.output = out
        self._stack: contextlib.ExitStack | None = None
        self._flush: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        return self._stack is not None

    def start(self, handler: Handler) -> None:
        if self._stack is not None:
            return
        loop = asyncio.get_running_loop()

        def deliver(presses: list) -> None:
            for press in presses:
                handler(press.key if isinstance(press.key, str) else str(press.key), press.data)

        def ready() -> None:
            deliver(self.input.read_keys())
            if self._flush is not None:
                self._flush.cancel()
            self._flush = loop.call_later(ESCAPE_DELAY, lambda: deliver(self.input.flush_keys()))

        stack = contextlib.ExitStack()
        stack.enter_context(self.input.raw_mode())
        stack.enter_context(self._bracketed_paste())
        stack.enter_context(self.input.attach(ready))
        self._stack = stack

    @contextlib.contextmanager
    def _bracketed_paste(self) -> Iterator[None]:
        output = self.output = self.output or create_output()
        output.enable_bracketed_paste()
        output.flush()
        try:
            yield
        finally:
            output.disable_bracketed_paste()
            output.flush()

    def stop(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    @contextlib.contextmanager
    def paused(self, handler: Handler) -> Iterator[None]:
        """Give the terminal to something else (a line prompt), then listen again."""
        was = self.active
        self.stop()
        try:
            yield
        finally:
            if was:
                self.start(handler)


def is_cancel(key: str) -> bool:
    return key in (Keys.Escape, Keys.ControlC)


def is_tasks_toggle(key: str) -> bool:
    """Ctrl+T shows or hides the task checklist under the spinner."""
    return key == Keys.ControlT


def is_paste(key: str) -> bool:
    return key == Keys.BracketedPaste


def is_text(key: str, data: str) -> bool:
    """A key that types something (kept as type-ahead for the next prompt)."""
    return key == Keys.BracketedPaste or (len(data) == 1 and data.isprintable() and key == data)
