"""What a command came to, in one line for people: the test or build runner's own summary
line when the output has one (pytest's `1 failed, 2 passed in 0.12s`, cargo's `test
result: …`), else the last line it printed. The first line is the wrong one: it is a
banner, a deprecation warning or a progress dot more often than not.

The model still gets the whole output; this is only what the UI shows under the call.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# (pattern, which match to keep), after unittest's verdict. Checked in this order: a runner's
# count beats a wrapper's complaint about it (`npm test` running jest, `make test` running pytest).
_RUNNERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # pytest: "==== 1 failed, 2 passed, 1 warning in 0.12s ====", or bare with -q
    (re.compile(r"^=*\s*((?:\d+ [a-z]+(?:, )?)+ in [\d.]+s(?: \([^)]*\))?|no tests ran in [\d.]+s)"
                r"\s*=*$"), "last"),
    # jest "Tests:       1 failed, 2 passed, 3 total"; vitest " Tests  1 failed | 2 passed (3)"
    (re.compile(r"^\s*(Tests:?\s+\d+ .*)$"), "last"),
    # cargo test
    (re.compile(r"^(test result: .*)$"), "last"),
    # go test: "ok  \tpkg\t0.01s", "FAIL\tpkg\t0.01s"
    (re.compile(r"^(FAIL\s*\t\S+.*)$"), "last"),
    (re.compile(r"^(ok\s*\t\S+.*)$"), "last"),
    # mypy, ruff, tsc
    (re.compile(r"^(Found \d+ errors?\b.*|Success: no issues found.*|All checks passed!)$"), "last"),
    # npm: the first complaint says what went wrong; the last points to a log file
    (re.compile(r"^(npm (?:ERR!|error) \S.*)$"), "first"),
    # make
    (re.compile(r"^(make(?:\[\d+\])?: \*\*\* .*)$"), "last"),
)
_UNITTEST_VERDICT = re.compile(r"^(OK|FAILED)(?: \([^)]*\))?\s*$")
_UNITTEST_RAN = re.compile(r"^Ran \d+ tests? in [\d.]+s\s*$")


def runner_line(output: str) -> str:
    """The runner's summary line in a command's output, "" when there is none."""
    lines = _ANSI.sub("", output).splitlines()
    found = _unittest(lines)
    for pattern, keep in _RUNNERS:
        found = found or _match(pattern, lines, keep)
    return " ".join(found.split())


def last_line(output: str) -> str:
    """The last line with something on it, its runs of blanks squeezed."""
    for line in reversed(_ANSI.sub("", output).splitlines()):
        if line.strip():
            return " ".join(line.split())
    return ""


def command_summary(output: str, code: int | None) -> str:
    """`exit 1 · 1 failed, 2 passed in 0.12s`: the exit code when it is not 0 (a tick
    already says 0), then the runner's line or the last line."""
    gist = runner_line(output) or last_line(output)
    if code is None or code == 0:
        return gist or "done, no output"
    return f"exit {code} · {gist}" if gist else f"exit {code}, no output"


def _match(pattern: re.Pattern[str], lines: list[str], keep: str) -> str:
    found = [m.group(1) for m in map(pattern.match, lines) if m]
    if not found:
        return ""
    return found[0] if keep == "first" else found[-1]


def _unittest(lines: list[str]) -> str:
    """unittest ends with "Ran 3 tests in 0.001s", a blank line and "OK" or "FAILED (...)"."""
    for i in range(len(lines) - 1, -1, -1):
        if _UNITTEST_VERDICT.match(lines[i]):
            ran = next((line for line in reversed(lines[:i]) if _UNITTEST_RAN.match(line)), "")
            if ran:
                return f"{lines[i].strip()} · {ran.strip()}"
    return ""
