"""The remembered windows of local servers (providers/window.py): one JSON file, written
whole, that a damaged copy or a stale "did not say" never misleads."""

from __future__ import annotations

import json
from pathlib import Path

from nano_claude.config import Settings
from nano_claude.providers.http import Endpoint
from nano_claude.providers.window import (
    SILENT_TTL,
    Learned,
    WindowCache,
    cache_file,
    effective_window,
    refresh,
)
from tests.fakes import ollama_wire
from tests.fakes.server import FakeModelServer

VLLM = Endpoint("custom", "http://gpu:8000/v1", local=True)


def test_the_cache_lives_beside_the_prefix_cache() -> None:
    assert cache_file({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/nano_claude/windows.json")
    assert cache_file({"HOME": "/h"}) == Path("/h/.cache/nano_claude/windows.json")


def test_an_answer_is_kept_per_server_and_model(tmp_path: Path) -> None:
    cache = WindowCache(tmp_path / "windows.json")
    cache.put(VLLM, "coder", Learned(32768, 1000.0))
    cache.put(Endpoint("custom", "http://other:8000/v1"), "coder", Learned(4096, 1000.0))

    assert cache.get(VLLM, "coder") == Learned(32768, 1000.0)
    assert cache.get(Endpoint("custom", "http://other:8000/v1/"), "coder") == Learned(4096, 1000.0)
    assert cache.get(VLLM, "tiny") is None
    assert [p.name for p in tmp_path.iterdir()] == ["windows.json"]  # no temporary file left


def test_a_damaged_file_is_ignored_and_replaced(tmp_path: Path) -> None:
    path = tmp_path / "windows.json"
    path.write_text('{"format": 1, "windows": {"custom http://gpu:8000/v1 coder": {"wind')
    cache = WindowCache(path)
    assert cache.get(VLLM, "coder") is None
    cache.put(VLLM, "coder", Learned(16384, 5.0))
    assert json.loads(path.read_text())["windows"] == {
        "custom http://gpu:8000/v1 coder": {"window": 16384, "at": 5.0}}


def test_an_entry_that_is_not_a_window_is_not_believed(tmp_path: Path) -> None:
    path = tmp_path / "windows.json"
    path.write_text(json.dumps({"format": 1, "windows": {
        "custom http://gpu:8000/v1 coder": {"window": -5, "at": 5.0},
        "custom http://gpu:8000/v1 tiny": {"window": "big", "at": 5.0}}}))
    cache = WindowCache(path)
    assert cache.get(VLLM, "coder") is None and cache.get(VLLM, "tiny") is None


def test_a_server_that_did_not_say_is_asked_again_after_a_day(tmp_path: Path) -> None:
    now = [1000.0]
    cache = WindowCache(tmp_path / "windows.json", clock=lambda: now[0])
    cache.put(VLLM, "coder", Learned(None, 1000.0))
    cache.put(VLLM, "big", Learned(65536, 1000.0))
    now[0] += SILENT_TTL - 1
    assert cache.get(VLLM, "coder") == Learned(None, 1000.0)
    now[0] += 2
    assert cache.get(VLLM, "coder") is None
    assert cache.get(VLLM, "big") == Learned(65536, 1000.0)  # a window is kept until doctor asks again


def test_ollama_runs_with_the_num_ctx_we_send() -> None:
    settings = Settings(ollama_max_ctx=32768)
    assert effective_window("ollama", 131072, settings) == 32768
    assert effective_window("ollama", 8192, settings) == 8192
    assert effective_window("ollama", None, settings) == 32768  # num_ctx is the cap alone then
    assert effective_window("custom", None, settings) is None


def test_refresh_asks_now_and_overwrites_what_was_remembered(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    fake_server.route("POST", "/api/show", ollama_wire.show("qwen2", 16384))
    ollama = Endpoint("ollama", fake_server.url, local=True)
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    cache = WindowCache(cache_file(environ))
    cache.put(ollama, "qwen2.5-coder", Learned(4096, 1.0))

    assert refresh(ollama, "qwen2.5-coder", Settings(), environ) == 16384
    assert cache.get(ollama, "qwen2.5-coder").window == 16384
    assert [r.body for r in fake_server.requests] == [{"model": "qwen2.5-coder"}]


def test_a_key_the_server_refuses_is_not_taken_for_silence(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    fake_server.route("GET", "/v1/models", {"error": "invalid api key"}, status=401)
    environ = {"XDG_CACHE_HOME": str(tmp_path)}
    custom = Endpoint("custom", fake_server.url + "/v1", "wrong-key", local=True)

    assert refresh(custom, "coder", Settings(), environ) is None
    assert WindowCache(cache_file(environ)).get(custom, "coder") is None  # asked again once fixed
    assert fake_server.requests[0].headers["authorization"] == "Bearer wrong-key"
    assert len(fake_server.requests) == 1  # no point asking the other endpoints
