"""The task tools through the real CLI against the fake model server, two processes writing one
tasks.json at once, and a corrupt tasks.json as the model meets it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Cli
from tests.fakes.script import Step, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.agents_support import every_result as results

MODEL = "claude-sonnet-4-6"


def run(cli: Cli, server: FakeModelServer, *args: str) -> Any:
    return cli.run("-p", *args, "-m", MODEL, "--output-format", "json",
                   env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"})


def call(name: str, args: dict[str, Any], n: int) -> Step:
    return tool_call(name, args, id=f"call_{n}")


def tasks_file(cli: Cli) -> Path:
    return cli.project / ".nano_claude" / "tasks.json"


def test_the_model_plans_with_task_tools_end_to_end(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        call("TaskCreate", {"subject": "Write the parser", "description": "in parser.py",
                            "activeForm": "Writing the parser"}, 1),
        call("TaskCreate", {"subject": "Test the parser", "description": "unit tests"}, 2),
        call("TaskUpdate", {"taskId": "1", "addBlocks": ["2"], "status": "in_progress", "owner": "main"}, 3),
        call("TaskList", {}, 4),
        call("TaskUpdate", {"task_id": 2, "add_blocks": [1]}, 5),  # a cycle: refused
        call("TaskUpdate", {"task_id": "1", "status": "completed"}, 6),
        call("TaskGet", {"taskId": 2}, 7),
        text("Planned and done."),
    )
    result = run(cli, fake_server, "plan the parser work")  # default (auto) mode: nothing is asked
    assert result.returncode == 0, result.stderr
    assert result.json()["result"] == "Planned and done."
    said = results(fake_server)
    assert said[0] == ("Task #1 created: Write the parser", False)
    assert said[1] == ("Task #2 created: Test the parser", False)
    assert said[2] == ("Task #1 updated: owner; blocks #2; status pending → in_progress.", False)
    assert said[3][0].splitlines() == ["#1 [in_progress] Write the parser (owner: main)",
                                       "#2 [pending] Test the parser (blocked by #1)",
                                       "2 tasks: 1 pending, 1 in progress."]
    assert said[4][1] and "that would make a cycle, 2 → 1 → 2" in said[4][0]
    assert said[5] == ("Task #1 updated: status in_progress → completed.\nNow unblocked: #2 Test the parser.",
                       False)
    assert "Task #2: Test the parser" in said[6][0] and "Blocked by: #1 [completed]" in said[6][0]
    saved = json.loads(tasks_file(cli).read_text())
    assert saved["next_id"] == 3
    first, second = saved["tasks"]
    assert (first["status"], first["active_form"], first["owner"], first["blocks"]) == \
        ("completed", "Writing the parser", "main", ["2"])
    assert (second["status"], second["blocked_by"], second["description"]) == ("pending", ["1"], "unit tests")


def test_task_tools_run_in_plan_mode_where_edits_are_refused(cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        call("TaskCreate", {"subject": "Plan it", "description": ""}, 1),
        call("Write", {"file_path": "x.txt", "content": "x"}, 2),
        text("ok"),
    )
    result = run(cli, fake_server, "plan", "--permission-mode", "plan")
    assert result.returncode == 0, result.stderr
    said = results(fake_server)
    assert said[0] == ("Task #1 created: Plan it", False)
    assert said[1][1] and not (cli.project / "x.txt").exists()


CREATE_20 = """
import sys
from pathlib import Path
from nano_claude.extensions.tasks.store import TaskStore
store = TaskStore.of(Path(sys.argv[1]))
sys.stdin.readline()  # both processes start together
for n in range(20):
    store.create(f"{sys.argv[2]} {n}", "")
"""


def test_two_processes_creating_20_tasks_each_lose_none(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", CREATE_20, str(tmp_path), name], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("left", "right")]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    saved = json.loads((tmp_path / ".nano_claude" / "tasks.json").read_text())
    ids = [t["id"] for t in saved["tasks"]]
    assert len(ids) == 40 and set(ids) == {str(n) for n in range(1, 41)}
    subjects = {t["subject"] for t in saved["tasks"]}
    assert subjects == {f"{side} {n}" for side in ("left", "right") for n in range(20)}
    assert saved["next_id"] == 41


def test_a_corrupt_tasks_file_is_reported_to_the_model_and_kept_aside(cli: Cli,
                                                                     fake_server: FakeModelServer) -> None:
    path = tasks_file(cli)
    path.parent.mkdir()
    path.write_text('{"tasks": [{"id": "1", "subject": "half a write')
    fake_server.script(
        call("TaskList", {}, 1),
        call("TaskCreate", {"subject": "Start over", "description": ""}, 2),
        call("TaskCreate", {"subject": "Start over", "description": ""}, 3),
        text("Recovered."),
    )
    result = run(cli, fake_server, "list the tasks")
    assert result.returncode == 0, result.stderr
    listed, refused, created = results(fake_server)
    assert listed[1] and "is not a valid task list (bad JSON at line 1" in listed[0]
    assert "It was left as it is" in listed[0]
    kept = list(path.parent.glob("tasks.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"tasks": [{"id": "1", "subject": "half a write'
    assert refused[1] and f"It was moved to {kept[0]}, and nothing was changed" in refused[0]
    assert created == ("Task #1 created: Start over", False)
    assert [t["subject"] for t in json.loads(path.read_text())["tasks"]] == ["Start over"]
