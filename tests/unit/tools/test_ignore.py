from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nano_claude.tools.ignore import Overrides, RuleSet, glob_to_regex, type_pattern, walk
from nano_claude.tools.search import find_rg

RG = find_rg(dict(os.environ))


def ignored(rules: str, path: str, is_dir: bool = False) -> bool | None:
    ruleset = RuleSet.parse(rules)
    assert ruleset is not None
    return ruleset.match(path, is_dir)


def tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def listed(start: Path, **kw: object) -> list[str]:
    return sorted(rel for rel, _ in walk(str(start), **kw))  # type: ignore[arg-type]


# ------------------------------------------------------------ the matcher


def test_pattern_without_slash_matches_a_name_at_any_depth() -> None:
    assert ignored("*.log", "a.log") is True
    assert ignored("*.log", "deep/er/a.log") is True
    assert ignored("*.log", "a.log.txt") is None


def test_leading_or_middle_slash_anchors_to_the_ignore_files_directory() -> None:
    assert ignored("/build", "build") is True
    assert ignored("/build", "src/build") is None
    assert ignored("doc/*.txt", "doc/a.txt") is True
    assert ignored("doc/*.txt", "x/doc/a.txt") is None
    assert ignored("doc/*.txt", "doc/sub/a.txt") is None  # "*" stays within one directory


def test_trailing_slash_matches_directories_only() -> None:
    assert ignored("out/", "out", is_dir=True) is True
    assert ignored("out/", "out", is_dir=False) is None
    assert ignored("out/", "src/out", is_dir=True) is True


def test_negation_reincludes_and_the_last_matching_line_wins() -> None:
    rules = "*.log\n!keep.log\n"
    assert ignored(rules, "a.log") is True
    assert ignored(rules, "keep.log") is False
    assert ignored("!keep.log\n*.log\n", "keep.log") is True


def test_double_star_spans_directories() -> None:
    assert ignored("**/cache", "cache", is_dir=True) is True
    assert ignored("**/cache", "a/b/cache", is_dir=True) is True
    assert ignored("a/**/b", "a/b") is True
    assert ignored("a/**/b", "a/x/y/b") is True
    assert ignored("logs/**", "logs/x/y.txt") is True
    assert ignored("logs/**", "logs", is_dir=True) is None  # inside it, not itself


def test_comments_blanks_escapes_and_trailing_spaces() -> None:
    rules = "# a comment\n\n\\#hash\n\\!bang\nspaced   \n"
    assert ignored(rules, "# a comment") is None
    assert ignored(rules, "#hash") is True
    assert ignored(rules, "!bang") is True
    assert ignored(rules, "spaced") is True
    assert RuleSet.parse("# only a comment\n\n") is None


def test_classes_and_braces() -> None:
    assert ignored("file[0-9].txt", "file7.txt") is True
    assert ignored("file[!0-9].txt", "file7.txt") is None
    assert ignored("*.{js,ts}", "src/a.ts") is True
    assert ignored("*.{js,ts}", "src/a.py") is None


def test_glob_to_regex_keeps_star_within_a_component() -> None:
    import re

    regex = re.compile(glob_to_regex("src/*.py"))
    assert regex.fullmatch("src/a.py") and not regex.fullmatch("src/sub/a.py")
    regex = re.compile(glob_to_regex("src/**/*.py"))
    assert regex.fullmatch("src/a.py") and regex.fullmatch("src/sub/deep/a.py")


def test_type_pattern_follows_ripgreps_definitions() -> None:
    py = type_pattern("py")
    assert py is not None and py.fullmatch("a.py") and py.fullmatch("a.pyi") and not py.fullmatch("a.pyc")
    make = type_pattern("make")
    assert make is not None and make.fullmatch("Makefile") and make.fullmatch("rules.mk")
    assert type_pattern("no-such-type") is None


# ------------------------------------------------------------ the walk


def test_walk_skips_ignored_files_and_prunes_ignored_directories(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    tree(tmp_path, {".gitignore": "*.log\nnode_modules/\n!node_modules/keep.js\n",
                    "a.py": "", "a.log": "", "node_modules/keep.js": "", "node_modules/x.js": ""})
    # A file inside an excluded directory cannot be re-included (as in git).
    assert listed(tmp_path) == [".gitignore", "a.py"]


def test_nested_gitignore_overrides_its_parent_below_it_only(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    tree(tmp_path, {".gitignore": "*.log\n", "sub/.gitignore": "!important.log\n",
                    "important.log": "", "sub/important.log": "", "sub/other.log": ""})
    assert listed(tmp_path) == [".gitignore", "sub/.gitignore", "sub/important.log"]


def test_gitignore_counts_only_inside_a_git_repository_but_dot_ignore_always(tmp_path: Path) -> None:
    tree(tmp_path, {".gitignore": "a.txt\n", ".ignore": "b.txt\n", "a.txt": "", "b.txt": ""})
    assert listed(tmp_path) == [".gitignore", ".ignore", "a.txt"]
    (tmp_path / ".git").mkdir()
    assert listed(tmp_path) == [".gitignore", ".ignore"]


def test_git_info_exclude_is_honoured_and_dot_git_never_walked(tmp_path: Path) -> None:
    tree(tmp_path, {".git/info/exclude": "secret.txt\n", ".git/config": "", "secret.txt": "", "ok.txt": ""})
    assert listed(tmp_path) == ["ok.txt"]


def test_rgignore_beats_ignore_beats_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    tree(tmp_path, {".gitignore": "*.txt\n", ".ignore": "!*.txt\nb.txt\n", ".rgignore": "!b.txt\n",
                    "a.txt": "", "b.txt": ""})
    assert listed(tmp_path) == [".gitignore", ".ignore", ".rgignore", "a.txt", "b.txt"]


def test_ignore_files_above_the_start_apply_up_to_the_repository_root(tmp_path: Path) -> None:
    tree(tmp_path, {".gitignore": "*.md\n", "repo/.gitignore": "*.tmp\n",
                    "repo/src/a.md": "", "repo/src/a.tmp": "", "repo/src/a.py": ""})
    (tmp_path / "repo" / ".git").mkdir()
    # repo/.gitignore applies from inside src; the .gitignore above the repository does not.
    assert listed(tmp_path / "repo" / "src") == ["a.md", "a.py"]


def test_a_nested_repository_is_not_governed_by_the_outer_gitignore(tmp_path: Path) -> None:
    tree(tmp_path, {".gitignore": "*.md\n", "a.md": "", "inner/b.md": ""})
    (tmp_path / ".git").mkdir()
    (tmp_path / "inner" / ".git").mkdir()
    assert listed(tmp_path) == [".gitignore", "inner/b.md"]


def test_walk_lists_hidden_files_and_does_not_follow_symlinks(tmp_path: Path) -> None:
    tree(tmp_path, {".env": "", ".config/x.toml": "", "real/a.txt": ""})
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real" / "a.txt")
    assert listed(tmp_path) == [".config/x.toml", ".env", "real/a.txt"]


def test_walk_max_depth_keeps_to_the_first_levels(tmp_path: Path) -> None:
    tree(tmp_path, {"a.txt": "", "d/b.txt": "", "d/e/c.txt": ""})
    assert listed(tmp_path, max_depth=1) == ["a.txt"]
    assert listed(tmp_path, max_depth=2) == ["a.txt", "d/b.txt"]


def test_overrides_decide_before_ignore_files_like_rg_glob(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    tree(tmp_path, {".gitignore": "*.log\nbuild/\n", "a.log": "", "b.py": "", "src/c.py": "",
                    "build/d.py": ""})
    # A positive glob takes an ignored file, skips files matching no glob, still walks dirs.
    assert listed(tmp_path, overrides=Overrides(["*.log"])) == ["a.log"]
    assert listed(tmp_path, overrides=Overrides(["*.py"])) == ["b.py", "src/c.py"]
    assert listed(tmp_path, overrides=Overrides(["!*.py"])) == [".gitignore"]
    assert listed(tmp_path, overrides=Overrides(["src/*.py"])) == ["src/c.py"]


def test_name_filter_keeps_files_of_a_type(tmp_path: Path) -> None:
    tree(tmp_path, {"a.py": "", "b.js": "", "sub/c.pyi": ""})
    assert listed(tmp_path, name_filter=type_pattern("py")) == ["a.py", "sub/c.pyi"]


# ------------------------------------------------------------ the walk agrees with ripgrep

NAMES = ["a", "b", "a.py", "x.log", ".h", "build", "doc"]
PATTERN = st.builds(
    lambda neg, lead, parts, trail: ("!" if neg else "") + ("/" if lead else "") + "/".join(parts)
    + ("/" if trail else ""),
    st.booleans(), st.booleans(),
    st.lists(st.sampled_from(["a", "b", "*", "**", "*.py", "?", "[ab]", "build", "doc", ".h", "{a,b}",
                              "[!a]*", "a*"]), min_size=1, max_size=3),
    st.booleans())
TREE = st.recursive(st.sampled_from(["file"]),
                    lambda kids: st.dictionaries(st.sampled_from(NAMES), kids, max_size=4), max_leaves=14)
RULES = st.dictionaries(st.sampled_from(["", "a/", "build/", "doc/", "a/b/"]),
                        st.tuples(st.sampled_from([".gitignore", ".ignore", ".rgignore"]),
                                  st.lists(PATTERN, min_size=1, max_size=3)), max_size=3)


def _make(root: Path, node: object) -> None:
    if not isinstance(node, dict):
        return
    for name, kid in node.items():
        if isinstance(kid, dict):
            (root / name).mkdir(exist_ok=True)
            _make(root / name, kid)
        else:
            (root / name).write_text("x\n")


@pytest.mark.skipif(RG is None, reason="ripgrep is not installed")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=TREE, rules=RULES, globs=st.lists(PATTERN, max_size=2))
def test_walk_sees_exactly_the_files_rg_files_sees(tmp_path_factory: pytest.TempPathFactory, shape: object,
                                                    rules: dict[str, tuple[str, list[str]]],
                                                    globs: list[str]) -> None:
    root = tmp_path_factory.mktemp("walk")
    (root / ".git").mkdir()
    _make(root, shape)
    for directory, (name, patterns) in rules.items():
        if (root / directory).is_dir():
            (root / directory / name).write_text("\n".join(patterns) + "\n")
    args = [str(RG), "--no-config", "--hidden", "--no-ignore-global", "--files"]
    for glob in (*globs, "!.git"):
        args += ["--glob", glob]
    out = subprocess.run([*args, "./"], cwd=root, capture_output=True, text=True).stdout
    expected = sorted(line.removeprefix("./") for line in out.splitlines())
    assert listed(root, overrides=Overrides(globs) if globs else None) == expected


@pytest.mark.skipif(RG is None, reason="ripgrep is not installed")
def test_every_known_type_has_rgs_own_definition() -> None:
    from nano_claude.tools import ignore

    listing = subprocess.run([str(RG), "--type-list"], capture_output=True, text=True).stdout
    rg_types = {name: set(globs.split(", ")) for name, _, globs in
                (line.partition(": ") for line in listing.splitlines())}
    for name, globs in ignore.type_table().items():
        assert set(globs) == rg_types[name], name
