"""Settings: one model, merged in one place.

Precedence, lowest first: defaults < ~/.nano_claude/config.json <
./.nano_claude/settings.json < environment < command-line flags. A broken file is
reported with its path and line and is never overwritten.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nano_claude.core.errors import ConfigError
from nano_claude.paths import Paths
from nano_claude.providers.catalog import PROVIDERS


class ModelOverride(BaseModel):
    """Settings for the models one `model_overrides` key names."""

    model_config = ConfigDict(extra="forbid")

    tool_calls: Literal["auto", "text"] = Field(
        "auto", description="text: describe the tools in the prompt and read calls from the "
        "answer, for a model or server whose native tool calling is missing or broken")
    tool_profile: Literal["auto", "full", "compact"] | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str | None = None
    max_tokens: int | None = Field(None, gt=0, description="cap on output tokens per response")
    permission_mode: Literal["auto", "accept-all", "manual", "plan"] = "auto"
    sandbox: bool = False
    verbose: bool = False
    thinking: bool = False
    thinking_budget: int = Field(8000, ge=1024)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    max_turns: int = Field(100, gt=0)
    max_calls_without_progress: int = Field(
        25, gt=0, description="tool calls in a row that read no new file, change none and say "
        "nothing to the user before the run stops (headless) or asks whether to go on (REPL)")
    max_retries: int = Field(4, ge=0, le=20)
    retry_base_delay: float = Field(1.0, ge=0)
    request_timeout: float = Field(600.0, gt=0)
    gemini_api: Literal["native", "openai"] = "native"
    ollama_keep_alive: str = "30m"
    ollama_max_ctx: int = Field(32768, ge=2048, description="largest num_ctx sent to Ollama")
    local_model_path: str | None = None
    local_n_ctx: int = Field(8192, ge=512)
    local_prefix_cache_mb: int = Field(1024, ge=0, description="disk kept for the embedded "
                                       "model's evaluated prompt prefixes (0: no cache)")
    tool_profile: Literal["auto", "full", "compact"] = Field(
        "auto", description="tools and system prompt sent to the model: compact for small local "
        "models (auto: compact for the embedded model and local servers with a small window)")
    model_overrides: dict[str, ModelOverride] = Field(
        default_factory=dict, description="per model (provider/model, * and ? match): tool_calls "
        "and tool_profile")
    session_daily_limit: int = Field(5, ge=1, description="session snapshots kept per day in daily/")
    session_history_limit: int = Field(100, ge=1, description="sessions kept (index and transcripts)")
    auto_compact: bool = True
    compact_threshold: float = Field(0.7, ge=0.1, le=0.95, description="share of the window that "
                                     "starts a recap of the older turns")
    preserve_last_n_turns: int = Field(3, ge=1, description="user turns kept whole by compaction")
    cloudsave_auto: bool = Field(False, description="upload the session to its secret gist on exit")
    # "_base_url": like the providers' URLs, a project's settings may not send the token elsewhere
    github_base_url: str = Field("https://api.github.com", description="GitHub's API (GitHub "
                                 "Enterprise: https://HOST/api/v3), for /cloudsave")

    max_background_agents: int = Field(4, ge=1, le=32, description="sub-agents that run in the background "
                                       "at once; more wait their turn")

    # MCP servers (extensions/mcp): the servers themselves are in .mcp.json and ~/.nano_claude/mcp.json
    mcp_startup_timeout: float = Field(5.0, ge=0, description="seconds a headless run's first request "
                                       "waits for MCP servers still starting")
    mcp_connect_timeout: float = Field(30.0, gt=0, description="seconds an MCP server has to answer "
                                       "before it is marked failed")
    mcp_tool_timeout: float | None = Field(None, gt=0, description="seconds an MCP tool call may take "
                                           "(a server's own \"timeout\" wins; none: no limit)")
    mcp_max_output_tokens: int = Field(25_000, ge=1000, description="an MCP result past this is saved "
                                       "to a file; the model gets its head and the path")
    mcp_defer_share: float = Field(0.1, ge=0, le=1, description="when MCP tool schemas pass this share "
                                   "of the window, they load on demand through ToolSearch (0: always, "
                                   "1: never)")
    mcp_trust_read_only: bool = Field(False, description="MCP tools their server marks read-only "
                                      "(readOnlyHint) run without asking in auto mode")
    trust_project_mcp: bool = Field(False, description="start a project's .mcp.json servers without "
                                    "asking (not settable by the project itself)")
    trust_project_hooks: bool = Field(False, description="run the hooks a project's own settings define "
                                      "without asking (not settable by the project itself)")
    trust_project_skills: bool = Field(False, description="let a project's skills and commands use their "
                                       "allowed-tools without asking (not settable by the project itself)")
    read_claude_config: bool = Field(True, description="also use the MCP servers configured for "
                                     "Claude Code in ~/.claude.json and the hooks in its settings.json "
                                     "files (read only)")

    # Plugins (extensions/plugins): installed in ~/.nano_claude/plugins/ and .nano_claude/plugins/
    enabled_plugins: dict[str, bool] = Field(
        default_factory=dict, description="plugins on (true) or off (false) by name; an installed plugin "
        "not named is on (merged by name, project over user)")
    plugin_marketplaces: dict[str, Any] = Field(
        default_factory=dict, description="marketplaces by name: a source (owner/repo, a git URL or a "
        "folder); a project's are offered to its users, never added unasked")
    recommended_plugins: list[str] = Field(
        default_factory=list, description="plugins a project recommends, as NAME@MARKETPLACE; installing "
        "them asks the user")

    # Voice input (extensions/voice, the [voice] extra)
    voice_auto_submit: bool = Field(True, description="/voice sends the transcript at once (off: it is "
                                    "put into the input to edit first)")
    voice_language: str = Field("auto", description="language spoken to /voice: a code such as en or de, "
                                "or auto (/voice lang)")
    # "_base_url": a project's settings may not send the user's voice elsewhere
    voice_base_url: str | None = Field(None, description="an OpenAI-compatible transcription server "
                                       "(POST /audio/transcriptions); used first when set")
    voice_api_key: str | None = Field(None, description="the key voice_base_url wants, if any (the "
                                      "OpenAI key is never sent there)")
    voice_model: str = Field("whisper-1", description="the model name sent to the transcription server")

    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    gemini_api_key: str | None = None
    gemini_base_url: str | None = None
    kimi_api_key: str | None = None
    kimi_base_url: str | None = None
    qwen_api_key: str | None = None
    qwen_base_url: str | None = None
    zhipu_api_key: str | None = None
    zhipu_base_url: str | None = None
    deepseek_api_key: str | None = None
    deepseek_base_url: str | None = None
    ollama_base_url: str | None = None
    lmstudio_base_url: str | None = None
    lmstudio_api_key: str | None = None
    custom_api_key: str | None = None
    custom_base_url: str | None = None

    def api_key(self, provider: str) -> str:
        return getattr(self, f"{provider}_api_key", None) or ""

    def override_for(self, qualified: str) -> ModelOverride:
        """The `model_overrides` entry for provider/model: its exact name, else the longest
        pattern that matches it."""
        if qualified in self.model_overrides:
            return self.model_overrides[qualified]
        matching = [key for key in self.model_overrides if fnmatch.fnmatchcase(qualified, key)]
        return self.model_overrides[max(matching, key=len)] if matching else ModelOverride()

    def base_url(self, provider: str) -> str:
        url = getattr(self, f"{provider}_base_url", None) or PROVIDERS[provider].base_url
        return url.rstrip("/")


SECRET_SUFFIX = "_api_key"


def user_home(environ: Mapping[str, str]) -> Path:
    """The user's home folder (for `~` in paths and permission rules)."""
    return Path(environ.get("HOME") or Path.home())


def read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); fix or remove it") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} line {exc.lineno} column {exc.colno}: {exc.msg}; "
            "fix the file (nothing was changed)"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of settings, found {type(data).__name__}")
    return data


def _check_keys(data: Mapping[str, Any], source: str) -> None:
    known = Settings.model_fields
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{source}: unknown setting {key!r}{hint}")


# Settings whose objects merge key by key across the files (a later file wins a key)
MERGED_BY_KEY = ("model_overrides", "enabled_plugins", "plugin_marketplaces")
# Settings a project may not turn on
GRANTS = ("cloudsave_auto", "trust_project_mcp", "trust_project_hooks", "trust_project_skills",
          "mcp_trust_read_only")


def _truthy(value: Any) -> bool:
    """What the settings model would read as true ("true", 1, "on"...), or cannot read at all."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return True


def _check_project_safe(data: Mapping[str, Any], path: Path) -> None:
    """A project's settings come with the repository, so they may not redirect keys,
    load another model file, switch permission checks off, or upload sessions."""
    for key, value in data.items():
        unsafe = (key.endswith(("_api_key", "_base_url")) or key == "local_model_path"
                  or (key == "permission_mode" and value == "accept-all")
                  # uploads the user's sessions; runs what a cloned repository's .mcp.json names
                  or (key in GRANTS and _truthy(value))
                  # would switch off the user's own Claude Code hooks (guards) and MCP servers
                  or (key == "read_claude_config" and not _truthy(value)))
        if unsafe:
            shown = (value if key in ("permission_mode", "read_claude_config") or key in GRANTS
                     else "...")  # never echo a key
            raise ConfigError(
                f"{path}: a project's settings cannot set {key}={shown} "
                "(a repository you clone could send your keys elsewhere or run commands unasked); "
                "set it in ~/.nano_claude/config.json, the environment or a flag"
            )


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for spec in PROVIDERS.values():
        if spec.key_env and environ.get(spec.key_env):
            found[f"{spec.name}_api_key"] = environ[spec.key_env]
        for var in spec.base_url_envs:
            if environ.get(var):
                url = environ[var]
                if "://" not in url:  # OLLAMA_HOST is often host:port, or a bare host
                    bare_host = ":" not in url
                    url = "http://" + url + (":11434" if spec.name == "ollama" and bare_host else "")
                found[f"{spec.name}_base_url"] = url
                break
    # Any setting can also come from NANO_CLAUDE_<SETTING> (NANO_CLAUDE_MODEL, ...).
    for name in Settings.model_fields:
        value = environ.get(f"NANO_CLAUDE_{name.upper()}")
        if value:
            found[name] = value
    return found


def load_settings(
    paths: Paths,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    merged: dict[str, Any] = {}
    for path in paths.files:
        data = read_json(path)
        data.pop("permissions", None)  # rules merge across files: permissions/rules.py
        data.pop("hooks", None)  # so do hooks: extensions/hooks/config.py
        _check_keys(data, str(path))
        if paths.is_project_file(path):
            _check_project_safe(data, path)
        for key in MERGED_BY_KEY:  # merged by model, by plugin, by marketplace
            here = data.pop(key, None)
            if key == "enabled_plugins" and path == paths.project_settings and isinstance(here, dict):
                # the repository's file may turn a plugin off, never back on after the user did
                user = merged.get(key) if isinstance(merged.get(key), dict) else {}
                here = {name: on for name, on in here.items()
                        if not (_truthy(on) and name in user and not _truthy(user[name]))}
            if isinstance(here, dict) and isinstance(merged.get(key), dict):
                here = {**merged[key], **here}
            if here is not None:
                data[key] = here
        merged.update(data)
    merged.update(_from_environment(environ))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings(**merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"setting {key!r}: {first['msg']} (got {first.get('input')!r}); "
            f"check {paths.user_config} and {paths.project_settings}"
        ) from exc


def save_user_setting(paths: Paths, key: str, value: object) -> None:
    """Persist one setting to the user config, atomically and with mode 0600 (the file
    may hold keys). None removes the setting, so its default applies again."""
    _check_keys({key: value}, "config")
    data = read_json(paths.user_config)  # raises on a broken file: never overwrite it
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    try:
        Settings(**{k: v for k, v in data.items() if k not in ("permissions", "hooks")})  # validate first
    except ValidationError as exc:
        first = exc.errors()[0]
        bad = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{paths.user_config}: setting {bad!r}: {first['msg']}; "
                          "fix the file (nothing was changed)") from exc
    atomic_write(paths.user_config, json.dumps(data, indent=2) + "\n", mode=0o600)


def atomic_write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mask(key: str, value: Any) -> Any:
    """How a setting is shown: keys reduced to their last four characters."""
    if key.endswith(SECRET_SUFFIX) and isinstance(value, str) and value:
        return "****" + value[-4:] if len(value) > 8 else "****"
    return value
