"""Shell permission check benchmark (not part of CI's pass/fail).

Judges everyday agent commands (pipelines, loops, expansions, a here-document) with the
permission policy, and compares the median time per command, in the same run, with what
running any command costs anyway: spawning `bash -c :`. Target: the check within a
quarter of that spawn, so asking "may this run?" never costs what running it does. The
tree-sitter parse alone is shown too (what the walk and the tables add on top of it).

Run from the repository root: `python bench/bench_shell.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nano_claude.permissions.policy import Policy  # noqa: E402
from nano_claude.permissions.rules import RuleSet  # noqa: E402
from nano_claude.permissions.shell import _parser  # noqa: E402

TARGET_RATIO = 0.25
COMMANDS = [
    "ls -la", "git log --oneline -20 | cat", 'grep -rn "def main" src/ | head -20',
    'find . -name "*.py" -not -path "./.venv/*" | head -50', "cat README.md | head -100",
    'for f in src/*.py; do echo "== $f"; head -5 "$f"; done', "echo ${PWD##*/}",
    "wc -l $(git ls-files '*.py') | tail -1", "git diff --stat HEAD~3..HEAD",
    "[ -f setup.py ] && echo yes || echo no", 'if [[ -n "$VIRTUAL_ENV" ]]; then echo venv; fi',
    "echo $((60*60))", "for i in $(seq 1 3); do echo $i; done", "git log --format='%h %an %s' -5",
    'echo "$(date +%Y-%m-%d)"', "sed -n '10,20p' src/nano_claude/cli.py", "rg -n 'TODO' --type py | head",
    'case "$SHELL" in */bash) echo bash;; *) echo other;; esac', "du -sh * 2>/dev/null | sort -h | tail -5",
    "cat <<'EOF'\nhello $(world)\nEOF\n", "python -m pytest -q tests/unit && ruff check .",
    "echo ${x:-`touch f`}", "cat <> f", "for f in *; do echo $((f)); done",
]


def per_command(action, runs: int) -> float:
    """Median seconds per command over `runs` passes of the whole list."""
    for command in COMMANDS:
        action(command)  # warm: the parser, the caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for command in COMMANDS:
            action(command)
        times.append((time.perf_counter() - start) / len(COMMANDS))
    return statistics.median(times)


def _spawn() -> float:
    start = time.perf_counter()
    subprocess.run(["bash", "-c", ":"], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp())
    policy = Policy("auto", RuleSet(), project, project / "home")
    parse = _parser().parse
    parsed = per_command(lambda c: parse(c.encode()), args.runs)
    judged = per_command(policy.judge_command, args.runs)
    spawned = statistics.median(_spawn() for _ in range(args.runs))
    ratio = judged / spawned
    print(f"{len(COMMANDS)} commands, median of {args.runs} passes")
    print(f"  tree-sitter parse alone   {parsed * 1e6:8.1f} us per command")
    print(f"  the whole judgement       {judged * 1e6:8.1f} us per command "
          f"({judged / parsed:.1f}x the parse)")
    print(f"  spawning `bash -c :`      {spawned * 1e6:8.1f} us")
    print(f"target: the judgement within {TARGET_RATIO}x the spawn: {ratio:.2f}x, "
          f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
