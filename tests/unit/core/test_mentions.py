"""What counts as an @path mention, and how Tab completion reads the one being typed."""

from __future__ import annotations

import pytest

from nano_claude.core.mentions import escape, find, partial, spell


@pytest.mark.parametrize(("message", "paths"), [
    ("look at @src/app.py", ["src/app.py"]),
    ("@notes.md first", ["notes.md"]),
    ('read @"my notes/a.txt" now', ["my notes/a.txt"]),
    ("read @'my notes/a.txt' now", ["my notes/a.txt"]),
    ("read @my\\ notes/a.txt now", ["my notes/a.txt"]),
    ('@"say \\"hi\\".txt"', ['say "hi".txt']),
    ("mail a@b.com or x@y", []),
    ("```python\n@decorator\ndef f(): ...\n```\nsee @real.py", ["real.py"]),
    ("run `git log @{u}` then @a.txt", ["a.txt"]),
    ("an @ alone", []),
])
def test_what_counts_as_a_mention(message: str, paths: list[str]) -> None:
    assert [m.path for m in find(message)] == paths


def test_punctuation_after_a_bare_path_is_trimmed_only_as_a_fallback() -> None:
    bare, quoted = find('see @notes.md, and @"odd.md,"')
    assert bare.path == "notes.md,"
    assert bare.trimmed.path == "notes.md" and bare.trimmed.written == "@notes.md"
    assert quoted.trimmed.path == "odd.md,"


@pytest.mark.parametrize(("word", "path_like"), [
    ("@alice", False), ("@property", False), ("@alice.", False), ("@v1.2", True), ("@src/x", True),
    ("@~/x", True), ("@my\\ notes", True), ('@"notes"', True),
])
def test_only_a_word_that_looks_like_a_path_is_worth_a_note(word: str, path_like: bool) -> None:
    assert find(word)[0].trimmed.looks_like_path is path_like


@pytest.mark.parametrize(("before", "expected"), [
    ("read @not", ("not", "not", "")),
    ("read @my\\ no", ("my\\ no", "my no", "")),
    ("read @my\\", ("my\\", "my", "")),
    ('read @"my no', ('"my no', "my no", '"')),
    ("read @", ("", "", "")),
    ("mail a@b", None),
    ("read @x done", None),
])
def test_the_mention_being_typed(before: str, expected: tuple[str, str, str] | None) -> None:
    assert partial(before) == expected


def test_a_completed_path_reads_back_as_the_same_path() -> None:
    for path in ("my notes/a b.txt", 'say "hi".txt', "back\\slash", "plain.md"):
        assert [m.path for m in find("@" + escape(path))] == [path]
        assert [m.path for m in find("@" + spell(path, '"', closed=True))] == [path]
