"""Reading a plugin folder: Claude Code's layout with its path fields, ours (plugin.json and
PLUGIN.md), what each brings, and the parts that cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nano_claude.extensions.plugins import Active
from nano_claude.extensions.plugins.manifest import PluginError, read_plugin
from nano_claude.extensions.skills.loader import plugin_skills


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_claude_code_path_fields_add_and_replace_folders(tmp_path: Path) -> None:
    root = tmp_path / "p"
    write(root / ".claude-plugin" / "plugin.json", json.dumps({
        "name": "tools-kit", "version": "2.1.0", "author": {"name": "Ann", "email": "a@b.c"},
        "skills": "./extra-skills", "commands": ["./cmds", "./one.md"], "agents": "./people",
        "hooks": {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "true"}]}]}},
        "mcpServers": "./servers.json"}))
    write(root / "skills" / "a" / "SKILL.md", "A")
    write(root / "extra-skills" / "b" / "SKILL.md", "B")
    write(root / "commands" / "ignored.md", "never used: commands is replaced")
    write(root / "cmds" / "deploy.md", "D")
    write(root / "one.md", "O")
    write(root / "people" / "rev.md", "---\nname: reviewer\ndescription: r\n---\n")
    write(root / "hooks" / "hooks.json", json.dumps({"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "guard"}]}]}))  # the bare event map, as older plugins wrote it
    write(root / "servers.json", json.dumps({"mcpServers": {"db": {"command": "db-server"}}}))
    plugin = read_plugin(root)
    assert (plugin.name, plugin.version, plugin.format) == ("tools-kit", "2.1.0", "claude")
    assert plugin.author == "Ann <a@b.c>"
    contents = plugin.contents()
    assert contents["skills"] == ["a", "b"]
    assert contents["commands"] == ["deploy", "one"]
    assert contents["agents"] == ["reviewer"]
    assert contents["hooks"] == ["PreToolUse (Bash): guard", "Stop: true"]
    assert contents["MCP servers"] == ["db"]
    assert plugin.runs_code and plugin.code_parts == "hooks and MCP servers"
    assert any("\"commands\" replaces the commands/ folder" in p for p in plugin.problems)


def test_our_layout_from_plugin_md_front_matter(tmp_path: Path) -> None:
    root = tmp_path / "word-tools"
    write(root / "PLUGIN.md", "---\nname: word-tools\nversion: 0.3.0\ntags: [text, web]\n"
                              "tools: [tools]\nskills: [docs/slug.md]\ndependencies: [python-slugify>=8]\n"
                              "mcp_servers:\n  clock:\n    command: mcp-server-time\n---\nAbout it.\n")
    write(root / "tools.py", "")
    write(root / "docs" / "slug.md", "---\ndescription: Make a slug\n---\nSlug ${CLAUDE_PLUGIN_ROOT}\n")
    plugin = read_plugin(root)
    assert plugin.format == "nano" and plugin.keywords == ("text", "web")
    assert plugin.tools == ("tools",) and plugin.dependencies == ("python-slugify>=8",)
    assert list(plugin.mcp_servers) == ["clock"]
    assert plugin.code_parts == "MCP servers, Python tools and dependencies"
    errors: list[str] = []
    (skill,) = plugin_skills(Active(plugin, "user", tmp_path / "data", code=True), errors)
    assert errors == []
    assert skill.name == "word-tools:slug" and skill.body == f"Slug {root}"


def test_a_root_skill_md_is_a_one_skill_plugin_named_by_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "tidy"
    write(root / "SKILL.md", "---\ndescription: Tidy up\n---\nTidy.\n")
    plugin = read_plugin(root)
    assert plugin.name == "tidy" and plugin.manifest is None and not plugin.runs_code
    (skill,) = plugin_skills(Active(plugin, "user", tmp_path / "d", code=False), [])
    assert skill.commands == ("tidy:tidy",)


def test_what_cannot_be_used(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad" / "plugin.json", '{"name": "x",}').parent
    with pytest.raises(PluginError, match=r"plugin\.json line 1 column 14: .*; fix the JSON"):
        read_plugin(bad)
    odd = tmp_path / "odd"
    write(odd / ".claude-plugin" / "plugin.json", json.dumps({"name": "a/b"}))
    with pytest.raises(PluginError, match="may hold only letters, digits"):
        read_plugin(odd)
    parts = tmp_path / "parts"
    write(parts / ".claude-plugin" / "plugin.json", json.dumps({"name": "parts", "skills": "../../etc",
                                                                "tools": ["tools"]}))
    write(parts / "hooks" / "hooks.json", "{broken")
    plugin = read_plugin(parts)
    assert plugin.tools == ()  # Claude Code's manifest has no Python tools
    assert any("leads out of the plugin's folder" in p for p in plugin.problems)
    assert any("hooks.json line 1" in p and "its hooks were skipped" in p for p in plugin.problems)
    assert plugin.hooks == ()
