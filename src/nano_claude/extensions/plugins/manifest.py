"""What a plugin folder holds, read without running any of it.

Two layouts, read the same way once their manifest is found:

Claude Code's (read unchanged):
    .claude-plugin/plugin.json   optional; `name` (else the folder's name), version, description,
                                 author (text or {name, email, url}), homepage, repository,
                                 license, keywords; path fields `skills` (added to skills/),
                                 `commands` and `agents` (they replace the default folder),
                                 `hooks` and `mcpServers` (a path, a list of paths or the object
                                 itself, added to the default file)
    skills/NAME/SKILL.md, commands/*.md, agents/*.md, hooks/hooks.json, .mcp.json, SKILL.md

Ours (the product description's):
    plugin.json, or PLUGIN.md with the same keys as front matter: name, version, description,
    author, tags, tools (Python modules: "tools" is tools.py or tools/), skills (paths),
    mcp_servers (the .mcp.json shape), dependencies (pip requirements, installed into the
    plugin's own folder)
    ... and the default folders above, which work here too.

Unknown fields are ignored. A path field may not lead out of the plugin's folder. A manifest
that cannot be read makes the plugin unusable (PluginError); a part that cannot be read (a
broken hooks.json) is a line in `problems`, and the rest of the plugin still loads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from nano_claude.core.errors import ConfigError

Format = Literal["claude", "nano"]
CLAUDE_MANIFEST = Path(".claude-plugin") / "plugin.json"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_AGENT_NAME = re.compile(r"^name:[ \t]*(\S+)[ \t]*$", re.M)
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PluginError(ConfigError):
    """A plugin that cannot be used at all; the message names the file and the fix."""


@dataclass(frozen=True)
class Plugin:
    name: str
    root: Path
    format: Format
    manifest: Path | None  # the file the metadata came from (None: the folder's name is all)
    version: str = ""
    description: str = ""
    author: str = ""
    homepage: str = ""
    repository: str = ""
    license: str = ""
    keywords: tuple[str, ...] = ()  # keywords and tags
    skill_dirs: tuple[Path, ...] = ()  # folders of NAME/SKILL.md
    skill_files: tuple[Path, ...] = ()  # single skill files (a root SKILL.md, ours: `skills` paths)
    command_dirs: tuple[Path, ...] = ()  # folders of *.md commands (and single .md files)
    agent_dirs: tuple[Path, ...] = ()  # folders of *.md agents (and single .md files)
    hooks: tuple[tuple[str, Any], ...] = ()  # (where it was written, the events object)
    mcp_servers: Mapping[str, tuple[str, Any]] = field(default_factory=dict)  # name -> (where, entry)
    tools: tuple[str, ...] = ()  # Python modules (ours)
    dependencies: tuple[str, ...] = ()  # pip requirements (ours)
    problems: tuple[str, ...] = ()  # parts that could not be read, one line each

    @property
    def runs_code(self) -> bool:
        """Does it bring anything that runs on this machine (asked about before it is enabled)?"""
        return any(names for kind, names in self.contents().items() if kind in CODE_KINDS)

    @property
    def code_parts(self) -> str:
        """"hooks and MCP servers": the kinds of code it brings, as a sentence says them."""
        kinds = [kind for kind, names in self.contents().items() if kind in CODE_KINDS and names]
        return " and ".join(kinds) if len(kinds) < 3 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"

    def skill_files_all(self) -> list[tuple[str, Path]]:
        """(kind, file) of every skill and command file it brings."""
        found = [("skills", p) for p in self.skill_files]
        found += [("skills", d / "SKILL.md") for folder in self.skill_dirs for d in _listed(folder)
                  if (d / "SKILL.md").is_file()]
        found += [("commands", p) for folder in self.command_dirs for p in _markdown(folder)]
        return found

    def contents(self) -> dict[str, list[str]]:
        """What it brings, by kind, for install and /plugin info (names only; nothing runs)."""
        return self._contents

    @cached_property
    def _contents(self) -> dict[str, list[str]]:
        from nano_claude.extensions.hooks.config import parse as parse_hooks

        named = [(kind, self._skill_name(path), path) for kind, path in self.skill_files_all()]
        agents = [_agent_name(p) for folder in self.agent_dirs for p in _markdown(folder)]
        hooks = [f"{h.event}{f' ({h.matcher})' if h.matcher else ''}: {h.handler.target}"
                 for where, events in self.hooks for h in parse_hooks(events, where, "user", [])]
        return {"skills": sorted(n for kind, n, _ in named if kind == "skills"),
                "commands": sorted(n for kind, n, _ in named if kind == "commands"),
                "agents": sorted(agents), "hooks": hooks, "MCP servers": sorted(self.mcp_servers),
                "Python tools": list(self.tools),
                "skills that run commands": sorted(f"/{self.name}:{n}" for _, n, path in named
                                                   if runs_commands(path)),
                "dependencies": list(self.dependencies)}

    def _skill_name(self, path: Path) -> str:
        if path.name != "SKILL.md":
            return path.stem
        return self.name if path.parent == self.root else path.parent.name


# What runs code on this machine: asked about before it may (the rest is text for the model)
CODE_KINDS = ("hooks", "MCP servers", "Python tools", "skills that run commands", "dependencies")


def runs_commands(path: Path) -> bool:
    """A skill or command file with `!` commands or `allowed-tools`: it runs commands unasked.
    Read as the skills loader reads it (any YAML form of the key); a file it cannot read does not
    load, so runs nothing."""
    from nano_claude.extensions.skills.catalog import runs_commands as skill_runs_commands
    from nano_claude.extensions.skills.loader import SkillFileError, read_skill

    try:
        return skill_runs_commands(read_skill(path, path.stem, "user", "command"))
    except SkillFileError:
        return False


def find_manifest(root: Path) -> tuple[Path | None, Format]:
    for path, kind in ((root / CLAUDE_MANIFEST, "claude"), (root / "plugin.json", "nano"),
                       (root / "PLUGIN.md", "nano")):
        if path.is_file():
            return path, kind  # type: ignore[return-value]
    return None, "claude"


def read_plugin(root: Path, *, name: str | None = None) -> Plugin:
    """The plugin in `root`. `name`: what it is installed as, for a plugin whose manifest has none."""
    root = root.resolve()
    if not root.is_dir():
        raise PluginError(f"{root}: no such folder; give the folder that holds the plugin")
    manifest, kind = find_manifest(root)
    meta = _read_manifest(manifest) if manifest else {}
    label = str(manifest or root)
    plugin_name = meta.get("name", name or root.name)
    if not isinstance(plugin_name, str) or not NAME.match(plugin_name):
        raise PluginError(f"{label}: the plugin name {plugin_name!r} may hold only letters, digits, "
                          "- _ and . (at most 64); set \"name\" to e.g. \"my-plugin\"")
    problems: list[str] = []
    where = _Paths(root, label, problems)

    skill_dirs = [root / "skills", *where.folders(meta.get("skills"), "skills")]
    skill_files = where.files(meta.get("skills"), "skills")
    if (root / "SKILL.md").is_file():
        skill_files.insert(0, root / "SKILL.md")
    commands = where.folders(meta.get("commands"), "commands") + where.files(meta.get("commands"),
                                                                                    "commands")
    agents = where.folders(meta.get("agents"), "agents") + where.files(meta.get("agents"), "agents")
    for key, folder, chosen in (("commands", "commands", commands), ("agents", "agents", agents)):
        default = root / folder
        if meta.get(key) is None:
            chosen.insert(0, default)
        elif default.is_dir() and default not in chosen and any(_markdown(default)):
            problems.append(f"{label}: \"{key}\" replaces the {folder}/ folder, so its files are not used; "
                            f"add \"./{folder}\" to \"{key}\" to keep them")
    hooks = _hooks(root, meta.get("hooks"), where, problems)
    servers = _servers(root, meta.get("mcpServers", meta.get("mcp_servers")), where, problems)
    ours = kind == "nano"  # Claude Code's `dependencies` are other plugins, not pip requirements
    tools = _tools(meta.get("tools"), label, problems) if ours else ()
    dependencies = _strings(meta.get("dependencies"), "dependencies", label, problems) if ours else ()
    keywords = (_strings(meta.get("keywords"), "keywords", label, problems)
                + _strings(meta.get("tags"), "tags", label, problems))
    return Plugin(
        name=plugin_name, root=root, format=kind, manifest=manifest,
        version=_text(meta.get("version")), description=_text(meta.get("description")),
        author=_author(meta.get("author")), homepage=_text(meta.get("homepage")),
        repository=_text(meta.get("repository")), license=_text(meta.get("license")),
        keywords=keywords,
        skill_dirs=tuple(_unique(d for d in skill_dirs if d.is_dir())),
        skill_files=tuple(_unique(skill_files)),
        command_dirs=tuple(_unique(d for d in commands if d.exists())),
        agent_dirs=tuple(_unique(d for d in agents if d.exists())),
        hooks=tuple(hooks), mcp_servers=servers, tools=tools, dependencies=dependencies,
        problems=tuple(problems),
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PluginError(f"{path}: cannot be read ({exc}); check the file") from None
    if path.suffix == ".md":
        from nano_claude.extensions import frontmatter

        try:
            meta, _ = frontmatter.parse(text, str(path))
        except frontmatter.FrontMatterError as exc:
            raise PluginError(str(exc)) from None
        data: Any = meta
    else:
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise PluginError(f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}; "
                              "fix the JSON") from None
    if not isinstance(data, dict):
        raise PluginError(f"{path}: expected an object of plugin fields, found {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


class _Paths:
    """The path fields of one manifest: each checked to stay inside the plugin."""

    def __init__(self, root: Path, label: str, problems: list[str]) -> None:
        self.root, self.label, self.problems = root, label, problems

    def entries(self, value: Any, key: str, *, quiet: bool = False) -> list[Path]:
        """The paths a field names that exist inside the plugin; the others are problems (said
        once: `quiet` for a second look at the same field)."""
        problems: list[str] = []
        if value is None or isinstance(value, dict):
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            problems.append(f"{self.label}: \"{key}\" must be a path or a list of paths; it was ignored")
            items = []
        out = []
        for item in items:
            path = (self.root / item).resolve()
            if not path.is_relative_to(self.root):
                problems.append(f"{self.label}: \"{key}\" path {item!r} leads out of the plugin's "
                                "folder; it was ignored")
            elif not path.exists():
                problems.append(f"{self.label}: \"{key}\" path {item!r} does not exist; it was ignored")
            else:
                out.append(path)
        if not quiet:
            self.problems.extend(problems)
        return out

    def folders(self, value: Any, key: str) -> list[Path]:
        """Folders the field names (for skills: folders of NAME/SKILL.md, not one skill's own)."""
        return [p for p in self.entries(value, key)
                if p.is_dir() and not (key == "skills" and (p / "SKILL.md").is_file())]

    def files(self, value: Any, key: str) -> list[Path]:
        """Single files the field names (a folder holding SKILL.md is that skill's file)."""
        out = []
        for path in self.entries(value, key, quiet=True):
            if path.is_file() and path.suffix == ".md":
                out.append(path)
            elif path.is_dir() and key == "skills" and (path / "SKILL.md").is_file():
                out.append(path / "SKILL.md")
        return out


def _hooks(root: Path, value: Any, where: _Paths, problems: list[str]) -> list[tuple[str, Any]]:
    found = []
    files = [root / "hooks" / "hooks.json"] + [p for p in where.entries(value, "hooks") if p.is_file()]
    for path in _unique(files):
        if not path.is_file():
            continue
        data = _json_file(path, problems, "its hooks were skipped")
        if data is not None:
            found.append((str(path), data.get("hooks", data) if "hooks" in data else data))
    if isinstance(value, dict):
        found.append((f"{where.label} (hooks)", value.get("hooks", value) if "hooks" in value else value))
    return found


def _servers(root: Path, value: Any, where: _Paths, problems: list[str]) -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}

    def add(source: str, data: Any) -> None:
        servers = data.get("mcpServers", data) if isinstance(data, dict) else data
        if not isinstance(servers, dict):
            problems.append(f"{source}: MCP servers must be an object of servers by name; they were skipped")
            return
        for name, entry in servers.items():
            found.setdefault(str(name), (source, entry))

    files = [root / ".mcp.json"] + [p for p in where.entries(value, "mcpServers") if p.is_file()]
    for path in _unique(files):
        if path.is_file():
            data = _json_file(path, problems, "its MCP servers were skipped")
            if data is not None:
                add(str(path), data)
    if isinstance(value, dict):
        add(f"{where.label} (mcpServers)", value)
    return found


def _json_file(path: Path, problems: list[str], skipped: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({exc}); {skipped}")
        return None
    except json.JSONDecodeError as exc:
        problems.append(f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}; {skipped}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a JSON object; {skipped}")
        return None
    return data


def _tools(value: Any, label: str, problems: list[str]) -> tuple[str, ...]:
    modules = []
    for item in _strings(value, "tools", label, problems):
        module = item.removesuffix(".py").replace("/", ".").strip(".")
        if _MODULE.match(module):
            modules.append(module)
        else:
            problems.append(f"{label}: \"tools\" entry {item!r} is not a Python module name (e.g. \"tools\" "
                            "for tools.py); it was ignored")
    return tuple(modules)


def _strings(value: Any, key: str, label: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        problems.append(f"{label}: \"{key}\" must be a list of text; it was ignored")
        return ()
    return tuple(i.strip() for i in items if i.strip())


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else "" if value is None else str(value)


def _author(value: Any) -> str:
    if isinstance(value, dict):
        name, email = _text(value.get("name")), _text(value.get("email"))
        return f"{name} <{email}>" if name and email else name or email
    return _text(value)


def _listed(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return []


def _markdown(folder: Path) -> list[Path]:
    """The .md files a commands or agents entry holds: itself, or every one under it, linked
    folders followed as the commands loader follows them (so nothing loads unshown)."""
    if folder.is_file():
        return [folder] if folder.suffix == ".md" else []
    return sorted(p for p in walk_files(folder, hidden=False) if p.suffix == ".md"
                  and not p.name.startswith("."))


def walk_files(root: Path, *, hidden: bool = True, skip: frozenset[str] = frozenset()) -> list[Path]:
    """Every file under `root`, linked folders followed (each real folder once); folders named
    in `skip`, and (not `hidden`) hidden ones, left out."""
    found: list[Path] = []
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if d not in skip and (hidden or not d.startswith(".")))
        found += [Path(folder) / n for n in names if os.path.isfile(os.path.join(folder, n))]
    return found


def _agent_name(path: Path) -> str:
    """An agent file's `name:` (its identity, as the agents loader reads it), else its stem."""
    try:
        head = path.read_text(encoding="utf-8")[:2000]
    except (OSError, UnicodeDecodeError):
        return path.stem
    match = _AGENT_NAME.search(head) if head.startswith("---") else None
    return match.group(1).strip("'\"") if match else path.stem


def _unique(paths: Any) -> list[Path]:
    return list(dict.fromkeys(paths))
