"""GetDiagnostics with the PATH under the test's control (ctx.environ).

Real checkers where this machine has them: ruff (from the test virtualenv), the
Python syntax check, node --check and bash -n. pyright, mypy, flake8, tsc, eslint and
shellcheck are not installed here: small scripts named after them stand in for the real
binaries, printing exactly what the real tool prints (its documented output format), so
the order of preference and each parser are tested against that format.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.diagnostics import DiagnosticsInput, GetDiagnosticsTool
from tests.fakes.server import FakeModelServer
from tests.processes import alive
from tests.toolkit import call, drive


def _installed(name: str) -> Path:
    """Where a user's machine has the tool: next to this Python (a virtualenv's bin, as
    `pip install -e '.[test]'` puts ruff there) or on PATH. A path that does not exist
    when it is missing: the tests that need it skip."""
    beside = Path(sys.executable).with_name(name)
    found = beside if beside.exists() else shutil.which(name)
    return Path(found) if found else Path("/nonexistent") / name


REAL_RUFF = _installed("ruff")
REAL_NODE = _installed("node")
REAL_BASH = _installed("bash")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    # pins ruff's rules, so a user-level ruff config cannot change what the tests see
    (root / "ruff.toml").write_text('[lint]\nselect = ["F", "E9"]\n')
    return root


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    return path


@pytest.fixture
def ctx(project: Path, bin_dir: Path) -> ToolContext:
    """PATH is only bin_dir: a test puts there exactly the tools it wants found."""
    return ToolContext(cwd=project, environ={"PATH": str(bin_dir)}, project=project)


def link(bin_dir: Path, real: Path) -> None:
    if not real.exists():
        pytest.skip(f"{real} is not installed here")
    (bin_dir / real.name).symlink_to(real)


def fake(directory: Path, name: str, body: str) -> Path:
    """An executable standing in for a checker not installed here. In the body, $f is the
    file it was asked to check (the last argument, as the real tools take it)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text(f'#!/bin/sh\nfor f in "$@"; do :; done\n'
                      f'echo "$@" > "{directory}/{name}.args"\n{body}\n')
    script.chmod(0o755)
    return script


async def check(ctx: ToolContext, file_path: str, language: str | None = None, **kw: float) -> str:
    out = await GetDiagnosticsTool(**kw).run(
        DiagnosticsInput(file_path=file_path, language=language), ctx)  # type: ignore[arg-type]
    assert not out.is_error
    return out.content[0].text


MYPY_OUT = ('echo "$f:3:10: error: Incompatible types in assignment (expression has type \\"str\\", '
            'variable has type \\"int\\")  [assignment]"\necho "$f:3:10: note: See docs"\nexit 1')


def printing_json(data: object) -> str:
    """A fake's body that prints `data` as JSON, with "$f" (the checked file) for FILE."""
    text = json.dumps(data).replace("'", "\\u0027").replace("FILE", "'\"$f\"'")
    return f"printf '%s\\n' '{text}'"


PYRIGHT_OUT = printing_json({
    "version": "1.1.380", "time": "1",
    "generalDiagnostics": [{
        "file": "FILE", "severity": "error",
        "message": "Type \"Literal['x']\" is not assignable to declared type \"int\"\n"
                   "  \"Literal['x']\" is not assignable to \"int\"",
        "range": {"start": {"line": 2, "character": 9}, "end": {"line": 2, "character": 12}},
        "rule": "reportAssignmentType"}],
    "summary": {"filesAnalyzed": 1, "errorCount": 1, "warningCount": 0, "informationCount": 0},
}) + "\nexit 1"


# --- Python ------------------------------------------------------------------------------

async def test_python_checked_by_ruff_lists_its_findings_as_compact_lines(
        ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_RUFF)
    (ctx.cwd / "mod.py").write_text("import os\n\nprint(undefined_name)\n")
    text = await check(ctx, "mod.py")
    assert text.splitlines() == [
        "2 problems in mod.py (checked by ruff):",
        "mod.py:1:8: warning: F401 `os` imported but unused",
        "mod.py:3:7: error: F821 Undefined name `undefined_name`",
    ]


async def test_clean_python_file_says_no_problems_and_names_the_checker(
        ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_RUFF)
    (ctx.cwd / "ok.py").write_text("import os\n\nprint(os.sep)\n")
    assert await check(ctx, "ok.py") == "no problems found (checked by ruff)"


async def test_ruff_reports_syntax_errors_and_never_fixes_the_file(ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_RUFF)
    (ctx.cwd / "ruff.toml").write_text('fix = true\n[lint]\nselect = ["F"]\n')
    (ctx.cwd / "bad.py").write_text("import os\ndef f(:\n    pass\n")
    text = await check(ctx, "bad.py")
    assert "bad.py:2:7: error: SyntaxError:" in text
    assert (ctx.cwd / "bad.py").read_text().startswith("import os\n")
    assert not (ctx.cwd / ".ruff_cache").exists()


async def test_python_prefers_pyright_then_mypy_then_ruff(ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_RUFF)
    fake(bin_dir, "pyright", PYRIGHT_OUT)
    fake(bin_dir, "mypy", MYPY_OUT)
    (ctx.cwd / "t.py").write_text("x: int = 1\n\nx = 'x'\n")
    text = await check(ctx, "t.py")
    assert text.splitlines() == [
        "1 problem in t.py (checked by pyright):",
        "t.py:3:10: error: Type \"Literal['x']\" is not assignable to declared type \"int\" "
        "\"Literal['x']\" is not assignable to \"int\" [reportAssignmentType]",
    ]
    (bin_dir / "pyright").unlink()
    text = await check(ctx, "t.py")
    assert text.splitlines() == [
        "2 problems in t.py (checked by mypy):",
        't.py:3:10: error: Incompatible types in assignment (expression has type "str", variable has '
        'type "int") [assignment]',
        "t.py:3:10: note: See docs",
    ]
    assert "--follow-imports=silent" in (bin_dir / "mypy.args").read_text()
    (bin_dir / "mypy").unlink()
    assert await check(ctx, "t.py") == "no problems found (checked by ruff)"


async def test_flake8_output_is_parsed_when_it_is_the_checker_found(ctx: ToolContext, bin_dir: Path) -> None:
    fake(bin_dir, "flake8", 'echo "$f:1:1: F401 \'os\' imported but unused"\n'
                            'echo "$f:2:1: E999 SyntaxError: invalid syntax"\nexit 1')
    (ctx.cwd / "f.py").write_text("import os\n(\n")
    assert (await check(ctx, "f.py")).splitlines()[1:] == [
        "f.py:1:1: warning: F401 'os' imported but unused",
        "f.py:2:1: error: E999 SyntaxError: invalid syntax",
    ]


async def test_python_without_a_checker_says_so_and_still_checks_syntax(ctx: ToolContext) -> None:
    (ctx.cwd / "bad.py").write_text("x = 1\nreturn x\n")
    text = await check(ctx, "bad.py")
    lines = text.splitlines()
    assert lines[0].startswith("no checker installed for python (would use the first of: "
                               "pyright, mypy, ruff, flake8;")
    assert lines[1:] == ["1 problem in bad.py (checked by py_compile (syntax only)):",
                         "bad.py:2:1: error: SyntaxError: 'return' outside function"]
    (ctx.cwd / "ok.py").write_text("x = 1\n")
    assert (await check(ctx, "ok.py")).endswith("no problems found (checked by py_compile (syntax only))")
    assert not (ctx.cwd / "__pycache__").exists()


async def test_checkers_next_to_our_own_interpreter_are_not_the_projects(ctx: ToolContext) -> None:
    assert (Path(sys.executable).parent / "ruff").exists()  # this tool's own environment has ruff
    (ctx.cwd / "ok.py").write_text("import os\n")
    assert (await check(ctx, "ok.py")).startswith("no checker installed for python")


async def test_checker_in_the_projects_virtualenv_is_found(ctx: ToolContext) -> None:
    fake(ctx.root / ".venv" / "bin", "mypy", MYPY_OUT)
    (ctx.cwd / "t.py").write_text("x: int = 1\n\nx = 'x'\n")
    assert "(checked by mypy)" in await check(ctx, "t.py")


async def test_a_checker_that_fails_is_reported_and_the_syntax_check_still_runs(
        ctx: ToolContext, bin_dir: Path) -> None:
    fake(bin_dir, "mypy", 'echo "mypy.ini: [mypy]: Unrecognized option: stict = True" >&2\n'
                          'echo "mypy: error: no such option" >&2\nexit 2')
    (ctx.cwd / "bad.py").write_text("def f(:\n")
    lines = (await check(ctx, "bad.py")).splitlines()
    assert lines[0] == ("mypy failed (exit code 2): mypy.ini: [mypy]: Unrecognized option: stict = True "
                        "mypy: error: no such option")
    assert lines[1] == "1 problem in bad.py (checked by py_compile (syntax only)):"
    assert lines[2].startswith("bad.py:1:7: error: SyntaxError:")


async def test_a_checker_that_hangs_is_stopped_at_the_time_limit(ctx: ToolContext, bin_dir: Path) -> None:
    fake(bin_dir, "mypy", "exec /bin/sleep 30")
    (ctx.cwd / "ok.py").write_text("x = 1\n")
    lines = (await check(ctx, "ok.py", timeout=0.5)).splitlines()
    assert lines == ["mypy did not finish within 0.5s and was stopped",
                     "no problems found (checked by py_compile (syntax only))"]


async def test_cancelling_the_call_kills_the_checker(ctx: ToolContext, bin_dir: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    fake(bin_dir, "mypy", f'echo $$ > "{fifo}"\nexec /bin/sleep 30')
    (ctx.cwd / "ok.py").write_text("x = 1\n")
    task = asyncio.ensure_future(check(ctx, "ok.py"))
    pid = int(await asyncio.to_thread(fifo.read_text))  # returns once the checker is running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)


async def test_many_findings_are_capped(ctx: ToolContext, bin_dir: Path) -> None:
    fake(bin_dir, "mypy", 'i=1\nwhile [ $i -le 130 ]; do\n echo "$f:$i: error: boom  [misc]"; i=$((i+1))\n'
                          "done\nexit 1")
    (ctx.cwd / "m.py").write_text("x = 1\n")
    lines = (await check(ctx, "m.py")).splitlines()
    assert lines[0] == "130 problems in m.py (checked by mypy):"
    assert lines[100] == "m.py:100: error: boom [misc]"
    assert lines[-1] == "… and 30 more; fix these and check again" and len(lines) == 102


# --- JavaScript / TypeScript -----------------------------------------------------------------

async def test_javascript_without_tsc_or_eslint_falls_back_to_node_check(
        ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_NODE)
    (ctx.cwd / "a.js").write_text("const ok = 1;\nlet x = ;\n")
    lines = (await check(ctx, "a.js")).splitlines()
    assert lines[0].startswith("no checker installed for javascript (would use the first of: tsc, eslint;")
    assert lines[1:] == ["1 problem in a.js (checked by node --check (syntax only)):",
                         "a.js:2:9: error: SyntaxError: Unexpected token ';'"]
    (ctx.cwd / "ok.mjs").write_text("export const x = 1;\n")
    assert (await check(ctx, "ok.mjs")).endswith("no problems found (checked by node --check (syntax only))")


async def test_typescript_with_nothing_installed_says_no_checker_and_which_would_be_used(
        ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_NODE)  # node cannot check TypeScript: it is no fallback here
    (ctx.cwd / "a.ts").write_text("const x: number = 'a';\n")
    with pytest.raises(ToolError, match=r"no checker installed for typescript \(would use the first of: "
                                        r"tsc, eslint;.*Nothing could check the file"):
        await check(ctx, "a.ts")


TSC_OUT = """echo "$f(1,7): error TS2322: Type 'string' is not assignable to type 'number'."
echo "other.ts(4,1): error TS2304: Cannot find name 'y'."
exit 2"""
ESLINT_OUT = printing_json([{
    "filePath": "FILE",
    "messages": [
        {"ruleId": "no-unused-vars", "severity": 2, "message": "'x' is assigned a value but never used.",
         "line": 1, "column": 7, "nodeType": "Identifier", "messageId": "unusedVar", "endLine": 1,
         "endColumn": 8},
        {"ruleId": "semi", "severity": 1, "message": "Missing semicolon.", "line": 2, "column": 10},
    ],
    "suppressedMessages": [], "errorCount": 1, "fatalErrorCount": 0, "warningCount": 1,
    "fixableErrorCount": 0, "fixableWarningCount": 1, "usedDeprecatedRules": [],
}]) + "\nexit 1"


async def test_typescript_prefers_tsc_then_eslint(ctx: ToolContext, bin_dir: Path) -> None:
    fake(ctx.root / "node_modules" / ".bin", "tsc", TSC_OUT)
    fake(bin_dir, "eslint", ESLINT_OUT)
    (ctx.cwd / "a.ts").write_text("const x: number = 'a';\n")
    assert (await check(ctx, "a.ts")).splitlines() == [
        "1 problem in a.ts (checked by tsc):",
        "a.ts:1:7: error: Type 'string' is not assignable to type 'number'. [TS2322]",
    ]
    (ctx.root / "node_modules" / ".bin" / "tsc").unlink()
    assert (await check(ctx, "a.ts")).splitlines() == [
        "2 problems in a.ts (checked by eslint):",
        "a.ts:1:7: error: 'x' is assigned a value but never used. [no-unused-vars]",
        "a.ts:2:10: warning: Missing semicolon. [semi]",
    ]


async def test_tsc_checks_the_project_through_its_tsconfig_and_keeps_this_files_lines(
        ctx: ToolContext, bin_dir: Path) -> None:
    # With a tsconfig, tsc checks the project and prints paths relative to the cwd.
    fake(bin_dir, "tsc", TSC_OUT.replace("$f(", "src/a.ts("))
    (ctx.root / "tsconfig.json").write_text(json.dumps({"compilerOptions": {"strict": True}}))
    (ctx.root / "src").mkdir()
    (ctx.root / "src" / "a.ts").write_text("const x: number = 'a';\n")
    text = await check(ctx, "src/a.ts")
    assert text.splitlines()[1:] == ["src/a.ts:1:7: error: Type 'string' is not assignable to type "
                                     "'number'. [TS2322]"]
    assert f"-p {ctx.root / 'tsconfig.json'}" in (bin_dir / "tsc.args").read_text()


# --- shell ---------------------------------------------------------------------------------

async def test_shell_without_shellcheck_falls_back_to_bash_n(ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_BASH)
    (ctx.cwd / "s.sh").write_text("echo hi\nif then\nfi\n")
    lines = (await check(ctx, "s.sh")).splitlines()
    assert lines[0].startswith("no checker installed for shell (would use the first of: shellcheck;")
    assert lines[1:] == ["1 problem in s.sh (checked by bash -n (syntax only)):",
                         "s.sh:2: error: syntax error near unexpected token `then': `if then'"]


async def test_shell_prefers_shellcheck(ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_BASH)
    fake(bin_dir, "shellcheck", 'echo "$f:2:6: warning: Quote this to prevent word splitting. [SC2046]"\n'
                                'echo "$f:1:1: note: Not following: ./lib.sh [SC1091]"\nexit 1')
    (ctx.cwd / "s.sh").write_text("#!/bin/bash\nrm $(ls)\n")
    assert (await check(ctx, "s.sh")).splitlines() == [
        "2 problems in s.sh (checked by shellcheck):",
        "s.sh:1:1: note: Not following: ./lib.sh [SC1091]",
        "s.sh:2:6: warning: Quote this to prevent word splitting. [SC2046]",
    ]
    assert (bin_dir / "shellcheck.args").read_text().startswith("--format=gcc ")


async def test_shell_with_nothing_installed_is_an_error_naming_shellcheck(ctx: ToolContext) -> None:
    (ctx.cwd / "s.sh").write_text("echo hi\n")
    with pytest.raises(ToolError, match=r"no checker installed for shell .*shellcheck"):
        await check(ctx, "s.sh")


# --- the file and its language ---------------------------------------------------------------

async def test_language_comes_from_the_shebang_or_the_argument(ctx: ToolContext, bin_dir: Path) -> None:
    link(bin_dir, REAL_BASH)
    (ctx.cwd / "deploy").write_text("#!/usr/bin/env bash\nif then\n")
    assert "(checked by bash -n (syntax only))" in await check(ctx, "deploy")
    (ctx.cwd / "job.txt").write_text("x = (\n")
    assert "SyntaxError" in await check(ctx, "job.txt", language="python")
    with pytest.raises(ToolError, match=r"Cannot tell the language of job\.txt.*pass language"):
        await check(ctx, "job.txt")


async def test_missing_file_and_directory_are_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="File not found"):
        await check(ctx, "nope.py")
    with pytest.raises(ToolError, match="is a directory"):
        await check(ctx, ".")


def test_diagnostics_ask_permission_as_a_read_of_the_file() -> None:
    tool, args = GetDiagnosticsTool(), DiagnosticsInput(file_path="src/x.py")
    assert tool.permission_kind == "read" and tool.permission_target(args) == "src/x.py"
    assert tool.read_only and tool.concurrency_safe


async def test_diagnostics_through_the_loop(
        fake_server: FakeModelServer, project: Path, bin_dir: Path) -> None:
    link(bin_dir, REAL_RUFF)
    (project / "mod.py").write_text("import os\n")
    ctx = ToolContext(cwd=project, environ={"PATH": str(bin_dir)}, project=project)
    run = await drive(fake_server, project,
                      call("GetDiagnostics", {"file_path": "mod.py"}),
                      call("GetDiagnostics", {"file_path": "gone.py"}),
                      tools=[GetDiagnosticsTool()], ctx=ctx)
    assert not run.result(1).is_error
    assert run.result(1).text == ("1 problem in mod.py (checked by ruff):\n"
                                  "mod.py:1:8: warning: F401 `os` imported but unused")
    assert run.result(2).is_error and "File not found" in run.result(2).text


async def test_a_checker_that_cannot_start_is_reported_and_the_syntax_check_runs(
        ctx: ToolContext, bin_dir: Path) -> None:
    # what a virtualenv that was moved leaves behind: a script whose interpreter is gone
    broken = bin_dir / "mypy"
    broken.write_text("#!/nonexistent/python\n")
    broken.chmod(0o755)
    (ctx.cwd / "ok.py").write_text("x = 1\n")
    lines = (await check(ctx, "ok.py")).splitlines()
    assert lines[0].startswith(f"mypy ({broken}) could not be started:")
    assert lines[1] == "no problems found (checked by py_compile (syntax only))"
