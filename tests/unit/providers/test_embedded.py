"""The embedded models' names, their context fitted to the machine, the tool profile
that suits each, and which tool-call format a chat template was written for."""

from __future__ import annotations

from pathlib import Path

import pytest

from nano_claude.assemble import tool_profile
from nano_claude.config import Settings
from nano_claude.core.errors import UnknownModelError
from nano_claude.providers.catalog import model_info
from nano_claude.providers.chat_format import FORMATS, detect
from nano_claude.providers.embedded import (
    CONTEXT_STEP,
    CURATED,
    MAX_CONTEXT,
    MEMORY_SHARE,
    MIN_CONTEXT,
    OVERHEAD,
    Shape,
    TooLittleMemory,
    check_room,
    fit_context,
    memory_needed,
    profile_for,
    read_shape,
    shipped_model,
    source_of,
)

GIB = 1 << 30
TEMPLATES = Path(__file__).parents[2] / "fakes" / "chat_templates"
QWEN3_4B = Shape(trained=40960, kv_bytes_per_token=2 * 36 * 8 * (128 + 128), heads=32)  # its GGUF header
QWEN3_4B_BYTES = 2_497_280_256


# --- fitting the context ------------------------------------------------------------------


def test_plenty_of_memory_runs_the_trained_context_up_to_the_cap() -> None:
    assert fit_context(QWEN3_4B, 2_497_280_256, available=64 * GIB) == MAX_CONTEXT
    assert fit_context(Shape(8192, 23040), 98_362_432, available=64 * GIB) == 8192  # SmolLM2: its own 8k


def test_little_memory_fits_what_the_kv_cache_can_hold() -> None:
    available = 8 * GIB
    budget = int(available * MEMORY_SHARE) - 2_497_280_256 - OVERHEAD
    fitted = fit_context(QWEN3_4B, 2_497_280_256, available)
    assert fitted < MAX_CONTEXT
    assert fitted % CONTEXT_STEP == 0
    per_token = QWEN3_4B.bytes_per_token
    assert fitted * per_token <= budget < (fitted + CONTEXT_STEP) * per_token


def test_the_attention_scores_buffer_counts_with_the_kv_cache() -> None:
    # without flash attention llama.cpp keeps f32 scores of a 512-token batch per head and
    # context token: 32 heads make 64 KiB a token besides Qwen3 4B's 144 KiB of KV cache
    assert QWEN3_4B.bytes_per_token == 2 * 36 * 8 * 256 + 32 * 512 * 4
    available = 12 * GIB
    budget = int(available * MEMORY_SHARE) - QWEN3_4B_BYTES - OVERHEAD
    fitted = fit_context(QWEN3_4B, QWEN3_4B_BYTES, available)
    assert fitted * QWEN3_4B.bytes_per_token <= budget
    assert fitted < fit_context(Shape(40960, QWEN3_4B.kv_bytes_per_token), QWEN3_4B_BYTES, available)


def test_too_little_memory_fits_less_than_a_request_needs_and_says_how_much_it_would() -> None:
    fitted = fit_context(QWEN3_4B, QWEN3_4B_BYTES, available=6 * GIB)
    assert fitted < MIN_CONTEXT
    needed = memory_needed(QWEN3_4B, QWEN3_4B_BYTES)
    assert needed > 6 * GIB
    assert fit_context(QWEN3_4B, QWEN3_4B_BYTES, needed) >= MIN_CONTEXT > fit_context(
        QWEN3_4B, QWEN3_4B_BYTES, needed - 64 * QWEN3_4B.bytes_per_token)
    message = str(TooLittleMemory("qwen3-4b", fitted, needed, 6 * GIB))
    assert "local/qwen3-4b" in message and f"{needed / 1e9:.1f} GB" in message
    assert "close some programs" in message and "local_n_ctx" in message
    assert fit_context(Shape(1024, 1000), 10, available=64 * GIB) == 1024  # never past its trained context


def test_a_context_too_small_for_a_request_is_refused_unless_the_user_set_it() -> None:
    path = shipped_model()
    if path is None:
        pytest.skip("the shipped SmolLM2 GGUF is not installed (pip install '.[local]')")
    with pytest.raises(TooLittleMemory, match="local/smollm2 does not fit in this machine's memory"):
        check_room("smollm2", path, MIN_CONTEXT - CONTEXT_STEP, Settings())
    check_room("smollm2", path, MIN_CONTEXT, Settings())
    check_room("smollm2", path, 1024, Settings(local_n_ctx=1024))  # asked for: llama.cpp says if it fails


def test_local_n_ctx_set_by_the_user_wins_within_the_trained_context() -> None:
    assert fit_context(QWEN3_4B, 2_497_280_256, available=1 * GIB, wanted=4096) == 4096
    assert fit_context(Shape(8192, 23040), 0, available=64 * GIB, wanted=100_000) == 8192


def test_the_shape_comes_from_the_gguf_header() -> None:
    path = shipped_model()
    if path is None:
        pytest.skip("the shipped SmolLM2 GGUF is not installed (pip install '.[local]')")
    # SmolLM2-135M: 30 layers, 3 KV heads of 576 / 9 = 64 dimensions, f16 keys and values.
    assert read_shape(path) == Shape(trained=8192, kv_bytes_per_token=2 * 30 * 3 * (64 + 64), heads=9)


# --- names --------------------------------------------------------------------------------


def test_curated_names_are_hub_files_and_smollm2_is_shipped() -> None:
    source = source_of("qwen3-4b", Settings())
    assert (source.kind, source.repo, source.file) == ("hub", "Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf")
    assert source_of("SmolLM2", Settings()).kind == "shipped"
    assert source.pull_name == "qwen3-4b"


def test_hf_and_path_names_run_any_gguf() -> None:
    hub = source_of("hf:bartowski/Some-GGUF/sub/model-Q4_K_M.gguf", Settings())
    assert (hub.kind, hub.repo, hub.file) == ("hub", "bartowski/Some-GGUF", "sub/model-Q4_K_M.gguf")
    assert hub.pull_name == "hf:bartowski/Some-GGUF/sub/model-Q4_K_M.gguf"
    on_disk = source_of("path:/models/x.gguf", Settings())
    assert (on_disk.kind, on_disk.path) == ("path", Path("/models/x.gguf"))


@pytest.mark.parametrize(("name", "says"), [
    ("hf:Qwen/Qwen3-4B-GGUF", "does not name a GGUF on the Hub"),
    ("hf:Qwen/Qwen3-4B-GGUF/README.md", "does not name a GGUF on the Hub"),
    ("path:models/x.gguf", "absolute path"),
    ("mistral", "local/qwen3-4b"),
])
def test_names_that_cannot_work_say_what_would(name: str, says: str) -> None:
    with pytest.raises(UnknownModelError, match=says):
        source_of(name, Settings())


@pytest.mark.parametrize(("name", "meant"), [
    ("qwen3", "Did you mean local/qwen3-1.7b or local/qwen3-4b?"),
    ("lama3", "Did you mean local/llama3.2-3b?"),
    ("mistral", ""),
])
def test_an_unknown_name_lists_the_embedded_models_and_how_to_run_any_gguf(name: str, meant: str) -> None:
    with pytest.raises(UnknownModelError) as raised:
        source_of(name, Settings())
    message = str(raised.value)
    assert (meant in message) if meant else "Did you mean" not in message
    assert all(m.qualified in message for m in CURATED)
    assert "`nano_claude models`" in message and "nano_claude models pull NAME" in message
    assert "local/hf:OWNER/REPO/FILE.gguf" in message and "local/path:/abs/file.gguf" in message
    # a server's model is the last suggestion, not the first: local/ says the embedded kind was meant
    assert message.index("local/path:") < message.index(f"ollama/{name}")


def test_local_model_path_stands_in_for_smollm2_but_not_for_a_curated_model() -> None:
    settings = Settings(local_model_path="/models/mine.gguf")
    assert source_of("smollm2", settings).path == Path("/models/mine.gguf")
    assert source_of("mine", settings).path == Path("/models/mine.gguf")
    assert source_of("qwen3-1.7b", settings).kind == "hub"


# --- profiles and formats -------------------------------------------------------------------


def test_the_catalog_gives_each_curated_model_its_profile_and_a_capped_window() -> None:
    for model in CURATED:
        info = model_info(model.qualified)
        assert info.tool_profile == model.profile
        assert info.context_window == min(model.context, MAX_CONTEXT)
    assert {m.name for m in CURATED if m.profile == "full"} == {"qwen2.5-coder-3b", "qwen3-4b", "llama3.2-3b"}


def test_a_gguf_outside_the_list_gets_the_full_tools_from_about_3b(tmp_path: Path) -> None:
    small, big = tmp_path / "small.gguf", tmp_path / "big.gguf"
    small.write_bytes(b"GGUF")
    with big.open("wb") as out:
        out.truncate(2_000_000_000)  # sparse: no disk used
    assert profile_for(source_of(f"path:{small}", Settings()), small) == "compact"
    assert profile_for(source_of(f"path:{big}", Settings()), big) == "full"
    assert profile_for(source_of("qwen3-4b", Settings()), None) == "full"  # known before it is pulled


def test_an_embedded_model_fitted_to_a_small_window_gets_the_compact_tools() -> None:
    # the full tools and prompt take about 5,000 of Qwen3 4B's tokens: in 5,632 no request fits
    info = model_info("local/qwen3-4b")
    assert tool_profile("auto", info) == "full"
    assert tool_profile("auto", info.with_window(8192)) == "compact"
    assert tool_profile("auto", info.with_window(5632)) == "compact"
    assert tool_profile("full", info.with_window(5632)) == "full"  # asked for


@pytest.mark.parametrize(("template", "family"), [
    ("qwen2.5.jinja", "hermes"), ("qwen3.jinja", "qwen3"), ("llama3.2.jinja", "llama3"),
])
def test_a_template_says_which_call_format_it_was_written_for(template: str, family: str) -> None:
    assert detect((TEMPLATES / template).read_text()) is FORMATS[family]


def test_a_template_that_knows_no_tools_gets_our_json_calls() -> None:
    chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    assert detect(chatml) is FORMATS["json"]
    assert detect(None) is FORMATS["json"]


def test_each_family_reads_back_the_call_it_writes() -> None:
    for fmt in FORMATS.values():
        text = fmt.call_text("Read", {"file_path": "a.py", "limit": 3})
        assert fmt.parse(text) == ("Read", {"file_path": "a.py", "limit": 3})
        assert text.startswith(fmt.call_start)
    assert FORMATS["hermes"].call_text("Bash", {"command": "ls"}) == \
        '<tool_call>\n{"name": "Bash", "arguments": {"command": "ls"}}\n</tool_call>'
    assert FORMATS["llama3"].call_text("Bash", {"command": "ls"}) == \
        '{"name": "Bash", "parameters": {"command": "ls"}}'


def test_llama_may_open_a_call_with_its_python_tag() -> None:
    llama = FORMATS["llama3"]
    assert llama.starts_call(b"<|python_tag|>") and llama.starts_call(b'{"')
    assert not llama.starts_call(b"<") and not llama.starts_call(b"The")
    assert llama.parse('<|python_tag|>{"name": "Bash", "parameters": {"command": "ls"}}') == \
        ("Bash", {"command": "ls"})
