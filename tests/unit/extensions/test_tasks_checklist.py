"""The checklist under the spinner: which tasks it shows, how, and that it follows the file."""

from __future__ import annotations

import io
from pathlib import Path

from nano_claude.extensions.tasks.checklist import Checklist
from nano_claude.extensions.tasks.store import TaskStore
from nano_claude.ui.render import Renderer


def test_open_tasks_show_in_progress_ones_with_their_active_form(tmp_path: Path) -> None:
    store = TaskStore.of(tmp_path)
    store.create("Run the tests", "", active_form="Running the tests")
    store.create("Write docs", "")
    store.create("Old", "")
    store.update("1", status="in_progress")
    store.update("3", status="cancelled")
    store.update("1", add_blocks=["2"])
    checklist = Checklist(store.path)
    checklist.begin_turn()
    assert checklist.rows() == [("  ◼ Running the tests…", "bold"), ("  ◻ Write docs (blocked by #1)", "dim")]


def test_tasks_completed_in_this_turn_stay_ticked_and_earlier_ones_do_not(tmp_path: Path) -> None:
    store = TaskStore.of(tmp_path)
    for s in ("a", "b", "c"):
        store.create(s, "")
    store.update("1", status="completed")
    checklist = Checklist(store.path)
    checklist.begin_turn()
    store.update("2", status="completed")
    assert [text for text, _ in checklist.rows()] == ["  ✔ b", "  ◻ c"]
    checklist.begin_turn()  # the next turn
    assert [text for text, _ in checklist.rows()] == ["  ◻ c"]


def test_at_most_five_rows_then_how_many_more_in_progress_first(tmp_path: Path) -> None:
    store = TaskStore.of(tmp_path)
    for n in range(1, 9):
        store.create(f"task {n}", "")
    store.update("8", status="in_progress")
    checklist = Checklist(store.path)
    assert [text for text, _ in checklist.rows()] == [
        "  ◻ task 1", "  ◻ task 2", "  ◻ task 3", "  ◻ task 4", "  ◼ task 8…", "  … 3 more"]


def test_a_change_by_another_process_shows_and_ctrl_t_hides_the_rows(tmp_path: Path) -> None:
    checklist = Checklist(TaskStore.of(tmp_path).path)
    assert checklist.rows() == []  # no file yet
    TaskStore.of(tmp_path).create("from elsewhere", "")
    assert checklist.rows() == [("  ◻ from elsewhere", "")]
    checklist.toggle()
    assert checklist.rows() == []
    checklist.toggle()
    assert len(checklist.rows()) == 1


def test_a_corrupt_file_shows_no_rows_and_is_left_alone(tmp_path: Path) -> None:
    store = TaskStore.of(tmp_path)
    store.path.parent.mkdir(parents=True)
    store.path.write_text("{not json")
    assert Checklist(store.path).rows() == []
    assert store.path.read_text() == "{not json"


def test_the_renderer_draws_the_rows_only_while_a_turn_runs(tmp_path: Path) -> None:
    out = io.StringIO()
    renderer = Renderer(out, plain=False, width=60, height=20, clock=lambda: 0.0)
    renderer.checklist = lambda: [("  ◼ Running the tests…", "bold")]
    options = renderer.console.options
    assert renderer._live_lines(renderer.console, options) == []  # between turns
    renderer.waiting()
    lines = renderer._live_lines(renderer.console, options)
    assert ["".join(s.text for s in line) for line in lines] == ["  ◼ Running the tests…"]
    renderer.end_turn()
