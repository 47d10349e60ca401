"""`@path` imports and rules files in the system prompt, from real files on disk."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from nano_claude.core.context import (
    COMPACT_INSTRUCTIONS_CAP,
    ContextSource,
    SystemPrompt,
    build_system_prompt,
)
from nano_claude.core.imports import MAX_DEPTH, imports_in, without_code


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def environ(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def repo(home: Path, environ: dict[str, str]) -> Path:
    path = home / "work" / "repo"
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, env=environ, check=True)
    return path


def prompt(cwd: Path, home: Path, environ: dict[str, str], **kwargs: object) -> SystemPrompt:
    return build_system_prompt(cwd, date(2025, 3, 14), home=home, environ=environ, **kwargs)  # type: ignore[arg-type]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def instructions(result: SystemPrompt) -> list[ContextSource]:
    return [s for s in result.sources if s.kind in ("user", "project")]


def source(result: SystemPrompt, path: Path) -> ContextSource:
    return next(s for s in result.sources if s.path == path)


def in_order(text: str, *parts: str) -> bool:
    positions = [text.index(part) for part in parts]
    return positions == sorted(positions)


# --- imports ------------------------------------------------------------------------------


def test_an_import_follows_its_importer_and_imports_nest(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    claude = write(repo / "CLAUDE.md", "See @docs/style.md for style, and @README.md.\nUse tabs.")
    style = write(repo / "docs" / "style.md", "Style guide. Naming: @../shared/naming.md")
    naming = write(repo / "shared" / "naming.md", "snake_case everywhere")
    readme = write(repo / "README.md", "The readme")
    local = write(repo / "CLAUDE.local.md", "local last")

    result = prompt(repo, home, environ)

    assert [s.path for s in instructions(result)] == [claude, style, naming, readme, local]
    assert "See @docs/style.md for style, and @README.md.\nUse tabs." in result.text  # kept as written
    assert f"# Instructions from {style} (imported by {claude})\n\nStyle guide." in result.text
    assert f"# Instructions from {naming} (imported by {style})\n\nsnake_case everywhere" in result.text
    assert in_order(result.text, "Use tabs.", "Style guide.", "snake_case", "The readme", "local last")
    assert source(result, naming).note == f"imported by {style}"
    assert source(result, naming).kind == "project"


def test_imports_stop_four_levels_below_the_file_with_a_note(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    write(repo / "CLAUDE.md", "level 0 @l1.md")
    for level in range(1, MAX_DEPTH + 2):
        write(repo / f"l{level}.md", f"level {level} @l{level + 1}.md")

    result = prompt(repo, home, environ)

    assert [s.path.name for s in instructions(result)] == ["CLAUDE.md", "l1.md", "l2.md", "l3.md", "l4.md"]
    assert "level 4" in result.text and "level 5" not in result.text
    assert source(result, repo / "l4.md").note == (
        f"imported by {repo / 'l3.md'}; @l5.md not imported: imports go at most 4 levels deep")


def test_a_cycle_or_a_file_read_anyway_adds_each_file_once(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    write(repo / "AGENTS.md", "shared by every agent")
    write(repo / "CLAUDE.md", "@AGENTS.md\n@a.md and @a.md again")
    write(repo / "a.md", "file a imports @b.md")
    write(repo / "b.md", "file b imports @a.md and itself, @b.md, and @../repo/CLAUDE.md")

    result = prompt(repo, home, environ)

    assert [s.path.name for s in instructions(result)] == ["AGENTS.md", "CLAUDE.md", "a.md", "b.md"]
    for text in ("shared by every agent", "file a imports", "file b imports"):
        assert result.text.count(text) == 1
    assert all("not imported" not in s.note for s in result.sources)


def test_nothing_inside_code_is_an_import(repo: Path, home: Path, environ: dict[str, str]) -> None:
    for name in ("fenced", "tilde", "span", "double", "indented", "unclosed", "outside", "after"):
        write(repo / f"{name}.md", f"{name} was imported")
    write(repo / "CLAUDE.md", "\n".join([
        "```python", "@fenced.md", "```",
        "~~~~", "@tilde.md", "~~~", "still in the tilde fence: @tilde.md", "~~~~",
        "Run `cat @span.md` or ``echo `@double.md` `` there.",
        "   ```", "@indented.md", "   ```",
        "@outside.md", "and @after.md",
        "```", "@unclosed.md never closed",
    ]))

    result = prompt(repo, home, environ)

    imported = [s.path.name for s in instructions(result)][1:]
    assert imported == ["outside.md", "after.md"]
    for name in ("fenced", "tilde", "span", "double", "indented", "unclosed"):
        assert f"{name} was imported" not in result.text


def test_code_is_blanked_in_place_and_unmatched_backticks_are_text() -> None:
    text = "a `x` b\n```\n@in.md\n```\n`` unmatched ` @out.md"
    blanked = without_code(text)
    assert len(blanked) == len(text) and blanked.count("\n") == text.count("\n")
    assert [m.path for m in imports_in(text)] == ["out.md"]
    assert [m.path for m in imports_in("````\n```\n@still.md\n````\n@free.md")] == ["free.md"]


def test_home_and_absolute_paths_import(
        repo: Path, home: Path, environ: dict[str, str], tmp_path: Path) -> None:
    user = write(home / ".nano_claude" / "CLAUDE.md", f"Mine: @~/notes/prefs.md and @{tmp_path / 'abs.md'}")
    prefs = write(home / "notes" / "prefs.md", "prefer short answers")
    absolute = write(tmp_path / "abs.md", "absolute import")
    spec = write(repo / "spec" / "api.md", "the api spec")
    claude = write(repo / "CLAUDE.md", f"@{spec} and @~/work/repo/spec/api.md")

    result = prompt(repo, home, environ, user_instructions=user)

    assert [(s.kind, s.path) for s in instructions(result)] == [
        ("user", user), ("user", prefs), ("user", absolute), ("project", claude), ("project", spec)]
    assert "prefer short answers" in result.text and "absolute import" in result.text


def test_a_projects_files_import_nothing_from_outside_it(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    write(home / ".ssh" / "id_rsa", "PRIVATE KEY")
    (repo / "docs").mkdir()
    (repo / "docs" / "key.md").symlink_to(home / ".ssh" / "id_rsa")
    claude = write(repo / "CLAUDE.md", "@~/.ssh/id_rsa @../../.ssh/id_rsa @docs/key.md @inside.md")
    write(repo / "inside.md", "inside the project")

    result = prompt(repo, home, environ)

    assert "PRIVATE KEY" not in result.text and "inside the project" in result.text
    notes = source(result, claude).note.split("; ")
    assert [note.split(" not imported: ")[0] for note in notes] == [
        "@~/.ssh/id_rsa", "@../../.ssh/id_rsa", "@docs/key.md"]
    assert notes[0].endswith(f"outside the project ({repo}): a project's instructions import only "
                             "from inside it (import it from ~/.nano_claude/CLAUDE.md instead)")


def test_outside_a_repository_a_folders_files_import_from_that_folder_down(
        home: Path, environ: dict[str, str]) -> None:
    download = home / "Downloads" / "tool"
    write(home / "secret.md", "home secret")
    write(download / "docs" / "use.md", "how to use")
    write(download / "CLAUDE.md", "@docs/use.md @~/secret.md")
    write(home / "CLAUDE.md", "the user's own home file: @secret.md")

    result = prompt(download, home, environ)

    assert "how to use" in result.text
    assert result.text.count("home secret") == 1  # imported by ~/CLAUDE.md, not by the download's
    assert source(result, home / "secret.md").note == f"imported by {home / 'CLAUDE.md'}"


def test_missing_files_emails_and_names_stay_text(repo: Path, home: Path, environ: dict[str, str]) -> None:
    write(repo / "style.md", "the style")
    claude = write(repo / "CLAUDE.md", "Mail ada@example.com. Use @property and @dataclass; ask @alice.\n"
                                       "Read @style.md. Also @docs/missing.md, and @~/nope.md.")

    result = prompt(repo, home, environ)

    assert [s.path.name for s in instructions(result)] == ["CLAUDE.md", "style.md"]
    assert source(result, claude).note == "@docs/missing.md: no such file; @~/nope.md: no such file"


def test_a_file_and_its_imports_share_the_files_cap(repo: Path, home: Path, environ: dict[str, str]) -> None:
    write(repo / "CLAUDE.md", "@a.md @b.md " + "c" * 1500)
    write(repo / "a.md", "a" * 1000)
    write(repo / "b.md", "b" * 100)

    result = prompt(repo, home, environ, compact=True)

    kept = result.text.split(f"(imported by {repo / 'CLAUDE.md'})\n\n", 1)[1]
    assert kept.startswith("a" * (COMPACT_INSTRUCTIONS_CAP - 1512) + "\n\n[The rest of this file was cut")
    assert "a" * (COMPACT_INSTRUCTIONS_CAP - 1511) not in result.text and "bbb" not in result.text
    assert source(result, repo / "a.md").note == (
        f"imported by {repo / 'CLAUDE.md'}; cut to the first {COMPACT_INSTRUCTIONS_CAP - 1512} characters "
        "of 1,000 bytes")
    assert source(result, repo / "CLAUDE.md").note == (
        "@b.md not imported: the file's character cap is used up by it and what it imports before")


# --- rules files ------------------------------------------------------------------------


def test_rules_from_both_folders_and_their_subfolders_at_each_level(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    user = write(home / ".nano_claude" / "CLAUDE.md", "user file")
    cwd = repo / "pkg"
    order = [
        user,
        write(home / ".nano_claude" / "rules" / "lang" / "python.md", "user python rule"),
        write(home / ".nano_claude" / "rules" / "mine.md", "user rule"),
        write(repo / "CLAUDE.md", "root claude"),
        write(repo / ".claude" / "CLAUDE.md", "root claude folder"),
        write(repo / ".nano_claude" / "CLAUDE.md", "root nano folder"),
        write(repo / ".claude" / "rules" / "b.md", "claude rule b"),
        write(repo / ".claude" / "rules" / "frontend" / "react.md", "claude rule react"),
        write(repo / ".claude" / "rules" / "testing.md", "claude rule testing"),
        write(repo / ".nano_claude" / "rules" / "a.md", "nano rule a"),
        write(repo / "CLAUDE.local.md", "root local"),
        write(cwd / "CLAUDE.md", "pkg claude"),
        write(cwd / ".claude" / "rules" / "pkg.md", "pkg rule"),
    ]
    write(repo / ".claude" / "rules" / "notes.txt", "not markdown: not read")
    write(cwd / "deeper" / ".claude" / "rules" / "below.md", "below cwd: not read")

    result = prompt(cwd, home, environ, user_instructions=user)

    assert [s.path for s in instructions(result)] == order
    assert f"# Instructions from {order[6]} (the project's)\n\nclaude rule b" in result.text
    assert f"# Instructions from {order[2]} (the user's, for every project)\n\nuser rule" in result.text
    assert "not read" not in result.text


def test_a_rule_for_some_paths_says_which(repo: Path, home: Path, environ: dict[str, str]) -> None:
    listed = write(repo / ".claude" / "rules" / "api.md",
                   '---\npaths:\n  - "src/api/**/*.ts"\n  - "tests/**"\n---\n\n# API\nValidate input.')
    write(repo / ".claude" / "rules" / "ui.md", "---\npaths: src/**/*.{ts,tsx}, docs/*.md\n---\nUI rule")
    plain = write(repo / ".claude" / "rules" / "zz.md", "---\ndescription: no paths here\n---\nEverywhere")

    result = prompt(repo, home, environ)

    assert (f"# Instructions from {listed} (the project's)\n\nThese apply only when working on files "
            f"matching src/api/**/*.ts, tests/** (paths relative to {repo}).\n\n# API\nValidate input."
            ) in result.text
    assert f"matching src/**/*.{{ts,tsx}}, docs/*.md (paths relative to {repo}).\n\nUI rule" in result.text
    assert f"# Instructions from {plain} (the project's)\n\nEverywhere" in result.text
    assert "---" not in result.text and "description" not in result.text
    assert source(result, listed).note == "for src/api/**/*.ts, tests/**"


def test_a_rule_with_broken_front_matter_goes_in_whole_with_a_note(
        repo: Path, home: Path, environ: dict[str, str]) -> None:
    rule = write(repo / ".claude" / "rules" / "bad.md", "---\npaths: [unclosed\n---\nStill a rule")
    result = prompt(repo, home, environ)
    assert "paths: [unclosed\n---\nStill a rule" in result.text
    assert source(result, rule).note.startswith(
        "front matter not read (bad.md: the front matter is not valid YAML")


def test_rules_import_and_linked_rule_folders_are_followed_once(
        repo: Path, home: Path, environ: dict[str, str], tmp_path: Path) -> None:
    shared = tmp_path / "team-rules"
    write(shared / "style.md", "team style, see @extra.md")
    write(shared / "extra.md", "team extra")
    rules = repo / ".claude" / "rules"
    rules.mkdir(parents=True)
    (rules / "team").symlink_to(shared, target_is_directory=True)
    (rules / "loop").symlink_to(rules, target_is_directory=True)
    write(rules / "own.md", "own rule: @../../docs/conventions.md")
    write(repo / "docs" / "conventions.md", "the conventions")

    result = prompt(repo, home, environ)

    team = rules / "team"
    assert [s.path for s in instructions(result)] == [
        rules / "own.md", repo / "docs" / "conventions.md", team / "extra.md", team / "style.md"]
    assert result.text.count("team extra") == 1 and "team style, see @extra.md" in result.text


def test_claude_codes_own_folder_in_home_is_not_a_projects(home: Path, environ: dict[str, str]) -> None:
    write(home / ".claude" / "CLAUDE.md", "Claude Code's user file")
    write(home / ".claude" / "rules" / "cc.md", "Claude Code's user rule")
    cwd = home / "notes"
    write(cwd / ".claude" / "CLAUDE.md", "a project's .claude folder")

    alone = prompt(cwd, home, environ)
    assert "Claude Code's user" not in alone.text and "a project's .claude folder" in alone.text

    user = write(home / ".nano_claude" / "CLAUDE.md", "@~/.claude/CLAUDE.md")
    asked = prompt(cwd, home, environ, user_instructions=user)
    assert "Claude Code's user file" in asked.text and "Claude Code's user rule" not in asked.text
