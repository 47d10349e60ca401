"""`isolation: worktree`: a sub-agent works in a git worktree of its own, on a new branch,
so the main checkout is never touched. What it changed is committed on that branch; a
worktree left unchanged goes away with its branch."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from nano_claude.tools.base import ToolError

BRANCH_PREFIX = "nano-claude/agent-"


@dataclass(frozen=True)
class Worktree:
    repo: Path  # the main checkout's top folder
    path: Path  # the worktree's folder
    branch: str
    base: str  # the commit it started from
    cwd: Path  # where the sub-agent starts: the same place in the tree as its parent

    def describe(self) -> str:
        return f"{self.branch} (worktree {self.path})"


async def git(*args: str, cwd: Path) -> tuple[int, str]:
    """Run git; its exit code and output (stdout and stderr together)."""
    process = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace").strip()


def slug(text: str) -> str:
    """A branch-safe form of an agent's name or id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:40] or "agent"


async def create(cwd: Path, label: str, data_dir: Path) -> Worktree:
    """A new worktree on branch `nano-claude/agent-<label>` from HEAD, under the user's data
    folder (never inside the checkout, whose `git status` must not change)."""
    code, top = await git("rev-parse", "--show-toplevel", cwd=cwd)
    if code != 0:
        raise ToolError(f"isolation 'worktree' needs a git repository, and {cwd} is not inside one. "
                        "Run the agent without isolation, or `git init` the project first.")
    repo = Path(top)
    code, base = await git("rev-parse", "HEAD", cwd=repo)
    if code != 0:
        raise ToolError("isolation 'worktree' needs a commit to start from, and this repository has none "
                        "yet. Commit once (git commit), or run the agent without isolation.")
    digest = hashlib.sha256(str(repo).encode()).hexdigest()[:8]
    root = data_dir / "worktrees" / f"{slug(repo.name)}-{digest}"
    root.mkdir(parents=True, exist_ok=True)
    name = slug(label)
    branch, path = f"{BRANCH_PREFIX}{name}", root / f"agent-{name}"
    for n in range(2, 100):  # a branch or folder left by an earlier agent of that name
        if not path.exists() and (await git("rev-parse", "--verify", "--quiet", branch, cwd=repo))[0] != 0:
            break
        branch, path = f"{BRANCH_PREFIX}{name}-{n}", root / f"agent-{name}-{n}"
    code, out = await git("worktree", "add", "-b", branch, str(path), base, cwd=repo)
    if code != 0:
        raise ToolError(f"could not create a git worktree for the agent: {out}")
    inside = cwd.resolve().relative_to(repo.resolve()) if cwd.resolve() != repo.resolve() else Path()
    return Worktree(repo, path, branch, base, path / inside)


async def finish(tree: Worktree, summary: str) -> str:
    """Commit what the agent changed on its branch and remove the worktree folder. Returns
    what the caller should know: the branch and the files changed, or that nothing was."""
    _, status = await git("status", "--porcelain", cwd=tree.path)
    if status:
        await git("add", "-A", cwd=tree.path)
        identity = await _identity(tree.path)
        code, out = await git(*identity, "commit", "-q", "--no-verify", "-m",
                              f"nano-claude agent: {summary[:60]}", cwd=tree.path)
        if code != 0:
            return (f"The agent's changes could not be committed ({out}); they are left in the worktree "
                    f"{tree.path} on branch {tree.branch}.")
    _, changed = await git("diff", "--name-status", f"{tree.base}..{tree.branch}", cwd=tree.repo)
    await git("worktree", "remove", "--force", str(tree.path), cwd=tree.repo)
    if not changed:
        await git("branch", "-D", tree.branch, cwd=tree.repo)
        return "The agent changed nothing; its worktree and branch were removed."
    files = changed.splitlines()
    listed = "\n".join(f"  {line}" for line in files[:50])
    more = f"\n  … and {len(files) - 50} more" if len(files) > 50 else ""
    return (f"The agent's changes are committed on branch {tree.branch} (the main checkout is untouched; "
            f"`git diff {tree.base[:12]}..{tree.branch}` shows them, `git merge {tree.branch}` takes them). "
            f"Files changed:\n{listed}{more}")


async def _identity(cwd: Path) -> tuple[str, ...]:
    """A committer for a repository that has none configured (a fresh CI machine)."""
    name = (await git("config", "user.name", cwd=cwd))[1]
    email = (await git("config", "user.email", cwd=cwd))[1]
    out: list[str] = []
    if not name:
        out += ["-c", "user.name=nano-claude"]
    if not email:
        out += ["-c", "user.email=nano-claude@localhost"]
    return tuple(out)
