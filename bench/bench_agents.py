"""Sub-agent benchmark against the fake model server (not part of CI's pass/fail).

Three background sub-agents, each of whose answers takes the model 1 s, against one: the
same headless run shape (the parent starts them, ends its turn, is woken with the results,
answers). They run at once, so three should cost about what one does: target <= 1.3x.
Both are measured in the same run, as medians of wall time from launch to exit.

Run from the repository root: `python bench/bench_agents.py [--runs N] [--delay S]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import base_env  # noqa: E402
from tests.fakes.script import Call, mentions, text, tool_calls  # noqa: E402
from tests.fakes.server import FakeModelServer  # noqa: E402

TARGETS = {"three_vs_one_ratio": 1.3}


def one_run(children: int, delay: float) -> float:
    """Seconds from launch to exit of a run whose model starts `children` background agents."""
    with tempfile.TemporaryDirectory() as tmp, FakeModelServer().running() as server:
        home, project = Path(tmp) / "home", Path(tmp) / "project"
        home.mkdir()
        project.mkdir()
        calls = [Call("Agent", {"prompt": f"task number {n}: report done", "run_in_background": True,
                                "name": f"worker{n}"}, f"call_agent_{n}") for n in range(children)]
        steps = [tool_calls(*calls)]
        steps += [text(f"worker {n} done", delay=delay, when=mentions(f"task number {n}:"))
                  for n in range(children)]
        steps.append(text("started them"))  # the parent ends its turn; it is woken with results
        steps += [text("all done")] * children  # one wake-up per finished agent at most
        server.script(*steps)
        env = {**base_env(home), "ANTHROPIC_API_KEY": "sk-bench", "ANTHROPIC_BASE_URL": server.url}
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nano_claude", "-p", "run the workers",
                               "--output-format", "json"], cwd=project, env=env, capture_output=True,
                              text=True, timeout=120)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"the run failed: {proc.stdout}\n{proc.stderr}")
        done = [r for r in server.model_requests if "task number" in json.dumps(r.body["messages"][:1])]
        if len(done) != children:
            raise SystemExit(f"expected {children} child requests, saw {len(done)}")
        server.steps.clear()  # wake-ups come one per finished batch: spare replies may be left
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each child's answer takes")
    args = parser.parse_args()
    one = statistics.median(one_run(1, args.delay) for _ in range(args.runs))
    three = statistics.median(one_run(3, args.delay) for _ in range(args.runs))
    report = {"one_child_s": round(one, 3), "three_children_s": round(three, 3),
              "three_vs_one_ratio": round(three / one, 3), "targets": TARGETS,
              "met": three / one <= TARGETS["three_vs_one_ratio"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
