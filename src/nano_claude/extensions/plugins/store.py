"""Installed plugins: where they are, what they came from, which are on, which are trusted.

    ~/.nano_claude/plugins/NAME/          user scope: every project
    .nano_claude/plugins/NAME/            project scope: this project (may be committed with it)
    <scope>/plugins/installed.json        NAME -> source, commit, version, marketplace, dates
    ~/.nano_claude/plugins/data/NAME/     ${CLAUDE_PLUGIN_DATA}: kept across updates
    ~/.nano_claude/plugins/trust.json     the plugins whose hooks, MCP servers and Python code
                                          the user allowed, by scope (or project) and digest

Which plugins are on lives in the settings, `enabled_plugins` (project over user, by name);
an installed plugin the settings do not name is on. A folder dropped into a plugins folder
by hand is a plugin too (it cannot be updated: nothing says where it came from).

A plugin's code (hooks, MCP servers, Python tools) runs only once the user allowed it, for
that digest of it: installing asks, so does `enable`; an update that changes the code asks
again. A project's plugins come with the repository, so they are allowed per project, in the
user's own trust.json: the repository cannot allow itself.

Installing and updating fetch into a staging folder beside the target, install the pip
dependencies there (`.deps/`), check the manifest, and only then swap it in: a failure
leaves the installed version (or nothing) as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nano_claude.config import atomic_write, read_json
from nano_claude.core.errors import ConfigError, NanoClaudeError
from nano_claude.extensions.plugins.manifest import (
    CLAUDE_MANIFEST,
    NAME,
    Plugin,
    PluginError,
    find_manifest,
    read_plugin,
    runs_commands,
    walk_files,
)
from nano_claude.extensions.plugins.sources import Source, SourceError, fetch, swap
from nano_claude.paths import Paths

Scope = Literal["user", "project"]
SCOPES: tuple[Scope, ...] = ("project", "user")  # precedence: a project's plugin hides the user's
RECORDS = "installed.json"
DEPS = ".deps"
RESERVED = frozenset({"data", "marketplaces"})
PIP_TIMEOUT = 900


class InstallError(NanoClaudeError):
    """An install, update or removal that did not happen; nothing was changed."""


@dataclass
class Installed:
    name: str
    scope: Scope
    folder: Path
    plugin: Plugin | None  # None: it cannot be read (`error` says why)
    record: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    error: str = ""
    shadowed_by: Scope | None = None  # the same name in a higher scope wins

    @property
    def source(self) -> Source | None:
        return Source.from_json(self.record.get("source"))

    @property
    def version(self) -> str:
        return (self.plugin.version if self.plugin else "") or str(self.record.get("version") or "")


class Store:
    def __init__(self, paths: Paths, project: Path, enabled: dict[str, bool] | None = None) -> None:
        self.paths, self.project = paths, project
        self.enabled_setting = dict(enabled or {})

    def folder(self, scope: Scope) -> Path:
        return (self.paths.home if scope == "user" else self.paths.project) / "plugins"

    def data_dir(self, name: str, scope: Scope = "user") -> Path:
        """${CLAUDE_PLUGIN_DATA}: the user's; a project's plugin gets one for that project."""
        if scope == "user":
            return self.paths.home / "plugins" / "data" / name
        tag = hashlib.sha256(str(self.project).encode()).hexdigest()[:10]
        return self.paths.home / "plugins" / "data" / f"{name}-project-{tag}"

    @property
    def trust_file(self) -> Path:
        return self.paths.home / "plugins" / "trust.json"

    # --- reading ---------------------------------------------------------------------------

    def records(self, scope: Scope) -> dict[str, Any]:
        try:
            data = read_json(self.folder(scope) / RECORDS)
        except ConfigError:
            return {}
        return {k: v for k, v in data.get("plugins", {}).items() if isinstance(v, dict)}

    def installed(self) -> list[Installed]:
        """Every installed plugin, the project's first; a name in both: the user's is shadowed."""
        out: list[Installed] = []
        seen: dict[str, Scope] = {}
        for scope in SCOPES:
            records = self.records(scope)
            for folder in _plugin_folders(self.folder(scope)):
                item = Installed(folder.name, scope, folder, None, records.get(folder.name, {}))
                try:
                    item.plugin = read_plugin(folder, name=folder.name)
                except PluginError as exc:
                    item.error = str(exc)
                if item.plugin is not None and item.plugin.name != folder.name:
                    item.error = (f"{folder}: the folder is named {folder.name!r} but its manifest names the "
                                  f"plugin {item.plugin.name!r}; rename the folder to {item.plugin.name} "
                                  "(one name for its skills, settings and commands)")
                    item.plugin = None
                item.enabled = self.enabled_setting.get(item.name, True) and not item.error
                item.shadowed_by = seen.get(item.name)
                seen.setdefault(item.name, scope)
                out.append(item)
        return out

    def find(self, name: str, scope: Scope | None = None) -> Installed:
        matches = [i for i in self.installed() if i.name == name and scope in (None, i.scope)]
        if not matches:
            names = sorted({i.name for i in self.installed()})
            known = f" Installed: {', '.join(names)}." if names else " No plugin is installed."
            where = f" in the {scope} scope" if scope else ""
            raise InstallError(f"no plugin named {name!r} is installed{where}.{known}")
        return matches[0]

    # --- trust -----------------------------------------------------------------------------

    def trust_key(self, scope: Scope) -> str:
        return "user" if scope == "user" else str(self.project)

    def trusted(self, item: Installed) -> bool:
        if item.plugin is None:
            return False
        allowed = _read_quiet(self.trust_file).get(self.trust_key(item.scope), {})
        return isinstance(allowed, dict) and allowed.get(item.name) == digest(item.plugin)

    def trust(self, item: Installed, allow: bool) -> None:
        data = read_json(self.trust_file)  # a broken file raises: it is never overwritten
        mine = data.setdefault(self.trust_key(item.scope), {})
        if allow and item.plugin is not None:
            mine[item.name] = digest(item.plugin)
        else:
            mine.pop(item.name, None)
        atomic_write(self.trust_file, json.dumps(data, indent=2) + "\n", mode=0o600)

    # --- changing --------------------------------------------------------------------------

    def install(self, source: Source, scope: Scope, *, name: str | None = None, marketplace: str = "",
                confirm: Callable[[Plugin], bool], replace: bool = False,
                manifest: dict[str, Any] | None = None) -> tuple[Installed, bool]:
        """Fetch, check and put the plugin in place; (it, whether its code was allowed).
        `confirm` is asked (with the plugin as fetched) before its code may run. `manifest`: a
        marketplace entry that is the plugin's whole definition (strict: false)."""
        target_folder = self.folder(scope)
        if name is not None:
            _check_name(name)
            if (target_folder / name).exists() and not replace:
                raise InstallError(f"{name!r} is already installed in the {scope} scope; "
                                   f"update it (plugin update {name}) or uninstall it first")
        staged = self._stage(source, target_folder, name, manifest)
        try:
            plugin = staged.plugin
            if name is not None and plugin.name != name:
                raise InstallError(f"{source.shown} holds the plugin {plugin.name!r}, not {name!r}; "
                                   f"install it as {plugin.name}@... or check the source")
            _check_name(plugin.name)
            if not any(plugin.contents().values()):
                raise InstallError(f"{source.shown} holds no skills, commands, agents, hooks, MCP servers "
                                   "or Python tools; is it the plugin's folder? (plugin validate PATH says "
                                   "what it finds)")
            final = target_folder / plugin.name
            if final.exists() and not replace:
                raise InstallError(f"{plugin.name!r} is already installed in the {scope} scope; update it "
                                   f"(plugin update {plugin.name}) or uninstall it first")
            allowed = confirm(plugin) if plugin.runs_code else True
            if allowed and plugin.dependencies:  # pip runs build code: only once allowed
                install_dependencies(plugin, staged.folder / DEPS)
            swap(staged.folder, final)
        except BaseException:
            shutil.rmtree(staged.folder, ignore_errors=True)
            raise
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        old = self.records(scope).get(plugin.name, {})
        record = {"source": source.as_json(), "commit": staged.commit, "version": plugin.version,
                  "marketplace": marketplace, "installed_at": old.get("installed_at", now), "updated_at": now}
        self._write_record(scope, plugin.name, record)
        item = Installed(plugin.name, scope, final, read_plugin(final, name=plugin.name), record)
        if plugin.runs_code:
            self.trust(item, allowed)
        self.data_dir(plugin.name, scope).mkdir(parents=True, exist_ok=True)
        return item, allowed

    def allow(self, item: Installed) -> None:
        """The user allows a plugin's code: its dependencies are installed first, afresh (a `.deps`
        that came with a project's folder is not what pip would install)."""
        if item.plugin is None:
            return
        if item.plugin.dependencies:
            staging = Path(tempfile.mkdtemp(prefix=".deps-", dir=item.folder))
            try:
                install_dependencies(item.plugin, staging / DEPS)
                shutil.rmtree(item.folder / DEPS, ignore_errors=True)
                os.replace(staging / DEPS, item.folder / DEPS)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            item.plugin = read_plugin(item.folder, name=item.name)
        self.trust(item, True)

    def update(self, item: Installed, *, confirm: Callable[[Plugin], bool], source: Source | None = None,
               manifest: dict[str, Any] | None = None) -> tuple[Installed, str]:
        """Fetch its source (or `source`, where its marketplace now points) again and swap it in;
        ("", ...) when nothing changed. Its code stays allowed if it is the same; changed code is
        asked about (refused: the old version stays)."""
        source = source or item.source
        if source is None:
            raise InstallError(f"{item.name!r} was not installed by nano_claude (no source is recorded); "
                               f"reinstall it from where it came from")
        was_trusted = self.trusted(item)
        staged = self._stage(source, self.folder(item.scope), item.name, manifest)
        try:
            plugin = staged.plugin
            if plugin.name != item.name:
                raise InstallError(f"{source.shown} now holds the plugin {plugin.name!r}, not {item.name!r}")
            same = item.plugin is not None and digest(plugin, deps=False) == digest(item.plugin, deps=False)
            allowed = was_trusted and same
            if plugin.runs_code and not allowed:
                allowed = confirm(plugin)
                if was_trusted and not allowed:  # its code ran before: keep what ran, not half a plugin
                    raise InstallError("the update changes its code and you did not allow it")
            if staged.commit:
                unchanged = staged.commit == item.record.get("commit")
            else:  # a folder: the same files
                unchanged = item.plugin is not None and (digest(plugin, everything=True, deps=False)
                                                         == digest(item.plugin, everything=True, deps=False))
            if allowed and plugin.dependencies:
                install_dependencies(plugin, staged.folder / DEPS)
            swap(staged.folder, item.folder)
        except BaseException:
            shutil.rmtree(staged.folder, ignore_errors=True)
            raise
        record = {**item.record, "source": source.as_json(), "commit": staged.commit,
                  "version": plugin.version, "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write_record(item.scope, item.name, record)
        fresh = Installed(item.name, item.scope, item.folder, read_plugin(item.folder, name=item.name),
                          record, item.enabled)
        if plugin.runs_code:
            self.trust(fresh, allowed)
        change = "" if unchanged else f"{item.version or '?'} → {fresh.version or '?'}"
        return fresh, change

    def uninstall(self, item: Installed, *, keep_data: bool = False) -> None:
        trash = item.folder.with_name(f".removing-{item.name}-{os.getpid()}")
        try:
            os.replace(item.folder, trash)
        except OSError as exc:
            raise InstallError(f"{item.folder}: cannot be removed ({exc.strerror or exc})") from None
        shutil.rmtree(trash, ignore_errors=True)
        self._write_record(item.scope, item.name, None)
        try:
            self.trust(item, False)
        except ConfigError:
            pass
        if not keep_data:
            shutil.rmtree(self.data_dir(item.name, item.scope), ignore_errors=True)

    def _stage(self, source: Source, folder: Path, name: str | None,
               manifest: dict[str, Any] | None = None) -> _Staged:
        if source.kind == "path" and folder.resolve().is_relative_to(Path(source.location)):
            raise InstallError(f"{source.location} holds the folder it would be installed into ({folder}); "
                               "install it from elsewhere, or use it in place with --plugin-dir")
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        stage = staging / "plugin"
        try:
            try:
                commit = fetch(source, stage)
            except SourceError as exc:
                raise InstallError(str(exc)) from None
            if manifest is not None and find_manifest(stage)[0] is None:
                written = stage / CLAUDE_MANIFEST
                written.parent.mkdir(parents=True, exist_ok=True)
                written.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
            try:
                plugin = read_plugin(stage, name=name or _default_name(source))
            except PluginError as exc:
                raise InstallError(f"{source.shown}: {exc}") from None
            os.replace(stage, staging.with_name(staging.name + "-ready"))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        ready = staging.with_name(staging.name + "-ready")
        return _Staged(ready, read_plugin(ready, name=plugin.name), commit)

    def _write_record(self, scope: Scope, name: str, record: dict[str, Any] | None) -> None:
        path = self.folder(scope) / RECORDS
        try:
            data = read_json(path)
        except ConfigError:
            data = {}  # a broken record file loses only where plugins came from: rebuilt, not fatal
        plugins = data.setdefault("plugins", {})
        if record is None:
            plugins.pop(name, None)
        else:
            plugins[name] = record
        atomic_write(path, json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class _Staged:
    folder: Path
    plugin: Plugin
    commit: str


def install_dependencies(plugin: Plugin, target: Path) -> None:
    """pip-install the plugin's requirements into its own folder, never the user's environment."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-input", "--target", str(target), *plugin.dependencies]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{plugin.name}: installing its dependencies took over {PIP_TIMEOUT} s; "
                           "nothing was installed") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        why = lines[-1].removeprefix("ERROR: ").strip() if lines else f"pip exited with {done.returncode}"
        if "No module named pip" in (done.stderr or ""):
            why = f"{sys.executable} has no pip (install it: {sys.executable} -m ensurepip)"
        raise InstallError(f"{plugin.name}: its dependencies ({', '.join(plugin.dependencies)}) could not be "
                           f"installed: {why}; nothing was installed")


# Folders a plugin's own tools write into its folder as it runs (uv's .venv, npm's node_modules,
# caches): left out of the digest, or a plugin would turn its own code off by running once
GENERATED = frozenset({".git", "__pycache__", ".venv", "venv", "node_modules", ".cache", ".pytest_cache",
                       ".mypy_cache", ".ruff_cache", ".tox"})
BY_CONTENT = 1 << 20  # files up to this size are hashed whole; larger ones by size and time


def digest(plugin: Plugin, *, deps: bool = True, everything: bool = False) -> str:
    """What allowing a plugin's code is given to: the manifest's parts that run (hooks, MCP
    servers, tools, dependencies: a new version number alone asks nothing) and every file in the
    plugin's folder, links followed to what they point at, except the Markdown that is only text
    (a skill or agent that runs no command and no hook or server names, a README), by path
    relative to the folder and content; `.deps` (pip's, maybe large) and big files by path, size
    and time. A changed file needs allowing again. `everything`: every file by content, for
    whether an update changed anything at all."""
    code = [list(events for _, events in plugin.hooks),
            {name: entry for name, (_, entry) in plugin.mcp_servers.items()},
            list(plugin.tools), list(plugin.dependencies)]
    named = json.dumps(code, sort_keys=True, default=str)
    hasher = hashlib.sha256(named.encode())
    for path in sorted(walk_files(plugin.root, skip=GENERATED)):
        relative = path.relative_to(plugin.root)
        in_deps = relative.parts[0] == DEPS
        if in_deps and not deps:
            continue
        text = path.suffix == ".md" and not in_deps and path.name not in named and not runs_commands(path)
        if not everything and (path == plugin.manifest or text):
            continue
        hasher.update(str(relative).encode() + b"\0")
        try:
            stat = path.stat()
            if in_deps or stat.st_size > BY_CONTENT:
                hasher.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
            else:
                hasher.update(path.read_bytes())
        except OSError:
            hasher.update(b"unreadable")
    return hasher.hexdigest()[:16]


def _plugin_folders(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return []
    return [e for e in entries if e.is_dir() and not e.name.startswith(".") and e.name not in RESERVED]


def _check_name(name: str) -> None:
    if not NAME.match(name) or name in RESERVED:
        raise InstallError(f"{name!r} cannot be a plugin's name (letters, digits, - _ . only; not "
                           f"{' or '.join(sorted(RESERVED))}); give another")


def _default_name(source: Source) -> str:
    """The folder or repository's name: a plugin without a manifest name is installed as that."""
    tail = (source.subdir or source.location).rstrip("/").rsplit("/", 1)[-1]
    return tail.removesuffix(".git").rsplit(":", 1)[-1] or "plugin"


def _read_quiet(path: Path) -> dict[str, Any]:
    try:
        return read_json(path)
    except ConfigError:
        return {}
