"""Where hooks come from: every settings file merged, matchers as Claude Code reads them,
malformed entries named one line each, and the trust record of a project's hooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nano_claude.config import load_settings, save_user_setting
from nano_claude.core.errors import ConfigError
from nano_claude.extensions.hooks import config, trust
from nano_claude.extensions.mcp import config as mcp_config
from nano_claude.paths import Paths


@pytest.fixture
def world(tmp_path: Path) -> tuple[Paths, Path, Path]:
    home, project = tmp_path / "home", tmp_path / "project"
    (home / ".nano_claude").mkdir(parents=True)
    project.mkdir()
    return Paths(home / ".nano_claude", project / ".nano_claude"), project, home


def write(path: Path, hooks: object, **extra: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hooks": hooks, **extra}))
    return path


def group(command: str, matcher: str = "", **handler: object) -> list[dict]:
    return [{"matcher": matcher, "hooks": [{"type": "command", "command": command, **handler}]}]


@pytest.mark.parametrize(("matcher", "value", "hit"), [
    ("", "Bash", True), ("*", "anything", True),
    ("Bash", "Bash", True), ("Bash", "BashOutput", False),
    ("Edit|Write", "Write", True), ("Edit, Write", "Edit", True), ("Edit|Write", "NotebookEdit", False),
    ("Edit.*", "NotebookEdit", True),  # a regular expression is searched, not anchored
    ("mcp__memory", "mcp__memory__create", False), ("mcp__memory__.*", "mcp__memory__create", True),
    ("^Read$", "Read", True), ("^Read$", "ReadMe", False),
])
def test_matchers_read_as_claude_code_reads_them(matcher: str, value: str, hit: bool) -> None:
    assert config.matches(matcher, value) is hit


def test_every_level_merges_and_an_identical_handler_is_kept_once(world) -> None:
    paths, project, home = world
    write(paths.user_settings, {"PreToolUse": group("./a.sh", "Bash")})
    write(home / ".claude" / "settings.json",
          {"PreToolUse": group("./a.sh", "Bash") + group("./b.sh", "Bash")})
    write(paths.project_local, {"Stop": group("./stop.sh")})
    write(project / ".claude" / "settings.local.json", {"SessionStart": group("./start.sh", "startup")})
    found = config.load(paths, project, home)
    assert found.errors == []
    assert [(h.event, h.handler.command, h.scope) for h in found.hooks] == [
        ("PreToolUse", "./a.sh", "user"), ("PreToolUse", "./b.sh", "user"), ("Stop", "./stop.sh", "project"),
        ("SessionStart", "./start.sh", "project")]
    assert found.hooks[0].source == str(paths.user_settings)
    assert [h.handler.command for h in found.project] == ["./stop.sh", "./start.sh"]


def test_claude_codes_files_are_left_out_when_read_claude_config_is_off(world) -> None:
    paths, project, home = world
    write(home / ".claude" / "settings.json", {"Stop": group("./user.sh")})
    write(project / ".claude" / "settings.json", {"Stop": group("./project.sh")})
    write(paths.user_config, {"Stop": group("./ours.sh")})
    found = config.load(paths, project, home, read_claude=False)
    assert [h.handler.command for h in found.hooks] == ["./ours.sh"]


def test_a_malformed_entry_is_one_line_naming_the_file_and_the_rest_load(world) -> None:
    paths, project, home = world
    source = write(paths.user_settings, {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command"}, {"type": "command", "command": "./ok.sh"}]},
            {"matcher": "(", "hooks": [{"type": "command", "command": "./never.sh"}]},
            {"matcher": "Read", "hooks": [{"type": "prompt", "prompt": "is this fine?"}]},
            {"matcher": "Read", "hooks": [{"command": "./slow.sh", "timeout": "soon"}]},
            {"matcher": "Read"},
            "Bash",
        ],
        "PostToolUse": {"matcher": "Bash"},
        "BeforeAll": [],
        "PostCompact": group("./ignored.sh"),  # a Claude Code event nothing here raises: no complaint
    })
    write(paths.project_settings, {"Stop": [{"hooks": [{"type": "http", "url": "ftp://x"}]}]})
    found = config.load(paths, project, home)
    assert [h.handler.command for h in found.hooks] == ["./ok.sh"]
    lines = found.errors
    assert len(lines) == 9 and all("\n" not in line for line in lines)
    assert lines[0] == (f"{source}: hooks.PreToolUse[0].hooks[0] has no \"command\"; add the shell command "
                        "to run; it was skipped")
    assert lines[1].startswith(f"{source}: hooks.PreToolUse[1]: matcher '(' is not a valid regular "
                               "expression")
    assert "hooks of type 'prompt' are not supported" in lines[2]
    assert "\"timeout\" must be a positive number of seconds (got 'soon')" in lines[3]
    assert lines[4] == f"{source}: hooks.PreToolUse[4] has no \"hooks\" list; add \"hooks\": [{{\"type\": " \
                       "\"command\", \"command\": \"...\"}]; it was skipped"
    assert lines[5].startswith(f"{source}: hooks.PreToolUse[5] must be an object")
    assert lines[6].startswith(f"{source}: hooks.PostToolUse must be a list")
    assert lines[7].startswith(f"{source}: hooks.BeforeAll: no such event")
    assert lines[8].startswith(f"{paths.project_settings}: hooks.Stop[0].hooks[0]: an http hook needs a "
                               "\"url\" starting with http:// or https://")


def test_a_file_that_is_not_json_is_named_and_skipped(world) -> None:
    paths, project, home = world
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.json").write_text("{ broken")
    write(paths.user_settings, {"Stop": group("./stop.sh")})
    found = config.load(paths, project, home)
    assert [h.handler.command for h in found.hooks] == ["./stop.sh"]
    [error] = found.errors
    assert error.startswith(f"{project / '.claude' / 'settings.json'} line 1")
    assert error.endswith("(its hooks were skipped)")


def test_an_http_handler_keeps_its_headers_and_allowed_variables(world) -> None:
    paths, project, home = world
    write(paths.user_settings, {"PostToolUse": [{"hooks": [{
        "type": "http", "url": "https://hooks.example/x", "headers": {"Authorization": "Bearer ${TOKEN}"},
        "allowedEnvVars": ["TOKEN"], "timeout": 5}]}]})
    [hook] = config.load(paths, project, home).hooks
    assert hook.handler.type == "http" and hook.handler.target == "https://hooks.example/x"
    assert hook.handler.headers == (("Authorization", "Bearer ${TOKEN}"),)
    assert hook.handler.allowed_env == ("TOKEN",) and hook.handler.timeout == 5


def test_trusting_a_projects_hooks_is_kept_for_that_exact_set(world) -> None:
    paths, project, home = world
    mcp_config.remember(paths, project, [], ["some-server"])  # the same record as the MCP approvals
    write(project / ".claude" / "settings.json", {"Stop": group("./stop.sh")})
    found = config.load(paths, project, home)
    assert trust.decision(paths, project, found.digest) == "pending"
    trust.remember(paths, project, found.digest, True)
    assert trust.decision(paths, project, found.digest) == "approved"
    assert mcp_config.choices(paths, project).denied == {"some-server"}  # kept beside it
    write(project / ".claude" / "settings.json", {"Stop": group("./stop.sh --and-more")})
    changed = config.load(paths, project, home)
    assert changed.digest != found.digest
    assert trust.decision(paths, project, changed.digest) == "pending"
    trust.remember(paths, project, changed.digest, False)
    assert trust.decision(paths, project, changed.digest) == "denied"
    mode = (paths.home / "mcp.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_user_hooks_do_not_change_the_projects_digest(world) -> None:
    paths, project, home = world
    write(paths.project_settings, {"Stop": group("./stop.sh")})
    before = config.load(paths, project, home).digest
    write(paths.user_settings, {"Stop": group("./mine.sh")})
    assert config.load(paths, project, home).digest == before


def test_a_broken_approvals_file_is_never_overwritten(world) -> None:
    paths, project, _ = world
    (paths.home / "mcp.json").write_text("{ not json")
    assert trust.decision(paths, project, "abc") == "pending"
    with pytest.raises(ConfigError):
        trust.remember(paths, project, "abc", True)
    assert (paths.home / "mcp.json").read_text() == "{ not json"


def test_settings_files_with_hooks_still_load_and_save(world) -> None:
    paths, _, _ = world
    hooks = {"Stop": group("./stop.sh")}
    write(paths.user_config, hooks, max_turns=7)
    settings = load_settings(paths, {})
    assert settings.max_turns == 7
    save_user_setting(paths, "verbose", True)
    data = json.loads(paths.user_config.read_text())
    assert data["hooks"] == hooks and data["verbose"] is True


def test_a_project_cannot_trust_its_own_hooks(world) -> None:
    paths, _, _ = world
    paths.project.mkdir()
    paths.project_settings.write_text(json.dumps({"trust_project_hooks": True}))
    with pytest.raises(ConfigError, match="cannot set trust_project_hooks"):
        load_settings(paths, {})
