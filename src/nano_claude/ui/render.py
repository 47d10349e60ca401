"""The REPL's renderer: loop events to the terminal, with rich.

Finished output is printed once, into the terminal's own scrollback; only a
small live area under it is redrawn: the Markdown block being written, a
spinner for anything running longer than a second, a running command's last
lines. Streamed text is split into Markdown blocks as it arrives (each character
is scanned once), so the cost of an answer stays linear in its length: the
naive way, re-rendering the whole answer on every token, is quadratic.

Plain mode (not a terminal, NO_COLOR, TERM=dumb) writes text through as it
arrives and activity as plain lines, with no escape code at all.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.segment import Segment
from rich.text import Text

from nano_claude.core.events import (
    Error,
    Event,
    Notice,
    PermissionAsked,
    Relayed,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnDone,
    Usage,
)
from nano_claude.ui.text import clip, diff_style, first_line, result_line, short_args, usage_line

if TYPE_CHECKING:
    from rich.live import Live

REFRESH_PER_SECOND = 8  # redraws of the live area; its cost is bounded by the terminal's height
SPINNER_AFTER = 1.0  # seconds something runs before it gets a spinner
TAIL_LINES = 5  # lines of a running command's output shown under its spinner
CODE_THEME = "monokai"
FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

_FENCE = re.compile(r"\s*(`{3,}|~{3,})")
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def _markdown(text: str) -> RenderableType:
    """Imported on first use: the REPL's prompt shows before rich.markdown is loaded."""
    from rich.markdown import Markdown

    return Markdown(text, code_theme=CODE_THEME)


def wants_plain(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Plain text when the output is not a terminal, NO_COLOR is set (no-color.org) or TERM=dumb."""
    isatty = getattr(stream, "isatty", None)
    tty = bool(isatty and isatty())
    return not tty or environ.get("NO_COLOR", "") != "" or environ.get("TERM") == "dumb"


class MarkdownBlocks:
    """Cuts streamed Markdown into finished blocks, keeping only the block being written.

    A block ends at a blank line outside a code fence, or right after a closing
    fence; a fence is never cut at its blank lines. Only newly appended text is
    scanned: the fence state is kept from line to line.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []  # complete lines of the block being written
        self._partial: list[str] = []  # pieces of its unfinished last line
        self._fence = ""  # the open fence's marker (``` or ~~~~...), "" outside a fence
        self._fence_line = 0  # index in _lines of the line that opened it

    def feed(self, text: str) -> list[str]:
        """Append streamed text; returns the blocks it finished, in order."""
        *complete, rest = text.split("\n")
        finished = []
        if complete:
            complete[0] = "".join(self._partial) + complete[0]
            self._partial = []
            for line in complete:
                block = self._end_line(line)
                if block:
                    finished.append(block)
        if rest:
            self._partial.append(rest)
        return finished

    def _end_line(self, line: str) -> str:
        if self._fence:
            self._lines.append(line)
            closing = line.strip()
            if closing.startswith(self._fence) and closing == closing[0] * len(closing):
                self._fence = ""
                return self._take()
            return ""
        if not line.strip():
            return self._take() if self._lines else ""
        opening = _FENCE.match(line)
        if opening:
            self._fence, self._fence_line = opening.group(1), len(self._lines)
        self._lines.append(line)
        return ""

    def _take(self) -> str:
        block, self._lines = "\n".join(self._lines), []
        return block

    def flush(self) -> str:
        """The unfinished rest, as a block of its own ("" when there is none)."""
        if self._partial:
            self._lines.append("".join(self._partial))
            self._partial = []
        self._fence = ""
        block = self._take()
        return block if block.strip() else ""

    def window(self, rows: int, chars: int) -> str:
        """The end of the block being written: at most `rows` lines and `chars` characters
        (plus the fence opener, so the end of a long code block still shows as code)."""
        tail = _last_chars(self._partial, chars)
        lines = [tail] if tail else []
        budget, i = chars - len(tail), len(self._lines)
        while i > 0 and len(lines) < rows and budget > 0:
            i -= 1
            line = self._lines[i][-budget:]
            lines.append(line)
            budget -= len(line) + 1
        if self._fence and i > self._fence_line:
            lines.append(self._lines[self._fence_line])
        return "\n".join(reversed(lines))


def _last_chars(parts: list[str], n: int) -> str:
    taken, size = [], 0
    for part in reversed(parts):
        if size >= n:
            break
        taken.append(part)
        size += len(part)
    return "".join(reversed(taken))[-n:] if taken else ""


class _Trimmed:
    """A renderable without blank lines at its ends (rich puts one before a list, after
    a rule), so the renderer alone decides the spacing between blocks."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in _trim(console.render_lines(self.renderable, options, pad=False)):
            yield from line
            yield Segment.line()


def _trim(lines: list[list[Segment]]) -> list[list[Segment]]:
    start, end = 0, len(lines)
    while start < end and _blank(lines[start]):
        start += 1
    while end > start and _blank(lines[end - 1]):
        end -= 1
    return lines[start:end]


def _blank(line: list[Segment]) -> bool:
    return all(not s.text.strip() and not (s.style and s.style.bgcolor) for s in line)


class _LiveArea:
    """What the live display draws: the renderer's tail, rebuilt at each refresh."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self.renderer._live_lines(console, options)
        for i, line in enumerate(lines):
            if i:
                yield Segment.line()
            yield from line


class Renderer:
    """Loop events, command output and Markdown to one terminal (or a plain stream)."""

    def __init__(self, out: TextIO, *, plain: bool, width: int | None = None, height: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.plain, self.clock = out, plain, clock
        self.console = Console(file=out, force_terminal=not plain, no_color=plain, width=width,
                               height=height, highlight=False)
        self.verbose = False
        self.show_thinking = True  # thinking shows when this and verbose are both on
        self._blocks = MarkdownBlocks()
        self._thinking: list[str] = []  # the unfinished line of shown thinking
        self._waiting: str | None = None  # spinner label while a turn runs, None between turns
        self._quiet_since = 0.0  # when the model last showed something
        self._tools: dict[str, tuple[str, float]] = {}  # running tool id -> label, start
        self._activity: dict[str, str] = {}  # running Agent call id -> what its sub-agent does now
        self._child_calls: dict[str, str] = {}  # a sub-agent's running tool call id -> its label
        self._output = ""  # the last lines of a running command's output
        self._live: Live | None = None
        self._refreshed = 0.0  # when the live area was last drawn
        self._suspended = False
        self._last: str | None = None  # what was printed last: "md", "line" or None (nothing yet)
        self._last_tool = ""  # the tool whose start line is the last thing printed
        self._at_line_start = True  # plain mode: whether the stream is at the start of a line
        self._thought_last = False  # plain mode: thinking was written last (the answer starts a line)
        self._shown_diff = ""  # the last diff printed (a permission prompt's preview)
        # Rows (text, style) drawn under the spinner while a turn runs: the open tasks (Ctrl+T)
        self.checklist: Callable[[], list[tuple[str, str]]] | None = None

    @property
    def width(self) -> int:
        """The terminal's width in columns, for output laid out to fit it (/help's table)."""
        return self.console.width

    # --- the Echo protocol and whole texts ------------------------------------

    def echo(self, text: str = "", style: str | None = None) -> None:
        self._line(text, style or "")

    def markdown(self, text: str) -> None:
        if self.plain:
            self._plain_line(text.rstrip("\n"))
        elif text.strip():
            self._print("md", _Trimmed(_markdown(text)))

    def diff(self, text: str) -> None:
        """A unified diff, colored: + green, - red, @@ cyan."""
        self._shown_diff = text
        if self.plain:
            self._plain_line(text.rstrip("\n"))
        else:
            lines = text.rstrip("\n").split("\n")
            self._print("line", Text("\n").join(Text(line, style=diff_style(line)) for line in lines))

    # --- a turn ----------------------------------------------------------------

    def waiting(self, label: str = "Thinking") -> None:
        self._waiting, self._quiet_since, self._output = label, self.clock(), ""
        self._last, self._shown_diff = None, ""
        self._start_live()

    def on_event(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._text(event.text)
        elif isinstance(event, ThinkingDelta):
            if self.verbose and self.show_thinking:
                self._thought(event.text)
        elif isinstance(event, ToolCallStarted):
            self._tool_started(event)
        elif isinstance(event, ToolCallFinished):
            self._tool_finished(event)
        elif isinstance(event, PermissionAsked):
            self._finish_text()
            if not event.allowed and not event.by_user:  # the user knows what they declined
                note = f": {event.note}" if event.note else ""
                self._line(f"denied: {event.tool}({first_line(event.description, 80)}){note}", "yellow")
            elif event.note:
                self._line(event.note, "dim")
            if event.allowed and event.by_user:  # the prompt just above names the call
                self._last_tool = event.tool_use_id
        elif isinstance(event, Notice):
            self._line(f"note: {event.text}", "yellow")
        elif isinstance(event, Error):
            self._finish_text()
            self._line(f"error: {event.message}", "red")
        elif isinstance(event, Usage):
            self._finish_text()  # the response is complete
            if self.verbose:
                self._line(usage_line(event), "dim")
        elif isinstance(event, TurnDone):
            self.end_turn()
        elif isinstance(event, Relayed):
            self._relayed(event)
        self.tick()

    def _relayed(self, relayed: Relayed, depth: int = 1) -> None:
        """A sub-agent's activity, indented under the call that started it: its tool calls as
        they end, what it is doing now beside the call's spinner, its problems; not its text."""
        event = relayed.event
        if isinstance(event, Relayed):
            self._relayed(event, depth + 1)
            return
        lead = "  " * depth + f"⎿ {relayed.agent} · "
        if isinstance(event, ToolCallStarted):
            label = f"{event.name}({short_args(event.input, 30)})"
            self._child_calls[event.id] = label
            self._activity[relayed.parent_tool_use_id] = f"{relayed.agent}: {label}"
        elif isinstance(event, ToolCallFinished):
            label = self._child_calls.pop(event.id, event.name)
            mark, style = ("✗", "red") if event.is_error else ("✓", "dim")
            self._finish_text()
            self._line(clip(f"{lead}{mark} {label}: {result_line(event)}", self.width), style)
        elif isinstance(event, PermissionAsked) and not event.allowed and not event.by_user:
            self._finish_text()
            denied = f"{event.tool}({first_line(event.description, 60)})"
            self._line(clip(f"{lead}denied: {denied}", self.width), "yellow")
        elif isinstance(event, Error):
            self._finish_text()
            self._line(f"{lead}error: {event.message}", "red")
        elif isinstance(event, Notice):
            self._line(f"{lead}note: {event.text}", "dim")

    def tool_output(self, text: str) -> None:
        """A running command's output (a Bash call, or the user's `!command` in a turn of its own)."""
        if self.plain:
            return
        if self._tools or self._waiting is not None:
            text = _ESCAPES.sub("", text).replace("\r\n", "\n")
            self._output = _last_lines(self._output + text, TAIL_LINES)
        self.tick()

    def end_turn(self) -> None:
        self._finish_text()
        self._waiting, self._output = None, ""
        self._tools.clear()
        self._activity.clear()
        self._child_calls.clear()
        self._stop_live()
        if self.plain and not self._at_line_start:
            self._write("\n")

    def refresh(self) -> None:
        """Redraw the live area now."""
        if self._live is not None:
            self._refreshed = self.clock()
            self._live.refresh()

    def tick(self) -> None:
        """Redraw the live area if it is due (REFRESH_PER_SECOND times a second at most):
        called on every event, and by the REPL on a timer so a spinner moves while the
        model is silent."""
        if self._live is not None and self.clock() - self._refreshed >= 1 / REFRESH_PER_SECOND:
            self.refresh()

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        self._suspended = True
        self._stop_live()
        try:
            yield
        finally:
            self._suspended = False
            self._last = None  # the prompt wrote its own lines
            busy = self._waiting is not None or bool(self._tools)
            if busy:
                self._start_live()

    def close(self) -> None:
        self._stop_live()

    # --- events ----------------------------------------------------------------

    def _text(self, text: str) -> None:
        if self.plain:
            if self._thought_last and not self._at_line_start:
                self._write("\n")
            self._thought_last = False
            self._write(text)
            return
        self._finish_thinking()
        self._quiet_since = self.clock()
        blocks = self._blocks.feed(text)
        self._start_live()
        for block in blocks:  # gone from the live area before it is printed above it
            self._print("md", _Trimmed(_markdown(block)))

    def _thought(self, text: str) -> None:
        if self.plain:
            self._write(text)
            self._thought_last = True
            return
        *complete, rest = text.split("\n")
        self._quiet_since = self.clock()
        if complete:
            complete[0] = "".join(self._thinking) + complete[0]
            self._thinking = []
        if rest:
            self._thinking.append(rest)
        self._start_live()
        if complete:
            self._print("line", Text("\n".join(complete), style="dim"))

    def _tool_started(self, event: ToolCallStarted) -> None:
        self._finish_text()
        self._line(f"⚙ {event.name}({short_args(event.input, max(20, self.width - len(event.name) - 4))})",
                   "bold")
        self._last_tool = event.id
        self._tools[event.id] = (f"{event.name}({short_args(event.input, 40)})", self.clock())
        self._output = ""
        self._start_live()

    def _tool_finished(self, event: ToolCallFinished) -> None:
        label, _ = self._tools.pop(event.id, (event.name, 0.0))
        self._activity.pop(event.id, None)
        if not self._tools:
            self._output, self._quiet_since = "", self.clock()
        summary = result_line(event)
        if event.id != self._last_tool:  # other lines came between: say which call this was
            summary = f"{label}: {summary}"
        mark, style = ("✗", "red") if event.is_error else ("✓", "dim")
        self._line(f"{mark} {clip(summary, self.width - 2)}", style)
        # The user who was just asked has seen this diff in the prompt (it stays in the
        # scrollback): print it only when nobody was asked, or when it came out otherwise.
        seen, self._shown_diff = self._shown_diff, ""
        if event.display and event.display.strip() not in seen:
            self.diff(event.display)
            self._shown_diff = ""

    def _finish_text(self) -> None:
        """What has streamed so far is final: print it (a tool call or the response's end)."""
        if self.plain:
            return
        self._finish_thinking()
        block = self._blocks.flush()
        if block:
            self._print("md", _Trimmed(_markdown(block)))

    def _finish_thinking(self) -> None:
        rest, self._thinking = "".join(self._thinking), []
        if rest:
            self._print("line", Text(rest, style="dim"))

    # --- output ----------------------------------------------------------------

    def _line(self, text: str, style: str) -> None:
        if self.plain:
            self._plain_line(text)
        else:
            self._print("line", Text(text, style=style))

    def _print(self, kind: str, renderable: RenderableType) -> None:
        """Above the live area, into the scrollback; one blank line around Markdown blocks."""
        gap = self._last is not None and "md" in (kind, self._last)
        self._last, self._last_tool = kind, ""
        self.console.print(Group(Text(), renderable) if gap else renderable)

    def _plain_line(self, text: str) -> None:
        self._write(text if self._at_line_start else "\n" + text)
        self._write("\n")

    def _write(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self._at_line_start = text.endswith("\n")

    def _start_live(self) -> None:
        if self.plain or self._suspended or self._live is not None:
            return
        from rich.live import Live

        # No refresh thread: every write to the terminal comes from the caller's thread
        # (events, tick()), so a redraw can never interleave with a print above it.
        self._live = Live(_LiveArea(self), console=self.console, transient=True, auto_refresh=False,
                          redirect_stdout=False, redirect_stderr=False, vertical_overflow="crop")
        self._live.start()

    def _stop_live(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    # --- the live area -----------------------------------------------------------

    def _live_lines(self, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
        """The live area's lines: never more than the terminal's height minus 2, and
        built from a bounded piece of the tail, so one refresh costs the same at any
        point of a long answer."""
        rows, width = max(1, console.height - 2), options.max_width
        options = options.update(height=None)  # a set height would keep the first lines, not the last
        now = self.clock()
        source = self._blocks.window(rows, rows * width)
        thinking = _last_chars(self._thinking, rows * width)
        running = [(label + (f" · {self._activity[id]}" if id in self._activity else ""), now - since)
                   for id, (label, since) in self._tools.items() if now - since >= SPINNER_AFTER]
        idle = now - self._quiet_since
        if self._waiting is not None and not self._tools and idle >= SPINNER_AFTER:
            running.append((f"{self._waiting}…", idle))
        output = self._output if running else ""
        below: list[list[Segment]] = []
        for label, seconds in running:
            spinner = Text.assemble((FRAMES[int(seconds * 10) % len(FRAMES)], "cyan"), " ", label,
                                    (f" {_elapsed(seconds)}", "dim"))
            below += console.render_lines(spinner, options, pad=False)
        for line in _shown_lines(output):
            below += console.render_lines(Text(f"  {line}", style="dim", no_wrap=True, overflow="ellipsis"),
                                          options, pad=False)
        below += self._checklist_lines(console, options)
        above: list[list[Segment]] = []
        if thinking:
            above += console.render_lines(Text(thinking, style="dim"), options, pad=False)
        if source.strip():
            block = _trim(console.render_lines(_markdown(source), options, pad=False))
            gap = [[]] if self._last is not None and not thinking else []  # as it will be printed
            above += gap + block
        room = max(0, rows - len(below))
        return ((above[-room:] if room else []) + below)[-rows:]

    def _checklist_lines(self, console: Console, options: ConsoleOptions) -> list[list[Segment]]:
        """The checklist's rows, one line each, while a turn runs (none between turns)."""
        if self.checklist is None or (self._waiting is None and not self._tools):
            return []
        return [line for text, style in self.checklist()
                for line in console.render_lines(Text(text, style=style, no_wrap=True, overflow="ellipsis"),
                                                 options, pad=False)]


def _elapsed(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m {whole % 60}s" if whole >= 60 else f"{whole}s"


def _last_lines(text: str, n: int, limit: int = 4000) -> str:
    """The last `n` lines of a command's output so far (and at most `limit` characters)."""
    text = text[-limit:]
    end = len(text.rstrip("\n"))
    cut = end
    for _ in range(n):
        cut = text.rfind("\n", 0, cut)
        if cut < 0:
            return text
    return text[cut + 1:]


def _shown_lines(output: str) -> Iterable[str]:
    """The lines as a terminal would leave them: a carriage return restarts its line."""
    if not output:
        return []
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in output.rstrip("\n").split("\n")]
    return lines[-TAIL_LINES:]
