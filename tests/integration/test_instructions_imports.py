"""Instructions files through the real CLI against the fake model server: what CLAUDE.md
imports and the rules files reach the model, and are still there, unchanged, after the
conversation was compacted on its own, with the memory index (users of other agents report their CLAUDE.md
"forgotten" after a compaction)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nano_claude.core.compaction import RECAP_HEAD, SUMMARY_SYSTEM
from tests.conftest import Cli
from tests.fakes.openai_wire import vllm_models
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

MODEL = "Qwen/Qwen2.5-Coder-32B-Instruct"
WINDOW = 32768  # a vLLM server started with --max-model-len 32768: the full tool set, a window soon full
PARTS = 4


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def is_summary(body: dict[str, Any]) -> bool:
    return SUMMARY_SYSTEM in json.dumps(body)


def system(body: dict[str, Any]) -> str:
    first = body["messages"][0]
    assert first["role"] == "system"
    return first["content"] if isinstance(first["content"], str) else "".join(
        part["text"] for part in first["content"])


def test_imports_and_rules_reach_the_model_and_outlive_an_automatic_compaction(
        cli: Cli, fake_server: FakeModelServer) -> None:
    project = cli.project
    write(project / "CLAUDE.md", "Project notes: follow @docs/conventions.md.\n\n```\n@docs/example.md\n```")
    write(project / "docs" / "conventions.md", "CONVENTION-7431: branch names start with feature/.")
    write(project / "docs" / "example.md", "EXAMPLE-0000: inside a fence, never imported")
    write(project / ".claude" / "rules" / "testing" / "pytest.md",
          '---\npaths:\n  - "tests/**/*.py"\n---\nRULE-2207: one behaviour per test.')
    write(project / ".nano_claude" / "memory" / "MEMORY.md",  # the memory index rides along too
          "- [deploy day](deploy-day.md) (project) — MEMORY-5150 deploys happen on Tuesdays\n")
    for n in range(1, PARTS + 1):  # about 7,000 tokens each: the window fills after a few
        write(project / f"part{n}.txt", "".join(f"part {n} line {i:03}: {'x' * 60}\n" for i in range(400)))
    fake_server.route("GET", "/v1/models", vllm_models((MODEL, WINDOW)))
    fake_server.script(
        *(tool_call("Read", {"file_path": f"part{n}.txt"}, id=f"read_{n}") for n in range(1, PARTS + 1)),
        text("All four parts are read."),
        text("Recap: the user asked for four files to be read; they were.", when=is_summary),
    )

    result = cli.run("-p", "read the four parts", "-m", f"custom/{MODEL}",
                     env={"CUSTOM_BASE_URL": fake_server.url + "/v1"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "All four parts are read."
    requests = [r.body or {} for r in fake_server.model_requests]
    first = system(requests[0])
    assert "Project notes: follow @docs/conventions.md." in first
    assert "CONVENTION-7431: branch names start with feature/." in first
    assert f"(imported by {project / 'CLAUDE.md'})" in first
    assert "These apply only when working on files matching tests/**/*.py" in first
    assert "RULE-2207: one behaviour per test." in first and "EXAMPLE-0000" not in first
    assert "MEMORY-5150 deploys happen on Tuesdays" in first

    summary = next(i for i, body in enumerate(requests) if is_summary(body))
    after = requests[summary + 1:]
    assert after, "the turn goes on after the compaction"
    assert RECAP_HEAD in json.dumps(after[0]["messages"])  # the conversation was rewritten...
    assert all(system(body) == first for body in after)  # ...and the instructions came through whole
