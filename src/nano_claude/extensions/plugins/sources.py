"""Where a plugin or a marketplace comes from, and fetching it into a folder.

    ./plugins/fmt, ~/p, /abs/p     a local folder (copied: the install does not follow later edits)
    https://host/repo.git#v1.2     a git repository, at a branch, tag or commit after `#`
    git@host:owner/repo.git#ref    the same, over ssh
    owner/repo, owner/repo@ref     a GitHub repository (https://github.com/owner/repo.git)

git runs with prompts off (a private repository fails with git's own message instead of
waiting for a password nobody sees) and the user's git config, so `insteadOf` rewrites and
credential helpers apply as they do for `git clone`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nano_claude.core.errors import NanoClaudeError

Kind = Literal["path", "git", "url"]  # url: a marketplace.json over http (marketplaces only)
GIT_TIMEOUT = 300  # seconds a clone or fetch may take
_GITHUB = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*?)(?:\.git)?"
                     r"(?:[@#](?P<ref>[\w./-]+))?$")  # owner/repo, owner/repo@v1, owner/repo#v1
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:owner/repo.git
IGNORED = shutil.ignore_patterns(".git", "__pycache__", ".deps")


class SourceError(NanoClaudeError):
    """A source that cannot be read or fetched; the message says why and what to do."""


@dataclass(frozen=True)
class Source:
    kind: Kind
    location: str  # an absolute path, or the URL git clones
    ref: str = ""  # git: a branch, tag or commit ("": the default branch)
    subdir: str = ""  # git: the folder inside the repository that is the plugin

    @property
    def shown(self) -> str:
        """As a person would write it again."""
        text = self.location + (f"#{self.ref}" if self.ref else "")
        return text + (f" ({self.subdir})" if self.subdir else "")

    def as_json(self) -> dict[str, str]:
        data = {"kind": self.kind, "location": self.location}
        if self.ref:
            data["ref"] = self.ref
        if self.subdir:
            data["subdir"] = self.subdir
        return data

    @classmethod
    def from_json(cls, data: object) -> Source | None:
        if not isinstance(data, dict) or data.get("kind") not in ("path", "git", "url"):
            return None
        location = data.get("location")
        if not isinstance(location, str) or not location:
            return None
        return cls(data["kind"], location, str(data.get("ref") or ""), str(data.get("subdir") or ""))


def looks_like_source(text: str) -> bool:
    """A path, a URL or an ssh address (not a bare name, which is a plugin or marketplace)."""
    return ("://" in text or bool(_SCP.match(text)) or text.startswith(("/", "./", "../", "~"))
            or text in (".", ".."))


def parse(text: str, cwd: Path) -> Source:
    """A source as typed (see the module's list); SourceError says what forms work."""
    text = text.strip()
    if not text:
        raise SourceError("no source given; give a folder, a git URL or owner/repo")
    if looks_like_source(text) and "://" not in text and not _SCP.match(text):
        return Source("path", str((cwd / Path(text).expanduser()).resolve()))
    if "://" in text or _SCP.match(text):
        location, _, ref = text.partition("#")
        if location.startswith("file://"):
            local = Path(location.removeprefix("file://"))
            if not (local / ".git").exists() and local.is_dir() and not ref:
                return Source("path", str(local.resolve()))
        return Source("git", location, ref)
    local = (cwd / text).expanduser()
    if local.exists():
        return Source("path", str(local.resolve()))
    match = _GITHUB.match(text)
    if match:
        return Source("git", github_url(match["repo"]), match["ref"] or "")
    raise SourceError(f"{text!r} is not a folder, a git URL or owner/repo; give e.g. ./my-plugin, "
                      "https://github.com/owner/repo.git#v1 or owner/repo@v1")


def github_url(repo: str) -> str:
    """owner/repo as the URL git clones."""
    return f"https://github.com/{repo.removesuffix('.git')}.git"


def fetch(source: Source, dest: Path) -> str:
    """Put the source's files at `dest` (which must not exist); the commit it got ("" for a
    folder). On failure nothing is left at `dest`."""
    try:
        if source.kind == "path":
            _copy(Path(source.location), dest)
            return ""
        if source.kind == "url":
            raise SourceError(f"{source.location} is a marketplace's address, not a plugin's; add it with "
                              "plugin marketplace add, then install NAME@MARKETPLACE")
        return _clone(source, dest)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _copy(folder: Path, dest: Path) -> None:
    if not folder.is_dir():
        raise SourceError(f"{folder}: no such folder; give the folder that holds the plugin")
    try:
        shutil.copytree(folder, dest, ignore=IGNORED, symlinks=True)
    except (OSError, shutil.Error) as exc:
        raise SourceError(f"{folder}: cannot be copied ({exc})") from None


def _clone(source: Source, dest: Path) -> str:
    if shutil.which("git") is None:
        raise SourceError("git is not installed; install it (e.g. apt install git) or give a local folder")
    checkout = dest.with_name(dest.name + ".git-checkout") if source.subdir else dest
    shutil.rmtree(checkout, ignore_errors=True)
    try:
        shallow = ["--branch", source.ref] if source.ref else []
        try:  # a branch or tag (or none): one commit is enough
            git("clone", "--quiet", "--depth", "1", *shallow, "--", source.location, str(checkout),
                what=f"clone {source.location}")
        except SourceError:
            if not source.ref:
                raise
            shutil.rmtree(checkout, ignore_errors=True)  # a commit: the whole history, then check it out
            git("clone", "--quiet", "--", source.location, str(checkout), what=f"clone {source.location}")
            try:
                git("-C", str(checkout), "rev-parse", "--verify", "--quiet", f"{source.ref}^{{commit}}",
                    what="find the ref")
            except SourceError:
                raise SourceError(f"{source.location} has no branch, tag or commit {source.ref!r}; check "
                                  "the part after #") from None
            git("-C", str(checkout), "checkout", "--quiet", "--detach", source.ref,
                what=f"check out {source.ref!r} in {source.location}")
        commit = git("-C", str(checkout), "rev-parse", "HEAD", what="read the commit").strip()
        if source.subdir:
            inner = (checkout / source.subdir).resolve()
            if not inner.is_relative_to(checkout.resolve()) or not inner.is_dir():
                raise SourceError(f"{source.location} has no folder {source.subdir!r}; check the path")
            shutil.copytree(inner, dest, ignore=IGNORED, symlinks=True)
        else:  # what IGNORED leaves out of a copied folder: git's data, and a .deps nano_claude did not make
            for name in (".git", ".deps"):
                shutil.rmtree(checkout / name, ignore_errors=True)
        return commit
    finally:
        if source.subdir:
            shutil.rmtree(checkout, ignore_errors=True)


def git(*args: str, what: str, cwd: Path | None = None) -> str:
    """Run git; SourceError with git's own last words when it fails."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SourceError(f"git could not {what} within {GIT_TIMEOUT} s; check the network and "
                          "the address") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.strip().splitlines() if line.strip()]
        said = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
        why = (said[0].removeprefix("fatal: ").removeprefix("error: ") if said
               else f"exit status {done.returncode}")
        raise SourceError(f"git could not {what}: {why}")
    return done.stdout


def swap(staged: Path, final: Path) -> None:
    """Put `staged` at `final`; an old copy there is moved aside first and removed after, and
    put back if the move fails."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    had = final.exists()
    if had:
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError:
        if had:
            os.replace(old, final)
        raise
    if had:
        shutil.rmtree(old, ignore_errors=True)
