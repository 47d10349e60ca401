"""Words whisper should expect, given to it as its initial prompt: the names in this project
that a general speech model would spell wrong (the branch, the project's name, the files
touched lately) and the user's own list in `.nano_claude/voice_keyterms.txt` (one term a line,
`#` starts a comment)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

FILE = Path(".nano_claude") / "voice_keyterms.txt"
RECENT_COMMITS = 5
MOST_FILES = 30
PROMPT_CHARS = 600  # whisper reads at most 224 tokens of prompt; names tokenize long
GIT_TIMEOUT = 3.0


def keyterms(root: Path) -> list[str]:
    """The user's terms first (they matter most when the prompt must be cut), then the
    project's name, the branch and recent file names; each once."""
    found = [*_listed(root / FILE), root.name]
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch[0] != "HEAD":  # a detached head has no name to say
        found.append(branch[0])
    status = _git(root, "--no-optional-locks", "status", "--porcelain")  # `XY path`, `R  old -> new`
    changed = [line[3:].split(" -> ")[-1] for line in status]
    committed = _git(root, "log", f"-{RECENT_COMMITS}", "--name-only", "--format=")
    names = dict.fromkeys(PurePosixPath(path.strip('"').rstrip("/")).name for path in (*changed, *committed))
    found += [name for name in names if name][:MOST_FILES]
    return list(dict.fromkeys(term for term in found if term))


def initial_prompt(terms: Iterable[str], limit: int = PROMPT_CHARS) -> str:
    """The terms joined with commas, as many whole terms as fit in `limit` characters."""
    prompt = ""
    for term in terms:
        longer = f"{prompt}, {term}" if prompt else term
        if len(longer) > limit:
            break
        prompt = longer
    return prompt


def _listed(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _git(root: Path, *args: str) -> list[str]:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []
