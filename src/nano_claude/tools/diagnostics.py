"""GetDiagnostics: the project's own checker on one file, its findings as compact lines.

The checkers are the user's (their PATH, their project's virtualenv or node_modules),
never ours: what the model sees is what the user's CI would say. When no real checker
is installed, a syntax check that is always at hand still runs, and the result says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.bash import kill_group

Language = Literal["python", "javascript", "typescript", "shell"]

DEFAULT_TIMEOUT = 90.0  # seconds; a first mypy or tsc run on a big project is slow
SYNTAX_TIMEOUT = 30.0  # a syntax check is quick: this only guards against a wedged interpreter
MAX_DIAGNOSTICS = 100
MAX_MESSAGE = 400

EXTENSIONS: dict[str, Language] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".sh": "shell", ".bash": "shell",
}
PROJECT_BINS = (".venv/bin", "venv/bin", ".venv/Scripts", "venv/Scripts", "node_modules/.bin")


class DiagnosticsInput(BaseModel):
    file_path: str = Field(description="The file to check (absolute, or relative to the cwd)")
    language: Language | None = Field(None, description="Default: from the file's extension")


@dataclass(frozen=True)
class Diagnostic:
    path: str
    line: int
    col: int | None
    severity: str
    message: str

    def render(self, shown: str) -> str:
        where = f"{shown}:{self.line}" + (f":{self.col}" if self.col else "")
        message = " ".join(self.message.split())
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "…"
        return f"{where}: {self.severity}: {message}"


Parse = Callable[[str, str], "list[Diagnostic] | None"]  # (stdout, stderr); None: not understood


@dataclass(frozen=True)
class Checker:
    name: str  # what the result says ran; for the checkers in CHECKERS, also the program looked up
    argv: Callable[[Path, Path], list[str]]  # (file, project root) -> arguments after the program
    parse: Parse
    syntax_only: bool = False


# --- parsers: each checker's own output format --------------------------------------------

GNU_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>error|warning|note|info|"
                      r"style): (?P<msg>.*)$")


def parse_gnu(stdout: str, stderr: str) -> list[Diagnostic]:
    """`path:line[:col]: severity: message`: mypy, shellcheck -f gcc, our syntax check."""
    found = []
    for line in stdout.splitlines():
        if m := GNU_LINE.match(line):
            col = int(m["col"]) if m["col"] else None
            found.append(Diagnostic(m["path"], int(m["line"]), col, m["sev"], m["msg"]))
    return found


def _lint_severity(code: str) -> str:
    # flake8's classic "will break at run time" codes: syntax, undefined names, bad syntax use
    return "error" if code.startswith(("E9", "F63", "F7", "F82")) else "warning"


def parse_flake8(stdout: str, stderr: str) -> list[Diagnostic]:
    found = []
    for line in stdout.splitlines():
        if m := re.match(r"^(.+?):(\d+):(\d+): ([A-Z]+\d+) (.*)$", line):
            code = m[4]
            found.append(Diagnostic(m[1], int(m[2]), int(m[3]), _lint_severity(code), f"{code} {m[5]}"))
    return found


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def parse_ruff(stdout: str, stderr: str) -> list[Diagnostic] | None:
    data = _json(stdout)
    if not isinstance(data, list):
        return None
    found = []
    for item in data:
        code, loc = item.get("code"), item.get("location") or {}
        message = str(item.get("message", ""))
        if not code or code == "invalid-syntax" or message.startswith("SyntaxError"):
            severity = "error"
            message = message if message.startswith("SyntaxError") else f"SyntaxError: {message}"
        else:
            severity, message = _lint_severity(code), f"{code} {message}"
        found.append(Diagnostic(item.get("filename", ""), loc.get("row", 1), loc.get("column"),
                                severity, message))
    return found


def parse_pyright(stdout: str, stderr: str) -> list[Diagnostic] | None:
    data = _json(stdout)
    if not isinstance(data, dict) or "generalDiagnostics" not in data:
        return None
    found = []
    for item in data["generalDiagnostics"]:
        start = (item.get("range") or {}).get("start") or {}
        rule = f" [{item['rule']}]" if item.get("rule") else ""
        found.append(Diagnostic(item.get("file", ""), start.get("line", 0) + 1, start.get("character", 0) + 1,
                                item.get("severity", "error"), item.get("message", "") + rule))
    return found


def parse_tsc(stdout: str, stderr: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for line in stdout.splitlines():
        if m := re.match(r"^(.+?)\((\d+),(\d+)\): (error|warning|message) (TS\d+): (.*)$", line):
            found.append(Diagnostic(m[1], int(m[2]), int(m[3]), m[4], f"{m[6]} [{m[5]}]"))
        elif line.startswith(" ") and found:  # a chained message continues the last one
            last = found[-1]
            found[-1] = Diagnostic(last.path, last.line, last.col, last.severity, f"{last.message} {line}")
    return found


def parse_eslint(stdout: str, stderr: str) -> list[Diagnostic] | None:
    data = _json(stdout)
    if not isinstance(data, list):
        return None
    found = []
    for result in data:
        for item in result.get("messages", []):
            rule = f" [{item['ruleId']}]" if item.get("ruleId") else ""
            severity = "error" if item.get("severity") == 2 or item.get("fatal") else "warning"
            found.append(Diagnostic(result.get("filePath", ""), item.get("line") or 1, item.get("column"),
                                    severity, item.get("message", "") + rule))
    return found


def parse_node_check(stdout: str, stderr: str) -> list[Diagnostic] | None:
    lines = stderr.splitlines()
    if not lines:
        return []
    where = re.match(r"^(.+):(\d+)$", lines[0])
    error = next((ln for ln in lines if re.match(r"^\w*Error: ", ln)), None)
    if not where or not error:
        return None
    caret = next((ln for ln in lines[1:4] if ln.strip() and set(ln.strip()) == {"^"}), "")
    col = caret.index("^") + 1 if caret else None
    return [Diagnostic(where[1], int(where[2]), col, "error", error)]


def parse_bash_n(stdout: str, stderr: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for line in stderr.splitlines():
        if m := re.match(r"^(.+?): line (\d+): (.*)$", line):
            if m[3].startswith("`") and found and found[-1].line == int(m[2]):  # the offending line
                last = found[-1]
                found[-1] = Diagnostic(last.path, last.line, None, "error", f"{last.message}: {m[3]}")
            else:
                found.append(Diagnostic(m[1], int(m[2]), None, "error", m[3]))
    return found


# --- the checkers, in order of preference per language ------------------------------------

SYNTAX_CHECK = """\
import sys
path = sys.argv[1]
try:
    with open(path, "rb") as f:
        compile(f.read(), path, "exec", dont_inherit=True)
except (SyntaxError, ValueError) as e:
    print("%s:%d:%d: error: %s: %s" % (path, getattr(e, "lineno", None) or 1,
          getattr(e, "offset", None) or 1, type(e).__name__, getattr(e, "msg", None) or e))
    sys.exit(1)
"""


def _tsc_argv(file: Path, root: Path) -> list[str]:
    common = ["--noEmit", "--pretty", "false"]
    if (root / "tsconfig.json").is_file():
        return [*common, "-p", str(root / "tsconfig.json")]
    js = ["--allowJs", "--checkJs"] if file.suffix in (".js", ".mjs", ".cjs", ".jsx") else []
    return [*common, "--skipLibCheck", "--target", "es2022", "--module", "nodenext",
            "--jsx", "preserve", *js, str(file)]


PYRIGHT = Checker("pyright", lambda f, r: ["--outputjson", str(f)], parse_pyright)
MYPY = Checker("mypy", lambda f, r: ["--no-color-output", "--no-error-summary", "--show-column-numbers",
                                     "--show-error-codes", "--follow-imports=silent", str(f)], parse_gnu)
RUFF = Checker("ruff", lambda f, r: ["check", "--no-fix", "--no-cache", "--output-format=json", str(f)],
               parse_ruff)
FLAKE8 = Checker("flake8", lambda f, r: [str(f)], parse_flake8)
TSC = Checker("tsc", _tsc_argv, parse_tsc)
ESLINT = Checker("eslint", lambda f, r: ["--format", "json", str(f)], parse_eslint)
SHELLCHECK = Checker("shellcheck", lambda f, r: ["--format=gcc", str(f)], parse_gnu)
PY_COMPILE = Checker("py_compile", lambda f, r: ["-c", SYNTAX_CHECK, str(f)], parse_gnu, syntax_only=True)
NODE_CHECK = Checker("node --check", lambda f, r: ["--check", str(f)], parse_node_check, syntax_only=True)
BASH_N = Checker("bash -n", lambda f, r: ["-n", str(f)], parse_bash_n, syntax_only=True)

CHECKERS: dict[str, tuple[Checker, ...]] = {
    "python": (PYRIGHT, MYPY, RUFF, FLAKE8),
    "javascript": (TSC, ESLINT),
    "typescript": (TSC, ESLINT),
    "shell": (SHELLCHECK,),
}


def infer_language(path: Path) -> Language:
    if language := EXTENSIONS.get(path.suffix.lower()):
        return language
    with contextlib.suppress(OSError):
        with path.open("rb") as f:
            first = f.readline(200).decode("utf-8", errors="replace")
        if first.startswith("#!"):
            if "python" in first:
                return "python"
            if "node" in first:
                return "javascript"
            if re.search(r"\b(ba|da|k|z)?sh\b", first):
                return "shell"
    raise ToolError(f"Cannot tell the language of {path.name} from its extension; pass language "
                    "(python, javascript, typescript or shell). Other languages have no checker here.")


def search_path(ctx: ToolContext) -> str:
    """The project's own tool directories first (as npx or an activated venv would), then PATH."""
    dirs = [str(ctx.root / sub) for sub in PROJECT_BINS]
    dirs += [d for d in ctx.environ.get("PATH", "").split(os.pathsep) if d]
    return os.pathsep.join(dirs)


@dataclass(frozen=True)
class Outcome:
    diagnostics: list[Diagnostic] | None  # None: the checker did not produce a usable answer
    failure: str = ""


async def run_checker(checker: Checker, program: str, file: Path, ctx: ToolContext,
                      timeout: float) -> Outcome:
    try:
        proc = await asyncio.create_subprocess_exec(
            program, *checker.argv(file, ctx.root), cwd=ctx.root, env=ctx.environ,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:  # e.g. a broken shebang in a venv that was moved
        return Outcome(None, f"{checker.name} ({program}) could not be started: {exc}")
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        await kill_group(proc)
        return Outcome(None, f"{checker.name} did not finish within {timeout:g}s and was stopped")
    except asyncio.CancelledError:
        await kill_group(proc)
        raise
    stdout = out.decode("utf-8", errors="replace")
    stderr = err.decode("utf-8", errors="replace")
    found = checker.parse(stdout, stderr)
    if found is None or (proc.returncode != 0 and not found):
        said = " ".join((stderr.strip() or stdout.strip() or "no output").split())[:500]
        return Outcome(None, f"{checker.name} failed (exit code {proc.returncode}): {said}")
    target = file.resolve()
    mine = [d for d in found if not d.path or (ctx.root / d.path).resolve() == target]
    return Outcome(mine)


def report(checker: Checker, found: list[Diagnostic], shown: str) -> str:
    name = f"{checker.name} (syntax only)" if checker.syntax_only else checker.name
    if not found:
        return f"no problems found (checked by {name})"
    found = sorted(found, key=lambda d: (d.line, d.col or 0))
    noun = "problem" if len(found) == 1 else "problems"
    lines = [f"{len(found)} {noun} in {shown} (checked by {name}):"]
    lines += [d.render(shown) for d in found[:MAX_DIAGNOSTICS]]
    if len(found) > MAX_DIAGNOSTICS:
        lines.append(f"… and {len(found) - MAX_DIAGNOSTICS} more; fix these and check again")
    return "\n".join(lines)


class GetDiagnosticsTool:
    name: ClassVar[str] = "GetDiagnostics"
    description: ClassVar[str] = (
        "Check one file for errors with the project's installed checker: Python with pyright, mypy, "
        "ruff or flake8 (syntax check if none); JavaScript/TypeScript with tsc or eslint (node "
        "--check for .js); shell with shellcheck or bash -n. Returns path:line:col: severity: "
        "message lines and names the checker that ran. Use it after editing to catch mistakes."
    )
    input_model: ClassVar[type[BaseModel]] = DiagnosticsInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True
    permission_kind: ClassVar[str] = "read"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout  # for the checker; the syntax check has its own

    def summary(self, args: DiagnosticsInput) -> str:
        return args.file_path

    def permission_target(self, args: DiagnosticsInput) -> str:
        return args.file_path

    async def run(self, args: DiagnosticsInput, ctx: ToolContext) -> ToolOutput:
        file = ctx.resolve(args.file_path)
        if file.is_dir():
            raise ToolError(f"{file} is a directory; GetDiagnostics checks one file at a time.")
        if not file.is_file():
            raise ToolError(f"File not found: {file} (cwd is {ctx.cwd}).")
        language = args.language or infer_language(file)
        where = search_path(ctx)
        notes: list[str] = []
        for checker in CHECKERS[language]:
            program = shutil.which(checker.name, path=where)
            if program:
                outcome = await run_checker(checker, program, file, ctx, self.timeout)
                if outcome.diagnostics is not None:
                    return _reported([], report(checker, outcome.diagnostics, args.file_path))
                notes.append(outcome.failure)
                break
        else:
            names = ", ".join(c.name for c in CHECKERS[language])
            notes.append(f"no checker installed for {language} (would use the first of: {names}; "
                         "looked on PATH and in the project's .venv, venv and node_modules/.bin)")
        syntax = self._syntax_check(language, file, where)
        if syntax is None:
            raise ToolError("; ".join(notes) + ". Nothing could check the file here: check it another "
                            "way (run it, or run its tests) or ask the user to install a checker.")
        checker, program = syntax
        outcome = await run_checker(checker, program, file, ctx, SYNTAX_TIMEOUT)
        if outcome.diagnostics is None:
            raise ToolError("; ".join([*notes, outcome.failure]) + ".")
        return _reported(notes, report(checker, outcome.diagnostics, args.file_path))

    @staticmethod
    def _syntax_check(language: str, file: Path, where: str) -> tuple[Checker, str] | None:
        """The check that is nearly always at hand: it runs when no real checker could."""
        if language == "python":
            # The user's interpreter knows the user's Python version; ours is the last resort.
            return PY_COMPILE, shutil.which("python3", path=where) or shutil.which(
                "python", path=where) or sys.executable
        if language == "javascript" and file.suffix.lower() != ".jsx":
            program = shutil.which("node", path=where)
            return (NODE_CHECK, program) if program else None
        if language == "shell":
            program = shutil.which("bash", path=where)
            return (BASH_N, program) if program else None
        return None


def _reported(notes: list[str], found: str) -> ToolOutput:
    """The report for the model, after any notes on checkers that failed; its head line
    (`2 problems in app.py (checked by ruff)`) for people."""
    return ToolOutput.text("\n".join([*notes, found]), summary=found.split("\n", 1)[0].rstrip(":"))
