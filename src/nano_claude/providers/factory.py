"""Turn a model name and the settings into a ready provider; pick a default model.

Provider modules are imported here, lazily, only for the protocol in use.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from nano_claude.config import Settings
from nano_claude.core.errors import MissingKeyError, UsageError
from nano_claude.install import install_command
from nano_claude.providers.base import Provider
from nano_claude.providers.catalog import BUILTIN_PROVIDERS, PROVIDERS, ModelInfo, ProviderSpec
from nano_claude.providers.embedded import SHIPPED, context_for, locate, profile_for, source_of
from nano_claude.providers.http import Endpoint, RetryPolicy

# When no model is named: the first provider with a key wins, with this model.
DEFAULT_MODELS: tuple[tuple[str, str], ...] = (
    ("anthropic", "claude-sonnet-4-6"),
    ("openai", "gpt-4.1"),
    ("gemini", "gemini-2.5-flash"),
    ("deepseek", "deepseek-chat"),
    ("qwen", "qwen-plus"),
    ("kimi", "kimi-k2-0905-preview"),
    ("zhipu", "glm-4.6"),
)
EMBEDDED_MODEL = f"local/{SHIPPED}"


def endpoint_for(provider: str, settings: Settings) -> Endpoint:
    spec = PROVIDERS[provider]
    if provider not in BUILTIN_PROVIDERS:
        return _plugin_endpoint(spec)
    key = settings.api_key(provider)
    if spec.key_required and not key:
        raise MissingKeyError(
            f"{spec.label} needs an API key: set {spec.key_env} "
            f"(export {spec.key_env}=...) or `{provider}_api_key` in ~/.nano_claude/config.json"
        )
    base_url = settings.base_url(provider)
    if not base_url and spec.protocol != "local":
        raise UsageError(
            f"the {provider} provider needs a base URL: set {spec.base_url_envs[0]} "
            f"(e.g. http://localhost:8000/v1) or `{provider}_base_url` in ~/.nano_claude/config.json"
        )
    return Endpoint(provider, base_url, key, spec.key_env, spec.local)


def _plugin_endpoint(spec: ProviderSpec, environ: Mapping[str, str] = os.environ) -> Endpoint:
    """A Python plugin's provider (catalog.is_provider): it has no settings of its own, so its
    key and base URL come from the variables it names, read here."""
    label = spec.label or spec.name
    key = environ.get(spec.key_env, "") if spec.key_env else ""
    if spec.key_required and not key:
        hint = (f"set {spec.key_env} (export {spec.key_env}=...)" if spec.key_env
                else "its plugin names no variable for it; fix the plugin")
        raise MissingKeyError(f"{label} needs an API key: {hint}")
    base_url = next((environ[v] for v in spec.base_url_envs if environ.get(v)), spec.base_url).rstrip("/")
    if not base_url:
        where = (f"set {spec.base_url_envs[0]}" if spec.base_url_envs
                 else "its plugin gives none; fix the plugin")
        raise UsageError(f"the {spec.name} provider needs a base URL: {where}")
    return Endpoint(spec.name, base_url, key, spec.key_env, spec.local)


def create_provider(info: ModelInfo, settings: Settings) -> Provider:
    spec = PROVIDERS[info.provider]
    retry = RetryPolicy(settings.max_retries, settings.retry_base_delay)
    if spec.protocol == "local":
        from nano_claude.providers.local import LocalProvider

        return LocalProvider(settings, info.id, info.context_window if info.window_asked else None)
    endpoint = endpoint_for(info.provider, settings)
    if spec.protocol == "anthropic":
        from nano_claude.providers.anthropic import AnthropicProvider

        return AnthropicProvider(endpoint, settings, retry)
    if spec.protocol == "gemini" and settings.gemini_api == "native":
        from nano_claude.providers.gemini import GeminiProvider

        return GeminiProvider(endpoint, settings, retry)
    if spec.protocol == "ollama":
        from nano_claude.providers.ollama import OllamaProvider

        return OllamaProvider(endpoint, settings, retry)
    from nano_claude.providers.openai_compat import OpenAICompatProvider

    if spec.protocol == "gemini":  # Gemini's OpenAI-compatible endpoint
        endpoint = Endpoint(endpoint.provider, endpoint.base_url + "/openai", endpoint.api_key,
                            endpoint.key_env, endpoint.local)
    return OpenAICompatProvider(endpoint, settings, retry)


def embedded_model_path(settings: Settings) -> Path | None:
    """The GGUF `local/smollm2` would load (local_model_path, else the shipped SmolLM2),
    if llama.cpp and that file are installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    return locate(source_of(SHIPPED, settings))


def embedded_info(info: ModelInfo, settings: Settings) -> ModelInfo:
    """An embedded model as this machine runs it: the context fitted to its memory
    (providers/embedded.py) and the tool profile that suits it. A model not downloaded
    yet keeps the catalog's window until it is. Every way into a model goes through here:
    a start (providers/window.py), `/model` and a pull in the REPL. The last two fit first,
    and create_provider hands the provider that window (`window_asked`); at a start the
    provider comes first and fits its own the same way (embedded.context_for)."""
    try:
        source = source_of(info.id, settings)
    except UsageError:
        return info
    path = locate(source)
    info = replace(info, tool_profile=profile_for(source, path))
    if path is None:
        return info
    try:
        return info.with_window(context_for(path, settings))
    except UsageError:  # not a GGUF: loading it will say so
        return info


def default_model(settings: Settings) -> str:
    """The model to use when none was named (see README: "Choosing a model")."""
    if settings.model:
        return settings.model
    for provider, model in DEFAULT_MODELS:
        if settings.api_key(provider):
            return f"{provider}/{model}"
    for provider in ("ollama", "lmstudio"):
        found = _first_served_model(provider, settings)
        if found:
            return f"{provider}/{found}"
    if embedded_model_path(settings) is not None:
        return EMBEDDED_MODEL
    keys = ", ".join(PROVIDERS[p].key_env for p, _ in DEFAULT_MODELS)
    missing = (f" (local_model_path {settings.local_model_path} is not a file)"
               if settings.local_model_path else "")
    raise UsageError(
        "no model available: set an API key (one of " + keys + "), start Ollama or LM Studio, "
        f"or install the embedded model with `{install_command('local')}` "
        f"(then `--model local/smollm2`){missing}"
    )


def _first_served_model(provider: str, settings: Settings) -> str | None:
    """Ask a local server on its usual port which models it serves; quick and quiet."""
    import httpx

    base = settings.base_url(provider)
    url = base + ("/api/tags" if provider == "ollama" else "/models")
    try:
        served = served_model_ids(httpx.get(url, timeout=0.5).json())
    except (httpx.HTTPError, ValueError):
        return None
    return served[0] if served else None


def served_model_ids(listing: object) -> list[str]:
    """Model ids from a server's listing: OpenAI-style `data`, Ollama's `models`,
    Gemini's `models/…` names; anything malformed lists nothing."""
    if not isinstance(listing, dict):
        return []
    items = listing.get("data") or listing.get("models") or []
    ids = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = item.get("id") or item.get("name") or item.get("model")
            if name:
                ids.append(str(name).removeprefix("models/"))
    return ids
