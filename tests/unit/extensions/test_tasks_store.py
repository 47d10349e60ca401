"""The task graph in tasks.json: edges, cycles, unblocking, deletion, ids, a corrupt file, and the
tools' inputs as Claude Code's models write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nano_claude.extensions.tasks import task_tools
from nano_claude.extensions.tasks.store import TaskError, TaskFileError, TaskStore
from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.registry import Registry


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    return TaskStore.of(tmp_path)


def on_disk(store: TaskStore) -> dict:
    return json.loads(store.path.read_text())


def make(store: TaskStore, *subjects: str) -> list[str]:
    return [store.create(s, f"do {s}").id for s in subjects]


def test_ids_are_sequential_strings_in_the_projects_folder(store: TaskStore, tmp_path: Path) -> None:
    assert make(store, "a", "b", "c") == ["1", "2", "3"]
    assert store.path == tmp_path / ".nano_claude" / "tasks.json"
    saved = on_disk(store)
    assert [t["id"] for t in saved["tasks"]] == ["1", "2", "3"] and saved["next_id"] == 4
    assert saved["tasks"][0]["subject"] == "a" and saved["tasks"][0]["status"] == "pending"


def test_ids_are_never_reused_after_delete_or_clear(store: TaskStore) -> None:
    make(store, "a", "b", "c")
    store.update("3", status="deleted")
    assert make(store, "d") == ["4"]
    assert store.clear() == 3
    assert store.read().tasks == {}
    assert make(store, "e") == ["5"]


def test_an_edge_is_kept_in_both_directions(store: TaskStore) -> None:
    make(store, "a", "b", "c")
    store.update("1", add_blocks=["2"])
    store.update("3", add_blocked_by=["2"])
    graph = store.read()
    assert graph.tasks["1"].blocks == ["2"] and graph.tasks["2"].blocked_by == ["1"]
    assert graph.tasks["2"].blocks == ["3"] and graph.tasks["3"].blocked_by == ["2"]
    saved = {t["id"]: t for t in on_disk(store)["tasks"]}
    assert saved["2"]["blocked_by"] == ["1"] and saved["2"]["blocks"] == ["3"]


def test_a_cycle_is_refused_naming_it_and_nothing_changes(store: TaskStore) -> None:
    make(store, "a", "b", "c")
    store.update("3", add_blocks=["2"])
    store.update("2", add_blocks=["1"])
    before = store.path.read_bytes()
    with pytest.raises(TaskError, match="#1 cannot block #3: that would make a cycle, 1 → 3 → 2 → 1"):
        store.update("1", add_blocks=["3"])
    with pytest.raises(TaskError, match="cycle, 1 → 3 → 2 → 1"):
        store.update("3", add_blocked_by=["1"], subject="renamed")  # nor is the rename kept
    with pytest.raises(TaskError, match="cycle, 2 → 2"):
        store.update("2", add_blocks=["2"])
    assert store.path.read_bytes() == before


def test_a_completed_or_cancelled_blocker_no_longer_blocks(store: TaskStore) -> None:
    make(store, "build", "test", "ship", "docs")
    store.update("1", add_blocks=["2", "3"])
    store.update("4", add_blocks=["3"])
    graph = store.read()
    assert [b.id for b in graph.open_blockers(graph.tasks["3"])] == ["1", "4"]
    done = store.update("1", status="completed")
    assert "Now unblocked: #2 test." in done.notes  # #3 still waits for #4
    graph = store.read()
    assert graph.open_blockers(graph.tasks["2"]) == []
    assert [b.id for b in graph.open_blockers(graph.tasks["3"])] == ["4"]
    cancelled = store.update("4", status="cancelled")
    assert "Now unblocked: #3 ship." in cancelled.notes
    graph = store.read()
    assert graph.open_blockers(graph.tasks["3"]) == []
    assert graph.tasks["3"].blocked_by == ["1", "4"]  # the edges stay, for the record


def test_starting_a_blocked_task_is_allowed_with_a_note(store: TaskStore) -> None:
    make(store, "a", "b")
    store.update("1", add_blocks=["2"])
    started = store.update("2", status="in_progress")
    assert started.task is not None and started.task.status == "in_progress"
    assert started.notes == ("#2 is still blocked by #1 (pending).",)


def test_reopening_a_completed_task_is_allowed_and_said(store: TaskStore) -> None:
    make(store, "a")
    store.update("1", status="completed")
    reopened = store.update("1", status="in_progress")
    assert reopened.changes == ("status completed → in_progress",)
    assert reopened.notes == ("#1 was completed and is open again.",)


def test_deleted_removes_the_task_and_every_edge_to_it(store: TaskStore) -> None:
    make(store, "a", "b", "c")
    store.update("2", add_blocked_by=["1"], add_blocks=["3"])
    gone = store.update("2", status="deleted")
    assert gone.task is None
    graph = store.read()
    assert list(graph.tasks) == ["1", "3"]
    assert graph.tasks["1"].blocks == [] and graph.tasks["3"].blocked_by == []
    assert [(t["id"], t["blocks"], t["blocked_by"]) for t in on_disk(store)["tasks"]] == \
        [("1", [], []), ("3", [], [])]


def test_unknown_ids_are_errors_naming_the_id_and_the_existing_ones(store: TaskStore) -> None:
    with pytest.raises(TaskError, match=r"No task has id '1'\. There are no tasks yet"):
        store.update("1", status="completed")
    make(store, "a", "b")
    before = store.path.read_bytes()
    with pytest.raises(TaskError, match=r"No task has id '7'\. Existing ids: 1, 2\."):
        store.update("1", add_blocks=["2", "7"])
    assert store.path.read_bytes() == before  # the edge to 2 was not kept either
    with pytest.raises(TaskError, match="No task has id '9'"):
        store.read().get(9)


def test_an_unknown_status_lists_the_valid_ones(store: TaskStore) -> None:
    make(store, "a")
    with pytest.raises(TaskError, match=r"Unknown status 'done'\. Valid statuses: pending, in_progress, "
                                        r"completed, cancelled, or deleted"):
        store.update("1", status="done")


def test_an_update_with_nothing_to_change_says_what_it_takes(store: TaskStore) -> None:
    make(store, "a")
    with pytest.raises(TaskError, match="Nothing to update: give at least one of status"):
        store.update("1")


def test_metadata_merges_and_null_removes_a_key(store: TaskStore) -> None:
    store.create("a", "", metadata={"priority": "high", "area": "ui"})
    store.update("1", metadata={"priority": None, "estimate": 3})
    assert store.read().tasks["1"].metadata == {"area": "ui", "estimate": 3}


def test_a_corrupt_file_is_reported_on_read_and_left_where_it_is(store: TaskStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text('{"tasks": [ {"id": "1",')
    with pytest.raises(TaskFileError, match=r"tasks\.json is not a valid task list \(bad JSON at line 1"):
        store.read()
    assert store.path.read_text() == '{"tasks": [ {"id": "1",'
    assert list(store.path.parent.glob("tasks.json.corrupt-*")) == []


@pytest.mark.parametrize("content, problem", [
    ('{"tasks": [ {"id": "1",', "bad JSON at line 1"),
    ('[1, 2, 3]', 'not an object with a "tasks" list'),
    ('{"tasks": [{"id": "1", "subject": "a", "status": "finished"}]}', "task 1: unknown status 'finished'"),
    ('{"tasks": [{"id": "1", "subject": "a"}, {"id": "1", "subject": "b"}]}', "id 1 is used twice"),
])
def test_a_change_moves_a_corrupt_file_aside_and_says_where(store: TaskStore, content: str,
                                                           problem: str) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content)
    with pytest.raises(TaskFileError) as raised:
        store.create("new", "")
    moved = raised.value.moved_to
    assert moved is not None and moved.name.startswith("tasks.json.corrupt-")
    assert moved.read_text() == content  # kept whole, never overwritten
    assert problem in str(raised.value) and str(moved) in str(raised.value)
    assert not store.path.exists()  # nothing was written in its place
    assert store.create("again", "").id == "1"  # the next change starts a new list
    assert moved.read_text() == content


def test_two_corrupt_files_in_the_same_second_are_both_kept(tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "tasks.json", clock=lambda: 1_700_000_000.0)
    for content in ("first", "second"):
        store.path.write_text(content)
        with pytest.raises(TaskFileError):
            store.create("x", "")
        store.path.unlink(missing_ok=True)
    kept = sorted(p.read_text() for p in tmp_path.glob("tasks.json.corrupt-*"))
    assert kept == ["first", "second"]


def test_a_hand_edited_file_with_one_sided_or_dangling_edges_still_reads(store: TaskStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(json.dumps({"tasks": [
        {"id": "1", "subject": "a", "blocks": ["2", "9"]},
        {"id": "2", "subject": "b"},
    ]}))
    graph = store.read()
    assert graph.tasks["1"].blocks == ["2"] and graph.tasks["2"].blocked_by == ["1"]
    assert store.create("c", "").id == "3"


# --- the tools, as a model calls them ------------------------------------------------------------

async def call(tmp_path: Path, name: str, raw: dict) -> str:
    registry = Registry(task_tools())
    tool, args = registry.parse(name, raw)
    out = await registry.execute(tool, args, ToolContext(cwd=tmp_path, environ={}))
    text = out.content[0].text  # type: ignore[union-attr]
    if out.is_error:
        raise ToolError(text)
    return text


async def test_claude_codes_camel_case_names_and_numeric_ids_are_accepted(tmp_path: Path) -> None:
    assert await call(tmp_path, "TaskCreate", {"subject": "Run the tests", "description": "all of them",
                                               "activeForm": "Running the tests"}) == \
        "Task #1 created: Run the tests"
    await call(tmp_path, "TaskCreate", {"subject": "Fix", "description": "", "active_form": "Fixing"})
    said = await call(tmp_path, "TaskUpdate", {"taskId": 1, "addBlocks": [2], "status": "in_progress"})
    assert said == "Task #1 updated: blocks #2; status pending → in_progress."
    await call(tmp_path, "TaskCreate", {"subject": "Ship", "description": ""})
    await call(tmp_path, "TaskUpdate", {"taskId": "3", "addBlockedBy": ["#2"], "activeForm": "Shipping"})
    graph = TaskStore.of(tmp_path).read()
    assert graph.tasks["1"].active_form == "Running the tests" and graph.tasks["2"].active_form == "Fixing"
    assert graph.tasks["3"].blocked_by == ["2"] and graph.tasks["3"].active_form == "Shipping"
    assert "Active form: Running the tests" in await call(tmp_path, "TaskGet", {"taskId": 1})


async def test_task_list_shows_status_owner_and_open_blockers(tmp_path: Path) -> None:
    assert await call(tmp_path, "TaskList", {}) == "No tasks yet (TaskCreate adds one)."
    for subject in ("Build", "Test", "Ship"):
        await call(tmp_path, "TaskCreate", {"subject": subject, "description": ""})
    await call(tmp_path, "TaskUpdate", {"task_id": "1", "add_blocks": ["2", "3"], "owner": "coder",
                                        "status": "in_progress"})
    await call(tmp_path, "TaskUpdate", {"task_id": "2", "add_blocks": ["3"]})
    assert (await call(tmp_path, "TaskList", {})).splitlines() == [
        "#1 [in_progress] Build (owner: coder)",
        "#2 [pending] Test (blocked by #1)",
        "#3 [pending] Ship (blocked by #1, #2)",
        "3 tasks: 2 pending, 1 in progress.",
    ]
    await call(tmp_path, "TaskUpdate", {"task_id": "1", "status": "completed"})
    assert "#3 [pending] Ship (blocked by #2)" in await call(tmp_path, "TaskList", {})


async def test_tool_errors_reach_the_model_as_text(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="No task has id '4'"):
        await call(tmp_path, "TaskGet", {"task_id": "4"})
    with pytest.raises(ToolError, match="Invalid arguments for TaskUpdate: task_id: Field required"):
        await call(tmp_path, "TaskUpdate", {"status": "completed"})


def test_task_tools_need_no_permission_but_never_run_in_parallel_when_they_write() -> None:
    flags = {t.name: (t.read_only, t.concurrency_safe) for t in task_tools()}
    assert flags == {"TaskCreate": (True, False), "TaskUpdate": (True, False),
                     "TaskGet": (True, True), "TaskList": (True, True)}
