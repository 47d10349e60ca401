"""The embedded model's on-disk prefix cache, without a model: entries, lookup, damage, eviction."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from nano_claude.providers.prefix_cache import (
    SUFFIX,
    ModelIdentity,
    PrefixCache,
    cache_folder,
    common_prefix,
)

MODEL = ModelIdentity("/models/m.gguf:100:1", 4096, "0.3.36")
STATE = bytes(range(256)) * 64  # 16 KiB standing in for llama.cpp's state


@pytest.fixture
def cache(tmp_path: Path) -> PrefixCache:
    return PrefixCache(tmp_path / "prefix", cap_bytes=1 << 20)


def entries(cache: PrefixCache) -> list[Path]:
    return sorted(cache.folder.glob("*" + SUFFIX))


def test_folder_follows_xdg_then_home() -> None:
    assert cache_folder({"XDG_CACHE_HOME": "/x/cache", "HOME": "/h"}) == Path("/x/cache/nano_claude/prefix")
    assert cache_folder({"HOME": "/h"}) == Path("/h/.cache/nano_claude/prefix")
    assert cache_folder({"XDG_CACHE_HOME": "", "HOME": "/h"}) == Path("/h/.cache/nano_claude/prefix")


def test_a_saved_state_comes_back_exactly(cache: PrefixCache) -> None:
    tokens = list(range(100))
    path = cache.save(MODEL, tokens, STATE)
    assert path is not None and path.parent == cache.folder
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # a prompt's state is the user's business
    entry = cache.find(MODEL, tokens, minimum=32)
    assert entry is not None
    assert entry.tokens == tuple(tokens) and entry.state == STATE
    assert [p.name for p in cache.folder.iterdir()] == [path.name]  # no temporary left behind


def test_the_key_covers_model_context_runtime_and_tokens(cache: PrefixCache) -> None:
    tokens = list(range(100))
    keys = {cache.key(MODEL, tokens),
            cache.key(ModelIdentity("/models/m.gguf:100:2", 4096, "0.3.36"), tokens),  # file replaced
            cache.key(ModelIdentity(MODEL.model, 8192, "0.3.36"), tokens),
            cache.key(ModelIdentity(MODEL.model, 4096, "0.3.37"), tokens),
            cache.key(MODEL, [*tokens[:-1], 7])}
    assert len(keys) == 5


def test_another_model_or_window_never_gets_the_entry(cache: PrefixCache) -> None:
    tokens = list(range(100))
    cache.save(MODEL, tokens, STATE)
    for other in (ModelIdentity(MODEL.model, 8192, "0.3.36"),
                  ModelIdentity("/other.gguf:1:1", 4096, "0.3.36"),
                  ModelIdentity(MODEL.model, 4096, "0.4.0")):
        assert cache.find(other, tokens, minimum=32) is None
    assert len(entries(cache)) == 1  # someone else's entry is left alone


def test_a_changed_prompt_takes_the_entry_sharing_the_longest_prefix(cache: PrefixCache) -> None:
    tools = list(range(500))
    cache.save(MODEL, [*tools, 1, 2, 3], b"short")  # shares 500 tokens with the new prompt
    cache.save(MODEL, [*tools, 900, 901, *range(40)], b"long")  # shares 502
    cache.save(MODEL, list(range(1000, 1100)), b"unrelated")
    entry = cache.find(MODEL, [*tools, 900, 901, 7, 7], minimum=32)
    assert entry is not None and entry.state == b"long"
    assert common_prefix(entry.tokens, [*tools, 900, 901, 7, 7]) == 502
    assert cache.find(MODEL, [5000, *tools], minimum=32) is None  # nothing shared
    assert cache.find(MODEL, [*tools[:20], 9999], minimum=32) is None  # 20 < minimum


@pytest.mark.parametrize("damage", ["flip a state byte", "truncate", "garbage", "empty", "bad header"])
def test_a_damaged_entry_is_deleted_and_never_returned(cache: PrefixCache, damage: str) -> None:
    tokens = list(range(100))
    path = cache.save(MODEL, tokens, STATE)
    assert path is not None
    data = bytearray(path.read_bytes())
    if damage == "flip a state byte":
        data[-100] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    elif damage == "empty":
        data = bytearray()
    else:
        data = data.replace(b'"sha256"', b'"sha257"', 1)
    path.write_bytes(bytes(data))
    assert cache.find(MODEL, tokens, minimum=32) is None
    assert not path.exists()
    assert cache.save(MODEL, tokens, STATE) == path  # and it is rebuilt by the next save
    found = cache.find(MODEL, tokens, minimum=32)
    assert found is not None and found.state == STATE


def test_least_recently_used_entries_go_beyond_the_cap(tmp_path: Path) -> None:
    cache = PrefixCache(tmp_path / "prefix", cap_bytes=3 * len(STATE) + 3 * 2048)  # three entries
    prompts = [[n, *range(100)] for n in range(4)]
    for age, tokens in enumerate(prompts[:3]):
        path = cache.save(MODEL, tokens, STATE)
        assert path is not None
        past = time.time() - 1000 + age * 10
        os.utime(path, (past, past))
    assert cache.find(MODEL, prompts[0], minimum=32) is not None  # the oldest, used just now
    cache.save(MODEL, prompts[3], STATE)
    left = {tuple(e.tokens) for e in (cache.find(MODEL, p, minimum=101) for p in prompts) if e}
    assert left == {tuple(prompts[0]), tuple(prompts[2]), tuple(prompts[3])}  # prompts[1] went


def test_a_state_bigger_than_the_cap_is_not_written(tmp_path: Path) -> None:
    cache = PrefixCache(tmp_path / "prefix", cap_bytes=1000)
    assert cache.save(MODEL, list(range(100)), STATE) is None
    assert not cache.folder.exists() or not list(cache.folder.iterdir())


def test_an_unwritable_folder_costs_only_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = PrefixCache(blocker / "prefix", cap_bytes=1 << 20)
    assert cache.save(MODEL, list(range(100)), STATE) is None
    assert cache.find(MODEL, list(range(100)), minimum=32) is None


def test_stale_temporaries_are_swept_and_fresh_ones_kept(cache: PrefixCache) -> None:
    cache.folder.mkdir(parents=True)
    stale, fresh = cache.folder / (".tmp-old" + SUFFIX), cache.folder / (".tmp-new" + SUFFIX)
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    cache.save(MODEL, list(range(100)), STATE)
    assert not stale.exists() and fresh.exists()  # a fresh one may be another process's write
