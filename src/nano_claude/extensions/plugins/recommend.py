"""`/plugin recommend [keywords]`: plugins from a curated catalog that suit this project.

The catalog (catalog.json, shipped in the package) names real plugins in real repositories, each
with the repository and commit it was checked against. An entry scores on two kinds of evidence:

- the keywords typed: a hit on the plugin's name or category counts most, then its tags, its
  keywords, its description; words are stemmed so "dockerfile" finds docker and "testing" tests;
- the project's files: a Dockerfile, pyproject.toml, *.sql ... from a breadth-first walk that
  skips dependency and tool folders (node_modules, .git, .venv, ...) and stops after a few
  thousand entries, so the top levels are always seen and a huge repository stays fast.

With keywords, only entries that match one are listed, and the files only order entries the
keywords rank alike: a search should not drift to whatever the project holds. Without keywords
the files alone decide, and nothing is listed when nothing suggests a plugin (the caller then
shows the categories). Installed plugins stay in the list, marked, after the others.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

CATALOG = Path(__file__).with_name("catalog.json")
MAX_ENTRIES = 3000  # files and folders looked at before the walk stops
MAX_DEPTH = 6
SKIPPED = frozenset({
    ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", ".mypy_cache",
    ".ruff_cache", ".pytest_cache", ".cache", ".idea", ".vscode", ".next", ".nuxt", ".terraform",
    "site-packages", "dist", "build", "target", "bower_components", ".gradle",
})
NAME_HIT, TAG_HIT, KEYWORD_HIT, DESCRIPTION_HIT = 5, 4, 2, 1
FILE_HIT, FILE_PATTERNS_COUNTED = 3, 3
KEYWORD_FACTOR = FILE_HIT * FILE_PATTERNS_COUNTED + 1  # the weakest keyword hit outranks any files
STOP_WORDS = frozenset({
    "a", "an", "and", "or", "the", "for", "with", "to", "of", "in", "on", "my", "me", "i", "we", "want",
    "need", "some", "something", "plugin", "plugins", "tool", "tools", "help", "please", "use", "using",
})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    category: str
    description: str
    source: str  # NAME@MARKETPLACE, or a git URL
    marketplace: str  # the marketplace's owner/repo ("" for a git URL)
    tags: tuple[str, ...]
    keywords: tuple[str, ...]
    files: tuple[str, ...]  # glob patterns of project files that suggest it
    verified: str  # the repository, folder and commit it was checked against

    @property
    def install(self) -> list[str]:
        """The command lines that install it, as a user types them."""
        add = [f"nano_claude plugin marketplace add {self.marketplace}"] if self.marketplace else []
        return [*add, f"nano_claude plugin install {self.source}"]


@dataclass
class Recommendation:
    entry: CatalogEntry
    score: int
    reasons: list[str] = field(default_factory=list)
    install: list[str] = field(default_factory=list)  # empty when it is installed already
    installed: bool = False


def load_catalog(path: Path = CATALOG) -> list[CatalogEntry]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [CatalogEntry(name=item["name"], category=item["category"], description=item["description"],
                         source=item["source"], marketplace=item.get("marketplace", ""),
                         tags=tuple(item.get("tags", ())), keywords=tuple(item.get("keywords", ())),
                         files=tuple(item.get("files", ())), verified=item["verified"])
            for item in data["plugins"]]


def categories(catalog: Iterable[CatalogEntry]) -> dict[str, list[str]]:
    """Category -> plugin names, in catalog order: what to show when nothing matched."""
    out: dict[str, list[str]] = {}
    for entry in catalog:
        out.setdefault(entry.category, []).append(entry.name)
    return out


def recommend(project: Path, keywords: str = "", installed: Collection[str] = frozenset(), limit: int = 8,
              *, catalog: Sequence[CatalogEntry] | None = None) -> list[Recommendation]:
    """The best `limit` catalog entries for this project and these keywords, best first."""
    catalog = load_catalog() if catalog is None else catalog
    terms = _terms(keywords)
    files = _Files(scan(project))
    ranked: list[tuple[Recommendation, int]] = []
    for index, entry in enumerate(catalog):
        word_score, word_reasons = _keyword_score(entry, terms)
        if terms and not word_score:
            continue
        file_score, file_reasons = _file_score(entry, files)
        score = word_score * KEYWORD_FACTOR + file_score
        if not score:
            continue
        done = entry.name in installed
        ranked.append((Recommendation(entry, score, word_reasons + file_reasons,
                                      [] if done else entry.install, done), index))
    ranked.sort(key=lambda pair: (pair[0].installed, -pair[0].score, pair[1]))
    return [rec for rec, _ in ranked[:limit]]


def lines(recs: Iterable[Recommendation]) -> list[str]:
    """What `plugin recommend` and /plugin recommend print: per plugin its name and why, what
    it does, and how to install it; a blank line between plugins."""
    out: list[str] = []
    for rec in recs:
        if out:
            out.append("")
        why = f" — {'; '.join(rec.reasons)}" if rec.reasons else ""
        out.append(f"{rec.entry.name}{' (installed)' if rec.installed else ''}{why}")
        out.append(f"    {rec.entry.description}")
        out.extend(f"    {command}" for command in rec.install)
    return out


# --- keywords ----------------------------------------------------------------------------------

def stem(word: str) -> str:
    """A crude stem, the same on both sides of a comparison: dockerfile/docker -> dock,
    tests/testing -> test, databases/database -> databas."""
    word = word.lower()
    if word.endswith("file") and len(word) >= 8:
        word = word[:-4]
    for suffix in ("ing", "ers", "er", "es", "ed", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def _stems(texts: Iterable[str]) -> set[str]:
    return {stem(word) for text in texts for word in _WORD.findall(text.lower())}


def _terms(keywords: str) -> dict[str, str]:
    """stem -> the word as typed (for the reason shown), stop words left out."""
    terms: dict[str, str] = {}
    for word in _WORD.findall(keywords.lower()):
        if word not in STOP_WORDS:
            terms.setdefault(stem(word), word)
    return terms


def _keyword_score(entry: CatalogEntry, terms: dict[str, str]) -> tuple[int, list[str]]:
    if not terms:
        return 0, []
    fields = ((NAME_HIT, _stems([entry.name, entry.category])), (TAG_HIT, _stems(entry.tags)),
              (KEYWORD_HIT, _stems(entry.keywords)), (DESCRIPTION_HIT, _stems([entry.description])))
    score, reasons = 0, []
    for term, typed in terms.items():
        weight = next((weight for weight, stems in fields if term in stems), 0)
        if weight:
            score += weight
            reasons.append(f"{'mentions' if weight == DESCRIPTION_HIT else 'matches'} '{typed}'")
    return score, reasons


# --- the project's files -----------------------------------------------------------------------

def scan(project: Path, max_entries: int = MAX_ENTRIES, max_depth: int = MAX_DEPTH) -> list[tuple[str, bool]]:
    """(path relative to the project, is a folder), breadth first: the top levels always, then
    deeper until `max_entries`; dependency, cache and VCS folders and symlinked folders are not
    entered."""
    found: list[tuple[str, bool]] = []
    level = [(project, "")]
    for _ in range(max_depth):
        deeper = []
        for folder, prefix in level:
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir and entry.name in SKIPPED:
                    continue
                rel = prefix + entry.name
                found.append((rel, is_dir))
                if len(found) >= max_entries:
                    return found
                if is_dir:
                    deeper.append((Path(entry.path), rel + "/"))
        if not deeper:
            break
        level = deeper
    return found


class _Files:
    """The scanned paths, indexed by lower-cased name for quick pattern tests."""

    def __init__(self, paths: list[tuple[str, bool]]) -> None:
        self.paths = paths
        self.by_name: dict[str, list[str]] = {}
        for rel, is_dir in paths:
            shown = rel + "/" if is_dir else rel
            self.by_name.setdefault(rel.rsplit("/", 1)[-1].lower(), []).append(shown)

    def matching(self, pattern: str) -> list[str]:
        """Paths whose name (or, for a pattern with a /, whose whole path) fits the pattern."""
        wanted = pattern.lower()
        if "/" in wanted:
            return [rel + "/" if is_dir else rel for rel, is_dir in self.paths
                    if fnmatchcase(rel.lower(), wanted)]
        if not any(ch in wanted for ch in "*?["):
            return list(self.by_name.get(wanted, ()))
        return [path for name, paths in self.by_name.items() if fnmatchcase(name, wanted) for path in paths]


def _file_score(entry: CatalogEntry, files: _Files) -> tuple[int, list[str]]:
    reasons = []
    for pattern in entry.files:
        hits = files.matching(pattern)
        if not hits:
            continue
        hits.sort(key=lambda path: (path.count("/"), path))
        if len(hits) == 1:
            reasons.append(f"{hits[0]} in the project")
        elif any(ch in pattern for ch in "*?["):
            reasons.append(f"{len(hits)} {pattern} files in the project")
        else:
            reasons.append(f"{hits[0]} (and {len(hits) - 1} more) in the project")
    counted = reasons[:FILE_PATTERNS_COUNTED]
    return FILE_HIT * len(counted), counted[:2]
