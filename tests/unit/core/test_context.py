"""The system prompt: git state from real repositories, instructions files found on disk."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from datetime import date
from pathlib import Path

import pytest

from nano_claude.core import context
from nano_claude.core.context import INSTRUCTIONS_CAP, SystemPrompt, build_system_prompt

TODAY = date(2025, 3, 14)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def environ(home: Path) -> dict[str, str]:
    """What git runs with: this test's home (no global config), no system config."""
    return {"HOME": str(home), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}


def git(repo: Path, environ: dict[str, str], *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=environ, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(path: Path, environ: dict[str, str], commits: int = 1) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, environ, "init", "-q", "-b", "main")
    for n in range(1, commits + 1):
        (path / f"file{n}.txt").write_text(f"content {n}\n")
        git(path, environ, "add", "-A")
        git(path, environ, "commit", "-q", "-m", f"Commit number {n}")
    return path


def prompt(cwd: Path, home: Path, environ: dict[str, str], **kwargs: object) -> SystemPrompt:
    return build_system_prompt(cwd, TODAY, home=home, environ=environ, **kwargs)  # type: ignore[arg-type]


def section(text: str, heading: str) -> list[str]:
    """The lines of the prompt's section that starts with `heading`."""
    body = text.split(heading, 1)[1]
    return body.split("\n\n", 1)[0].splitlines()[1:]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- git ------------------------------------------------------------------------------


def test_git_state_has_branch_a_status_summary_and_the_last_five_subjects(
        home: Path, environ: dict[str, str]) -> None:
    repo = make_repo(home / "repo", environ, commits=7)
    (repo / "file1.txt").write_text("changed\n")
    (repo / "file2.txt").write_text("changed too\n")
    (repo / "file3.txt").unlink()
    write(repo / "staged.txt", "new\n")
    git(repo, environ, "add", "staged.txt")
    write(repo / "notes.txt", "untracked\n")

    result = prompt(repo, home, environ)

    assert section(result.text, "# Git") == [
        f"- Repository: {repo}",
        "- Branch: main",
        "- Working tree: 2 modified, 1 added, 1 deleted, 1 untracked",
        "- Recent commits, newest first:",
        *(f"  - Commit number {n}" for n in (7, 6, 5, 4, 3)),
    ]
    git_source = next(s for s in result.sources if s.kind == "git")
    assert git_source.path == repo and git_source.note == ""
    assert f"- Working directory: {repo}" in result.text and "- Date: 2025-03-14" in result.text


def test_git_state_of_a_clean_repo_a_new_repo_and_a_detached_head(
        home: Path, environ: dict[str, str]) -> None:
    repo = make_repo(home / "repo", environ, commits=2)
    assert "- Working tree: clean" in prompt(repo, home, environ).text

    git(repo, environ, "checkout", "-q", "--detach", "HEAD~1")
    sha = git(repo, environ, "rev-parse", "HEAD").strip()
    assert f"- Branch: detached at {sha[:12]}" in prompt(repo, home, environ).text

    empty = make_repo(home / "empty", environ, commits=0)
    write(empty / "draft.txt", "x")
    lines = section(prompt(empty, home, environ).text, "# Git")
    assert lines[1:] == ["- Branch: main", "- Working tree: 1 untracked", "- No commits yet"]


def test_outside_a_repo_there_is_no_git_section(home: Path, environ: dict[str, str]) -> None:
    result = prompt(home, home, environ)
    assert "# Git" not in result.text and "- Not a git repository" in result.text
    assert [s.kind for s in result.sources] == ["base", "environment"]


def signed_commit(repo: Path, environ: dict[str, str], subject: str) -> None:
    """A commit carrying a (bogus) signature: enough for git to call gpg.program on it."""
    tree = git(repo, environ, "rev-parse", "HEAD^{tree}").strip()
    parent = git(repo, environ, "rev-parse", "HEAD").strip()
    body = (f"tree {tree}\nparent {parent}\nauthor Ada <ada@example.com> 1700000000 +0000\n"
            "committer Ada <ada@example.com> 1700000000 +0000\n"
            "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAd\n -----END PGP SIGNATURE-----\n"
            f"\n{subject}\n")
    done = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, env=environ,
                          input=body, capture_output=True, text=True, check=True)
    git(repo, environ, "update-ref", "refs/heads/main", done.stdout.strip())


def test_a_repos_own_config_cannot_make_git_run_programs(home: Path, environ: dict[str, str]) -> None:
    repo = make_repo(home / "repo", environ)
    write(repo / "notes.md", "notes\n")
    git(repo, environ, "add", "notes.md")
    git(repo, environ, "commit", "-q", "-m", "Add notes")
    signed_commit(repo, environ, "A signed commit")
    marker = home / "marker"

    def trap(name: str) -> str:
        script = write(home / "traps" / name, f"#!/bin/sh\necho {name} >> {marker}\ncat\n")
        script.chmod(0o755)
        return str(script)

    git(repo, environ, "config", "core.fsmonitor", trap("fsmonitor"))
    git(repo, environ, "config", "core.hooksPath", str(Path(trap("post-index-change")).parent))
    git(repo, environ, "config", "filter.evil.clean", trap("clean"))
    git(repo, environ, "config", "filter.worse.process", trap("process"))
    git(repo, environ, "config", "log.showSignature", "true")
    git(repo, environ, "config", "gpg.program", trap("gpg"))
    write(repo / ".gitattributes", "*.txt filter=evil\n*.md filter=worse\n")
    # Same size as in the index, another time: status must read the files through their filters.
    (repo / "file1.txt").write_text("content 9\n")
    (repo / "notes.md").write_text("NOTES\n")
    for changed in ("file1.txt", "notes.md"):
        os.utime(repo / changed, (946684800, 946684800))

    result = prompt(repo, home, environ)

    assert not marker.exists()
    assert section(result.text, "# Git")[2:5] == [
        "- Working tree: 2 modified, 1 untracked", "- Recent commits, newest first:", "  - A signed commit"]
    # The traps are armed: plain git runs every one of them.
    for command in (["status"], ["log", "-1", "--format=%s"]):
        subprocess.run(["git", *command], cwd=repo, env=environ, capture_output=True, check=False)
    assert set(marker.read_text().split()) == {"fsmonitor", "post-index-change", "clean", "process", "gpg"}


def test_git_status_never_writes_the_index(home: Path, environ: dict[str, str]) -> None:
    repo = make_repo(home / "repo", environ)
    index = repo / ".git" / "index"
    before = index.stat().st_mtime_ns, index.read_bytes()
    (repo / "file1.txt").write_text("content 1\n")  # same content, newer time: a refresh would rewrite
    prompt(repo, home, environ)
    assert (index.stat().st_mtime_ns, index.read_bytes()) == before
    git(repo, environ, "status", "--porcelain")  # plain git refreshes the index here
    assert (index.stat().st_mtime_ns, index.read_bytes()) != before


def test_without_git_the_branch_comes_from_head(home: Path, environ: dict[str, str], tmp_path: Path) -> None:
    repo = make_repo(home / "repo", environ, commits=2)
    no_git = tmp_path / "empty-bin"
    no_git.mkdir()

    result = prompt(repo, home, {**environ, "PATH": str(no_git)})

    assert section(result.text, "# Git") == [f"- Repository: {repo}", "- Branch: main"]
    git_source = next(s for s in result.sources if s.kind == "git")
    assert git_source.note == "git is not installed (not found on PATH)"


def test_a_failing_or_hanging_git_leaves_what_the_files_say(
        home: Path, environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(home / "repo", environ)
    bin_dir = tmp_path / "bin"
    fake = write(bin_dir / "git", "#!/bin/sh\necho 'fatal: not today' >&2\nexit 128\n")
    fake.chmod(0o755)
    failing = prompt(repo, home, {**environ, "PATH": str(bin_dir)})
    assert section(failing.text, "# Git") == [f"- Repository: {repo}", "- Branch: main"]
    assert next(s for s in failing.sources if s.kind == "git").note == "git config failed: fatal: not today"

    fake.write_text(f"#!/bin/sh\nexec {shutil.which('sleep')} 30\n")
    monkeypatch.setattr(context, "GIT_TIMEOUT", 0.2)
    hanging = prompt(repo, home, {**environ, "PATH": str(bin_dir)})
    assert "- Branch: main" in hanging.text
    assert next(s for s in hanging.sources if s.kind == "git").note == "git config took longer than 0.2 s"


# --- instructions files ----------------------------------------------------------------


def test_instructions_from_user_then_repo_root_down_to_cwd(home: Path, environ: dict[str, str]) -> None:
    user = write(home / ".nano_claude" / "CLAUDE.md", "user: tabs please")
    write(home / "CLAUDE.md", "home: outside the repo")
    write(home / "work" / "AGENTS.md", "work: above the repo root")
    repo = make_repo(home / "work" / "repo", environ)
    cwd = repo / "pkg" / "sub"
    files = [
        write(repo / "AGENTS.md", "root agents"),
        write(repo / "CLAUDE.md", "root claude"),
        write(repo / ".claude" / "CLAUDE.md", "root claude code folder"),
        write(repo / "pkg" / "CLAUDE.md", "pkg claude"),
        write(cwd / "AGENTS.md", "sub agents"),
        write(cwd / "CLAUDE.md", "sub claude"),
        write(cwd / ".nano_claude" / "CLAUDE.md", "sub nano_claude folder"),
        write(cwd / "CLAUDE.local.md", "sub local"),
    ]
    write(repo / "pkg" / "sub" / "deeper" / "CLAUDE.md", "below cwd: not read")

    result = prompt(cwd, home, environ, user_instructions=user)

    found = [(s.kind, s.path) for s in result.sources if s.kind in ("user", "project")]
    assert found == [("user", user), *(("project", path) for path in files)]
    texts = ["user: tabs please", "root agents", "root claude", "root claude code folder", "pkg claude",
             "sub agents", "sub claude", "sub nano_claude folder", "sub local"]
    positions = [result.text.index(text) for text in texts]
    assert positions == sorted(positions)
    assert f"# Instructions from {files[-1]} (the project's)\n\nsub local" in result.text
    assert f"# Instructions from {user} (the user's, for every project)" in result.text
    for absent in ("outside the repo", "above the repo root", "below cwd"):
        assert absent not in result.text


def test_outside_a_repo_the_walk_stops_at_home(home: Path, environ: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "CLAUDE.md", "above home: never read")
    cwd = home / "notes" / "today"
    cwd.mkdir(parents=True)
    write(home / "AGENTS.md", "home agents")
    write(home / "notes" / "CLAUDE.md", "notes claude")

    result = prompt(cwd, home, environ)

    assert [s.path for s in result.sources if s.kind == "project"] == [
        home / "AGENTS.md", home / "notes" / "CLAUDE.md"]
    assert "above home" not in result.text


def test_outside_home_and_any_repo_only_cwd_is_read(
        home: Path, environ: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "CLAUDE.md", "parent: not read")
    cwd = tmp_path / "elsewhere" / "project"
    write(cwd / "CLAUDE.md", "cwd: read")
    result = prompt(cwd, home, environ)
    assert [s.path for s in result.sources if s.kind == "project"] == [cwd / "CLAUDE.md"]


def test_a_repo_around_home_does_not_pull_in_files_above_home(
        environ: dict[str, str], tmp_path: Path) -> None:
    outer = make_repo(tmp_path / "machine", environ)
    write(outer / "CLAUDE.md", "machine-wide repo: not read")
    home = outer / "home" / "ada"
    write(home / "CLAUDE.md", "home: read")
    cwd = home / "project"
    write(cwd / "CLAUDE.md", "project: read")

    result = prompt(cwd, home, {**environ, "HOME": str(home)})

    assert [s.path for s in result.sources if s.kind == "project"] == [home / "CLAUDE.md", cwd / "CLAUDE.md"]
    assert f"- Repository: {outer}" in result.text  # git state still describes the repository


def test_a_file_reached_twice_is_included_once(home: Path, environ: dict[str, str]) -> None:
    write(home / "AGENTS.md", "shared by every agent")
    (home / "CLAUDE.md").symlink_to("AGENTS.md")
    user = write(home / ".nano_claude" / "CLAUDE.md", "mine")  # also the home folder's project file

    result = prompt(home, home, environ, user_instructions=user)

    assert [(s.kind, s.path) for s in result.sources if s.path and s.path.name.endswith(".md")] == [
        ("user", user), ("project", home / "AGENTS.md")]
    assert result.text.count("shared by every agent") == 1 and result.text.count("mine") == 1


def test_a_missing_or_empty_file_adds_nothing(home: Path, environ: dict[str, str]) -> None:
    write(home / "CLAUDE.md", "  \n\n")
    result = prompt(home, home, environ, user_instructions=home / ".nano_claude" / "CLAUDE.md")
    assert [s.kind for s in result.sources] == ["base", "environment"]
    assert "# Instructions" not in result.text


def test_a_huge_file_is_cut_with_a_note(home: Path, environ: dict[str, str]) -> None:
    huge = write(home / "CLAUDE.md", "a" * INSTRUCTIONS_CAP + "TAIL" + "b" * 60_000)
    result = prompt(home, home, environ)
    kept = result.text.split("a" * INSTRUCTIONS_CAP, 1)[1]
    assert kept == ("\n\n[The rest of this file was cut: only its first 40,000 characters of 100,004 bytes "
                    f"are shown. Read {huge} for the rest.]")
    source = next(s for s in result.sources if s.kind == "project")
    assert source.note == "cut to the first 40,000 characters of 100,004 bytes"
    assert INSTRUCTIONS_CAP < source.chars < INSTRUCTIONS_CAP + 500


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_listed_with_the_reason(home: Path, environ: dict[str, str]) -> None:
    secret = write(home / "CLAUDE.md", "hidden")
    secret.chmod(0)
    try:
        result = prompt(home, home, environ)
    finally:
        secret.chmod(stat.S_IRUSR | stat.S_IWUSR)
    source = next(s for s in result.sources if s.kind == "project")
    assert (source.path, source.chars, source.note) == (secret, 0, "not read: Permission denied")
    assert "hidden" not in result.text


def test_system_prompt_flags_replace_the_base_and_add_to_the_end(home: Path, environ: dict[str, str]) -> None:
    write(home / "CLAUDE.md", "project rule")
    result = prompt(home, home, environ, override="You are a pirate.", append="Answer in rhyme.")
    assert result.text.startswith("You are a pirate.\n\n# Environment")
    assert result.text.endswith("project rule\n\nAnswer in rhyme.")
    assert [s.kind for s in result.sources] == ["override", "environment", "project", "append"]
