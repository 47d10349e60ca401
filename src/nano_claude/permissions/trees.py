"""Does reading a whole directory reach a file that a Read rule protects?

`grep -r x .`, `rg x` and `diff -r a b` read every file under a directory, so a rule
such as `Read(.env)` must be checked against what is in there, not against "." alone.
The walk is bounded and only enters directories where some rule could match; past the
bound the caller asks instead of guessing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nano_claude.permissions.rules import Rule, path_regex, rule_path_pattern

WALK_LIMIT = 50_000  # directory entries looked at, about 0.1 s
_MAGIC = "*?[{"


@dataclass(frozen=True)
class Reach:
    """What a recursive read of a directory reaches: the first protected path found and
    the rule protecting it, or that the directory was too big to check."""

    path: Path | None = None
    rule: Rule | None = None
    too_big: bool = False


def literal_prefix(pattern: str) -> str:
    """The part of an absolute glob before its first wildcard: only paths starting with
    it can match."""
    cut = min((i for i in (pattern.find(c) for c in _MAGIC) if i >= 0), default=len(pattern))
    return pattern[:cut]


def reach(root: Path, rules: Sequence[Rule], project: Path, home: Path, *, hidden: bool = True,
          follow: bool = False, limit: int = WALK_LIMIT) -> Reach:
    """Walk `root` for a path a rule matches. hidden=False skips dot-names, as rg and ag
    do by default; follow=True goes where symbolic links lead (grep -R, rg -L), else
    links are passed by as grep -r and rg pass them."""
    prefixes = [literal_prefix(rule_path_pattern(r.content or "", project, home)) for r in rules]
    regexes = [(path_regex(r.content or "", project, home), r) for r in rules]

    def may_hold(directory: str) -> bool:
        if follow:
            return True  # a link anywhere below may lead anywhere
        here = directory.rstrip("/") + "/"
        return any(here.startswith(p) or p.startswith(here) for p in prefixes)

    def rule_for(path: str) -> Rule | None:
        return next((r for regex, r in regexes if regex.match(path)), None)

    if not rules or not may_hold(str(root)):
        return Reach()
    seen = 0
    # (directory as the command names it, where it really is when a followed link led there)
    pending: list[tuple[str, str | None]] = [(str(root), None)]
    visited = {os.path.realpath(root)}  # linked loops
    while pending:
        directory, real_dir = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError:
            continue
        seen += len(listed)
        if seen > limit:
            return Reach(too_big=True)
        for entry in listed:
            if not hidden and entry.name.startswith("."):
                continue
            linked = follow and entry.is_symlink()
            real = os.path.join(real_dir, entry.name) if real_dir else entry.path
            if linked:
                real = os.path.realpath(real)
            rule = rule_for(entry.path) or (rule_for(real) if real != entry.path else None)
            if rule is not None:
                return Reach(Path(entry.path), rule)
            try:
                is_dir = entry.is_dir(follow_symlinks=linked)
            except OSError:
                continue
            if not is_dir or not (may_hold(entry.path) or may_hold(real)):
                continue
            if linked:
                if real in visited:
                    continue
                visited.add(real)
            pending.append((entry.path, real if real != entry.path else None))
    return Reach()
