"""Agent types: files in Claude Code's shape, every source's precedence, and which tools a type allows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nano_claude.extensions.agents.types import BUILTIN, AgentType, agent_folders, load_types

REVIEWER = """\
---
name: code-reviewer
description: Reviews code for bugs. Use proactively after changes.
tools: Read, Grep, Glob, Bash
model: sonnet
color: green
---
You are a senior code reviewer. Read the diff, then report each problem with its file and line.
"""


def agent(description: str = "Does a thing.", body: str = "Do the thing.", **keys: str) -> str:
    lines = [f"{key}: {value}" for key, value in keys.items()]
    return "\n".join(["---", f"description: {description}", *lines, "---", body, ""])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A git repository with the working folder two levels down, and a home outside it."""
    root, home = tmp_path / "repo", tmp_path / "home"
    cwd = root / "packages" / "app"
    cwd.mkdir(parents=True)
    home.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root, cwd, home


def load_one(tmp_path: Path, text: str, name: str = "x.md") -> tuple[AgentType | None, list[str], Path]:
    """Load a single file in a project of its own: the type it defines, and the errors."""
    project = tmp_path / f"project-{name}"
    path = write(project / ".claude" / "agents" / name, text)
    found = load_types(project, tmp_path / "nohome", repo_root=project)
    custom = [t for t in found.types.values() if t.source == str(path)]
    return (custom[0] if custom else None), found.errors, path


# ---------------------------------------------------------------- a file's fields


def test_a_claude_code_agent_file_loads_with_its_fields(world) -> None:
    root, cwd, home = world
    path = write(root / ".claude" / "agents" / "code-reviewer.md", REVIEWER)
    found = load_types(cwd, home)
    reviewer = found.types["code-reviewer"]
    assert found.errors == []
    assert reviewer == AgentType(
        name="code-reviewer",
        description="Reviews code for bugs. Use proactively after changes.",
        instructions="You are a senior code reviewer. Read the diff, then report each problem with its "
                     "file and line.",
        tools=("Read", "Grep", "Glob", "Bash"),
        model="sonnet",
        source=str(path),
    )
    assert reviewer.allows("Grep") and not reviewer.allows("Edit")


def test_a_description_with_colons_as_claude_code_ships_them_loads(tmp_path: Path) -> None:
    text = ('---\nname: test-gap-finder\ndescription: Use this agent when a PR adds code. Examples: '
            '<example>Context: a PR is open\\nuser: "check tests"\\nassistant: "I\'ll use it"</example>\n'
            'model: inherit\ncolor: cyan\ntools: ["Read", "Grep"]\n---\n\nYou find missing tests.\n')
    found, errors, _ = load_one(tmp_path, text)
    assert errors == []
    assert found is not None and found.name == "test-gap-finder"
    assert found.description.startswith("Use this agent when a PR adds code. Examples: <example>Context:")
    assert (found.tools, found.model) == (("Read", "Grep"), None)
    assert found.instructions == "You find missing tests."


def test_the_name_falls_back_to_the_file_stem_and_an_empty_body_is_allowed(tmp_path: Path) -> None:
    found, errors, _ = load_one(tmp_path, "---\ndescription: Writes docs.\n---\n", name="doc-writer.md")
    assert errors == []
    assert found is not None
    assert (found.name, found.instructions, found.tools) == ("doc-writer", "", None)


@pytest.mark.parametrize(("written", "mode", "dont_ask"), [
    ("default", "auto", False),
    ("acceptEdits", "auto", False),
    ("auto", "auto", False),
    ("dontAsk", "auto", True),
    ("bypassPermissions", "accept-all", False),
    ("plan", "plan", False),
    ("accept-all", "accept-all", False),
    ("manual", "manual", False),
])
def test_permission_modes_map_to_ours(tmp_path: Path, written: str, mode: str, dont_ask: bool) -> None:
    found, errors, _ = load_one(tmp_path, agent(permissionMode=written))
    assert errors == []
    assert found is not None and (found.permission_mode, found.dont_ask) == (mode, dont_ask)


def test_an_unknown_permission_mode_is_reported_with_the_valid_ones(tmp_path: Path) -> None:
    found, errors, path = load_one(tmp_path, agent(permissionMode="yolo"))
    assert found is None
    assert errors == [f"{path}: permissionMode 'yolo' is not one we know; use one of default, acceptEdits, "
                      "auto, dontAsk, bypassPermissions, plan, accept-all, manual"]


@pytest.mark.parametrize(("written", "model"), [
    ("inherit", None), ('""', None), ("sonnet", "sonnet"), ("claude-opus-4-5", "claude-opus-4-5"),
    ("ollama/qwen3:8b", "ollama/qwen3:8b"),
])
def test_model_inherit_or_empty_is_none_and_any_other_name_is_kept(tmp_path: Path, written: str,
                                                                   model: str | None) -> None:
    found, errors, _ = load_one(tmp_path, agent(model=written))
    assert errors == []
    assert found is not None and found.model == model


def test_lists_may_be_comma_separated_or_yaml_lists(tmp_path: Path) -> None:
    text = ("---\ndescription: Commits.\ntools: Read, Bash(git add:*, git commit:*), mcp__github\n"
            "disallowedTools:\n  - WebFetch\n  - WebSearch\nskills: [changelog, release-notes]\n---\nbody\n")
    found, errors, _ = load_one(tmp_path, text)
    assert errors == []
    assert found is not None
    assert found.tools == ("Read", "Bash(git add:*, git commit:*)", "mcp__github")
    assert found.disallowed == ("WebFetch", "WebSearch")
    assert found.skills == ("changelog", "release-notes")


def test_an_empty_tools_list_means_no_tools_and_an_absent_one_every_tool(tmp_path: Path) -> None:
    none, errors, _ = load_one(tmp_path, agent(tools="[]"), name="none.md")
    assert errors == [] and none is not None
    assert none.tools == () and not none.allows("Read")
    every, errors, _ = load_one(tmp_path, agent(), name="every.md")
    assert errors == [] and every is not None
    assert every.tools is None and every.allows("Read") and every.allows("mcp__x__y")


def test_max_turns_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    found, errors, _ = load_one(tmp_path, agent(maxTurns="12"))
    assert errors == [] and found is not None and found.max_turns == 12
    for bad in ("0", "-3", "many", "true", "2.5"):
        found, errors, path = load_one(tmp_path, agent(maxTurns=bad), name=f"bad{bad}.md")
        assert found is None, bad
        assert len(errors) == 1 and errors[0].startswith(f"{path}: maxTurns "), errors
        assert "is not a positive whole number; write e.g. maxTurns: 20" in errors[0]


def test_claude_code_keys_we_do_not_use_are_ignored(tmp_path: Path) -> None:
    text = ("---\nname: keeper\ndescription: Keeps notes.\ncolor: purple\neffort: high\nmemory: project\n"
            "isolation: worktree\nbackground: true\nmcpServers:\n  - github\nhooks:\n  Stop:\n"
            "    - hooks:\n        - type: command\n          command: echo done\n---\nKeep notes.\n")
    found, errors, _ = load_one(tmp_path, text)
    assert errors == []
    assert found is not None and found.name == "keeper" and found.instructions == "Keep notes."


# ---------------------------------------------------------------- malformed files


@pytest.mark.parametrize(("text", "message"), [
    ("---\nname: a\n---\nbody\n", "description is missing; add description: <when to use this agent>"),
    ("---\nname: a\ndescription: \"\"\n---\n", "description is missing"),
    ("---\nname: team:reviewer\ndescription: d\n---\n",
     "the name 'team:reviewer' holds a colon, slash or space"),
    ("---\nname: team/reviewer\ndescription: d\n---\n", "holds a colon, slash or space"),
    ("---\nname: code reviewer\ndescription: d\n---\n", "holds a colon, slash or space"),
    ("---\nname: [a]\ndescription: d\n---\n", "name must be text"),
    ("---\ndescription: d\ntools: {Read: 1}\n---\n", "tools must be names separated by commas or a list"),
    ("---\ndescription: d\nmodel: [sonnet]\n---\n", "model must be a model name or inherit"),
    ("---\ndescription: d\ntools: [Read\n---\n", "the front matter is not valid YAML on line 3"),
    ("---\n- a\n---\n", "the front matter is a list, not a mapping"),
    ("---\ndescription: d\n", "never closed"),
    ("You review code.\n", "has no front matter; begin the file with a --- line, description:"),
])
def test_a_malformed_file_is_one_error_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    found, errors, path = load_one(tmp_path, text)
    assert found is None
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: ")
    assert message in errors[0]
    assert "; " in errors[0] and "\n" not in errors[0]  # what is wrong; how to fix it


def test_malformed_files_are_skipped_and_the_rest_load(world) -> None:
    root, cwd, home = world
    folder = cwd / ".nano_claude" / "agents"
    write(folder / "good.md", agent("Good one."))
    write(folder / "nodesc.md", "---\nname: nodesc\n---\nbody\n")
    write(folder / "latin1.md", "")
    (folder / "latin1.md").write_bytes("---\ndescription: caf\xe9\n---\n".encode("latin-1"))
    write(root / ".claude" / "agents" / "also-good.md", agent("Also good."))
    write(root / ".claude" / "agents" / "badmode.md", agent(permissionMode="sudo"))
    found = load_types(cwd, home)
    assert {"good", "also-good"} <= set(found.types)
    assert not {"nodesc", "latin1", "badmode"} & set(found.types)
    assert sorted(e.split(": ")[0] for e in found.errors) == sorted(
        [str(folder / "latin1.md"), str(folder / "nodesc.md"), str(root / ".claude/agents/badmode.md")])
    assert f"{folder / 'latin1.md'}: is not UTF-8 text (byte 20); save it as UTF-8" in found.errors
    assert set(BUILTIN) <= set(found.types)


def test_a_claude_code_file_with_unindented_example_lines_loads_with_its_examples(tmp_path: Path) -> None:
    # Claude Code fails on this shape, which four of its shipped agents have
    # (anthropics/claude-code#91871); read whole, the description keeps the examples it routes by
    text = ("---\nname: agent-maker\ndescription: Use this agent to make agents. Examples:\n\n<example>\n"
            "Context: the user wants an agent\nuser: \"make one\"\n</example>\nmodel: sonnet\n---\nbody\n")
    found, errors, _ = load_one(tmp_path, text)
    assert errors == []
    assert found is not None and found.model == "sonnet"
    assert found.description.endswith('Context: the user wants an agent\nuser: "make one"\n</example>')


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "proj" / ".claude" / "agents" / "secret.md", agent())
    path.chmod(0)
    found = load_types(tmp_path / "proj", tmp_path / "nohome", repo_root=tmp_path / "proj")
    assert "secret" not in found.types
    assert found.errors == [
        f"{path}: cannot be read (Permission denied); check that it is a file you may read"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_a_file_that_fails_to_read_is_reported(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose first page cannot be read (EIO): a real read error.
    link = tmp_path / "proj" / ".claude" / "agents" / "broken.md"
    link.parent.mkdir(parents=True)
    link.symlink_to("/proc/self/mem")
    found = load_types(tmp_path / "proj", tmp_path / "nohome", repo_root=tmp_path / "proj")
    assert found.errors == [
        f"{link}: cannot be read (Input/output error); check that it is a file you may read"]


def test_two_files_with_one_name_in_one_folder_keep_the_first(tmp_path: Path) -> None:
    folder = tmp_path / "proj" / ".claude" / "agents"
    first = write(folder / "a" / "one.md", agent("First.", name="twin"))
    second = write(folder / "b" / "two.md", agent("Second.", name="twin"))
    found = load_types(tmp_path / "proj", tmp_path / "nohome", repo_root=tmp_path / "proj")
    assert found.types["twin"].description == "First."
    assert found.errors == [f"{second}: the name 'twin' is taken by {first} in the same folder; rename one "
                            "of them (the first one is used)"]


# ---------------------------------------------------------------- where types come from


def test_every_source_in_precedence_order(world) -> None:
    root, cwd, home = world
    levels = [
        cwd / ".nano_claude" / "agents",
        cwd / ".claude" / "agents",
        cwd.parent / ".claude" / "agents",
        root / ".claude" / "agents",
        home / ".nano_claude" / "agents",
        home / ".claude" / "agents",
    ]
    # Level i defines n0..n{i}: n{i} is defined by no level above i and by every level below,
    # so level i must be where it comes from; n0 comes from the flag, above them all.
    for i, folder in enumerate(levels, start=1):
        for j in range(i + 1):
            write(folder / f"n{j}.md", agent(f"n{j} from level {i}"))
    write(home / ".claude" / "agents" / "coder.md", agent("my coder"))
    flags = json.dumps({"n0": {"description": "n0 from the flag"}})
    found = load_types(cwd, home, agents_json=flags)
    assert found.errors == []
    assert found.types["n0"].source == "--agents"
    assert found.types["n0"].description == "n0 from the flag"
    for i, folder in enumerate(levels, start=1):
        assert found.types[f"n{i}"].source == str(folder / f"n{i}.md"), i
        assert found.types[f"n{i}"].description == f"n{i} from level {i}"
    assert found.types["coder"].description == "my coder"  # a user file over the built-in
    assert found.types["Plan"] is BUILTIN["Plan"]


def test_the_walk_up_stops_at_the_repository_root(world) -> None:
    root, cwd, home = world
    write(root.parent / ".claude" / "agents" / "outside.md", agent("above the repository"))
    write(root / ".claude" / "agents" / "inside.md", agent("at the root"))
    found = load_types(cwd, home)
    assert "inside" in found.types
    assert "outside" not in found.types
    assert agent_folders(cwd, home) == [
        cwd / ".nano_claude" / "agents", cwd / ".claude" / "agents", cwd.parent / ".claude" / "agents",
        root / ".claude" / "agents", home / ".nano_claude" / "agents", home / ".claude" / "agents"]


def test_outside_a_repository_only_the_working_folder_is_read(tmp_path: Path) -> None:
    cwd = tmp_path / "plain" / "sub"
    cwd.mkdir(parents=True)
    write(tmp_path / "plain" / ".claude" / "agents" / "parent.md", agent())
    write(cwd / ".claude" / "agents" / "here.md", agent())
    found = load_types(cwd, tmp_path / "home")
    assert "here" in found.types and "parent" not in found.types


def test_an_explicit_repository_root_is_used(tmp_path: Path) -> None:
    top, cwd = tmp_path / "top", tmp_path / "top" / "a" / "b"
    cwd.mkdir(parents=True)
    write(top / ".claude" / "agents" / "top.md", agent())
    write(tmp_path / ".claude" / "agents" / "above.md", agent())
    found = load_types(cwd, tmp_path / "home", repo_root=top)
    assert "top" in found.types and "above" not in found.types


def test_ours_wins_over_claude_codes_at_the_same_level(world) -> None:
    _root, cwd, home = world
    write(cwd / ".claude" / "agents" / "helper.md", agent("Claude Code's"))
    write(cwd / ".nano_claude" / "agents" / "helper.md", agent("ours"))
    write(home / ".claude" / "agents" / "mine.md", agent("Claude Code's"))
    write(home / ".nano_claude" / "agents" / "mine.md", agent("ours"))
    found = load_types(cwd, home)
    assert found.types["helper"].description == "ours"
    assert found.types["mine"].description == "ours"


def test_folders_are_scanned_recursively(world) -> None:
    root, cwd, home = world
    deep = write(root / ".claude" / "agents" / "team" / "backend" / "db-expert.md", agent("Knows SQL."))
    write(home / ".nano_claude" / "agents" / "x" / "y" / "deep-user.md", agent())
    write(root / ".claude" / "agents" / "notes.txt", "not an agent")
    found = load_types(cwd, home)
    assert found.types["db-expert"].source == str(deep)
    assert "deep-user" in found.types
    assert found.errors == []


def test_a_home_inside_the_repository_is_read_once(tmp_path: Path) -> None:
    home = tmp_path
    cwd = tmp_path / "project"
    cwd.mkdir()
    subprocess.run(["git", "init", "-q", str(home)], check=True)
    write(home / ".claude" / "agents" / "once.md", agent())
    found = load_types(cwd, home)
    assert found.errors == []  # not "taken by itself"
    assert agent_folders(cwd, home).count(home / ".claude" / "agents") == 1


# ---------------------------------------------------------------- --agents


def test_agents_json_defines_types_for_one_run(tmp_path: Path) -> None:
    flags = json.dumps({"reviewer": {
        "description": "Reviews diffs.", "prompt": "  You review diffs.  ", "tools": ["Read", "Grep"],
        "disallowedTools": "Bash", "model": "opus", "permissionMode": "dontAsk", "maxTurns": 7,
        "skills": ["style"], "color": "red"}})
    found = load_types(tmp_path, tmp_path / "home", agents_json=flags)
    assert found.errors == []
    assert found.types["reviewer"] == AgentType(
        name="reviewer", description="Reviews diffs.", instructions="You review diffs.",
        tools=("Read", "Grep"), disallowed=("Bash",), model="opus", permission_mode="auto",
        dont_ask=True, max_turns=7, skills=("style",), source="--agents")


def test_bad_agents_json_is_one_error_naming_the_flag(tmp_path: Path) -> None:
    found = load_types(tmp_path, tmp_path / "home", agents_json='{"reviewer": {"description": ')
    assert len(found.errors) == 1
    assert found.errors[0].startswith("--agents: not valid JSON (Expecting value at line 1 column 30); ")
    assert set(found.types) == set(BUILTIN)


def test_agents_json_that_is_not_an_object_or_has_bad_entries(tmp_path: Path) -> None:
    found = load_types(tmp_path, tmp_path / "home", agents_json='["reviewer"]')
    assert found.errors == ["--agents: the JSON is list, not an object of agent types by name; pass e.g. "
                            """'{"reviewer": {"description": "Reviews code", "prompt": "You review..."}}'"""]
    flags = json.dumps({"a": "just text", "b": {"prompt": "no description"}, "c": {"description": "ok"},
                        "d": {"description": "d", "prompt": 3}})
    found = load_types(tmp_path, tmp_path / "home", agents_json=flags)
    assert "c" in found.types and not {"a", "b", "d"} & set(found.types)
    assert [e.split(":")[1].strip() for e in found.errors] == ["a", "b", "d"]
    assert all(e.startswith("--agents: ") for e in found.errors)


# ---------------------------------------------------------------- allows()


def kind(tools: tuple[str, ...] | None, disallowed: tuple[str, ...] = (),
         read_only: bool = False) -> AgentType:
    return AgentType("t", "d", "", tools, disallowed, read_only=read_only)


def test_allows_exact_names_only_when_listed() -> None:
    t = kind(("Read", "Grep"))
    assert t.allows("Read") and t.allows("Grep")
    assert not t.allows("Edit") and not t.allows("read") and not t.allows("ReadX")


def test_allows_globs_and_mcp_servers() -> None:
    t = kind(("mcp__github__get_*", "mcp__slack", "Web*"))
    assert t.allows("mcp__github__get_issue")
    assert not t.allows("mcp__github__create_issue")
    assert t.allows("mcp__slack__post") and t.allows("mcp__slack__read_channel")
    assert not t.allows("mcp__slackbot__post")  # a server name is whole, not a prefix
    assert t.allows("WebFetch") and t.allows("WebSearch") and not t.allows("Write")


def test_a_rule_like_entry_allows_its_tool() -> None:
    t = kind(("Bash(git diff:*)", "Agent(Explore, Plan)", "WebFetch(domain:example.com)"))
    assert t.allows("Bash") and t.allows("Agent") and t.allows("WebFetch")
    assert not t.allows("Read")


@pytest.mark.parametrize(("alias", "ours"), [
    ("Task", ("Agent",)),
    ("MultiEdit", ("Edit",)),
    ("NotebookRead", ("Read",)),
    ("LS", ("Glob",)),
    ("TodoWrite", ("TaskCreate", "TaskUpdate", "TaskGet", "TaskList")),
    ("TodoRead", ("TaskCreate", "TaskUpdate", "TaskGet", "TaskList")),
])
def test_claude_code_names_are_aliases_of_ours(alias: str, ours: tuple[str, ...]) -> None:
    listed = kind((alias,))
    assert all(listed.allows(tool) for tool in ours)
    assert not listed.allows("Bash")
    refused = kind(None, disallowed=(alias,))
    assert not any(refused.allows(tool) for tool in ours)
    assert refused.allows("Bash")


def test_disallowed_is_applied_first() -> None:
    t = kind(("Read", "Bash", "mcp__github"), disallowed=("Bash", "mcp__github__delete_*"))
    assert t.allows("Read") and not t.allows("Bash")
    assert t.allows("mcp__github__get_issue") and not t.allows("mcp__github__delete_repo")
    everything_but = kind(None, disallowed=("Write", "Edit"))
    assert everything_but.allows("Bash") and not everything_but.allows("Write")


def test_a_read_only_type_refuses_writes_even_when_listed() -> None:
    t = kind(("Read", "Write", "Edit", "NotebookEdit", "MultiEdit"), read_only=True)
    assert t.allows("Read")
    assert not t.allows("Write") and not t.allows("Edit") and not t.allows("NotebookEdit")
    assert not kind(None, read_only=True).allows("Write")


# ---------------------------------------------------------------- built-ins


def test_the_built_in_types_and_their_tools() -> None:
    assert list(BUILTIN) == ["general-purpose", "coder", "reviewer", "researcher", "tester",
                             "Explore", "Plan"]
    assert BUILTIN["general-purpose"].tools is None and BUILTIN["coder"].tools is None
    assert BUILTIN["reviewer"].tools == ("Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch",
                                         "GetDiagnostics")
    assert set(BUILTIN["researcher"].tools or ()) == {"Read", "Glob", "Grep", "WebFetch", "WebSearch", "Bash"}
    assert set(BUILTIN["tester"].tools or ()) == {"Read", "Glob", "Grep", "Bash", "BashOutput", "KillShell",
                                                  "Edit", "Write", "GetDiagnostics"}
    for name in ("Explore", "Plan"):
        t = BUILTIN[name]
        assert t.read_only and t.permission_mode == "plan"
        assert t.tools == ("Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch")
        assert t.allows("Grep") and not t.allows("Write") and not t.allows("Edit")
    assert not BUILTIN["reviewer"].allows("Edit") and BUILTIN["tester"].allows("Write")
    assert not any(t.read_only for n, t in BUILTIN.items() if n not in ("Explore", "Plan"))


def test_each_built_in_has_its_own_instructions_that_ask_for_the_whole_answer() -> None:
    bodies = [t.instructions for t in BUILTIN.values()]
    assert len(set(bodies)) == len(bodies)
    for t in BUILTIN.values():
        assert t.source == "built-in" and t.model is None
        assert t.description.startswith("Use ") and t.description.count(". ") <= 2, t.name
        assert "final message" in t.instructions, t.name
        assert 200 < len(t.instructions) < 1500, t.name
    assert '"very thorough"' in BUILTIN["Explore"].instructions
    reviewer = BUILTIN["reviewer"].instructions
    assert "line number" in reviewer and "severity" in reviewer
