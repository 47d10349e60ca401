"""Memory through the real CLI against the fake model server: saved in both scopes and indexed,
in a new session's first system prompt, searched (by keywords, and ranked by the model),
listed, deleted; names and links that would lead out of the memory folders refused; plan mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from nano_claude.extensions.memory.search import RANK_SYSTEM
from nano_claude.extensions.memory.store import MemoryStore
from tests.conftest import Cli
from tests.fakes.script import Step, mentions, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.agents_support import every_result as results

MODEL = "claude-sonnet-4-6"


def run(cli: Cli, server: FakeModelServer, *args: str) -> Any:
    return cli.run("-p", *args, "-m", MODEL, "--output-format", "json",
                   env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"})


def call(name: str, args: dict[str, Any], n: int) -> Step:
    return tool_call(name, args, id=f"call_{n}")


def system(body: dict[str, Any]) -> str:
    value = body.get("system") or ""
    return value if isinstance(value, str) else "\n".join(b.get("text", "") for b in value)


def project_memory(cli: Cli) -> Path:
    return cli.project / ".nano_claude" / "memory"


def user_memory(cli: Cli) -> Path:
    return cli.home / "memory"


def test_memories_are_saved_in_both_scopes_and_the_next_session_is_told_of_them(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        call("MemorySave", {"name": "test command", "type": "project",
                            "content": "Run `make check`; it lints too.",
                            "description": "Tests run with make check"}, 1),
        call("MemorySave", {"name": "Answers short", "type": "feedback",
                            "description": "The user wants terse answers", "content": "No summaries."}, 2),
        call("MemorySave", {"name": "issue tracker", "type": "reference", "scope": "user",
                            "description": "Bugs go to the team's tracker", "content": "https://bugs.example"},
             3),
        text("Remembered."),
    )
    result = run(cli, fake_server, "remember these")  # auto mode: saving asks nothing
    assert result.returncode == 0, result.stderr
    assert "# Memory" not in system(fake_server.model_requests[0].body)  # nothing remembered yet
    said = results(fake_server)
    assert said[0] == ("Saved project memory 'test command' (project) in .nano_claude/memory/test-command.md;"
                       " the project index lists 1 memory.", False)
    assert said[1][0].startswith("Saved user memory 'Answers short' (feedback) in ") and not said[1][1]
    assert said[2][0].endswith("the user index lists 2 memories.")
    saved = (project_memory(cli) / "test-command.md").read_text()
    assert saved.startswith("---\nname: test command\ndescription: Tests run with make check\n"
                            "type: project\n")
    assert saved.endswith("---\n\nRun `make check`; it lints too.\n")
    assert (project_memory(cli) / "MEMORY.md").read_text() == \
        "- [test command](test-command.md) (project) — Tests run with make check\n"
    assert (user_memory(cli) / "MEMORY.md").read_text().splitlines() == [  # newest first
        "- [issue tracker](issue-tracker.md) (reference) — Bugs go to the team's tracker",
        "- [Answers short](answers-short.md) (feedback) — The user wants terse answers",
    ]

    fake_server.requests.clear()
    fake_server.script(text("I know."))
    again = run(cli, fake_server, "what do you remember?")
    assert again.returncode == 0, again.stderr
    prompt = system(fake_server.model_requests[0].body)
    assert "# Memory\n\nNotes saved in earlier sessions with MemorySave" in prompt
    user = prompt.index(f"## User memory (for every project): {user_memory(cli)}/")
    project = prompt.index(f"## Project memory (this project's): {project_memory(cli)}/")
    assert user < prompt.index("- [Answers short](answers-short.md) (feedback)") < project
    assert prompt.index("- [test command](test-command.md) (project) — Tests run with make check") > project


def test_the_model_searches_lists_and_deletes_memories(cli: Cli, fake_server: FakeModelServer) -> None:
    project = MemoryStore.project(cli.project)
    project.save("deploy steps", "project", "How a release is made", "Tag, then run make release.")
    project.save("database", "reference", "Where the schema lives",
                 "db/schema.sql; migrations in db/migrate.")
    MemoryStore.user(cli.home).save("database", "user", "The user is a DBA", "Knows Postgres well.")

    def ranking(body: dict[str, Any]) -> None:
        assert system(body) == RANK_SYSTEM and "tools" not in body
        asked = body["messages"][0]["content"]
        said = asked if isinstance(asked, str) else asked[0]["text"]
        assert said.startswith("Search: shipping to production\n\nNotes:\n1. database (reference) — Where "
                               "the schema lives\n   db/schema.sql; migrations in db/migrate.\n"
                               "2. deploy steps (project)")

    fake_server.script(
        call("MemorySearch", {"query": "release"}, 1),
        call("MemorySearch", {"query": "shipping to production", "use_ai": True, "scope": "project"}, 2),
        text("2", expect=ranking),  # the model's ranking, asked by the tool: no keyword matches
        call("MemorySearch", {"query": "schema", "use_ai": True}, 3),
        text("I cannot tell."),  # an answer naming no note: keyword order, said so
        call("MemoryList", {}, 4),
        call("MemoryDelete", {"name": "database"}, 5),  # both scopes have one: which?
        call("MemoryDelete", {"name": "database", "scope": "project"}, 6),
        call("MemoryDelete", {"name": "deploy steps"}, 7),
        call("MemoryDelete", {"name": "deploy steps"}, 8),
        text("Done."),
    )
    result = run(cli, fake_server, "tidy the memories")
    assert result.returncode == 0, result.stderr
    found, ranked, fallback, listed, both, deleted, last, gone = results(fake_server)
    assert found[0].startswith("1 memory match 'release':\n\n"
                               "## deploy steps (project memory, project, updated ")
    assert "Tag, then run make release." in found[0] and not found[1]
    assert ranked[0].startswith("Ranked by the model.\n1 memory match 'shipping to production':\n\n"
                                "## deploy steps (project memory")
    assert "## database" not in ranked[0]
    assert fallback[0].startswith("The model could not rank them (its answer named no note ('I cannot "
                                  "tell.')): ranked by keywords.\n1 memory match 'schema':\n\n## database")
    assert listed[0].splitlines()[0].startswith("- database (user, user, updated ")
    assert len(listed[0].splitlines()) == 3
    assert both == ("Both scopes have a memory named 'database': call MemoryDelete again with scope user or "
                    "project.", True)
    assert deleted == ("Deleted project memory 'database' (.nano_claude/memory/database.md); 1 left in the "
                       "project index.", False)
    assert last[0].startswith("Deleted project memory 'deploy steps'") and not last[1]
    assert gone == ("No memory is named 'deploy steps' (MemoryList lists them).", True)
    assert not (project_memory(cli) / "MEMORY.md").exists()  # its last memory went: so did the index
    assert sorted(p.name for p in project_memory(cli).glob("*.md")) == []
    assert (user_memory(cli) / "database.md").exists()


def test_names_and_links_that_lead_out_of_the_memory_folders_are_refused(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (cli.project / ".nano_claude").mkdir()
    project_memory(cli).symlink_to(outside, target_is_directory=True)
    fake_server.script(
        call("MemorySave", {"name": "../../evil", "type": "user", "description": "d", "content": "x"}, 1),
        call("MemorySave", {"name": "/etc/passwd", "type": "user", "description": "d", "content": "x"}, 2),
        call("MemoryDelete", {"name": "..\\x", "scope": "user"}, 3),
        call("MemorySave", {"name": "fine name", "type": "project", "description": "d", "content": "x"}, 4),
        call("MemoryList", {}, 5),
        text("Refused."),
    )
    result = run(cli, fake_server, "try it")
    assert result.returncode == 0, result.stderr
    up, absolute, backslash, linked, listed = results(fake_server)
    for said in (up, absolute, backslash):
        assert said[1] and "looks like a path: a memory's name is a short title" in said[0]
    assert linked[1] and f"{project_memory(cli)} is a symbolic link (to {outside})" in linked[0]
    assert "Replace the link with a folder" in linked[0]
    assert not listed[1] and "The project memories cannot be read" in listed[0]  # the user's still answer
    assert list(outside.iterdir()) == []
    assert not (user_memory(cli)).exists() or list(user_memory(cli).glob("*.md")) == []
    assert not (tmp_path / "evil.md").exists()


def test_plan_mode_refuses_memory_writes_but_lets_the_model_read_them(cli: Cli,
                                                                       fake_server: FakeModelServer) -> None:
    MemoryStore.project(cli.project).save("kept", "project", "already here", "c")
    fake_server.script(
        call("MemorySave", {"name": "new", "type": "project", "description": "d", "content": "c"}, 1),
        call("MemoryList", {"scope": "project"}, 2),
        text("Planned."),
    )
    result = run(cli, fake_server, "--permission-mode", "plan", "plan it")
    assert result.returncode == 0, result.stderr
    refused, listed = results(fake_server)
    assert refused[1] and "plan mode is read-only: MemorySave would change something" in refused[0]
    assert listed == ("- kept (project, project, updated just now) — already here", False)
    assert sorted(p.name for p in project_memory(cli).glob("*.md")) == ["MEMORY.md", "kept.md"]
    assert json.loads(result.stdout)["result"] == "Planned."


def test_two_sessions_saving_at_once_lose_nothing(cli: Cli, fake_server: FakeModelServer) -> None:
    """Two `nano_claude -p` runs in one project, each saving 12 memories while the other does."""
    import subprocess

    from tests.fakes.script import Call, tool_calls

    count = 12
    for writer in ("A", "B"):
        saves = [Call("MemorySave", {"name": f"note {writer}{i}", "type": "project",
                                     "description": f"fact {writer}{i}", "content": f"body {writer}{i}"},
                      f"call_{writer}{i}") for i in range(count)]
        fake_server.script(tool_calls(*saves, when=mentions(f"writer {writer}")),
                           text(f"Writer {writer} done.", when=mentions(f"writer {writer}")))
    env = {**cli.env, "ANTHROPIC_BASE_URL": fake_server.url, "ANTHROPIC_API_KEY": "sk-test"}
    runs = [subprocess.Popen([sys.executable, "-m", "nano_claude", "-p", f"writer {w}: save your notes",
                              "-m", MODEL], cwd=cli.project, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for w in ("A", "B")]
    outs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outs
    saved = sorted(path.stem for path in project_memory(cli).glob("*.md") if path.name != "MEMORY.md")
    assert saved == sorted(f"note-{w.lower()}{i}" for w in "AB" for i in range(count))
    index = (project_memory(cli) / "MEMORY.md").read_text()
    assert all(f"fact {w}{i}" in index for w in "AB" for i in range(count))
