"""Skills and custom commands on disk: every location and format, which one wins a name, the
front matter's fields, and malformed files reported and skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nano_claude.extensions.skills.loader import BUILTIN, load_skills, locations


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def skill_text(description: str, body: str = "Body.", **front: str) -> str:
    lines = [f"description: {description}", *(f"{k}: {v}" for k, v in front.items())]
    return "---\n" + "\n".join(lines) + "\n---\n" + body + "\n"


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A repository with the cwd two folders down, and a home folder outside it."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    cwd = repo / "pkg" / "app"
    cwd.mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    return repo, cwd, home


def test_every_location_and_format_loads_with_its_level_and_kind(world: tuple[Path, Path, Path]) -> None:
    repo, cwd, home = world
    write(cwd / ".nano_claude/skills/ours-file.md", skill_text("ours single file"))
    write(cwd / ".nano_claude/skills/ours-folder/SKILL.md", skill_text("ours folder"))
    write(repo / ".claude/skills/cc-skill/SKILL.md", skill_text("claude skill at the root"))
    write(repo / "pkg/.agents/skills/shared/SKILL.md", skill_text("agents skill"))
    write(repo / ".claude/commands/frontend/cc-command.md", skill_text("claude command in a subfolder"))
    write(home / ".nano_claude/skills/user-ours.md", skill_text("user ours"))
    write(home / ".claude/skills/user-cc/SKILL.md", skill_text("user claude skill"))
    write(home / ".agents/skills/user-agents/SKILL.md", skill_text("user agents skill"))
    write(home / ".claude/commands/user-command.md", skill_text("user command"))

    found = load_skills(cwd, home)

    assert found.errors == []
    got = {s.name: (s.level, s.kind, s.description) for s in found.skills}
    assert got == {
        "ours-file": ("project", "skill", "ours single file"),
        "ours-folder": ("project", "skill", "ours folder"),
        "cc-skill": ("project", "skill", "claude skill at the root"),
        "shared": ("project", "skill", "agents skill"),
        "cc-command": ("project", "command", "claude command in a subfolder"),
        "user-ours": ("user", "skill", "user ours"),
        "user-cc": ("user", "skill", "user claude skill"),
        "user-agents": ("user", "skill", "user agents skill"),
        "user-command": ("user", "command", "user command"),
        "commit": ("built-in", "skill", found.get("commit").description),  # type: ignore[union-attr]
        "review": ("built-in", "skill", found.get("review").description),  # type: ignore[union-attr]
    }
    assert found.get("ours-folder").own_folder and not found.get("ours-file").own_folder  # type: ignore[union-attr]
    assert found.get("cc-skill").folder == repo / ".claude/skills/cc-skill"  # type: ignore[union-attr]


def test_project_beats_user_beats_built_in_and_a_skill_beats_a_command(
        world: tuple[Path, Path, Path]) -> None:
    _, cwd, home = world
    write(home / ".nano_claude/skills/commit.md", skill_text("user commit"))
    write(cwd / ".claude/commands/commit.md", skill_text("project command commit"))
    write(home / ".claude/skills/deploy/SKILL.md", skill_text("user deploy skill"))
    write(cwd / ".claude/commands/deploy.md", skill_text("project deploy command"))
    write(cwd / ".claude/skills/lint/SKILL.md", skill_text("project lint skill"))
    write(cwd / ".claude/commands/lint.md", skill_text("project lint command"))

    found = load_skills(cwd, home)

    assert found.get("commit").description == "project command commit"  # type: ignore[union-attr]
    assert found.get("deploy").description == "project deploy command"  # type: ignore[union-attr]
    assert found.get("lint").description == "project lint skill"  # type: ignore[union-attr]
    hidden = {(h.description, w.description) for h, w in found.shadowed}
    assert ("user commit", "project command commit") in hidden
    assert ("project lint command", "project lint skill") in hidden
    assert any(h.level == "built-in" and h.name == "commit" for h, _ in found.shadowed)


def test_the_nearest_claude_skills_folder_wins_and_the_walk_stops_at_the_repository(
        world: tuple[Path, Path, Path]) -> None:
    repo, cwd, home = world
    write(repo / ".claude/skills/check/SKILL.md", skill_text("from the root"))
    write(repo / "pkg/.claude/skills/check/SKILL.md", skill_text("from pkg"))
    write(repo.parent / ".claude/skills/outside/SKILL.md", skill_text("above the repository"))
    found = load_skills(cwd, home)
    assert found.get("check").description == "from pkg"  # type: ignore[union-attr]
    assert found.get("outside") is None
    folders = [loc.folder for loc in locations(cwd, home)]
    assert repo.parent / ".claude/skills" not in folders
    assert folders.index(repo / "pkg/.claude/skills") < folders.index(repo / ".claude/skills")


def test_our_format_with_triggers_arguments_and_every_field(tmp_path: Path) -> None:
    write(tmp_path / ".nano_claude/skills/deploy.md", """---
name: deploy
description: Deploy to an environment
triggers: ["/deploy", "/ship", "ship it"]
allowed-tools: [Bash, Read]
disallowed-tools: WebFetch, Bash(rm:*)
when_to_use: Use when the user wants to deploy a version to an environment.
argument-hint: [env] [version]
arguments: [env, version]
context: fork
agent: coder
model: inherit
disable-model-invocation: "no"
user-invocable: on
shell: bash
metadata: {team: ops}
---
Deploy $VERSION to the $ENV environment.
""")
    found = load_skills(tmp_path, tmp_path / "home", builtin=None)
    skill = found.get("deploy")
    assert skill is not None and found.get("ship") is skill and found.get("/ship") is skill
    assert skill.commands == ("deploy", "ship") and skill.triggers == ("ship it",)
    assert skill.argument_hint == "[env] [version]"
    assert skill.arguments == ("env", "version")
    assert skill.allowed_tools == ("Bash", "Read")
    assert skill.disallowed_tools == ("WebFetch", "Bash(rm:*)")
    assert skill.when_to_use.startswith("Use when the user wants")
    assert (skill.context, skill.agent, skill.model) == ("fork", "coder", None)
    assert skill.model_invocable and skill.user_invocable
    assert skill.body == "Deploy $VERSION to the $ENV environment."
    assert found.skills == [skill]  # one skill, however many names


def test_claude_code_command_format_with_a_one_line_hint_and_comma_rules(tmp_path: Path) -> None:
    write(tmp_path / ".claude/commands/fix-issue.md", """---
allowed-tools: Bash(git add:*), Bash(git status:*), Bash(gh issue view:*)
argument-hint: [issue-number]
description: Fix a GitHub issue: read it, change the code, test it
---
Fix issue $0.
""")
    skill = load_skills(tmp_path, tmp_path / "home", builtin=None).get("fix-issue")
    assert skill is not None and skill.kind == "command"
    assert skill.allowed_tools == ("Bash(git add:*)", "Bash(git status:*)", "Bash(gh issue view:*)")
    assert skill.argument_hint == "[issue-number]"
    assert skill.description == "Fix a GitHub issue: read it, change the code, test it"


@pytest.mark.parametrize(("written", "expected"), [
    ("yes", True), ("no", False), ("on", True), ("off", False), ("1", True), ("0", False),
    ("true", True), ("False", False), ('"yes"', True), ('"0"', False)])
def test_booleans_accept_yes_no_on_off_1_0(tmp_path: Path, written: str, expected: bool) -> None:
    write(tmp_path / ".nano_claude/skills/x.md",
          f"---\ndescription: x\ndisable-model-invocation: {written}\nuser_invocable: {written}\n---\nx\n")
    skill = load_skills(tmp_path, tmp_path / "home", builtin=None).get("x")
    assert skill is not None
    assert skill.disable_model_invocation is expected and skill.user_invocable is expected


def test_description_defaults_to_the_first_paragraph_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    write(tmp_path / ".claude/skills/tidy/SKILL.md",
          "---\nlicense: MIT\ncompatibility: any\n---\n# Tidy\n\nSort the imports\nof every file.\n\nMore.\n")
    write(tmp_path / ".claude/commands/bare.md", "Say hello to $ARGUMENTS.\n")
    found = load_skills(tmp_path, tmp_path / "home", builtin=None)
    assert found.errors == []
    assert found.get("tidy").description == "Sort the imports of every file."  # type: ignore[union-attr]
    bare = found.get("bare")
    assert bare is not None and bare.body == "Say hello to $ARGUMENTS." and bare.description == bare.body


def test_malformed_files_are_reported_once_with_path_and_why_and_the_rest_load(tmp_path: Path) -> None:
    skills = tmp_path / ".nano_claude/skills"
    write(skills / "good.md", skill_text("fine"))
    bad_yaml = write(skills / "bad-yaml.md", "---\ndescription: [unclosed\n---\nx\n")
    unclosed = write(skills / "unclosed.md", "---\ndescription: x\nbody without a closing line\n")
    bad_context = write(skills / "bad-context.md", skill_text("x", context="sideways"))
    bad_flag = write(skills / "bad-flag.md", skill_text("x", **{"user-invocable": "maybe"}))
    bad_rule = write(skills / "bad-rule.md",
                     skill_text("x", **{"allowed-tools": "[Bash(git:*), 'not a rule!']"}))
    bad_trigger = write(skills / "bad-trigger.md", skill_text("x", triggers='["/two words"]'))
    bad_argument = write(skills / "bad-arg.md", skill_text("x", arguments="[ok, 2bad]"))
    not_text = skills / "latin1.md"
    not_text.write_bytes(b"---\ndescription: caf\xe9\n---\nx\n")

    found = load_skills(tmp_path, tmp_path / "home", builtin=None)

    assert [s.name for s in found.skills] == ["good"]
    reasons = {
        bad_yaml: "not valid YAML", unclosed: "never closed", bad_context: "is not inline or fork",
        bad_flag: "is not true or false", bad_rule: "not a permission rule",
        bad_trigger: "cannot be a command name",
        bad_argument: "is not a name", not_text: "is not UTF-8 text",
    }
    assert len(found.errors) == len(reasons)
    for path, why in reasons.items():
        line = next((e for e in found.errors if e.startswith(f"{path}:")), None)
        assert line is not None, f"{path} not reported: {found.errors}"
        assert why in line


def test_two_files_giving_one_name_in_a_folder_keep_the_first_and_say_so(tmp_path: Path) -> None:
    skills = tmp_path / ".nano_claude/skills"
    write(skills / "same/SKILL.md", skill_text("the folder"))
    write(skills / "same.md", skill_text("the file"))
    found = load_skills(tmp_path, tmp_path / "home", builtin=None)
    assert found.get("same").description == "the folder"  # type: ignore[union-attr]  # sorted: same/ first
    assert len(found.errors) == 1 and "/same is taken by" in found.errors[0]


def test_the_built_ins_ship_in_the_package() -> None:
    assert sorted(p.name for p in BUILTIN.glob("*.md")) == ["commit.md", "review.md"]
    found = load_skills(Path("/"), Path("/nonexistent-home"))
    commit, review = found.get("commit"), found.get("review")
    assert commit is not None and "Bash(git commit:*)" not in commit.allowed_tools  # the user confirms it
    assert "!`git diff --staged`" in commit.body and "!`git log --oneline -10`" in commit.body
    assert review is not None and review.argument_hint == "[PR-number | commit range]"


def test_loading_plain_files_does_not_import_yaml(tmp_path: Path) -> None:
    write(tmp_path / ".claude/commands/commit.md",
          "---\nallowed-tools: Bash(git add:*), Bash(git status:*)\ndescription: Create a git commit\n"
          "argument-hint: [message]\n---\nCommit.\n")
    code = ("import sys; from pathlib import Path; "
            "from nano_claude.extensions.skills.loader import load_skills; "
            f"f = load_skills(Path({str(tmp_path)!r}), Path('/nonexistent-home')); "
            "assert f.get('commit').argument_hint == '[message]', f.errors; print('yaml' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
