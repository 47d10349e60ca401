"""Plugins: folders that bundle skills, commands, agents, hooks, MCP servers and Python tools.

manifest.py reads a plugin folder (Claude Code's layout and ours), store.py installs and keeps
track of them, sources.py fetches them (a folder or git), marketplace.py reads marketplaces,
python.py loads Python tools and entry-point plugins (pluggy), recommend.py suggests some, and
command.py is `nano_claude plugin ...` and /plugin. Here: the plugins one session uses, which
assemble.py hands to the loaders of skills, agents, hooks and MCP servers.

Names: a plugin's skills and commands run as /PLUGIN:NAME (and /NAME when no other skill has
that name), its agents as PLUGIN:NAME, its MCP tools as mcp__plugin_PLUGIN_SERVER__TOOL.
${CLAUDE_PLUGIN_ROOT} (also ${NANO_CLAUDE_PLUGIN_ROOT}) and ${CLAUDE_PLUGIN_DATA} are filled
in skill and agent bodies, hook commands and MCP entries, and exported to hook and MCP
processes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.extensions.plugins.manifest import Plugin
    from nano_claude.extensions.plugins.store import Scope, Store
    from nano_claude.paths import Paths
    from nano_claude.tools.base import Tool
    from nano_claude.tools.registry import ToolProfile

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_VARS = re.compile(r"\$\{(?:NANO_)?CLAUDE_PLUGIN_(ROOT|DATA)\}")


@dataclass(frozen=True)
class Active:
    """A plugin this session uses."""

    plugin: Plugin
    scope: Scope
    data_dir: Path
    code: bool  # its hooks, MCP servers and Python tools may run (the user allowed them)

    @property
    def name(self) -> str:
        return self.plugin.name

    @property
    def env(self) -> dict[str, str]:
        root, data = str(self.plugin.root), str(self.data_dir)
        return {"CLAUDE_PLUGIN_ROOT": root, "NANO_CLAUDE_PLUGIN_ROOT": root,
                "CLAUDE_PLUGIN_DATA": data, "NANO_CLAUDE_PLUGIN_DATA": data}

    def fill(self, text: str) -> str:
        """${CLAUDE_PLUGIN_ROOT} and ${CLAUDE_PLUGIN_DATA} (and the NANO_ spellings) filled in."""
        root, data = str(self.plugin.root), str(self.data_dir)
        return _VARS.sub(lambda m: root if m.group(1) == "ROOT" else data, text)

    def server_name(self, server: str) -> str:
        """The MCP server's name in this session: its tools are mcp__plugin_P_S__TOOL."""
        return f"plugin_{_UNSAFE.sub('_', self.name)}_{_UNSAFE.sub('_', server)}"


@dataclass
class Loaded:
    active: list[Active] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def session_tools(profile: ToolProfile, active: list[Active], notes: list[str], *,
                  environ: Mapping[str, str]) -> list[Tool]:
    """The session's tools through the `register_tools` hook (python.py). With no entry-point
    plugin installed and no plugin bringing a tool module, that hook has one implementation, the
    built-in one: it is called as it is, without loading pluggy (about 15 ms at every start)."""
    from nano_claude.extensions.plugins.entry_points import cache_file, scan, search_path

    if not scan(search_path(), cache_file(environ)) and not any(a.code and a.plugin.tools for a in active):
        from nano_claude.tools.registry import builtin_tools

        return builtin_tools(profile)  # what builtin_plugin.register_tools returns
    from nano_claude.extensions.plugins.python import tools_for

    return tools_for(profile, active, notes, environ=environ)


def store_for(paths: Paths, project: Path, settings: Settings) -> Store:
    from nano_claude.extensions.plugins.store import Store

    return Store(paths, project, settings.enabled_plugins)


def load(paths: Paths, project: Path, settings: Settings, *, accept_all: bool = False,
         extra: tuple[Path, ...] = (), interactive: bool = False, home: Path | None = None) -> Loaded:
    """The enabled plugins of this project and user, plus `extra` folders (--plugin-dir, for
    this run and trusted as the user's own), then those Claude Code installed (`home`: the
    user's home; claude_code.py) that no plugin here has the name of. A plugin that cannot be
    read is a note; so are (`interactive`: in the REPL) the plugins the project recommends and
    the user lacks."""
    from nano_claude.extensions.plugins.claude_code import INSTALLED

    store = store_for(paths, project, settings)
    loaded = Loaded()
    folders = [paths.home / "plugins", paths.project / "plugins"]
    claude = home is not None and settings.read_claude_config and (home / INSTALLED).is_file()
    plugins_here = any(folder.is_dir() for folder in folders)
    items = store.installed() if plugins_here else []
    if interactive:
        loaded.notes.extend(recommended(paths, project, settings, {i.name for i in items}, home))
    if not extra and not claude and not plugins_here:
        return loaded  # the usual case: no plugins, a stat or two
    from nano_claude.extensions.plugins.manifest import PluginError, read_plugin

    taken: set[str] = set()
    for folder in extra:
        try:
            plugin = read_plugin(folder)
        except PluginError as exc:
            loaded.notes.append(f"plugin {folder}: {exc} (it was not loaded)")
            continue
        taken.add(plugin.name)
        loaded.active.append(Active(plugin, "user", store.data_dir(plugin.name), code=True))
        _make(store.data_dir(plugin.name), loaded.notes)
    for item in items:
        if item.name in taken or item.shadowed_by or not item.enabled:
            if item.error:
                loaded.notes.append(f"plugin {item.name} ({item.scope}): {item.error} (it was not loaded; "
                                    f"fix it or run nano_claude plugin uninstall {item.name})")
            continue
        assert item.plugin is not None
        taken.add(item.name)
        code = not item.plugin.runs_code or accept_all or store.trusted(item)
        if not code:
            loaded.notes.append(f"plugin {item.name} ({item.scope}): its {item.plugin.code_parts} were not "
                                "loaded: you have not allowed this plugin's code (run nano_claude plugin "
                                f"enable {item.name} or /plugin enable to review and allow it)")
        loaded.notes.extend(f"plugin {item.name}: {problem}" for problem in item.plugin.problems)
        data = store.data_dir(item.name, item.scope)
        loaded.active.append(Active(item.plugin, item.scope, data, code=code))
        _make(data, loaded.notes)
    if claude and home is not None:
        _claude_codes(home, project, taken, loaded)
    return loaded


def _claude_codes(home: Path, project: Path, taken: set[str], loaded: Loaded) -> None:
    """The plugins Claude Code installed and turned on, as the user's own."""
    from nano_claude.extensions.plugins.claude_code import data_dir, installed
    from nano_claude.extensions.plugins.manifest import PluginError, read_plugin

    for found in installed(home, project, loaded.notes):
        if not found.enabled or found.name in taken:
            continue
        try:
            plugin = read_plugin(found.folder, name=found.name)
        except PluginError as exc:
            loaded.notes.append(f"Claude Code's plugin {found.key}: {exc} (it was not loaded)")
            continue
        if plugin.name in taken:  # its manifest names a plugin already here
            continue
        taken.update((found.name, plugin.name))
        loaded.notes.extend(f"Claude Code's plugin {found.key}: {problem}" for problem in plugin.problems)
        data = data_dir(home, found)
        loaded.active.append(Active(plugin, "user" if found.scope == "user" else "project", data, code=True))
        _make(data, loaded.notes)


def _make(folder: Path, notes: list[str]) -> None:
    """${CLAUDE_PLUGIN_DATA} exists before anything writes to it, as in Claude Code."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        notes.append(f"{folder}: cannot be created ({exc.strerror or exc}); the plugin's data goes nowhere")


def recommended(paths: Paths, project: Path, settings: Settings, have: set[str],
                home: Path | None = None) -> list[str]:
    """One line naming the plugins the project's settings recommend that are not installed."""
    if not (settings.plugin_marketplaces or settings.recommended_plugins
            or (project / ".claude" / "settings.json").is_file()):
        return []
    from nano_claude.extensions.plugins.claude_code import installed
    from nano_claude.extensions.plugins.declared import declared
    from nano_claude.extensions.plugins.marketplace import Marketplaces

    if home is not None and settings.read_claude_config:  # what Claude Code installed counts too
        have = have | {name for found in installed(home, project, []) if found.enabled
                 for name in (found.name, found.key)}
    wanted = declared(project, settings, have, Marketplaces(paths))
    if not wanted.plugins:
        return []
    names = ", ".join(f"{plugin}@{market}" for plugin, market in wanted.plugins)
    return [f"this project recommends plugins you do not have: {names}; /plugin install --recommended "
            "installs them, asking about each"]
