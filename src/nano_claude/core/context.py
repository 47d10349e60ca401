"""The system prompt: who the agent is, where it works, and what the user and the
project ask of it.

Built once per agent and never changed within a session, so providers can cache it;
anything that changes within a session belongs in messages. The tool set is not
described here: it travels as the request's tool definitions.

The parts, in order (where instructions disagree, the later, more specific one wins):

1. the built-in instructions, or `--system-prompt` in their place;
2. the environment: working directory, platform, date;
3. git (skipped outside a repository): branch, a status summary ("3 modified,
   1 untracked") and the last 5 commit subjects, as they were at the start;
4. the user's instructions for every project: `~/.nano_claude/CLAUDE.md`, then the rules
   files in `~/.nano_claude/rules/`;
5. the project's instructions, from the outermost folder down to the working
   directory; in each folder `AGENTS.md`, `CLAUDE.md`, `.claude/CLAUDE.md`,
   `.nano_claude/CLAUDE.md`, the rules files in `.claude/rules/` and `.nano_claude/rules/`,
   `CLAUDE.local.md`. The outermost folder is the repository's root; outside a
   repository it is the user's home when the working directory lies under it, else
   the working directory alone. The walk never goes above the home folder, so a
   repository that spans it (a home inside a repository at `/`) does not pull in
   files from above it;
6. the memory index (extensions/memory): the user's `MEMORY.md`, then the project's, when
   there are memories (full tool profile only: the compact one has no memory tools);
7. `--append-system-prompt`.

Which files: Claude Code reads `CLAUDE.md`, `.claude/CLAUDE.md`, `.claude/rules/` and
`CLAUDE.local.md` in each folder from the working directory up; Codex reads `AGENTS.md`
from the repository root down. We read both families as they are, so a Claude Code
user's files work unchanged (DESIGN.md: read Claude Code's files, never write them):
AGENTS.md first (shared by every agent, so the broader), then Claude Code's files, then
ours in `.nano_claude/` (so ours win where they disagree), and CLAUDE.local.md last (the
user's own, kept out of git). In the home folder `.claude/` belongs to no project: it is
Claude Code's settings folder and `~/.claude/CLAUDE.md` its user file, which is not read
(`@~/.claude/CLAUDE.md` in `~/.nano_claude/CLAUDE.md` brings it in for those who want it).

Rules files are every `*.md` in a rules folder and its subfolders (links followed, each
folder once), sorted by path, read like CLAUDE.md. Claude Code loads a rule whose front
matter has `paths:` only once a matching file is touched; this prompt is built once (so
providers can cache it), so such a rule is in it from the start, under a line naming the
files it is for. A rule's front matter is not part of the prompt.

`@path` in any of these files imports another file (core/imports.py). A file reached
twice (a CLAUDE.md that links to or imports AGENTS.md, the home folder's
`.nano_claude/CLAUDE.md` that is also the user's file) is included once. Each file on the
walk, together with all it imports, is capped at INSTRUCTIONS_CAP characters, with a
note saying the rest was cut.

The compact tool profile (tools/registry.py), for small local models whose every prompt
token costs time, gets COMPACT_BASE_PROMPT, no list of recent commits, and instructions
files (each with its imports) capped at COMPACT_INSTRUCTIONS_CAP characters: the same parts,
said shorter.

Git runs with a 2 s timeout and with settings given on its command line, which
outrank the repository's own config, so that opening someone else's repository
cannot run their programs: the fsmonitor hook, hooks, clean/smudge/process filters
(discovered by name first), lazy fetches in partial clones (ssh, remote helpers),
signature checks (gpg), a pager. GIT_OPTIONAL_LOCKS=0 keeps `git status` from
writing the index, so it never takes the lock a concurrent `git commit` needs.
Without git, or when git fails, the prompt says only what the files tell: the
branch from `.git/HEAD`.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from nano_claude.core.imports import Expansion

BASE_PROMPT = """\
You are nano-claude, a coding agent working in the user's terminal. You help with \
software engineering: reading, changing and running code in the user's project.

- Use the tools to look before you answer: read files, run commands. Do not guess \
file contents or command output.
- Keep answers short and concrete. Show code only when it helps.
- When a tool call fails, read the error and fix the call; do not repeat the same call.
- Never invent tool results. If you cannot do something, say so and why.
- Follow the instructions files below (CLAUDE.md, AGENTS.md). They run from the broadest \
to the most specific; where they disagree, the later one wins."""

# For small models: a few sentences that fit in a ~1,500-token first request with the tools.
COMPACT_BASE_PROMPT = """\
You are nano-claude, a coding agent in the user's terminal. Use the tools to read, change \
and run code in the user's project; do not guess file contents or command output. Answer \
briefly. If a tool call fails, fix it instead of repeating it. Follow the instructions \
files below; where they disagree, the later one wins."""

INSTRUCTIONS_CAP = 40_000  # characters kept from each instructions file
COMPACT_INSTRUCTIONS_CAP = 2_000  # the same for the compact profile (about 500 tokens)
PROJECT_FILES = ("AGENTS.md", "CLAUDE.md", ".claude/CLAUDE.md", ".nano_claude/CLAUDE.md")  # then rules
RULES_FOLDERS = (".claude/rules", ".nano_claude/rules")
LOCAL_FILE = "CLAUDE.local.md"  # last in each folder
GIT_TIMEOUT = 2.0  # seconds per git command
RECENT_COMMITS = 5
SUBJECT_CAP = 200  # characters of a commit subject

# Settings a repository's own config could use to run a program (or to write) during
# `git status` and `git log`. The command line outranks every config file.
SAFE_GIT_CONFIG = (
    "core.fsmonitor=false",  # status runs the fsmonitor hook program
    "core.hooksPath=/dev/null",  # no hook of any kind (post-index-change)
    "core.untrackedCache=false",  # nothing to write back into the index
    "status.submoduleSummary=false",
    "protocol.allow=never",  # a partial clone's lazy fetch runs ssh or a remote helper
    "safe.bareRepository=explicit",  # a bare repository planted in the project is not used
)
FILTER_KEYS = ("clean", "smudge", "process")
ENVIRONMENT_HEADING = "# Environment"
GIT_HEADING = "# Git (as it was when the session started; it does not update)"

SourceKind = Literal["base", "override", "environment", "git", "user", "project", "memory", "append"]


@dataclass(frozen=True)
class ContextSource:
    """One part of the system prompt, for /context: what it is, where it came from,
    and how many characters of the prompt it takes."""

    kind: SourceKind
    path: Path | None
    chars: int
    note: str = ""  # what the user should know: cut, unreadable, git unavailable


@dataclass(frozen=True)
class SystemPrompt:
    text: str
    sources: tuple[ContextSource, ...]


class GitUnavailable(Exception):
    """Why git could not tell us the repository's state; shown by /context."""


@dataclass(frozen=True)
class GitState:
    branch: str | None
    changes: str | None = None  # "3 modified, 1 untracked", "clean"
    commits: tuple[str, ...] = ()
    unborn: bool = False  # a repository without commits yet
    unavailable: str = ""


def git_root(cwd: Path) -> Path | None:
    for folder in (cwd, *cwd.parents):
        if (folder / ".git").exists():
            return folder
    return None


def git_dir(root: Path) -> Path:
    """`.git`, or where a worktree's or submodule's `.git` file points."""
    dot_git = root / ".git"
    if dot_git.is_file():
        try:
            text = dot_git.read_text(encoding="utf-8").strip()
        except OSError:
            return dot_git
        if text.startswith("gitdir:"):
            return root / text[len("gitdir:"):].strip()
    return dot_git


def git_branch(root: Path) -> str | None:
    """The checked-out branch, read from HEAD without running git."""
    try:
        text = (git_dir(root) / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    prefix = "ref: refs/heads/"
    return text[len(prefix):] if text.startswith(prefix) else f"detached at {text[:12]}"


def run_git(args: list[str], cwd: Path, environ: Mapping[str, str],
            config: tuple[str, ...] = SAFE_GIT_CONFIG, success: tuple[int, ...] = (0,)) -> str:
    env = {**environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0"}
    command = ["git", "--no-pager", *(arg for setting in config for arg in ("-c", setting)), *args]
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=GIT_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GitUnavailable(f"git {args[0]} took longer than {GIT_TIMEOUT:g} s") from exc
    except OSError as exc:  # no git, or a working directory that is gone
        if isinstance(exc, FileNotFoundError) and exc.filename == "git":
            raise GitUnavailable("git is not installed (not found on PATH)") from exc
        raise GitUnavailable(f"cannot run git in {cwd}: {exc.strerror}") from exc
    if done.returncode not in success:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitUnavailable(f"git {args[0]} failed: {reason[0] if reason else f'exit {done.returncode}'}")
    return done.stdout.decode("utf-8", "replace")


def safe_config(cwd: Path, environ: Mapping[str, str]) -> tuple[str, ...]:
    """SAFE_GIT_CONFIG plus every filter driver the repository defines, emptied: status
    runs a file's clean filter to compare it with the index. A driver whose name cannot
    be written as `-c name=value` leaves git status out altogether."""
    # Exit 1: no such setting.
    listed = run_git(["config", "--null", "--name-only", "--get-regexp", r"^filter\."], cwd, environ,
                     success=(0, 1))
    drivers = {key[len("filter."):key.rindex(".")] for key in listed.split("\0") if key.count(".") >= 2}
    if any("=" in name or "\n" in name for name in drivers):
        raise GitUnavailable("a filter driver's name contains '=' or a newline; status not run")
    emptied = (f"filter.{name}.{key}=" for name in sorted(drivers) for key in FILTER_KEYS)
    required = (f"filter.{name}.required=false" for name in sorted(drivers))
    return (*SAFE_GIT_CONFIG, *emptied, *required)


def summarise_status(porcelain: str) -> tuple[str | None, str, str]:
    """Branch, changes and head commit from `git status --porcelain=v2 --branch -z`."""
    head: str | None = None
    oid = ""
    counts = dict.fromkeys(("modified", "added", "deleted", "conflicted", "untracked"), 0)
    for entry in porcelain.split("\0"):
        if entry.startswith("# branch.head "):
            head = entry[len("# branch.head "):]
        elif entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid "):]
        elif entry.startswith("1 "):
            xy = entry[2:4]
            kind = "deleted" if "D" in xy else "added" if xy[0] == "A" else "modified"
            counts[kind] += 1
        elif entry.startswith("u "):
            counts["conflicted"] += 1
        elif entry.startswith("? "):
            counts["untracked"] += 1
    if head == "(detached)":
        head = f"detached at {oid[:12]}"
    changes = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "clean"
    return head, changes, oid


def git_state(root: Path, cwd: Path, environ: Mapping[str, str]) -> GitState:
    try:
        config = safe_config(cwd, environ)
        status = run_git(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal",
                          "--ignore-submodules=all", "--no-renames"], cwd, environ, config)
        branch, changes, oid = summarise_status(status)
        if oid == "(initial)":
            return GitState(branch, changes, unborn=True)
        # --no-show-signature: log.showSignature would run gpg.program on signed commits.
        log = run_git(["log", f"-n{RECENT_COMMITS}", "--no-show-signature", "--format=%s"], cwd, environ)
    except GitUnavailable as exc:
        return GitState(git_branch(root), unavailable=str(exc))
    commits = tuple(s if len(s) <= SUBJECT_CAP else s[:SUBJECT_CAP] + "…" for s in log.splitlines())
    return GitState(branch, changes, commits)


def git_section(root: Path, state: GitState, commits: int = RECENT_COMMITS) -> str:
    lines = [GIT_HEADING, f"- Repository: {root}"]
    if state.branch:
        lines.append(f"- Branch: {state.branch}")
    if state.changes:
        lines.append(f"- Working tree: {state.changes}")
    if state.unborn:
        lines.append("- No commits yet")
    if state.commits[:commits]:
        lines.append("- Recent commits, newest first:")
        lines.extend(f"  - {subject}" for subject in state.commits[:commits])
    return "\n".join(lines)


def environment_section(cwd: Path, today: date, in_repo: bool) -> str:
    lines = [
        ENVIRONMENT_HEADING,
        f"- Working directory: {cwd}",
        f"- Platform: {platform.system()} {platform.release()}",
        f"- Date: {today.isoformat()}",
    ]
    if not in_repo:
        lines.append("- Not a git repository")
    return "\n".join(lines)


def walk_top(cwd: Path, home: Path, repo: Path | None) -> Path:
    """The outermost folder whose instructions files apply to cwd."""
    under_home = cwd == home or home in cwd.parents
    if under_home and (repo is None or repo in home.parents):
        return home
    return repo or cwd


@dataclass(frozen=True)
class InstructionsFile:
    """A file on the walk: whose it is, and for a project's file, the folder it may import
    from (core/imports.py); None for the user's own files, which import from anywhere."""

    kind: SourceKind
    path: Path
    within: Path | None = None
    rule: bool = False  # from a rules folder: front matter taken off, `paths:` shown
    folder: Path | None = None  # where the walk found it: what a rule's `paths:` are relative to


def rules_files(folder: Path) -> list[Path]:
    """Every `*.md` under a rules folder, subfolders too, sorted: links are followed (a
    shared rule set linked into many projects) and each real folder walked once, so a
    link back up is no loop."""
    found: list[Path] = []
    walked: set[str] = set()
    for top, subfolders, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in walked:
            subfolders.clear()
            continue
        walked.add(real)
        found += [Path(top, name) for name in names if name.endswith(".md") and Path(top, name).is_file()]
    return sorted(found)


def user_files(user_instructions: Path | None) -> list[InstructionsFile]:
    """The user's CLAUDE.md and the rules folder beside it (`~/.nano_claude/rules/`)."""
    if user_instructions is None:
        return []
    files = [InstructionsFile("user", user_instructions)] if user_instructions.is_file() else []
    return files + [InstructionsFile("user", path, rule=True)
                    for path in rules_files(user_instructions.parent / "rules")]


def project_files(cwd: Path, home: Path, repo: Path | None) -> list[InstructionsFile]:
    """Instructions files from the outermost folder down to cwd, nearest last. Inside a
    repository its files import from anywhere in it; outside one, each folder's files
    import only from that folder down."""
    top = walk_top(cwd, home, repo)
    folders = [cwd, *(p for p in cwd.parents if top == p or top in p.parents)]
    found: list[InstructionsFile] = []
    for folder in reversed(folders):
        within = repo if repo is not None and top == repo else folder
        names = [n for n in PROJECT_FILES if folder != home or not n.startswith(".claude/")]
        found += [InstructionsFile("project", folder / name, within, folder=folder)
                  for name in names if (folder / name).is_file()]
        for rules in RULES_FOLDERS:
            if folder != home or not rules.startswith(".claude/"):
                found += [InstructionsFile("project", path, within, rule=True, folder=folder)
                          for path in rules_files(folder / rules)]
        if (folder / LOCAL_FILE).is_file():
            found.append(InstructionsFile("project", folder / LOCAL_FILE, within, folder=folder))
    return found


def read_instructions(path: Path, cap: int = INSTRUCTIONS_CAP) -> tuple[str, str]:
    """The file's text (at most `cap` characters) and a note for /context. Raises OSError."""
    with path.open(encoding="utf-8", errors="replace") as file:
        text = file.read(cap + 1)
    if len(text) <= cap:
        return text.strip(), ""
    size = path.stat().st_size
    note = f"cut to the first {cap:,} characters of {size:,} bytes"
    return (text[:cap].rstrip() + f"\n\n[The rest of this file was cut: only its first "
            f"{cap:,} characters of {size:,} bytes are shown. Read {path} for the rest.]"), note


def split_globs(value: str) -> list[str]:
    """`src/**/*.{ts,tsx}, docs/*.md`: commas inside braces belong to the glob."""
    globs: list[str] = []
    depth = start = 0
    for i, char in enumerate(value):
        depth += (char == "{") - (char == "}")
        if char == "," and depth <= 0:
            globs.append(value[start:i])
            start = i + 1
    return [g.strip() for g in [*globs, value[start:]] if g.strip()]


def rule_scope(text: str, path: Path) -> tuple[str, list[str], str]:
    """A rules file's body, the globs its `paths:` front matter limits it to, and a note
    when the front matter cannot be read (the file then goes in whole: better read than
    lost)."""
    if not text.removeprefix("\ufeff").startswith("---"):
        return text, [], ""
    from nano_claude.extensions.frontmatter import FrontMatterError, parse

    try:
        data, body = parse(text, path.name)
    except FrontMatterError as exc:
        return text, [], f"front matter not read ({exc})"
    paths: Any = data.get("paths")
    if isinstance(paths, str):
        return body.strip(), split_globs(paths), ""
    if isinstance(paths, list):
        return body.strip(), [str(p).strip() for p in paths if str(p).strip()], ""
    return body.strip(), [], "" if paths is None else "paths: is not a glob or a list of globs; ignored"


def heading(file: InstructionsFile, globs: list[str]) -> str:
    whose = "the user's, for every project" if file.kind == "user" else "the project's"
    head = f"# Instructions from {file.path} ({whose})"
    if globs:
        relative = f" (paths relative to {file.folder})" if file.folder else ""
        head += f"\n\nThese apply only when working on files matching {', '.join(globs)}{relative}."
    return head


def instructions(files: list[InstructionsFile], home: Path,
                 cap: int = INSTRUCTIONS_CAP) -> list[tuple[str, ContextSource]]:
    """Each readable, non-empty file once, as a prompt section with its source, each
    followed by the files it imports. `home` is what `@~/` means."""
    seen: set[Path] = set()
    sections: list[tuple[str, ContextSource]] = []
    for file in files:
        real = file.path.resolve()
        if real in seen:
            continue
        seen.add(real)
        try:
            text, note = read_instructions(file.path, cap)
        except OSError as exc:
            sections.append(("", ContextSource(file.kind, file.path, 0, f"not read: {exc.strerror or exc}")))
            continue
        globs: list[str] = []
        if file.rule:
            text, globs, unread = rule_scope(text, file.path)
            scope = f"for {', '.join(globs)}" if globs else ""
            note = "; ".join(filter(None, [note, unread, scope]))
        if not text:
            continue
        within = None if file.within is None else (file.within.resolve(), real.parent)
        imports = Expansion(home, seen, cap - len(text), read_instructions, within)
        left_out = imports.expand(file.path, text)
        section = f"{heading(file, globs)}\n\n{text}"
        sections.append((section, ContextSource(file.kind, file.path, len(section),
                                                "; ".join(filter(None, [note, *left_out])))))
        for part in imports.files:
            section = f"# Instructions from {part.path} (imported by {part.by})\n\n{part.text}"
            sections.append((section, ContextSource(file.kind, part.path, len(section),
                                                    "; ".join(filter(None, [f"imported by {part.by}",
                                                                            part.note])))))
    return sections


def build_system_prompt(cwd: Path, today: date, *, home: Path, environ: Mapping[str, str],
                        user_instructions: Path | None = None, override: str | None = None,
                        append: str | None = None, compact: bool = False,
                        memory: str | None = None) -> SystemPrompt:
    """--system-prompt replaces the built-in instructions; --append-system-prompt adds to
    the end. `home` bounds the walk for instructions files; `environ` is what git runs with;
    `compact` says every part shorter, for the compact tool profile; `memory` is the
    memory index (extensions/memory), after the instructions files."""
    cwd, home = cwd.resolve(), home.resolve()
    root = git_root(cwd)
    sections: list[tuple[str, ContextSource]] = []
    if override is not None:
        sections.append((override, ContextSource("override", None, len(override))))
    else:
        base = COMPACT_BASE_PROMPT if compact else BASE_PROMPT
        sections.append((base, ContextSource("base", None, len(base))))
    environment = environment_section(cwd, today, root is not None)
    sections.append((environment, ContextSource("environment", cwd, len(environment))))
    if root is not None:
        state = git_state(root, cwd, environ)
        git = git_section(root, state, 0 if compact else RECENT_COMMITS)
        sections.append((git, ContextSource("git", root, len(git), state.unavailable)))
    files = user_files(user_instructions) + project_files(cwd, home, root)
    sections += instructions(files, home, COMPACT_INSTRUCTIONS_CAP if compact else INSTRUCTIONS_CAP)
    if memory:
        sections.append((memory, ContextSource("memory", None, len(memory))))
    if append:
        sections.append((append, ContextSource("append", None, len(append))))
    text = "\n\n".join(section for section, _ in sections if section)
    return SystemPrompt(text, tuple(source for _, source in sections))


def split_volatile(text: str) -> tuple[str, str]:
    """A prompt built here as (what stays the same from one session to the next, what does
    not): the second part is the environment section (the date) and the git section after
    it (status, recent commits); the first, every other section in its order.

    Why: an embedded model whose chat template puts the system message before the tool
    list (Qwen's) would lose its evaluated prefix, thousands of tokens on a CPU, at every
    new day or commit; providers/chat_format.py sends the second part after the tools.
    Sections are joined by blank lines and these two hold none, so the split is exact; a
    prompt without an environment section (`--system-prompt` text of another shape,
    another program's prompt) is all stable. Only the first environment section counts:
    the one build_system_prompt writes right after the built-in instructions.
    """
    parts = text.split("\n\n")
    start = next((i for i, part in enumerate(parts)
                  if part.startswith(ENVIRONMENT_HEADING + "\n- Working directory: ")), None)
    if start is None:
        return text, ""
    end = start + 1
    if end < len(parts) and parts[end].startswith(GIT_HEADING + "\n"):
        end += 1
    return "\n\n".join(parts[:start] + parts[end:]), "\n\n".join(parts[start:end])
