from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from nano_claude.config import Paths, Settings, load_settings, mask, save_user_setting
from nano_claude.core.errors import ConfigError


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "home", tmp_path / "project" / ".nano_claude")


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def test_defaults_without_any_file(paths: Paths) -> None:
    s = load_settings(paths, {})
    assert s.model is None and s.permission_mode == "auto" and s.max_turns == 100


def test_precedence_user_then_project_then_env_then_flags(paths: Paths) -> None:
    write(paths.user_config, {"model": "user/x", "max_turns": 5, "verbose": True})
    write(paths.project_settings, {"model": "ollama/project", "max_turns": 7})
    s = load_settings(paths, {"NANO_CLAUDE_MAX_TURNS": "9"})
    assert (s.model, s.max_turns, s.verbose) == ("ollama/project", 9, True)
    s = load_settings(paths, {"NANO_CLAUDE_MAX_TURNS": "9"}, {"max_turns": 11, "model": None})
    assert (s.model, s.max_turns) == ("ollama/project", 11)


def test_provider_keys_and_base_urls_come_from_the_usual_variables(paths: Paths) -> None:
    write(paths.user_config, {"anthropic_api_key": "from-file", "deepseek_api_key": "ds"})
    env = {"ANTHROPIC_API_KEY": "from-env", "OLLAMA_HOST": "127.0.0.1:9999",
           "CUSTOM_BASE_URL": "http://gpu:8000/v1/", "MOONSHOT_API_KEY": "moon"}
    s = load_settings(paths, env)
    assert s.api_key("anthropic") == "from-env"
    assert s.api_key("deepseek") == "ds"
    assert s.api_key("kimi") == "moon"
    assert s.base_url("ollama") == "http://127.0.0.1:9999"
    assert s.base_url("custom") == "http://gpu:8000/v1"
    assert s.base_url("openai") == "https://api.openai.com/v1"


def test_malformed_json_names_file_and_line_and_is_left_alone(paths: Paths) -> None:
    broken = '{\n  "model": "gpt-4o",\n  "verbose": true,,\n}'
    write(paths.user_config, broken)
    with pytest.raises(ConfigError) as info:
        load_settings(paths, {})
    assert str(paths.user_config) in str(info.value) and "line 3" in str(info.value)
    with pytest.raises(ConfigError):
        save_user_setting(paths, "model", "gpt-4.1")
    assert paths.user_config.read_text() == broken


def test_unknown_setting_suggests_the_nearest(paths: Paths) -> None:
    write(paths.project_settings, {"modle": "gpt-4o"})
    with pytest.raises(ConfigError, match="unknown setting 'modle'; did you mean 'model'"):
        load_settings(paths, {})


def test_bad_value_says_which_setting(paths: Paths) -> None:
    write(paths.user_config, {"permission_mode": "yolo"})
    with pytest.raises(ConfigError, match="permission_mode"):
        load_settings(paths, {})


def test_saved_config_is_private_and_keeps_other_keys(paths: Paths) -> None:
    write(paths.user_config, {"model": "gpt-4o"})
    save_user_setting(paths, "openai_api_key", "sk-secret-1234")
    data = json.loads(paths.user_config.read_text())
    assert data == {"model": "gpt-4o", "openai_api_key": "sk-secret-1234"}
    assert stat.S_IMODE(paths.user_config.stat().st_mode) == 0o600
    assert not [p for p in paths.user_config.parent.iterdir() if p.name.startswith(".config")]


def test_keys_are_masked_when_shown() -> None:
    assert mask("openai_api_key", "sk-secret-1234") == "****1234"
    assert mask("model", "gpt-4o") == "gpt-4o"


def test_settings_reject_unknown_fields() -> None:
    with pytest.raises(ValueError):
        Settings(not_a_setting=1)


@pytest.mark.parametrize("setting", [{"anthropic_api_key": "sk-x"},
                                     {"anthropic_base_url": "https://evil.example"},
                                     {"permission_mode": "accept-all"},
                                     {"local_model_path": "/tmp/other.gguf"},
                                     {"cloudsave_auto": True},
                                     # what the settings model reads as true is refused as true
                                     {"cloudsave_auto": "yes"},
                                     {"trust_project_mcp": True}, {"trust_project_mcp": "true"},
                                     {"trust_project_mcp": 1}, {"mcp_trust_read_only": "on"}])
def test_project_settings_cannot_redirect_keys_or_lift_permissions(paths: Paths, setting: dict) -> None:
    write(paths.project_settings, setting)
    with pytest.raises(ConfigError, match="a project's settings cannot set"):
        load_settings(paths, {"ANTHROPIC_API_KEY": "sk-real"})


def test_project_settings_may_leave_mcp_trust_off(paths: Paths) -> None:
    write(paths.project_settings, {"trust_project_mcp": "false", "mcp_trust_read_only": 0})
    settings = load_settings(paths, {})
    assert not settings.trust_project_mcp and not settings.mcp_trust_read_only


def test_project_settings_may_choose_model_and_manual_mode(paths: Paths) -> None:
    write(paths.project_settings, {"model": "ollama/qwen2.5-coder", "permission_mode": "manual"})
    s = load_settings(paths, {})
    assert (s.model, s.permission_mode) == ("ollama/qwen2.5-coder", "manual")


def test_non_utf8_config_is_a_config_error(paths: Paths) -> None:
    paths.user_config.parent.mkdir(parents=True)
    paths.user_config.write_bytes(b'{"model": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(paths, {})


@pytest.mark.parametrize(("host", "url"), [("0.0.0.0", "http://0.0.0.0:11434"),
                                           ("127.0.0.1:9999", "http://127.0.0.1:9999"),
                                           ("https://ollama.lan", "https://ollama.lan")])
def test_ollama_host_forms(paths: Paths, host: str, url: str) -> None:
    assert load_settings(paths, {"OLLAMA_HOST": host}).base_url("ollama") == url


def test_model_overrides_match_exact_names_then_the_longest_pattern() -> None:
    settings = Settings(model_overrides={
        "ollama/*": {"tool_profile": "compact"},
        "ollama/qwen2.5-coder*": {"tool_calls": "text", "tool_profile": "full"},
        "custom/my-model": {"tool_calls": "text"},
    })
    assert settings.override_for("custom/my-model").tool_calls == "text"
    assert settings.override_for("ollama/qwen2.5-coder:7b").tool_profile == "full"
    assert settings.override_for("ollama/llama3.2").tool_profile == "compact"
    assert settings.override_for("ollama/llama3.2").tool_calls == "auto"
    nothing = settings.override_for("anthropic/claude-sonnet-4-6")
    assert (nothing.tool_calls, nothing.tool_profile) == ("auto", None)


def test_model_overrides_merge_by_model_across_files(paths: Paths) -> None:
    write(paths.user_config, {"model_overrides": {
        "custom/a": {"tool_calls": "text"}, "custom/b": {"tool_calls": "text"}}})
    write(paths.project_settings, {"model_overrides": {"custom/b": {"tool_profile": "compact"}}})
    settings = load_settings(paths, {})
    assert settings.override_for("custom/a").tool_calls == "text"
    assert settings.override_for("custom/b").tool_calls == "auto"  # the project's entry wins whole
    assert settings.override_for("custom/b").tool_profile == "compact"


def test_a_bad_model_override_names_the_model_and_the_field(paths: Paths) -> None:
    write(paths.user_config, {"model_overrides": {"custom/a": {"tool_call": "text"}}})
    with pytest.raises(ConfigError, match=r"model_overrides\.custom/a\.tool_call"):
        load_settings(paths, {})
