from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from nano_claude.tools import search
from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.registry import schema_of
from nano_claude.tools.search import (
    GLOB_LIMIT,
    MAX_LINE,
    MAX_OUTPUT,
    GlobInput,
    GlobTool,
    GrepInput,
    GrepTool,
    find_rg,
)
from tests.fakes.server import FakeModelServer
from tests.processes import alive
from tests.toolkit import call, drive

RG = find_rg(dict(os.environ))
needs_rg = pytest.mark.skipif(RG is None, reason="ripgrep is not installed")
ENGINES = [pytest.param(RG, id="rg", marks=needs_rg), pytest.param(None, id="python")]
NOW = 1_700_000_000 * 10**9


@pytest.fixture(params=ENGINES)
def grep(request: pytest.FixtureRequest) -> GrepTool:
    return GrepTool(rg=request.param)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / ".git").mkdir()
    return ToolContext(cwd=tmp_path, environ=dict(os.environ))


def write(root: Path, rel: str, text: str | bytes = "", age: int = 0) -> Path:
    """A file whose mtime is `age` seconds before a fixed instant (so order is certain)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    stamp = NOW - age * 10**9
    os.utime(path, ns=(stamp, stamp))
    return path


async def run_grep(tool: GrepTool, ctx: ToolContext, **args: Any) -> str:
    out = await tool.run(GrepInput.model_validate(args), ctx)
    assert not out.is_error
    return out.content[0].text


async def run_glob(ctx: ToolContext, **args: Any) -> str:
    out = await GlobTool().run(GlobInput.model_validate(args), ctx)
    assert not out.is_error
    return out.content[0].text


# ------------------------------------------------------------ Grep, on both engines


async def test_grep_lists_matching_files_newest_first(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "old.py", "needle\n", age=30)
    write(ctx.cwd, "src/new.py", "a needle here\n", age=10)
    write(ctx.cwd, "src/mid.txt", "needle\n", age=20)
    write(ctx.cwd, "none.py", "nothing\n")
    assert await run_grep(grep, ctx, pattern="needle") == "Found 3 files\nsrc/new.py\nsrc/mid.txt\nold.py"


async def test_grep_content_shows_path_line_number_and_text(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.py", "one\ndef f():\n    return 1\ndef g():\n")
    assert await run_grep(grep, ctx, pattern=r"^def \w+", output_mode="content") == (
        "a.py:2:def f():\na.py:4:def g():")
    assert await run_grep(grep, ctx, pattern="def g", output_mode="content", **{"-n": False}) == (
        "a.py:def g():")


async def test_grep_context_lines_and_separators(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "".join(f"line {i}\n" for i in range(1, 11)).replace("line 3", "hit 3")
          .replace("line 8", "hit 8"), age=5)
    write(ctx.cwd, "b.txt", "hit\n")
    text = await run_grep(grep, ctx, pattern="hit", output_mode="content", **{"-C": 1})
    assert text.splitlines() == [
        "b.txt:1:hit", "--",
        "a.txt-2-line 2", "a.txt:3:hit 3", "a.txt-4-line 4", "--",
        "a.txt-7-line 7", "a.txt:8:hit 8", "a.txt-9-line 9"]
    text = await run_grep(grep, ctx, pattern="hit 3", output_mode="content", **{"-A": 2, "-B": 0})
    assert text.splitlines() == ["a.txt:3:hit 3", "a.txt-4-line 4", "a.txt-5-line 5"]


async def test_grep_count_mode_counts_matching_lines_per_file(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "x\nx x\ny\n", age=1)
    write(ctx.cwd, "b.txt", "x\n")
    assert await run_grep(grep, ctx, pattern="x", output_mode="count") == (
        "b.txt:1\na.txt:2\nFound 3 matching lines in 2 files.")


async def test_grep_ignores_case_when_asked(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "Hello\n")
    assert "No matches" in await run_grep(grep, ctx, pattern="hello")
    assert await run_grep(grep, ctx, pattern="hello", **{"-i": True}) == "Found 1 file\na.txt"


async def test_grep_glob_filters_by_name_at_any_depth_or_anchored(grep: GrepTool, ctx: ToolContext) -> None:
    for i, rel in enumerate(["a.py", "src/b.py", "src/c.ts", "src/d.tsx", "lib/e.py"]):
        write(ctx.cwd, rel, "token\n", age=i)
    async def files(glob: str) -> list[str]:
        return (await run_grep(grep, ctx, pattern="token", glob=glob)).splitlines()[1:]

    assert await files("*.py") == ["a.py", "src/b.py", "lib/e.py"]
    assert await files("src/*.py") == ["src/b.py"]
    assert await files("*.{ts,tsx}") == ["src/c.ts", "src/d.tsx"]
    assert await files("*.ts, *.tsx") == ["src/c.ts", "src/d.tsx"]
    assert await files("!*.py") == ["src/c.ts", "src/d.tsx"]


async def test_grep_type_filters_by_file_type(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.py", "token\n", age=1)
    write(ctx.cwd, "b.pyi", "token\n", age=2)
    write(ctx.cwd, "c.js", "token\n")
    assert await run_grep(grep, ctx, pattern="token", type="py") == "Found 2 files\na.py\nb.pyi"


async def test_grep_respects_ignore_files_searches_hidden_files_never_dot_git(
        grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, ".gitignore", "*.log\nbuild/\n")
    write(ctx.cwd, ".ignore", "private.txt\n")
    write(ctx.cwd, ".git/info/exclude", "local.txt\n")
    write(ctx.cwd, ".git/config", "token\n")
    for rel in ["app.log", "build/out.txt", "private.txt", "local.txt", "src/sub/.gitignore"]:
        write(ctx.cwd, rel, "token\n")
    write(ctx.cwd, "src/sub/keep.log", "token\n", age=1)
    write(ctx.cwd, ".env", "token\n", age=2)
    (ctx.cwd / "src/sub/.gitignore").write_text("!keep.log\n")
    os.utime(ctx.cwd / "src/sub/.gitignore", ns=(NOW - 3 * 10**9,) * 2)
    assert await run_grep(grep, ctx, pattern="token") == "Found 2 files\nsrc/sub/keep.log\n.env"


async def test_grep_searches_a_named_file_even_when_ignored(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, ".gitignore", "*.log\n")
    write(ctx.cwd, "logs/app.log", "error: disk full\n")
    assert await run_grep(grep, ctx, pattern="error", path="logs/app.log", output_mode="content") == (
        "logs/app.log:1:error: disk full")


async def test_grep_in_a_subdirectory_shows_paths_relative_to_the_cwd(grep: GrepTool,
                                                                      ctx: ToolContext) -> None:
    write(ctx.cwd, "pkg/mod/a.py", "token\n")
    write(ctx.cwd, "other.py", "token\n")
    assert await run_grep(grep, ctx, pattern="token", path="pkg") == "Found 1 file\npkg/mod/a.py"
    assert await run_grep(grep, ctx, pattern="token", path="pkg/mod", output_mode="content") == (
        "pkg/mod/a.py:1:token")


async def test_grep_outside_the_cwd_shows_absolute_paths(grep: GrepTool, tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    write(tmp_path, "elsewhere/x.txt", "token\n")
    ctx = ToolContext(cwd=tmp_path / "project", environ=dict(os.environ))
    assert await run_grep(grep, ctx, pattern="token", path="../elsewhere") == (
        f"Found 1 file\n{tmp_path}/elsewhere/x.txt")


async def test_grep_multiline_matches_across_lines(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.py", "x = 1\nclass A:\n    pass\ny = 2\n")
    assert await run_grep(grep, ctx, pattern=r"class A:.*pass", multiline=True, output_mode="content") == (
        "a.py:2:class A:\na.py:3:    pass")
    assert "No matches" in await run_grep(grep, ctx, pattern=r"class A:\s+pass")


async def test_grep_head_limit_caps_entries_and_says_how_many_were_left_out(
        grep: GrepTool, ctx: ToolContext) -> None:
    for i in range(5):
        write(ctx.cwd, f"f{i}.txt", "token\n", age=i)
    text = await run_grep(grep, ctx, pattern="token", head_limit=2)
    assert text.splitlines() == [
        "Found 5 files", "f0.txt", "f1.txt",
        "[3 more files not shown (head_limit 2); narrow the search or raise head_limit]"]
    write(ctx.cwd, "many.txt", "token\n" * (search.DEFAULT_HEAD_LIMIT + 50))
    text = await run_grep(grep, ctx, pattern="token", path="many.txt", output_mode="content")
    assert text.endswith("[50 more lines not shown (head_limit 250); narrow the search or raise head_limit]")
    unlimited = await run_grep(grep, ctx, pattern="token", path="many.txt", output_mode="content",
                               head_limit=0)
    assert len(unlimited.splitlines()) == search.DEFAULT_HEAD_LIMIT + 50


async def test_grep_caps_huge_output(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "big.txt", "".join(f"token {i} {'x' * 60}\n" for i in range(5000)))
    text = await run_grep(grep, ctx, pattern="token", output_mode="content", head_limit=0)
    assert len(text) < MAX_OUTPUT + 300
    assert text.splitlines()[0] == f"big.txt:1:token 0 {'x' * 60}"
    assert "not shown: output is capped at 20000 characters" in text.splitlines()[-1]


async def test_grep_cuts_very_long_lines(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "min.js", "var a='token';" + "x" * 10_000 + "\n")
    text = await run_grep(grep, ctx, pattern="token", output_mode="content")
    assert text == "min.js:1:var a='token';" + "x" * (MAX_LINE - 14) + " …[line cut]"


async def test_grep_with_no_matches_says_so_plainly(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "src/a.py", "nothing\n")
    out = await grep.run(GrepInput(pattern="absent", path="src", glob="*.py"), ctx)
    assert not out.is_error
    assert out.content[0].text == "No matches found for pattern 'absent' in src (glob *.py)."


async def test_grep_reports_an_invalid_regex(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "x\n")
    with pytest.raises(ToolError, match=r"(?s)Invalid regex 'foo\(' .*(unclosed|unterminated)"):
        await grep.run(GrepInput(pattern="foo("), ctx)


async def test_grep_refuses_a_newline_unless_multiline(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "a\nb\n")
    with pytest.raises(ToolError, match="set multiline to true"):
        await grep.run(GrepInput(pattern=r"a\nb"), ctx)
    assert await run_grep(grep, ctx, pattern=r"a\nb", multiline=True) == "Found 1 file\na.txt"


async def test_grep_rejects_missing_paths_and_unknown_types(grep: GrepTool, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"Path not found: nope \(cwd is"):
        await grep.run(GrepInput(pattern="x", path="nope"), ctx)
    write(ctx.cwd, "a.txt", "x\n")
    with pytest.raises(ToolError, match=r"Unknown file type 'cobolish'.*glob"):
        await grep.run(GrepInput(pattern="x", type="cobolish"), ctx)
    with pytest.raises(ToolError, match=r"Unknown file type 'cobolish'"):
        await grep.run(GrepInput(pattern="x", type="cobolish", path="a.txt"), ctx)


async def test_grep_skips_binary_files_but_reports_a_named_one(grep: GrepTool, ctx: ToolContext) -> None:
    write(ctx.cwd, "blob.bin", b"token\x00\x01\x02\ntoken\n")
    write(ctx.cwd, "a.txt", "token\n")
    assert await run_grep(grep, ctx, pattern="token") == "Found 1 file\na.txt"
    assert await run_grep(grep, ctx, pattern="token", path="blob.bin", output_mode="content") == (
        "blob.bin: binary file matches (lines not shown)")


@needs_rg
async def test_rg_notes_about_binary_files_are_not_taken_for_matches(ctx: ToolContext) -> None:
    # rg prints the matches it found before a NUL late in a file, then a warning line.
    write(ctx.cwd, "late.bin", b"token 1\n" + b"x" * 200_000 + b"\ntoken 2\n\x00\n", age=1)
    write(ctx.cwd, "notes.txt", 'token: binary file matches (found "\\0" byte around offset 3)\n')
    text = await run_grep(GrepTool(rg=RG), ctx, pattern="token", output_mode="content")
    assert text.splitlines() == [
        'notes.txt:1:token: binary file matches (found "\\0" byte around offset 3)',
        "late.bin:1:token 1"]


# ------------------------------------------------------------ the engines agree


def _parity_tree(root: Path) -> None:
    files: dict[str, str | bytes] = {
        ".gitignore": "*.log\ndist/\n/generated.py\n",
        "src/.gitignore": "!keep.log\n",
        ".ignore": "secret.txt\n",
        "src/app.py": "import os\n\ndef main():\n    print('Hello')\n    return os.getcwd()\n\n\nclass App:\n"
                      "    def run(self):\n        main()\n",
        "src/util/helpers.py": "def helper(x):\n    return x * 2  # TODO: tidy\n\ndef other():\n    pass\n",
        "src/keep.log": "main started\nmain stopped\n",
        "src/web/index.ts": "export function main(): void {\n  console.log('hello');\n}\n",
        "src/web/view.tsx": "const Main = () => <div>main</div>;\n",
        "docs/guide.md": "# Guide\nCall main() to start.\nTODO write more\n",
        ".github/workflow.yml": "run: python -m app main\n",
        "generated.py": "def main(): pass\n",
        "dist/bundle.js": "function main(){}\n",
        "app.log": "main\n",
        "secret.txt": "main\n",
        "data.bin": b"main\x00\x01binary\n",
        "crlf.txt": "main line\r\nsecond\r\n",
        "unicode.txt": "caf\u00e9 main \u2603\n",
    }
    for age, (rel, text) in enumerate(sorted(files.items())):
        write(root, rel, text, age=age)


PARITY_CASES: list[dict[str, Any]] = [
    {"pattern": "main"},
    {"pattern": "main", "output_mode": "content"},
    {"pattern": "main", "output_mode": "count"},
    {"pattern": "MAIN", "-i": True, "output_mode": "content", "-n": False},
    {"pattern": r"def \w+\(", "output_mode": "content", "-C": 1},
    {"pattern": "return", "output_mode": "content", "-A": 1, "-B": 2},
    {"pattern": "main", "glob": "*.{ts,tsx}", "output_mode": "content"},
    {"pattern": "main", "glob": "src/**/*.py"},
    {"pattern": "main", "glob": "*.log"},
    {"pattern": "main", "type": "py", "output_mode": "count"},
    {"pattern": "main", "type": "md"},
    {"pattern": "TODO", "path": "src", "output_mode": "content"},
    {"pattern": "main", "path": "src/app.py", "output_mode": "content", "-C": 2},
    {"pattern": r"class App:.*def run", "multiline": True, "output_mode": "content"},
    {"pattern": r"\)\s*\n\s*return", "multiline": True, "output_mode": "count"},
    {"pattern": r"\w+", "output_mode": "content", "head_limit": 7},
    {"pattern": "caf\u00e9", "output_mode": "content"},
    {"pattern": "line$", "output_mode": "content"},
    {"pattern": "^$", "output_mode": "count"},
    {"pattern": "zzz_absent"},
]


@needs_rg
@pytest.mark.parametrize("case", PARITY_CASES, ids=lambda c: repr(c)[:60])
async def test_both_engines_give_the_same_output(ctx: ToolContext, case: dict[str, Any]) -> None:
    _parity_tree(ctx.cwd)
    with_rg = await run_grep(GrepTool(rg=RG), ctx, **case)
    python = await run_grep(GrepTool(rg=None), ctx, **case)
    assert with_rg == python


# ------------------------------------------------------------ finding and running rg


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_find_rg_looks_on_the_sessions_path_then_beside_the_interpreter(tmp_path: Path) -> None:
    fake = _script(tmp_path / "bin" / "rg", "exit 0\n")
    assert find_rg({"PATH": str(fake.parent)}) == str(fake)
    beside = os.path.join(os.path.dirname(sys.executable), "rg")
    expected = beside if os.access(beside, os.X_OK) else None
    assert find_rg({"PATH": str(tmp_path / "empty")}) == expected


@needs_rg
async def test_auto_engine_runs_the_rg_on_ctx_environ_path(ctx: ToolContext, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    wrapper = _script(tmp_path / "bin" / "rg", f'echo called >> "{log}"\nexec "{RG}" "$@"\n')
    ctx.environ = {**ctx.environ, "PATH": f"{wrapper.parent}{os.pathsep}{ctx.environ.get('PATH', '')}"}
    write(ctx.cwd, "a.txt", "token\n")
    assert await run_grep(GrepTool(), ctx, pattern="token") == "Found 1 file\na.txt"
    assert log.read_text() == "called\n"


async def test_a_missing_rg_binary_falls_back_to_the_python_scan(ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt", "token\n")
    tool = GrepTool(rg=str(ctx.cwd / "no-such-rg"))
    assert await run_grep(tool, ctx, pattern="token", output_mode="content") == "a.txt:1:token"


async def test_cancelling_a_search_kills_rg(ctx: ToolContext, tmp_path: Path) -> None:
    started = tmp_path / "started"
    os.mkfifo(started)
    fake = _script(tmp_path / "bin" / "rg", f'echo $$ > "{started}"\nexec sleep 60\n')
    task = asyncio.ensure_future(GrepTool(rg=str(fake)).run(GrepInput(pattern="x"), ctx))
    pid = int(await asyncio.to_thread(started.read_text))  # rg is running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)


async def test_a_search_past_the_timeout_is_stopped(ctx: ToolContext, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file = tmp_path / "pid"
    fake = _script(tmp_path / "bin" / "rg", f'echo $$ > "{pid_file}"\nexec sleep 60\n')
    monkeypatch.setattr(search, "TIMEOUT", 0.5)
    with pytest.raises(ToolError, match="took longer than"):
        await GrepTool(rg=str(fake)).run(GrepInput(pattern="x"), ctx)
    assert not alive(int(pid_file.read_text()))


# ------------------------------------------------------------ Grep's contract


def test_grep_schema_uses_claude_codes_parameter_names() -> None:
    properties = schema_of(GrepTool())["properties"]
    assert {"pattern", "path", "glob", "type", "output_mode", "-i", "-n", "-A", "-B", "-C", "multiline",
            "head_limit"} == set(properties)
    by_name = GrepInput.model_validate({"pattern": "x", "case_insensitive": True, "context": 2})
    assert by_name.case_insensitive and by_name.context == 2


def test_search_tools_are_read_only_and_judged_as_reads_of_their_path() -> None:
    pairs = ((GrepTool(), GrepInput(pattern="x", path="src")),
             (GlobTool(), GlobInput(pattern="*", path="src")))
    for tool, args in pairs:
        assert tool.read_only and tool.concurrency_safe and tool.permission_kind == "read"
        assert tool.permission_target(args) == "src"  # type: ignore[attr-defined]
    assert GrepTool().permission_target(GrepInput(pattern="x")) is None
    summary = GrepTool().summary(GrepInput(pattern="def main", path="src", glob="*.py"))
    assert summary == "'def main' in src (*.py)"


# ------------------------------------------------------------ Glob


async def test_glob_lists_matches_newest_first_relative_to_the_cwd(ctx: ToolContext) -> None:
    write(ctx.cwd, "a.py", age=30)
    write(ctx.cwd, "pkg/b.py", age=10)
    write(ctx.cwd, "pkg/deep/c.py", age=20)
    write(ctx.cwd, "pkg/d.txt")
    assert await run_glob(ctx, pattern="**/*.py") == "pkg/b.py\npkg/deep/c.py\na.py"
    assert await run_glob(ctx, pattern="pkg/**/*.py") == "pkg/b.py\npkg/deep/c.py"
    assert await run_glob(ctx, pattern="*.py", path="pkg") == "pkg/b.py"


async def test_glob_star_stays_at_the_top_level_and_says_so_when_nothing_matches(ctx: ToolContext) -> None:
    write(ctx.cwd, "src/a.py")
    assert await run_glob(ctx, pattern="*.py") == (
        "No files found matching '*.py' in the current directory "
        '("*.py" matches top-level files only; "**/*.py" searches subdirectories).')


async def test_glob_naming_a_directory_says_how_to_list_it(ctx: ToolContext) -> None:
    write(ctx.cwd, "src/a.py")
    assert await run_glob(ctx, pattern="src") == (
        'No files found matching \'src\' in the current directory (src is a directory; "src/**" lists '
        "the files in it).")
    assert await run_glob(ctx, pattern="src/**") == "src/a.py"


async def test_glob_supports_braces_classes_and_absolute_patterns(ctx: ToolContext) -> None:
    write(ctx.cwd, "web/a.ts", age=1)
    write(ctx.cwd, "web/b.tsx", age=2)
    write(ctx.cwd, "web/c.js")
    write(ctx.cwd, "file1.txt")
    assert await run_glob(ctx, pattern="**/*.{ts,tsx}") == "web/a.ts\nweb/b.tsx"
    assert await run_glob(ctx, pattern="file[0-9].txt") == "file1.txt"
    assert await run_glob(ctx, pattern=f"{ctx.cwd}/web/*.ts") == "web/a.ts"


async def test_glob_respects_ignore_files_lists_hidden_files_never_dot_git(ctx: ToolContext) -> None:
    write(ctx.cwd, ".gitignore", "node_modules/\n*.pyc\n")
    write(ctx.cwd, ".ignore", "scratch.py\n")
    write(ctx.cwd, ".git/info/exclude", "local.py\n")
    write(ctx.cwd, ".git/hooks/x.py")
    for rel in ["node_modules/m/index.py", "a.pyc", "scratch.py", "local.py"]:
        write(ctx.cwd, rel)
    write(ctx.cwd, ".hidden/tool.py", age=1)
    write(ctx.cwd, "main.py", age=2)
    assert await run_glob(ctx, pattern="**/*.py*") == ".hidden/tool.py\nmain.py"


async def test_glob_names_an_ignored_file_when_asked_for_it_literally(ctx: ToolContext) -> None:
    write(ctx.cwd, ".gitignore", ".env\n")
    write(ctx.cwd, ".env", "KEY=1\n")
    assert await run_glob(ctx, pattern=".env") == ".env"


async def test_glob_caps_the_list_and_says_how_many_were_left_out(ctx: ToolContext) -> None:
    for i in range(GLOB_LIMIT + 5):
        write(ctx.cwd, f"f{i:03d}.txt", age=i)
    lines = (await run_glob(ctx, pattern="*.txt")).splitlines()
    assert lines[0] == "f000.txt" and lines[GLOB_LIMIT - 1] == f"f{GLOB_LIMIT - 1:03d}.txt"
    assert lines[GLOB_LIMIT] == (f"[5 more files not shown: these are the {GLOB_LIMIT} most recently "
                                 "modified; narrow the pattern or path]")


async def test_glob_rejects_a_missing_path_or_a_file(ctx: ToolContext) -> None:
    write(ctx.cwd, "a.txt")
    with pytest.raises(ToolError, match="Path not found: missing"):
        await GlobTool().run(GlobInput(pattern="*", path="missing"), ctx)
    with pytest.raises(ToolError, match=r"a\.txt is a file, not a directory"):
        await GlobTool().run(GlobInput(pattern="*", path="a.txt"), ctx)


# ------------------------------------------------------------ through the agent loop


async def test_grep_and_glob_through_the_loop(fake_server: FakeModelServer, tmp_path: Path) -> None:
    write(tmp_path, "src/app.py", "def main():\n    pass\n")
    write(tmp_path, "README.md", "# app\n")
    run = await drive(fake_server, tmp_path,
                      [call("Glob", {"pattern": "**/*.py"}),
                       call("Grep", {"pattern": "def main", "output_mode": "content", "-n": True})],
                      tools=[GlobTool(), GrepTool()])
    glob, grep = run.results()
    assert glob.text == "src/app.py" and not glob.is_error
    assert grep.text == "src/app.py:1:def main():" and not grep.is_error


async def test_grep_failures_reach_the_model_as_error_results(fake_server: FakeModelServer,
                                                              tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "x\n")
    write(tmp_path, "big.txt", ("x" * 100 + "\n") * 4000)
    run = await drive(fake_server, tmp_path,
                      call("Grep", {"pattern": "("}),
                      call("Grep", {"pattern": "x", "path": "nowhere"}),
                      call("Grep", {"pattern": "absent"}),
                      call("Grep", {"pattern": "x+", "output_mode": "content", "head_limit": 0}),
                      tools=[GrepTool()])
    bad_regex, missing, nothing, huge = (run.result(i) for i in range(1, 5))
    assert bad_regex.is_error and "Invalid regex '('" in bad_regex.text
    assert missing.is_error and "Path not found: nowhere" in missing.text
    assert not nothing.is_error
    assert nothing.text == "No matches found for pattern 'absent' in the current directory."
    assert not huge.is_error and len(huge.text) < MAX_OUTPUT + 300
    assert huge.text.endswith("not shown: output is capped at 20000 characters; narrow the search with "
                              "path, glob or type]")


async def test_glob_failure_reaches_the_model_as_an_error_result(fake_server: FakeModelServer,
                                                                tmp_path: Path) -> None:
    run = await drive(fake_server, tmp_path, call("Glob", {"pattern": "*", "path": "nowhere"}),
                      tools=[GlobTool()])
    assert run.result().is_error and "Path not found: nowhere" in run.result().text
