"""The REPL's renderer, seen the way a user sees it.

Fancy output goes through a small terminal model (`screen`): it applies the
carriage returns, line erasures and cursor moves rich's live display writes, so
a test reads what is left on the terminal (scrollback and screen), not every
frame ever drawn. The clock is injected and `refresh()` stands in for a tick of
the REPL's timer, so nothing waits on real time.
"""

from __future__ import annotations

import io
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.markdown import Markdown

from nano_claude.core.events import (
    Error,
    Notice,
    PermissionAsked,
    TextDelta,
    ThinkingDelta,
    TokenUsage,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
)
from nano_claude.core.messages import tool_result
from nano_claude.core.prompter import PermissionRequest
from nano_claude.ui.prompter import TerminalPrompter
from nano_claude.ui.render import CODE_THEME, MarkdownBlocks, Renderer, wants_plain

WIDTH, HEIGHT = 60, 12
_TOKEN = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\r|\n|[^\x1b\r\n]+")


def screen(raw: str) -> list[str]:
    """The lines a terminal shows after receiving `raw` (scrollback included), without styles."""
    rows, row, col = [""], 0, 0
    for match in _TOKEN.finditer(raw):
        token, arg, command = match.group(0), match.group(1), match.group(2)
        if token == "\n":
            row, col = row + 1, 0
            if row == len(rows):
                rows.append("")
        elif token == "\r":
            col = 0
        elif command == "A":
            row = max(0, row - int(arg or 1))
        elif command == "K" and arg == "2":
            rows[row] = ""
        elif command in ("m", "h", "l") or token.startswith("\x1b]"):
            pass  # styles, cursor visibility, hyperlinks
        elif command:
            raise AssertionError(f"the terminal model does not know {token!r}")
        else:
            line = rows[row].ljust(col)
            rows[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    lines = [r.rstrip() for r in rows]
    while lines and not lines[-1]:
        lines.pop()
    return lines


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known terminal for rich: not dumb, interactive, 256 colours."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("COLORTERM", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fancy(clock: Clock):
    renderer = Renderer(io.StringIO(), plain=False, width=WIDTH, height=HEIGHT, clock=clock)
    yield renderer
    renderer.close()


@pytest.fixture
def plain(clock: Clock) -> Renderer:
    return Renderer(io.StringIO(), plain=True, width=WIDTH, height=HEIGHT, clock=clock)


def raw(renderer: Renderer) -> str:
    out = renderer.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def shown(renderer: Renderer) -> list[str]:
    return screen(raw(renderer))


def stream(renderer: Renderer, text: str, size: int = 3, tick_every: int = 0) -> None:
    for n, i in enumerate(range(0, len(text), size)):
        renderer.on_event(TextDelta(text[i:i + size]))
        if tick_every and n % tick_every == 0:
            renderer.refresh()


def rich_render(markdown: str) -> str:
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=WIDTH, height=HEIGHT, highlight=False).print(
        Markdown(markdown, code_theme=CODE_THEME))
    return out.getvalue()


def finished(event_id: str, name: str, text: str, *, error: bool = False,
             display: str = "", summary: str = "") -> ToolCallFinished:
    return ToolCallFinished(event_id, name, tool_result(event_id, text, is_error=error), display, summary)


ANSWER = ("# Release notes\n\nThe parser is **faster** now.\nIt also handles `tabs`.\n\n"
          + "".join(f"Paragraph {i} says something useful about the change.\n\n" for i in range(12))
          + "That is all.")
CODE = "```python\ndef total(xs):\n    s = 0\n\n\n    for x in xs:\n        s += x\n\n    return s\n```\n"
DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2\n y = 3\n"


# --- streaming Markdown ----------------------------------------------------------


def test_heading_is_printed_once_after_hundreds_of_small_deltas(fancy: Renderer) -> None:
    fancy.waiting()
    stream(fancy, ANSWER, size=2, tick_every=7)
    assert sum("Release notes" in line for line in shown(fancy)) == 1
    fancy.end_turn()
    lines = shown(fancy)
    assert sum("Release notes" in line for line in lines) == 1
    assert sum("Paragraph 7 says" in line for line in lines) == 1
    assert lines[-1] == "That is all."


def test_finished_blocks_are_printed_while_the_answer_streams(fancy: Renderer) -> None:
    fancy.waiting()
    stream(fancy, "# Release notes\n\nThe parser is faster.\n\nStill wri")
    fancy.close()  # the live area is gone: what is left was printed for good
    assert "The parser is faster." in shown(fancy)
    assert not any("Still wri" in line for line in shown(fancy))


def test_code_block_is_highlighted_and_never_split_at_its_blank_lines(fancy: Renderer) -> None:
    fancy.waiting()
    stream(fancy, CODE + "After the code.\n\n", size=2, tick_every=5)
    fancy.end_turn()
    reference = rich_render(CODE)
    code_rows = screen(reference)
    lines = shown(fancy)
    start = lines.index(code_rows[0])
    assert lines[start:start + len(code_rows)] == code_rows  # one block, as rich renders it whole
    returns = next(row for row in reference.split("\n") if "return" in row)
    assert "\x1b[" in returns and returns in raw(fancy)  # highlighted, escape codes and all
    assert lines[-1] == "After the code."


def test_ordered_list_split_across_blocks_keeps_its_numbers(fancy: Renderer) -> None:
    stream(fancy, "1. first\n\n2. second\n\n3. third\n")
    fancy.end_turn()
    items = [line.split() for line in shown(fancy) if line.strip()]
    assert items == [["1", "first"], ["2", "second"], ["3", "third"]]


def test_end_turn_prints_an_unterminated_last_paragraph(fancy: Renderer) -> None:
    fancy.waiting()
    for piece in ("Hello wor", "ld, the end"):
        fancy.on_event(TextDelta(piece))
    fancy.end_turn()
    assert shown(fancy) == ["Hello world, the end"]
    printed = len(raw(fancy))
    fancy.refresh()
    assert len(raw(fancy)) == printed  # the live display stopped


def test_long_block_in_progress_shows_its_last_lines_within_the_terminal_height(fancy: Renderer) -> None:
    fancy.waiting()
    fancy.on_event(TextDelta("```python\n"))
    for i in range(300):
        fancy.on_event(TextDelta(f"value_{i} = {i}\n"))
    fancy.refresh()
    lines = shown(fancy)
    assert len(lines) <= HEIGHT - 2
    assert any("value_299 = 299" in line for line in lines)
    assert not any("value_200 " in line for line in lines)
    fancy.on_event(TextDelta("```\n"))
    fancy.end_turn()
    lines = shown(fancy)
    for i in (0, 150, 299):
        assert sum(f"value_{i} = {i}" in line for line in lines) == 1


# --- plain output ---------------------------------------------------------------


def test_plain_mode_writes_text_deltas_through_without_escape_codes(plain: Renderer) -> None:
    plain.waiting()
    stream(plain, ANSWER + "\n\n" + CODE, size=3)
    assert raw(plain) == ANSWER + "\n\n" + CODE
    plain.on_event(ToolCallStarted("t1", "Edit", {"file_path": "app.py"}))
    plain.tool_output("running\n")
    plain.on_event(finished("t1", "Edit", "Edited app.py", display=DIFF))
    plain.on_event(TextDelta("Done"))
    plain.end_turn()
    assert "\x1b" not in raw(plain)
    assert raw(plain).endswith("```\n⚙ Edit(app.py)\n✓ Edited app.py\n" + DIFF + "Done\n")


def test_plain_mode_writes_activity_as_plain_lines(plain: Renderer) -> None:
    plain.verbose = True
    plain.on_event(TextDelta("Let me check."))
    plain.on_event(Notice("retrying in 2s"))
    plain.on_event(PermissionAsked("Bash", "rm -rf build", False, note="denied by rule Bash(rm:*)"))
    plain.on_event(PermissionAsked("Bash", "ls", True, note="saved to .nano_claude/settings.json"))
    plain.on_event(ToolCallStarted("t1", "Bash", {"command": "ls"}))
    plain.on_event(finished("t1", "Bash", "exit code 2\nls: no such file", error=True))
    plain.on_event(Usage(TokenUsage(1200, 80, 1000, 0), 0.0123))
    plain.on_event(Error("the server closed the connection"))
    plain.end_turn()
    assert raw(plain).splitlines() == [
        "Let me check.",
        "note: retrying in 2s",
        "denied: Bash(rm -rf build): denied by rule Bash(rm:*)",
        "saved to .nano_claude/settings.json",
        "⚙ Bash(ls)",
        "✗ exit code 2 ls: no such file",  # an error without a summary: whole, on one line
        "tokens: in 1200 (cache read 1000, write 0), out 80; $0.0123",
        "error: the server closed the connection",
    ]


def test_plain_thinking_ends_its_line_before_the_answer(plain: Renderer) -> None:
    plain.verbose = True
    plain.on_event(ThinkingDelta("The user wants a sum."))
    plain.on_event(TextDelta("It is 4."))
    plain.end_turn()
    assert raw(plain) == "The user wants a sum.\nIt is 4.\n"


# --- tools, notes and thinking ------------------------------------------------------


def test_tool_calls_show_their_line_result_and_colored_diff(fancy: Renderer) -> None:
    fancy.waiting()
    stream(fancy, "I will fix it.")
    fancy.on_event(ToolCallStarted("t1", "Edit", {"file_path": "app.py", "old_string": "x = 1"}))
    fancy.on_event(finished("t1", "Edit", "Edited app.py (1 line changed)", display=DIFF))
    fancy.on_event(ToolCallStarted("t2", "Read", {"file_path": "a.py"}))
    fancy.on_event(ToolCallStarted("t3", "Read", {"file_path": "b.py"}))
    fancy.on_event(finished("t2", "Read", "File does not exist: a.py", error=True))
    fancy.on_event(finished("t3", "Read", "1 line"))
    fancy.end_turn()
    assert shown(fancy) == [
        "I will fix it.", "",
        "⚙ Edit(app.py)", "✓ Edited app.py (1 line changed)", *DIFF.splitlines(),
        "⚙ Read(a.py)", "⚙ Read(b.py)",
        "✗ Read(a.py): File does not exist: a.py",  # calls in parallel: each result says whose it is
        "✓ Read(b.py): 1 line",
    ]
    out = raw(fancy)
    for styled in ("\x1b[32m+x = 2", "\x1b[31m-x = 1", "\x1b[36m@@ -1,2 +1,2 @@",
                   "\x1b[31m✗ Read(a.py)"):
        assert styled in out


@pytest.mark.parametrize(("verbose", "show_thinking"), [(True, True), (True, False), (False, True),
                                                        (False, False)])
def test_thinking_shows_dimmed_only_when_verbose_and_show_thinking(
        fancy: Renderer, verbose: bool, show_thinking: bool) -> None:
    fancy.verbose, fancy.show_thinking = verbose, show_thinking
    fancy.waiting()
    fancy.on_event(ThinkingDelta("Step one: read the file.\nStep two"))
    fancy.on_event(ThinkingDelta(": edit it."))
    fancy.on_event(TextDelta("Done."))
    fancy.end_turn()
    thinking = ["Step one: read the file.", "Step two: edit it."]
    if verbose and show_thinking:
        assert shown(fancy) == [*thinking, "", "Done."]
        assert "\x1b[2mStep one: read the file." in raw(fancy)
    else:
        assert shown(fancy) == ["Done."]


def test_notes_errors_denials_and_usage_have_their_colors(fancy: Renderer) -> None:
    fancy.on_event(Notice("the prompt was truncated"))
    fancy.on_event(PermissionAsked("Bash", "rm -rf build", False, note="the user said no"))
    fancy.on_event(PermissionAsked("Write", "notes.md", True, note="rule saved"))
    fancy.on_event(Usage(TokenUsage(10, 5), 0.001))
    fancy.verbose = True
    fancy.on_event(Usage(TokenUsage(10, 5), 0.001))
    fancy.on_event(Error("rate limited"))
    out = raw(fancy)
    assert "\x1b[33mnote: the prompt was truncated" in out
    assert "\x1b[33mdenied: Bash(rm -rf build): the user said no" in out
    assert "\x1b[2mrule saved" in out
    assert "\x1b[31merror: rate limited" in out
    assert shown(fancy).count("tokens: in 10 (cache read 0, write 0), out 5; $0.0010") == 1


def test_a_finished_call_shows_the_tools_summary_not_its_first_line(fancy: Renderer) -> None:
    fancy.on_event(ToolCallStarted("t1", "Read", {"file_path": "calc.py"}))
    fancy.on_event(finished("t1", "Read", "1\tdef add(a, b):\n2\t    return a + b", summary="Read 2 lines"))
    fancy.on_event(ToolCallStarted("t2", "Bash", {"command": "pytest"}))
    output = "DeprecationWarning: old\n...\n1 failed, 2 passed in 0.1s\n[exit code 1]"
    fancy.on_event(finished("t2", "Bash", output, error=True, summary="exit 1 · 1 failed, 2 passed in 0.1s"))
    fancy.on_event(ToolCallStarted("t3", "mcp__time__now", {}))
    fancy.on_event(finished("t3", "mcp__time__now", "\n  2024-05-01T10:00:00Z\nUTC"))  # no summary
    assert shown(fancy) == ["⚙ Read(calc.py)", "✓ Read 2 lines",
                            "⚙ Bash(pytest)", "✗ exit 1 · 1 failed, 2 passed in 0.1s",
                            "⚙ mcp__time__now()", "✓ 2024-05-01T10:00:00Z"]


def test_an_error_is_kept_on_one_line_and_cut_at_a_word_to_the_width(fancy: Renderer) -> None:
    error = ("old_string was not found in /home/user/project/src/app.py.\nIt must match exactly, "
             "including indentation; Read the file again to copy the current text.")
    fancy.on_event(ToolCallStarted("t1", "Edit", {"file_path": "src/app.py"}))
    fancy.on_event(finished("t1", "Edit", error, error=True))
    line = shown(fancy)[1]
    assert len(shown(fancy)) == 2 and len(line) <= WIDTH and line.endswith("…")
    kept, whole = line[2:-1], " ".join(error.split())
    assert whole.startswith(kept) and whole[len(kept):].split(" ")[0] in ("", ".")  # cut at a word's end
    fancy.on_event(ToolCallStarted("t2", "Edit", {"file_path": "a.py"}))
    fancy.on_event(finished("t2", "Edit", "File not found:\n/a.py.", error=True))
    assert shown(fancy)[-1] == "✗ File not found: /a.py."  # short enough: whole


async def test_a_diff_the_user_just_approved_is_not_printed_again(fancy: Renderer) -> None:
    async def yes(prompt: str) -> str:
        return "y"

    fancy.waiting()
    fancy.on_event(ToolCallStarted("t1", "Edit", {"file_path": "app.py"}))
    verdict = await TerminalPrompter(fancy, yes, keys=False).confirm(
        PermissionRequest("Edit", "app.py", detail=DIFF))
    assert verdict.allowed
    fancy.on_event(PermissionAsked("Edit", "app.py", True, "t1", by_user=True))
    fancy.on_event(finished("t1", "Edit", "Edited app.py", display=DIFF, summary="Edited app.py +1 −1"))
    # Another edit nobody was asked about: its diff is the only place the change shows.
    fancy.on_event(ToolCallStarted("t2", "Edit", {"file_path": "app.py"}))
    fancy.on_event(finished("t2", "Edit", "Edited app.py", display=DIFF, summary="Edited app.py +1 −1"))
    fancy.end_turn()
    lines = shown(fancy)
    assert lines.count("+x = 2") == 2, lines  # once in the prompt, once for the unasked edit
    approved = lines.index("✓ Edited app.py +1 −1")  # right under the prompt that named the call
    assert lines[approved - 1].startswith("  y yes") and lines[approved + 1] == "⚙ Edit(app.py)", lines
    assert lines[approved + 1:] == ["⚙ Edit(app.py)", "✓ Edited app.py +1 −1", *DIFF.splitlines()]


# --- the live area ----------------------------------------------------------------


def test_spinner_appears_only_after_a_second(fancy: Renderer, clock: Clock) -> None:
    fancy.waiting()
    clock.now += 0.9
    fancy.refresh()
    assert shown(fancy) == []
    clock.now += 2.3
    fancy.refresh()
    assert len(shown(fancy)) == 1 and shown(fancy)[0].endswith(" Thinking… 3s")
    fancy.on_event(TextDelta("Here"))
    fancy.refresh()
    assert shown(fancy) == ["Here"]


def test_running_tool_shows_spinner_with_its_output_tail(fancy: Renderer, clock: Clock) -> None:
    fancy.waiting()
    fancy.on_event(ToolCallStarted("t1", "Bash", {"command": "npm test"}))
    for i in range(1, 9):
        fancy.tool_output(f"\x1b[32mtest {i} passed\x1b[0m\n")
    clock.now += 0.5
    fancy.refresh()
    assert shown(fancy) == ["⚙ Bash(npm test)"]
    clock.now += 4
    fancy.refresh()
    lines = shown(fancy)
    assert lines[1].endswith(" Bash(npm test) 4s")
    assert lines[2:] == [f"  test {i} passed" for i in range(4, 9)]
    assert "\x1b[2m  test 8 passed" in raw(fancy)
    fancy.on_event(finished("t1", "Bash", "8 passed"))
    fancy.refresh()
    assert shown(fancy) == ["⚙ Bash(npm test)", "✓ 8 passed"]


def test_a_users_shell_command_shows_its_tail_under_the_waiting_spinner(fancy: Renderer,
                                                                         clock: Clock) -> None:
    fancy.waiting("!make")
    fancy.tool_output("cc -c a.c\ncc -c b.c\r\n[ 50%] linking\r[100%] linking")
    clock.now += 2
    fancy.refresh()
    lines = shown(fancy)
    assert lines[0].endswith(" !make… 2s")
    assert lines[1:] == ["  cc -c a.c", "  cc -c b.c", "  [100%] linking"]  # a \r rewrites its line


def test_suspended_stops_the_live_display(fancy: Renderer, clock: Clock) -> None:
    fancy.waiting()
    clock.now += 3
    fancy.refresh()
    assert any("Thinking…" in line for line in shown(fancy))
    with fancy.suspended():
        assert shown(fancy) == []
        drawn = len(raw(fancy))
        clock.now += 1
        fancy.refresh()
        assert len(raw(fancy)) == drawn
    fancy.refresh()
    assert any("Thinking… 4s" in line for line in shown(fancy))


# --- echo and whole texts -----------------------------------------------------------


def test_echo_prints_styled_lines_and_never_reads_markup(fancy: Renderer, plain: Renderer) -> None:
    for renderer in (fancy, plain):
        renderer.echo("saved", "green")
        renderer.echo()
        renderer.echo("[bold]literal[/bold]", "dim")
    assert "\x1b[32msaved" in raw(fancy)
    assert shown(fancy) == ["saved", "", "[bold]literal[/bold]"]
    assert raw(plain) == "saved\n\n[bold]literal[/bold]\n"


def test_markdown_prints_a_whole_text_once(fancy: Renderer, plain: Renderer) -> None:
    text = "## History\n\n- first prompt\n- second prompt\n"
    fancy.markdown(text)
    plain.markdown(text)
    assert shown(fancy) == ["History", "", " • first prompt", " • second prompt"]
    assert raw(plain) == text


# --- pieces -------------------------------------------------------------------------


@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=60))
def test_blocks_do_not_depend_on_how_the_text_was_cut(sizes: list[int]) -> None:
    text = ANSWER + "\n\n" + CODE + "- a\n- b\n\n~~~\nx\n\n~~~~\nend"
    splitter, blocks, i = MarkdownBlocks(), [], 0
    while i < len(text):
        for size in sizes:
            blocks += splitter.feed(text[i:i + size])
            i += size
    blocks.append(splitter.flush())
    whole = MarkdownBlocks()
    assert blocks == [*whole.feed(text), whole.flush()]
    assert CODE.rstrip("\n") in blocks and "~~~\nx\n\n~~~~" in blocks


def test_wants_plain_for_pipes_no_color_and_dumb_terminals() -> None:
    primary, secondary = os.openpty()
    with open(secondary, "w") as tty:
        assert not wants_plain(tty, {"TERM": "xterm-256color"})
        assert wants_plain(tty, {"TERM": "xterm-256color", "NO_COLOR": "1"})
        assert wants_plain(tty, {"TERM": "dumb"})
    os.close(primary)
    assert wants_plain(io.StringIO(), {"TERM": "xterm-256color"})
