"""Grep benchmark (not part of CI's pass/fail).

Runs the Grep tool over a large tree (this interpreter's site-packages) for a few
patterns and output modes and compares the median wall time of its run() with raw
`rg` given the same arguments in the same run (target: within 1.5x). The Python
fallback's time is reported for information.

Run from the repository root: `python bench/bench_grep.py [--runs N] [--fallback-runs N] [--tree DIR]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nano_claude.tools.base import ToolContext  # noqa: E402
from nano_claude.tools.search import GrepInput, GrepTool, Query, find_rg, rg_args  # noqa: E402

TARGET_RATIO = 1.5

CASES = [
    {"pattern": "def __init__"},
    {"pattern": "zzqx_no_such_identifier"},
    {"pattern": "import asyncio", "output_mode": "content"},
    {"pattern": r"class \w+Error\(", "output_mode": "content", "-C": 2},
    {"pattern": "TODO", "output_mode": "count", "-i": True},
    {"pattern": "def ", "output_mode": "count", "type": "py"},
]


def raw_rg(rg: str, args: GrepInput, tree: Path) -> float:
    """One run of rg with the arguments the tool would pass it, its output read in full."""
    q = Query(args.pattern, args.output_mode, str(tree), None, (), args.type, args.case_insensitive,
              args.multiline, args.before or args.context, args.after or args.context)
    start = time.perf_counter()
    proc = subprocess.run([rg, *rg_args(q)], cwd=tree, capture_output=True)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"rg failed: {proc.stderr.decode()}")
    return wall


async def tool_run(tool: GrepTool, args: GrepInput, ctx: ToolContext) -> tuple[float, str]:
    start = time.perf_counter()
    out = await tool.run(args, ctx)
    return time.perf_counter() - start, out.content[0].text


async def bench_case(case: dict, rg: str, tree: Path, runs: int, fallback_runs: int) -> dict[str, object]:
    """Inside one running event loop, as in a session: the loop's start-up is not the tool's."""
    args = GrepInput.model_validate(case)
    ctx = ToolContext(cwd=tree, environ=dict(os.environ))
    tool = GrepTool(rg=rg)
    raw_rg(rg, args, tree)  # warm the page cache
    raw, ours = [], []
    for _ in range(runs):  # interleaved, so drift in machine load hits both alike
        raw.append(raw_rg(rg, args, tree))
        wall, text = await tool_run(tool, args, ctx)
        ours.append(wall)
    result: dict[str, object] = {
        "case": case,
        "rg_s": round(statistics.median(raw), 4),
        "tool_s": round(statistics.median(ours), 4),
        "ratio": round(statistics.median(ours) / statistics.median(raw), 2),
        "first_line": text.splitlines()[0][:80],
    }
    if fallback_runs:
        fallback = [(await tool_run(GrepTool(rg=None), args, ctx))[0] for _ in range(fallback_runs)]
        result["python_fallback_s"] = round(statistics.median(fallback), 3)
    return result


async def bench_all(rg: str, tree: Path, runs: int, fallback_runs: int) -> list[dict[str, object]]:
    return [await bench_case(case, rg, tree, runs, fallback_runs) for case in CASES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fallback-runs", type=int, default=1)
    parser.add_argument("--tree", type=Path, default=Path(sysconfig.get_paths()["purelib"]))
    args = parser.parse_args()
    rg = find_rg(dict(os.environ))
    if rg is None:
        raise SystemExit("rg not found (pip install ripgrep==14.1.0)")
    files = sum(len(names) for _, _, names in os.walk(args.tree))
    results = asyncio.run(bench_all(rg, args.tree, args.runs, args.fallback_runs))
    print(json.dumps({"tree": str(args.tree), "files": files, "rg": rg, "runs": args.runs,
                      "cases": results, "target_ratio": TARGET_RATIO}, indent=2))


if __name__ == "__main__":
    main()
