"""Plugins installed with Claude Code (`claude plugin install`), used where Claude Code keeps them,
so a Claude Code user's plugins work here without installing them again. Read only: Claude Code
manages them (`claude plugin update|disable|uninstall`).

    ~/.claude/plugins/installed_plugins.json   {"version": 2, "plugins": {"NAME@MARKETPLACE": [
                                                 {"scope": "user" | "project" | "local",
                                                  "projectPath": ..., "installPath": ...,
                                                  "version": ..., "gitCommitSha": ...}]}}
    enabledPlugins                              {"NAME@MARKETPLACE": true} in ~/.claude/settings.json,
                                                then .claude/settings.json, .claude/settings.local.json
    ~/.claude/plugins/data/NAME-MARKETPLACE/    ${CLAUDE_PLUGIN_DATA}, shared with Claude Code

A plugin is used when an install record fits this project (user scope, or the project's own
path) and enabledPlugins says true, as in Claude Code. The user installed it themselves, so its
code runs as the user's own plugins' does; a repository's settings can turn one off, never on
once the user's own settings say false. Nothing here is ever written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nano_claude.config import read_json
from nano_claude.core.errors import ConfigError

INSTALLED = Path(".claude") / "plugins" / "installed_plugins.json"


@dataclass(frozen=True)
class ClaudePlugin:
    name: str
    marketplace: str
    folder: Path
    scope: str  # Claude Code's: user, project or local
    version: str
    enabled: bool

    @property
    def key(self) -> str:
        return f"{self.name}@{self.marketplace}" if self.marketplace else self.name


def data_dir(home: Path, plugin: ClaudePlugin) -> Path:
    return home / ".claude" / "plugins" / "data" / f"{plugin.name}-{plugin.marketplace or 'local'}"


def installed(home: Path, project: Path, errors: list[str]) -> list[ClaudePlugin]:
    """Claude Code's installs that fit this project, each once (a project's record over the
    user's), with whether enabledPlugins turns it on."""
    try:
        data = read_json(home / INSTALLED)
    except ConfigError as exc:
        errors.append(f"{exc} (Claude Code's plugins were not used)")
        return []
    records = data.get("plugins")
    if not isinstance(records, dict):
        return []
    enabled = _enabled(home, project, errors)
    found: list[ClaudePlugin] = []
    for key, entries in records.items():
        name, _, market = str(key).partition("@")
        fitting = [e for e in (entries if isinstance(entries, list) else [entries]) if _fits(e, project)]
        if not name or not fitting:
            continue
        entry = max(fitting, key=lambda e: e.get("scope") != "user")  # the project's own first
        folder = Path(str(entry.get("installPath") or ""))
        if not folder.is_absolute() or not folder.is_dir():
            continue
        found.append(ClaudePlugin(name, market, folder, str(entry.get("scope") or "user"),
                                  str(entry.get("version") or ""), enabled.get(str(key)) is True))
    return found


def _fits(entry: Any, project: Path) -> bool:
    install = entry.get("installPath") if isinstance(entry, dict) else None
    if not isinstance(install, str) or "\0" in install:
        return False
    if entry.get("scope", "user") == "user":
        return True
    where = entry.get("projectPath")
    try:
        return isinstance(where, str) and Path(where).resolve() == project.resolve()
    except (OSError, ValueError):  # a path no file system holds (a NUL in it): no project's
        return False


def _enabled(home: Path, project: Path, errors: list[str]) -> dict[str, bool]:
    """enabledPlugins, the later file winning a name; the repository's own file may turn a plugin
    off but not back on after the user's settings turned it off."""
    merged: dict[str, bool] = {}
    files = ((home / ".claude" / "settings.json", True), (project / ".claude" / "settings.json", False),
             (project / ".claude" / "settings.local.json", True))
    for path, own in files:
        try:
            states = read_json(path).get("enabledPlugins")
        except ConfigError as exc:
            errors.append(f"{exc} (its enabledPlugins were not read)")
            continue
        if not isinstance(states, dict):
            continue
        for key, on in states.items():
            if on is True and not own and merged.get(key) is False:
                continue
            merged[key] = on is True
    return merged
