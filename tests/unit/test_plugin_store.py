"""What allowing a plugin's code is tied to (store.digest), what counts as code, and what a
project's settings may not turn back on."""

from __future__ import annotations

import json
from pathlib import Path

from nano_claude.config import load_settings
from nano_claude.extensions.mcp.config import Found, plugin_servers
from nano_claude.extensions.plugins import Active
from nano_claude.extensions.plugins.manifest import read_plugin
from nano_claude.extensions.plugins.store import digest
from nano_claude.paths import Paths


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hooked(root: Path, command: str) -> Path:
    write(root / ".claude-plugin" / "plugin.json", json.dumps({"name": root.name, "version": "1.0.0"}))
    write(root / "hooks" / "hooks.json", json.dumps({"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": command}]}]}}))
    write(root / "skills" / "tidy" / "SKILL.md", "---\ndescription: Tidy\n---\nTidy up.\n")
    return root


def test_code_a_hook_runs_is_covered_wherever_it_lives(tmp_path: Path) -> None:
    outside = write(tmp_path / "tools" / "run.sh", "echo fine\n")
    root = hooked(tmp_path / "p", "sh ${CLAUDE_PLUGIN_ROOT}/scripts/run.sh; "
                                  "sh ${CLAUDE_PLUGIN_ROOT}/docs/notes.md")
    (root / "scripts").symlink_to(outside.parent, target_is_directory=True)
    notes = write(root / "docs" / "notes.md", "echo notes\n")
    before = digest(read_plugin(root))
    outside.write_text("echo EVIL\n")  # the linked folder's script changes
    assert digest(read_plugin(root)) != before
    changed = digest(read_plugin(root))
    notes.write_text("echo EVIL\n")  # Markdown a hook runs is code too
    assert digest(read_plugin(root)) != changed


def test_what_runs_nothing_or_is_written_by_the_plugin_as_it_runs_leaves_the_digest(tmp_path: Path) -> None:
    root = hooked(tmp_path / "p", "true")
    before = digest(read_plugin(root))
    write(root / "README.md", "# new words\n")
    write(root / "skills" / "tidy" / "SKILL.md", "---\ndescription: Tidy\n---\nTidy up, neatly.\n")
    write(root / "node_modules" / "x" / "index.js", "module.exports = 1\n")
    write(root / ".venv" / "bin" / "python", "")
    manifest = root / ".claude-plugin" / "plugin.json"
    manifest.write_text(manifest.read_text().replace("1.0.0", "1.1.0"))
    assert digest(read_plugin(root)) == before
    assert digest(read_plugin(root), everything=True) != digest(read_plugin(hooked(tmp_path / "q", "true")),
                                                                everything=True)


def test_allowed_tools_in_any_yaml_form_is_code(tmp_path: Path) -> None:
    for form in ("allowed-tools:\n  - Bash(touch:*)\n", '"allowed-tools": Bash(touch:*)\n'):
        root = tmp_path / f"p{len(form)}"
        write(root / "skills" / "b" / "SKILL.md", f"\ufeff---\ndescription: B\n{form}---\nDo it.\n")
        plugin = read_plugin(root)
        assert plugin.runs_code, form
        assert plugin.contents()["skills that run commands"] == [f"/{root.name}:b"]
    linked = tmp_path / "linked"
    write(tmp_path / "cmds" / "go.md", "---\nallowed-tools: Bash(touch:*)\n---\nGo.\n")
    write(linked / "commands" / "hi.md", "Hi.\n")
    (linked / "commands" / "more").symlink_to(tmp_path / "cmds", target_is_directory=True)
    assert read_plugin(linked).contents()["skills that run commands"] == ["/linked:go"]


def test_a_projects_settings_cannot_turn_back_on_what_the_user_turned_off(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "home", tmp_path / "project" / ".nano_claude")
    write(paths.user_config, json.dumps({"enabled_plugins": {"fmt": False, "lint": "off"}}))
    write(paths.project_settings, json.dumps({"enabled_plugins": {"fmt": "true", "lint": 1, "new": True,
                                                                  "old": False}}))
    settings = load_settings(paths, {})
    assert settings.enabled_plugins == {"fmt": False, "lint": False, "new": True, "old": False}
    write(paths.project_local, json.dumps({"enabled_plugins": {"fmt": True}}))  # this machine's own file
    assert load_settings(paths, {}).enabled_plugins["fmt"] is True


def test_two_plugins_servers_that_would_share_a_name_are_reported(tmp_path: Path) -> None:
    found = Found()
    for name in ("a.b", "a_b"):
        servers = json.dumps({"mcpServers": {"s": {"command": "srv"}}})
        root = write(tmp_path / name / ".mcp.json", servers).parent
        plugin_servers(Active(read_plugin(root, name=name), "user", tmp_path / "data", code=True), {}, found)
    assert list(found.servers) == ["plugin_a_b_s"] and found.servers["plugin_a_b_s"].plugin == "a.b"
    assert len(found.errors) == 1 and "only one can run" in found.errors[0]


def test_updating_from_a_folder_says_whether_anything_changed(tmp_path: Path) -> None:
    from nano_claude.extensions.plugins.sources import Source
    from nano_claude.extensions.plugins.store import Store

    source = hooked(tmp_path / "src" / "fmt", "true")
    store = Store(Paths(tmp_path / "home", tmp_path / "project" / ".nano_claude"), tmp_path / "project")
    item, allowed = store.install(Source("path", str(source)), "user", confirm=lambda plugin: True)
    assert allowed and store.trusted(item)
    _, change = store.update(item, confirm=lambda plugin: False)
    assert change == ""  # the same files: nothing to say, nothing asked
    manifest = source / ".claude-plugin" / "plugin.json"
    manifest.write_text(manifest.read_text().replace("1.0.0", "1.1.0"))
    write(source / "skills" / "tidy" / "SKILL.md", "---\ndescription: Tidy\n---\nTidy up, neatly.\n")
    fresh, change = store.update(store.find("fmt"), confirm=lambda plugin: False)
    assert change == "1.0.0 → 1.1.0" and store.trusted(fresh)  # text and version only: still allowed
