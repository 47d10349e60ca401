from __future__ import annotations

import pytest

from nano_claude.core.errors import UnknownModelError
from nano_claude.providers.catalog import PROVIDERS, cost_usd, lookup, model_info, resolve


@pytest.mark.parametrize(("name", "expected"), [
    ("claude-sonnet-4-6", ("anthropic", "claude-sonnet-4-6")),
    ("gpt-4o", ("openai", "gpt-4o")),
    ("o1", ("openai", "o1")),
    ("o3-mini", ("openai", "o3-mini")),
    ("o4-mini", ("openai", "o4-mini")),
    ("gemini-2.5-pro", ("gemini", "gemini-2.5-pro")),
    ("moonshot-v1-32k", ("kimi", "moonshot-v1-32k")),
    ("kimi-k2-0905-preview", ("kimi", "kimi-k2-0905-preview")),
    ("qwen-max", ("qwen", "qwen-max")),
    ("qwq-32b", ("qwen", "qwq-32b")),
    ("glm-4-plus", ("zhipu", "glm-4-plus")),
    ("deepseek-chat", ("deepseek", "deepseek-chat")),
    ("llama3.3", ("ollama", "llama3.3")),
    ("codellama:7b", ("ollama", "codellama:7b")),
    ("mistral", ("ollama", "mistral")),
    ("phi4", ("ollama", "phi4")),
    ("gemma3:4b", ("ollama", "gemma3:4b")),
    ("mixtral", ("ollama", "mixtral")),
    ("ollama/qwen2.5-coder", ("ollama", "qwen2.5-coder")),
    ("kimi:moonshot-v1-8k", ("kimi", "moonshot-v1-8k")),
    ("custom/Qwen/Qwen2.5-Coder-7B-Instruct", ("custom", "Qwen/Qwen2.5-Coder-7B-Instruct")),
    ("lmstudio/phi-4-GGUF", ("lmstudio", "phi-4-GGUF")),
    ("local/smollm2", ("local", "smollm2")),
])
def test_model_names_resolve_three_ways(name: str, expected: tuple[str, str]) -> None:
    assert resolve(name) == expected


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve("frobnicator-9")
    message = str(info.value)
    assert "frobnicator-9" in message
    for provider in PROVIDERS:
        assert provider in message


def test_provider_without_model_says_how_to_write_it() -> None:
    with pytest.raises(UnknownModelError, match=r"ollama/<model>, for example ollama/qwen2.5-coder"):
        resolve("ollama/")


def test_unknown_model_of_known_provider_gets_defaults() -> None:
    info = model_info("openai/gpt-9-turbo")
    assert not info.known and info.context_window > 0 and info.max_output > 0
    assert model_info("ollama/some-local-thing").context_window == 8192


def test_dated_variants_inherit_the_listed_model() -> None:
    info = lookup("anthropic", "claude-sonnet-4-5-20250929")
    assert info.known and info.price_in == 3 and info.id == "claude-sonnet-4-5-20250929"


def test_reasoning_models_are_flagged() -> None:
    assert model_info("o3-mini").reasoning and model_info("gpt-5").reasoning
    assert not model_info("gpt-4o").reasoning
    assert model_info("openai/o7-preview").reasoning  # unknown but shaped like one


def test_cost_counts_cache_reads_and_writes_at_their_prices() -> None:
    info = model_info("claude-sonnet-4-6")
    cost = cost_usd(info, 1_000_000, 1_000_000, cache_read=1_000_000, cache_write=1_000_000)
    assert cost == pytest.approx(3 + 15 + 0.3 + 3.75)
