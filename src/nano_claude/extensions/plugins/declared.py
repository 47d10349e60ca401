"""What a project recommends: the marketplaces and plugins its settings name, less what the user
already has. Nothing is added or installed here: `plugin install --recommended` and the REPL's
note ask the user first (a repository may suggest, never install).

    .nano_claude/settings.json   plugin_marketplaces {NAME: owner/repo | URL | folder},
                                 recommended_plugins [NAME@MARKETPLACE]
    .claude/settings.json        Claude Code's extraKnownMarketplaces and enabledPlugins
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.config import read_json
from nano_claude.core.errors import ConfigError
from nano_claude.extensions.plugins.marketplace import (
    REPO,
    MarketplaceError,
    Marketplaces,
    same_source,
    source_of,
    text_of,
)
from nano_claude.extensions.plugins.sources import Source, github_url

if TYPE_CHECKING:
    from nano_claude.config import Settings


@dataclass(frozen=True)
class Declared:
    """What a project's settings recommend and the user does not have yet."""

    marketplaces: dict[str, Source]  # name -> where it comes from
    plugins: tuple[tuple[str, str], ...]  # (plugin, marketplace)
    problems: tuple[str, ...] = ()



def declared(project: Path, settings: Settings, installed: Collection[str],
             marketplaces: Marketplaces) -> Declared:
    """The marketplaces and plugins the settings (plugin_marketplaces, recommended_plugins) and
    Claude Code's .claude/settings.json (extraKnownMarketplaces, enabledPlugins) name, less what
    the user already added or installed (`installed`: plugin names, or NAME@MARKETPLACE)."""
    problems: list[str] = []
    claude_file = project / ".claude" / "settings.json"
    claude: dict[str, Any] = {}
    try:
        claude = read_json(claude_file)
    except ConfigError as exc:
        problems.append(str(exc))
    wanted: dict[str, Any] = dict(settings.plugin_marketplaces)
    extra = claude.get("extraKnownMarketplaces")
    for name, value in (extra.items() if isinstance(extra, dict) else ()):
        wanted.setdefault(str(name), value)
    added: dict[str, Source | None] = {}
    try:
        added = {name: Source.from_json(r.get("source")) for name, r in marketplaces.records().items()}
    except MarketplaceError as exc:
        problems.append(str(exc))
    offered: dict[str, Source] = {}
    for name, value in wanted.items():
        try:
            source = declared_source(value, project)
        except MarketplaceError as exc:
            problems.append(f"marketplace {name}: {exc}")
            continue
        have = added.get(name)
        if name not in added:
            offered[name] = source
        elif have is not None and not same_source(have, source):
            problems.append(f"the project's marketplace {name!r} comes from {source.shown}, but your {name} "
                            f"comes from {have.shown}; its recommended plugins are looked up in yours")
    enabled = claude.get("enabledPlugins")
    names = list(settings.recommended_plugins)
    names += [str(k) for k, on in (enabled.items() if isinstance(enabled, dict) else ()) if on is True]
    plugins = []
    for ref in dict.fromkeys(names):
        plugin, at, market = ref.partition("@")
        if not (at and plugin and market):
            problems.append(f"recommended plugin {ref!r} should be written NAME@MARKETPLACE; it was skipped")
        elif plugin not in installed and ref not in installed:
            plugins.append((plugin, market))
    return Declared(offered, tuple(plugins), tuple(problems))


def declared_source(value: Any, project: Path) -> Source:
    """A declared marketplace's source: text (owner/repo, a URL, a path) or Claude Code's
    {"source": {"source": "github" | "git" | "url" | "file" | "directory", ...}}."""
    if isinstance(value, dict):
        inner = value.get("source")
        if isinstance(inner, dict) or (isinstance(inner, str) and not {"repo", "url", "path"} & value.keys()):
            value = inner
    if isinstance(value, str):
        return source_of(value, project)
    if not isinstance(value, dict):
        raise MarketplaceError("expected owner/repo, a URL, a folder or {\"source\": {...}}; fix the setting")
    kind, ref = value.get("source"), text_of(value.get("ref"))
    if kind == "github" and REPO.match(text_of(value.get("repo"))):
        return Source("git", github_url(text_of(value["repo"])), ref)
    if kind == "git" and text_of(value.get("url")):
        return Source("git", text_of(value["url"]), ref)
    if kind == "url" and text_of(value.get("url")):
        return Source("url", text_of(value["url"]))
    if kind in ("file", "directory") and text_of(value.get("path")):
        return Source("path", str((project / Path(text_of(value["path"])).expanduser()).resolve()))
    raise MarketplaceError(f"the source {json.dumps(value)} is not one nano_claude can add (github with "
                           "repo, git or url with url, file or directory with path)")
