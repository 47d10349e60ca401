"""The words whisper is told to expect, from a real git repository: the user's list first,
then the project's name, the branch, the files changed and committed lately; each once."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nano_claude.extensions.voice.keyterms import initial_prompt, keyterms


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def commit(root: Path, *files: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    git(root, "add", *files)
    git(root, "commit", "-q", "-m", f"add {' '.join(files)}")


def test_keyterms_come_from_the_users_list_the_project_the_branch_and_recent_files(tmp_path: Path) -> None:
    root = tmp_path / "parsnip-server"
    root.mkdir()
    git(root, "init", "-q", "-b", "feature/oauth-refresh")
    commit(root, "src/parsnip/tokenizer.py", "README.md")
    commit(root, "src/parsnip/oauth_client.py")
    (root / "src" / "parsnip" / "tokenizer.py").write_text("changed")  # modified, not committed
    (root / "notes_kubectl.md").write_text("new")  # untracked
    git(root, "mv", "README.md", "GUIDE.md")  # renamed: the new name counts
    (root / ".nano_claude").mkdir()
    (root / ".nano_claude" / "voice_keyterms.txt").write_text(
        "# names whisper gets wrong\nPydantic\n\n  Kubernetes  # the cluster\nparsnip-server\n")
    terms = keyterms(root)
    assert terms[:3] == ["Pydantic", "Kubernetes", "parsnip-server"]  # the user's first; each once
    assert "feature/oauth-refresh" in terms
    for name in ("tokenizer.py", "oauth_client.py", "notes_kubectl.md", "GUIDE.md"):
        assert name in terms
    assert len(terms) == len(set(terms))
    assert not any("/" in t for t in terms if t != "feature/oauth-refresh")  # base names, not paths


def test_a_folder_outside_git_gives_its_name_and_the_users_list(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    (root / ".nano_claude").mkdir(parents=True)
    (root / ".nano_claude" / "voice_keyterms.txt").write_text("Quokka\n")
    assert keyterms(root) == ["Quokka", "scratch"]


def test_a_detached_head_adds_no_branch(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "a.py")
    git(root, "checkout", "-q", "--detach")
    assert keyterms(root) == ["repo", "a.py"]


def test_the_prompt_keeps_whole_terms_within_its_limit() -> None:
    terms = [f"term{n:03d}" for n in range(200)]
    prompt = initial_prompt(terms, limit=60)
    assert prompt.startswith("term000, term001, ")
    assert len(prompt) <= 60
    assert all(len(part) == 7 for part in prompt.split(", "))  # no term cut in half
    assert initial_prompt(["one", "two"]) == "one, two"
    assert initial_prompt([]) == ""
    assert len(initial_prompt(terms)) <= 600
