"""Providers, models, context sizes and prices; and how a model name resolves.

Pure data and pure functions: nothing here touches the network or imports a
provider module, so the CLI can resolve a name at start-up for free. Only a name
that is no built-in provider's asks the installed Python plugins for theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

from nano_claude.core.errors import UnknownModelError
from nano_claude.providers.embedded import CURATED, MAX_CONTEXT


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    protocol: str  # anthropic | openai | ollama | gemini | local
    key_env: str = ""  # variable holding the key; "" when no key is needed
    key_required: bool = True
    base_url: str = ""
    base_url_envs: tuple[str, ...] = ()
    local: bool = False  # runs on the user's machine: probe it, do not trust it
    label: str = ""


PROVIDERS: dict[str, ProviderSpec] = {
    p.name: p
    for p in (
        ProviderSpec("anthropic", "anthropic", "ANTHROPIC_API_KEY",
                     base_url="https://api.anthropic.com",
                     base_url_envs=("ANTHROPIC_BASE_URL",), label="Anthropic"),
        ProviderSpec("openai", "openai", "OPENAI_API_KEY",
                     base_url="https://api.openai.com/v1",
                     base_url_envs=("OPENAI_BASE_URL",), label="OpenAI"),
        ProviderSpec("gemini", "gemini", "GEMINI_API_KEY",
                     base_url="https://generativelanguage.googleapis.com/v1beta",
                     base_url_envs=("GEMINI_BASE_URL",), label="Google Gemini"),
        ProviderSpec("kimi", "openai", "MOONSHOT_API_KEY",
                     base_url="https://api.moonshot.ai/v1",
                     base_url_envs=("MOONSHOT_BASE_URL", "KIMI_BASE_URL"), label="Moonshot Kimi"),
        ProviderSpec("qwen", "openai", "DASHSCOPE_API_KEY",
                     base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                     base_url_envs=("DASHSCOPE_BASE_URL", "QWEN_BASE_URL"), label="Alibaba Qwen"),
        ProviderSpec("zhipu", "openai", "ZHIPU_API_KEY",
                     base_url="https://open.bigmodel.cn/api/paas/v4",
                     base_url_envs=("ZHIPU_BASE_URL",), label="Zhipu GLM"),
        ProviderSpec("deepseek", "openai", "DEEPSEEK_API_KEY",
                     base_url="https://api.deepseek.com/v1",
                     base_url_envs=("DEEPSEEK_BASE_URL",), label="DeepSeek"),
        ProviderSpec("ollama", "ollama", key_required=False,
                     base_url="http://localhost:11434",
                     base_url_envs=("OLLAMA_HOST",), local=True, label="Ollama"),
        ProviderSpec("lmstudio", "openai", key_required=False,
                     base_url="http://localhost:1234/v1",
                     base_url_envs=("LMSTUDIO_BASE_URL",), local=True, label="LM Studio"),
        ProviderSpec("custom", "openai", "CUSTOM_API_KEY", key_required=False,
                     base_url="", base_url_envs=("CUSTOM_BASE_URL",), local=True,
                     label="OpenAI-compatible server"),
        ProviderSpec("local", "local", key_required=False, local=True,
                     label="embedded llama.cpp model"),
    )
}
# The providers above. A Python plugin's providers (register_providers) join PROVIDERS only when
# a name is none of these (is_provider), so a start-up with a built-in one costs nothing more.
BUILTIN_PROVIDERS = frozenset(PROVIDERS)


def is_provider(name: str) -> bool:
    """A built-in provider, or one an installed package's plugin registers."""
    if name in PROVIDERS:
        return True
    _join_plugin_providers()
    return name in PROVIDERS


@cache
def _join_plugin_providers() -> tuple[str, ...]:
    """Add the plugins' providers to PROVIDERS, once a process; why some could not be added."""
    from nano_claude.extensions.plugins.python import plugin_providers

    notes: list[str] = []
    for spec in plugin_providers(notes):
        PROVIDERS.setdefault(spec.name, spec)
    return tuple(notes)


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    id: str
    context_window: int
    max_output: int
    # USD per million tokens
    price_in: float = 0.0
    price_out: float = 0.0
    price_cache_read: float = 0.0
    price_cache_write: float = 0.0
    reasoning: bool = False  # OpenAI-style reasoning model (max_completion_tokens, effort)
    thinking: bool = False  # supports an explicit thinking budget / mode
    known: bool = True  # False: defaults for a model the catalog has not heard of
    window_asked: bool = False  # its server was asked for the window (providers/window.py)
    tool_profile: Literal["full", "compact"] | None = None  # what suits it, when not the window's say

    @property
    def qualified(self) -> str:
        return f"{self.provider}/{self.id}"

    def with_window(self, window: int) -> ModelInfo:
        """The model as its server runs it: that window, and an output limit of at most
        half of it, so what we ask the model to write leaves room for the prompt."""
        return replace(self, context_window=window, window_asked=True,
                       max_output=min(self.max_output, max(window // 2, 256)))

    @property
    def can_think(self) -> bool:
        """Send a thinking request? A model the catalog lists without thinking would
        refuse it; one it does not know gets the benefit of the doubt."""
        return self.thinking or not self.known


def _m(provider: str, id: str, ctx: int, out: int, pin: float = 0.0, pout: float = 0.0,
       cread: float = 0.0, cwrite: float = 0.0, **flags: bool) -> ModelInfo:
    return ModelInfo(provider, id, ctx, out, pin, pout, cread, cwrite, **flags)


_K = 1000
# Prices: USD per million tokens, from the vendors' public price lists when this catalog
# was last updated; a provider's own bill is the authority.
MODELS: tuple[ModelInfo, ...] = (
    _m("anthropic", "claude-opus-4-6", 200 * _K, 64 * _K, 5, 25, 0.5, 6.25, thinking=True),
    _m("anthropic", "claude-opus-4-5", 200 * _K, 64 * _K, 5, 25, 0.5, 6.25, thinking=True),
    _m("anthropic", "claude-opus-4-1", 200 * _K, 32 * _K, 15, 75, 1.5, 18.75, thinking=True),
    _m("anthropic", "claude-sonnet-4-6", 200 * _K, 64 * _K, 3, 15, 0.3, 3.75, thinking=True),
    _m("anthropic", "claude-sonnet-4-5", 200 * _K, 64 * _K, 3, 15, 0.3, 3.75, thinking=True),
    _m("anthropic", "claude-sonnet-4-0", 200 * _K, 64 * _K, 3, 15, 0.3, 3.75, thinking=True),
    _m("anthropic", "claude-haiku-4-5", 200 * _K, 64 * _K, 1, 5, 0.1, 1.25, thinking=True),
    _m("anthropic", "claude-3-5-haiku-latest", 200 * _K, 8192, 0.8, 4, 0.08, 1.0),
    _m("openai", "gpt-5", 400 * _K, 128 * _K, 1.25, 10, 0.125, reasoning=True),
    _m("openai", "gpt-5-mini", 400 * _K, 128 * _K, 0.25, 2, 0.025, reasoning=True),
    _m("openai", "gpt-5-nano", 400 * _K, 128 * _K, 0.05, 0.4, 0.005, reasoning=True),
    _m("openai", "gpt-4.1", 1_047_576, 32768, 2, 8, 0.5),
    _m("openai", "gpt-4.1-mini", 1_047_576, 32768, 0.4, 1.6, 0.1),
    _m("openai", "gpt-4.1-nano", 1_047_576, 32768, 0.1, 0.4, 0.025),
    _m("openai", "gpt-4o", 128 * _K, 16384, 2.5, 10, 1.25),
    _m("openai", "gpt-4o-mini", 128 * _K, 16384, 0.15, 0.6, 0.075),
    _m("openai", "o1", 200 * _K, 100 * _K, 15, 60, 7.5, reasoning=True),
    _m("openai", "o3", 200 * _K, 100 * _K, 2, 8, 0.5, reasoning=True),
    _m("openai", "o3-mini", 200 * _K, 100 * _K, 1.1, 4.4, 0.55, reasoning=True),
    _m("openai", "o4-mini", 200 * _K, 100 * _K, 1.1, 4.4, 0.275, reasoning=True),
    _m("gemini", "gemini-2.5-pro", 1_048_576, 65536, 1.25, 10, 0.31, thinking=True),
    _m("gemini", "gemini-2.5-flash", 1_048_576, 65536, 0.3, 2.5, 0.075, thinking=True),
    _m("gemini", "gemini-2.5-flash-lite", 1_048_576, 65536, 0.1, 0.4, 0.025, thinking=True),
    _m("gemini", "gemini-2.0-flash", 1_048_576, 8192, 0.1, 0.4, 0.025),
    _m("gemini", "gemini-1.5-pro", 2_097_152, 8192, 1.25, 5, 0.3125),
    _m("kimi", "kimi-k2-0905-preview", 256 * _K, 16384, 0.6, 2.5, 0.15),
    _m("kimi", "kimi-k2-turbo-preview", 256 * _K, 16384, 1.15, 8, 0.15),
    _m("kimi", "moonshot-v1-8k", 8192, 4096, 0.2, 2),
    _m("kimi", "moonshot-v1-32k", 32768, 8192, 1, 3),
    _m("kimi", "moonshot-v1-128k", 131072, 8192, 2, 5),
    _m("qwen", "qwen-max", 32768, 8192, 1.6, 6.4),
    _m("qwen", "qwen-plus", 131072, 8192, 0.4, 1.2),
    _m("qwen", "qwen-turbo", 1_000_000, 8192, 0.05, 0.2),
    _m("qwen", "qwen3-coder-plus", 1_000_000, 65536, 1, 5),
    _m("qwen", "qwq-32b", 131072, 8192, 0.29, 0.86, thinking=True),
    _m("zhipu", "glm-4.6", 200 * _K, 128 * _K, 0.6, 2.2, 0.11, thinking=True),
    _m("zhipu", "glm-4.5", 128 * _K, 96 * _K, 0.6, 2.2, 0.11, thinking=True),
    _m("zhipu", "glm-4-plus", 128 * _K, 4096, 0.7, 0.7),
    _m("zhipu", "glm-4", 128 * _K, 4096, 0.14, 0.14),
    _m("zhipu", "glm-4-flash", 128 * _K, 4096, 0, 0),
    _m("deepseek", "deepseek-chat", 128 * _K, 8192, 0.28, 0.42, 0.028),
    _m("deepseek", "deepseek-reasoner", 128 * _K, 64 * _K, 0.28, 0.42, 0.028, thinking=True),
    # The embedded models (providers/embedded.py): the window is fitted to the machine at start.
    *(ModelInfo("local", c.name, min(c.context, MAX_CONTEXT), min(c.context // 4, 4096),
                tool_profile=c.profile) for c in CURATED),
)

_CATALOG: dict[tuple[str, str], ModelInfo] = {(m.provider, m.id): m for m in MODELS}

# Defaults for models a provider serves that the catalog does not list.
_DEFAULT_WINDOW = {
    "anthropic": (200 * _K, 32 * _K), "openai": (128 * _K, 16384),
    "gemini": (1_048_576, 8192), "kimi": (128 * _K, 8192), "qwen": (128 * _K, 8192),
    "zhipu": (128 * _K, 8192), "deepseek": (128 * _K, 8192),
    # Local servers are probed; until then assume little (Ollama's own default is 4096).
    "ollama": (8192, 4096), "lmstudio": (8192, 4096), "custom": (8192, 4096),
    "local": (8192, 2048),
}

# Bare names: prefix -> provider. Checked in order; the first match wins.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("claude-", "anthropic"),
    ("gpt-", "openai"), ("chatgpt-", "openai"),
    ("gemini-", "gemini"),
    ("moonshot-", "kimi"), ("kimi-", "kimi"),
    ("qwq-", "qwen"), ("qwen", "qwen"),
    ("glm-", "zhipu"),
    ("deepseek-", "deepseek"),
    ("codellama", "ollama"), ("llama", "ollama"), ("mistral", "ollama"),
    ("mixtral", "ollama"), ("phi", "ollama"), ("gemma", "ollama"),
)
_OPENAI_REASONING = re.compile(r"^(o\d+)(-|$)|^gpt-5")


def resolve(name: str) -> tuple[str, str]:
    """Split a model name into (provider, model id).

    Accepts `provider/model`, `provider:model` and bare names recognised by prefix.
    """
    name = name.strip()
    if not name:
        raise UnknownModelError("empty model name; " + _choices_hint())
    for sep in ("/", ":"):
        head, found, rest = name.partition(sep)
        if found and is_provider(head.lower()):
            if not rest:
                raise UnknownModelError(
                    f"model name {name!r} names the provider but no model; "
                    f"write {head}{sep}<model>, for example {_example(head.lower())}"
                )
            return head.lower(), rest
    lower = name.lower()
    if _OPENAI_REASONING.match(lower):
        return "openai", name
    for prefix, provider in _PREFIXES:
        if lower.startswith(prefix):
            return provider, name
    raise UnknownModelError(f"unknown model {name!r}; " + _choices_hint())


def lookup(provider: str, model: str) -> ModelInfo:
    """The catalog entry, or sensible defaults for an unlisted model of a known provider."""
    if not is_provider(provider):
        raise UnknownModelError(f"unknown provider {provider!r}; " + _choices_hint())
    found = _CATALOG.get((provider, model))
    if found:
        return found
    # Dated or tagged variants ("claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06")
    # inherit the longest listed id they start with.
    candidates = [m for (p, mid), m in _CATALOG.items() if p == provider and model.startswith(mid)]
    if candidates:
        base = max(candidates, key=lambda m: len(m.id))
        return replace(base, id=model)
    window, out = _DEFAULT_WINDOW.get(provider) or _DEFAULT_WINDOW["custom" if PROVIDERS[provider].local
                                                                   else "openai"]
    reasoning = provider == "openai" and bool(_OPENAI_REASONING.match(model.lower()))
    return ModelInfo(provider, model, window, out, reasoning=reasoning, known=False)


def model_info(name: str) -> ModelInfo:
    return lookup(*resolve(name))


def models_of(provider: str) -> list[ModelInfo]:
    return [m for m in MODELS if m.provider == provider]


def cost_usd(info: ModelInfo, input_tokens: int, output_tokens: int,
             cache_read: int = 0, cache_write: int = 0) -> float:
    cache_write_price = info.price_cache_write or info.price_in
    cache_read_price = info.price_cache_read or info.price_in
    return (
        input_tokens * info.price_in
        + output_tokens * info.price_out
        + cache_read * cache_read_price
        + cache_write * cache_write_price
    ) / 1_000_000


_EXAMPLES = {"ollama": "ollama/qwen2.5-coder", "lmstudio": "lmstudio/qwen2.5-coder-7b-instruct",
             "custom": "custom/Qwen/Qwen2.5-Coder-7B-Instruct"}


def _example(provider: str) -> str:
    listed = models_of(provider)
    return f"{provider}/{listed[0].id}" if listed else _EXAMPLES.get(provider, f"{provider}/<model>")


def _choices_hint() -> str:
    problems = _join_plugin_providers()  # an error already: the plugins' providers may be the ones meant
    return (
        "name it as provider/model (providers: " + ", ".join(PROVIDERS) + "), "
        "or by a known prefix (claude-, gpt-, o1/o3/o4, gemini-, kimi-/moonshot-, "
        "qwen/qwq-, glm-, deepseek-, llama/mistral/phi/gemma/mixtral/codellama)"
        + (f" ({'; '.join(problems)})" if problems else "")
    )
