"""Marketplaces: catalogs of plugins in Claude Code's format, and the ones the user added.

    .claude-plugin/marketplace.json   name (kebab-case), owner {name, email?, url?}, plugins [...],
                                      description, version, metadata {description, version, pluginRoot}
    a plugin entry                    name, source, description, version, tags, keywords, category,
                                      strict (false: the entry is the plugin's whole manifest), and
                                      any plugin.json field
    an entry's source                 "./path" (inside the marketplace; a bare "name" is looked up
                                      under metadata.pluginRoot), {source: github, repo, ref?, sha?},
                                      {source: url, url, ref?, sha?} (a git URL),
                                      {source: git-subdir, url, path, ref?, sha?}; npm, archive and
                                      command sources are a problem of that entry alone

A marketplace is added from owner/repo[@ref], a git URL[#ref], a local folder (read where it is,
so edits show at once) or an http(s) URL of a marketplace.json. The added ones are listed in
~/.nano_claude/plugins/marketplaces.json; git and http ones are copied to
~/.nano_claude/plugins/marketplaces/NAME/, fetched beside it and swapped in, so a failed update
keeps the copy there was. A plugin that lives inside a git marketplace is installed from git
itself (its URL, ref and folder), so `plugin update` fetches it fresh without the marketplace.

Names Anthropic's own marketplaces use are refused unless the source is the matching repository
on github.com/anthropics: Claude Code guards them the same way, so nobody can pass their catalog
off as the official one. A project's settings may declare marketplaces and recommend plugins;
declared.py reports those not yet added or installed, and the caller asks the user.
"""

from __future__ import annotations

import builtins
import difflib
import json
import os
import posixpath
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

from nano_claude.config import atomic_write, read_json
from nano_claude.core.errors import ConfigError, NanoClaudeError
from nano_claude.extensions.plugins.manifest import NAME
from nano_claude.extensions.plugins.sources import Source, SourceError, fetch, github_url, parse, swap

if TYPE_CHECKING:
    from nano_claude.paths import Paths

MARKETPLACE_FILE = Path(".claude-plugin") / "marketplace.json"
KNOWN = "marketplaces.json"
HTTP_TIMEOUT = 30.0
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_GITHUB_URL = re.compile(r"^(?:https?://github\.com/|git@github\.com:|ssh://git@github\.com/)"
                         r"(?P<repo>[\w.-]+/[\w.-]+?)(?:\.git)?/?$", re.IGNORECASE)
# Anthropic's marketplaces by name -> the repository each must come from
OFFICIAL = {"claude-code-plugins": "anthropics/claude-code",
            "claude-plugins-official": "anthropics/claude-plugins-official",
            "knowledge-work-plugins": "anthropics/knowledge-work-plugins",
            "agent-skills": "anthropics/skills", "life-sciences": "anthropics/life-sciences"}
RESERVED = frozenset({*OFFICIAL, "claude-code-marketplace", "anthropic-marketplace", "anthropic-plugins"})
NOT_MANIFEST = frozenset({"source", "strict", "category"})  # marketplace-only keys of an entry


class MarketplaceError(NanoClaudeError):
    """A marketplace that cannot be added, read, updated or searched; one line: why and the fix."""


@dataclass(frozen=True)
class Entry:
    """One plugin a marketplace offers."""

    name: str
    description: str
    version: str
    tags: tuple[str, ...]  # tags and keywords
    category: str
    marketplace: str
    source: Source | None  # None: it cannot be installed (`problem` says why)
    manifest: dict[str, Any] | None = None  # strict false: the entry is the plugin's plugin.json
    problem: str = ""

    @property
    def full_name(self) -> str:
        """How a person names it for install: NAME@MARKETPLACE."""
        return f"{self.name}@{self.marketplace}"


@dataclass
class Marketplace:
    name: str
    owner: str
    description: str
    source: Source  # how it was added (kind "url": a marketplace.json over http)
    root: Path  # the local folder holding .claude-plugin/marketplace.json
    entries: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # entries that could not be read, one line each
    version: str = ""
    updated_at: str = ""


# --- reading one marketplace ---------------------------------------------------------------


def read(root: Path, source: Source, *, file: Path | None = None, label: str = "") -> Marketplace:
    """The marketplace in `root` (or in `file`), added from `source`. A catalog that cannot be
    read at all raises; an entry that cannot is a line in `errors` or its own `problem`."""
    file = file or root / MARKETPLACE_FILE
    label = label or source.shown
    data = _load(file, label)
    name = data.get("name")
    if not isinstance(name, str) or not _KEBAB.match(name):
        raise MarketplaceError(f"{label}: the marketplace name {name!r} is not kebab-case; set \"name\" in "
                               f"{MARKETPLACE_FILE} to e.g. \"team-tools\" (lowercase letters, digits, -)")
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    plugins = data.get("plugins", [])
    if not isinstance(plugins, list):
        raise MarketplaceError(f"{label}: \"plugins\" must be a list of plugin entries; fix the file")
    description = text_of(data.get("description", metadata.get("description")))
    market = Marketplace(name, _owner(data.get("owner")), description, source, root,
                         version=text_of(data.get("version", metadata.get("version"))))
    place = _Place(root, source, text_of(metadata.get("pluginRoot")))
    for number, item in enumerate(plugins, 1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            market.errors.append(f"{name}: plugin entry {number} has no \"name\"; it was skipped")
            continue
        entry = _entry(item, name, place)
        if any(e.name == entry.name for e in market.entries):
            market.errors.append(f"{name}: the plugin {entry.name!r} is listed twice; the first was kept")
            continue
        market.entries.append(entry)
    return market


def read_marketplace(folder: Path) -> Marketplace:
    """The marketplace in a local folder, read as a folder marketplace (for `plugin validate`)."""
    folder = folder.resolve()
    return read(folder, Source("path", str(folder)), label=str(folder))


def _load(file: Path, label: str) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarketplaceError(f"{label} has no {MARKETPLACE_FILE}; a marketplace lists its plugins there "
                               "(to install a single plugin, use plugin install instead)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketplaceError(f"{label}: {MARKETPLACE_FILE} cannot be read ({exc}); check it") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MarketplaceError(f"{label}: {MARKETPLACE_FILE} line {exc.lineno} column {exc.colno}: "
                               f"{exc.msg}; fix the JSON") from None
    if not isinstance(data, dict):
        raise MarketplaceError(f"{label}: {MARKETPLACE_FILE} must hold an object with name, owner and "
                               f"plugins, not {type(data).__name__}")
    return data


@dataclass(frozen=True)
class _Place:
    """Where a marketplace's relative sources lead: its folder, or its git repository."""

    root: Path
    source: Source
    plugin_root: str

    def inside(self, text: str) -> Source | str:
        """The source of a relative entry, or why there is none."""
        if self.source.kind not in ("git", "path"):
            return "relative paths need a git or folder marketplace; ask its owner for a git source"
        bare = not text.startswith(("./", "../", "/"))
        candidates = [posixpath.join(self.plugin_root, text)] if self.plugin_root and bare else [text]
        if self.plugin_root and not bare:  # Claude Code reads "./x" from the root; its docs, under pluginRoot
            candidates.append(posixpath.join(self.plugin_root, text))
        paths = [posixpath.normpath(c) for c in candidates]
        if any(p == ".." or p.startswith(("../", "/")) for p in paths):
            return f"its source {text!r} leads out of the marketplace; ask its owner to fix it"
        rel = next((p for p in paths if (self.root / p).is_dir()), paths[0])
        rel = "" if rel == "." else rel
        if self.source.kind == "git":
            return Source("git", self.source.location, self.source.ref, subdir=rel)
        return Source("path", str((self.root / rel).resolve()))


def _entry(item: dict[str, Any], market: str, place: _Place) -> Entry:
    name = item["name"].strip()
    tags = _strings(item.get("tags")) + _strings(item.get("keywords"))
    found = _entry_source(item.get("source"), place)
    problem = found if isinstance(found, str) else ""
    if not NAME.match(name):
        problem = (f"{name!r} is not a usable plugin name (letters, digits, - _ . only); "
                   "ask the marketplace's owner to rename it")
    whole = item.get("strict") is False
    manifest = {k: v for k, v in item.items() if k not in NOT_MANIFEST} if whole else None
    return Entry(name, text_of(item.get("description")), text_of(item.get("version")),
                 tuple(dict.fromkeys(tags)),
                 text_of(item.get("category")), market, None if problem else cast(Source, found), manifest,
                 problem)


def _entry_source(value: Any, place: _Place) -> Source | str:
    if isinstance(value, str) and value.strip():
        return place.inside(value.strip())
    if not isinstance(value, dict):
        return "it has no \"source\"; ask the marketplace's owner to add one"
    kind = value.get("source")
    ref = text_of(value.get("sha")) or text_of(value.get("ref"))
    if kind == "github":
        repo = text_of(value.get("repo"))
        if not REPO.match(repo):
            return f"its github source needs \"repo\": \"owner/name\", not {repo!r}"
        return Source("git", github_url(repo), ref)
    if kind in ("url", "git", "git-subdir"):
        url = text_of(value.get("url"))
        if not url:
            return f"its {kind} source has no \"url\"; ask the marketplace's owner to add it"
        location = github_url(url) if REPO.match(url) and "://" not in url else url
        if kind != "git-subdir":
            return Source("git", location, ref)
        sub = posixpath.normpath(text_of(value.get("path")) or ".")
        if sub == ".." or sub.startswith(("../", "/")):
            return f"its git-subdir path {value.get('path')!r} leads out of the repository"
        return Source("git", location, ref, subdir="" if sub == "." else sub)
    if isinstance(kind, str) and kind:
        return (f"its {kind} source is not supported by nano_claude (git, github, git-subdir and folders "
                "are); install the plugin from its git repository instead")
    return "its \"source\" has no kind (\"source\": \"github\", \"url\" or \"git-subdir\")"


# --- the marketplaces a user added ---------------------------------------------------------


class Marketplaces:
    """The user's added marketplaces: the record in marketplaces.json and the local copies."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths

    @property
    def folder(self) -> Path:
        return self.paths.home / "plugins" / "marketplaces"

    @property
    def file(self) -> Path:
        return self.paths.home / "plugins" / KNOWN

    def records(self) -> dict[str, dict[str, Any]]:
        """name -> {source, added_at, updated_at, commit}; a broken file raises (and stays as it is)."""
        try:
            data = read_json(self.file)
        except ConfigError as exc:
            raise MarketplaceError(str(exc)) from None
        known = data.get("marketplaces", {})
        return {k: v for k, v in known.items() if isinstance(v, dict)} if isinstance(known, dict) else {}

    def list(self) -> builtins.list[Marketplace]:
        """Every added marketplace, by name; one that cannot be read carries why in `errors`."""
        out = []
        for name, record in sorted(self.records().items()):
            source = Source.from_json(record.get("source"))
            try:
                if source is None:
                    raise MarketplaceError(f"{name}: {self.file} does not say where it came from; remove it "
                                           f"(plugin marketplace remove {name}) and add it again")
                out.append(self._read(name, source, record))
            except MarketplaceError as exc:
                out.append(Marketplace(name, "", "", source or Source("path", ""), self.folder / name,
                                       errors=[str(exc)], updated_at=text_of(record.get("updated_at"))))
        return out

    def get(self, name: str) -> Marketplace:
        records = self.records()
        if name not in records:
            known = f"Added: {', '.join(sorted(records))}." if records else "None is added."
            raise MarketplaceError(f"no marketplace named {name!r} is added; add it with plugin marketplace "
                                   f"add owner/repo (or a git URL or folder). {known}")
        source = Source.from_json(records[name].get("source"))
        if source is None:
            raise MarketplaceError(f"{name}: {self.file} does not say where it came from; remove it and add "
                                   "it again")
        return self._read(name, source, records[name])

    def add(self, text: str, cwd: Path, *, name: str | None = None) -> Marketplace:
        """Add owner/repo[@ref], a git URL[#ref], a folder or an http(s) URL of a marketplace.json."""
        return self.add_source(source_of(text, cwd), name=name)

    def add_source(self, source: Source, *, name: str | None = None) -> Marketplace:
        """Add (or, from the same source, refresh) a marketplace. `name`: what it must be called
        (a project declared it under that name)."""
        records = self.records()
        if source.kind == "path":
            root, file = _local(source)
            market = read(root, source, file=file)
            self._admit(market.name, source, records, name)
            self._write(market.name, source, "")
            return self.get(market.name)
        staging, commit = self._fetch(source)
        try:
            market = read(staging / "copy", source)
            self._admit(market.name, source, records, name)
            swap(staging / "copy", self.folder / market.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._write(market.name, source, commit)
        return self.get(market.name)

    def update(self, name: str | None = None) -> builtins.list[tuple[str, str]]:
        """Fetch each (or the named) marketplace again: (name, what changed) or (name, "error: why").
        A failure keeps the copy there was."""
        records = self.records()
        if name is not None and name not in records:
            self.get(name)  # raises, naming the ones there are
        out = []
        for each in [name] if name is not None else sorted(records):
            try:
                out.append((each, self._update(each, records[each])))
            except MarketplaceError as exc:
                kept = "; the previous copy was kept" if (self.folder / each).is_dir() else ""
                out.append((each, f"error: {exc}{kept}"))
        return out

    def remove(self, name: str) -> Source | None:
        """Forget a marketplace and delete its copy (a folder one is left where it is). Plugins
        installed from it stay installed; the caller decides about them."""
        records = self.records()
        if name not in records:
            self.get(name)
        copy = self.folder / name
        if copy.exists():
            trash = copy.with_name(f".removing-{name}-{os.getpid()}")
            try:
                os.replace(copy, trash)
            except OSError as exc:
                raise MarketplaceError(f"{copy}: cannot be removed ({exc.strerror or exc}); check its "
                                       "permissions") from None
            shutil.rmtree(trash, ignore_errors=True)
        self._write(name, None, "")
        return Source.from_json(records[name].get("source"))

    def find(self, plugin: str, marketplace: str | None = None) -> Entry:
        """The installable entry named `plugin` (in `marketplace`, else in any)."""
        markets = [self.get(marketplace)] if marketplace else self.list()
        entries = [e for m in markets for e in m.entries]
        matches = [e for e in entries if e.name == plugin]
        if len(matches) == 1:
            if matches[0].problem:
                raise MarketplaceError(f"{matches[0].full_name} cannot be installed: {matches[0].problem}")
            return matches[0]
        if matches:
            choices = ", ".join(e.full_name for e in matches)
            raise MarketplaceError(f"{plugin!r} is in several marketplaces: {choices}; name the one you want "
                                   "as NAME@MARKETPLACE")
        if not markets:
            raise MarketplaceError(f"no marketplace is added, so {plugin!r} cannot be found; add one with "
                                   "plugin marketplace add owner/repo, or install from a git URL or folder")
        close = difflib.get_close_matches(plugin, sorted({e.name for e in entries}), n=3, cutoff=0.6)
        where = f"the marketplace {marketplace!r}" if marketplace else "any added marketplace"
        hint = (f"did you mean {', '.join(e.full_name for e in entries if e.name in close)}?" if close
                else "see what they offer with plugin marketplace list, or run plugin marketplace update")
        raise MarketplaceError(f"no plugin named {plugin!r} in {where}; {hint}")

    # --- inside ----------------------------------------------------------------------------

    def _read(self, name: str, source: Source, record: dict[str, Any]) -> Marketplace:
        if source.kind == "path":
            root, file = _local(source)
            market = read(root, source, file=file)
        else:
            copy = self.folder / name
            if not copy.is_dir():
                raise MarketplaceError(f"{name}: its copy in {copy} is missing; fetch it again with plugin "
                                       f"marketplace update {name}")
            market = read(copy, source)
        if market.name != name:
            raise MarketplaceError(f"{source.shown} now calls itself {market.name!r}, not {name!r}; remove "
                                   f"{name} and add it again")
        market.updated_at = text_of(record.get("updated_at"))
        return market

    def _update(self, name: str, record: dict[str, Any]) -> str:
        source = Source.from_json(record.get("source"))
        if source is None:
            raise MarketplaceError(f"{self.file} does not say where it came from; remove it and add it again")
        if source.kind == "path":
            market = self._read(name, source, record)
            self._write(name, source, "")
            return f"a folder, read where it is ({len(market.entries)} plugins)"
        try:
            old: Marketplace | None = self._read(name, source, record)
        except MarketplaceError:
            old = None
        staging, commit = self._fetch(source)
        try:
            fresh = read(staging / "copy", source)
            if fresh.name != name:
                raise MarketplaceError(f"{source.shown} now calls itself {fresh.name!r}, not {name!r}; "
                                       f"remove {name} and add it again")
            swap(staging / "copy", self.folder / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._write(name, source, commit)
        return _changes(old, fresh, text_of(record.get("commit")), commit)

    def _admit(self, name: str, source: Source, records: dict[str, Any], wanted: str | None) -> None:
        if wanted is not None and name != wanted:
            raise MarketplaceError(f"{source.shown} is the marketplace {name!r}, not {wanted!r}; check the "
                                   "source or the name it was declared under")
        check_reserved(name, source)
        if name in records:
            known = Source.from_json(records[name].get("source"))
            if known is None or not same_source(known, source):
                shown = known.shown if known else "somewhere unrecorded"
                raise MarketplaceError(f"a marketplace named {name!r} is already added from {shown}; remove "
                                       f"it first (plugin marketplace remove {name}) to add this one")

    def _fetch(self, source: Source) -> tuple[Path, str]:
        """A staging folder beside the copies holding the marketplace in `copy`; the commit."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.folder))
        try:
            if source.kind == "url":
                _download(source.location, staging / "copy" / MARKETPLACE_FILE)
                return staging, ""
            return staging, fetch(source, staging / "copy")
        except SourceError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise MarketplaceError(str(exc)) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write(self, name: str, source: Source | None, commit: str) -> None:
        """Record (or, source None, forget) one marketplace; re-read first, never over a broken file."""
        try:
            data = read_json(self.file)
        except ConfigError as exc:
            raise MarketplaceError(str(exc)) from None
        known = data.get("marketplaces")
        if not isinstance(known, dict):
            known = data["marketplaces"] = {}
        if source is None:
            known.pop(name, None)
        else:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            old = known.get(name) if isinstance(known.get(name), dict) else {}
            record = {"source": source.as_json(), "added_at": old.get("added_at", now), "updated_at": now}
            known[name] = {**record, "commit": commit} if commit else record
        atomic_write(self.file, json.dumps(data, indent=2) + "\n")


# --- sources and names ---------------------------------------------------------------------


def source_of(text: str, cwd: Path) -> Source:
    """A marketplace's source as typed: an http(s) URL of a .json file is downloaded as it is;
    the rest is what sources.parse reads (owner/repo[@ref], a git URL[#ref], a folder)."""
    text = text.strip()
    if text.startswith(("http://", "https://")) and urlparse(text).path.endswith(".json"):
        return Source("url", text)
    try:
        return parse(text, cwd)
    except SourceError as exc:
        raise MarketplaceError(f"{exc} (or the https URL of a marketplace.json)") from None


def github_repo(source: Source) -> str | None:
    """owner/repo when the source is a github.com repository."""
    match = _GITHUB_URL.match(source.location) if source.kind == "git" else None
    return match["repo"].lower() if match else None


def reserved(name: str) -> bool:
    return (name in RESERVED or name.startswith("anthropic-")
            or ("official" in name and ("claude" in name or "anthropic" in name)))


def check_reserved(name: str, source: Source) -> None:
    """Claude Code's impersonation guard: Anthropic's names only from Anthropic's repositories."""
    if not reserved(name):
        return
    repo, wanted = github_repo(source), OFFICIAL.get(name)
    if repo is not None and (repo == wanted if wanted else repo.startswith("anthropics/")):
        return
    owner = f"github.com/{wanted}" if wanted else "a github.com/anthropics repository"
    raise MarketplaceError(f"{source.shown} calls itself {name!r}, a name reserved for {owner}; it was not "
                           "added (if it is yours, give it another name in its marketplace.json)")


def same_source(a: Source, b: Source) -> bool:
    def key(s: Source) -> tuple[str, str, str]:
        location = github_repo(s) or s.location.rstrip("/").removesuffix(".git")
        return s.kind, location, s.ref

    return key(a) == key(b)


def _local(source: Source) -> tuple[Path, Path | None]:
    """A folder marketplace's root, and its marketplace.json when the source names the file."""
    path = Path(source.location)
    if path.is_file():
        return (path.parent.parent if path.parent.name == ".claude-plugin" else path.parent), path
    return path, None


def _download(url: str, dest: Path) -> None:
    import httpx

    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise MarketplaceError(f"could not download {url} ({exc or type(exc).__name__}); check the address "
                               "and the network") from None
    if response.status_code >= 400:
        raise MarketplaceError(f"{url} answered {response.status_code} {response.reason_phrase}; check the "
                               "address")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(response.content)


def _changes(old: Marketplace | None, new: Marketplace, old_commit: str, new_commit: str) -> str:
    parts = []
    if old_commit and new_commit and old_commit != new_commit:
        parts.append(f"{old_commit[:7]} → {new_commit[:7]}")
    if old is None:
        return "; ".join([*parts, f"fetched again ({len(new.entries)} plugins)"])
    before, after = {e.name: e for e in old.entries}, {e.name: e for e in new.entries}
    if added := sorted(set(after) - set(before)):
        parts.append("new: " + ", ".join(added))
    if gone := sorted(set(before) - set(after)):
        parts.append("gone: " + ", ".join(gone))
    parts += [f"{n} {before[n].version or '?'} → {after[n].version or '?'}"
              for n in sorted(set(before) & set(after)) if before[n].version != after[n].version]
    return "; ".join(parts) or "up to date"


def _owner(value: Any) -> str:
    if isinstance(value, dict):
        name, email = text_of(value.get("name")), text_of(value.get("email"))
        return f"{name} <{email}>" if name and email else name or email or text_of(value.get("url"))
    return text_of(value)


def text_of(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _strings(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(i.strip() for i in items if isinstance(i, str) and i.strip())
