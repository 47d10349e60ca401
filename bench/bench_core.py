"""Core benchmarks against the fake model server (not part of CI's pass/fail).

Reports medians over several runs:
- `nano_claude --version` wall time, against `python -c pass` as the baseline;
- a two-request headless run (one tool call, then text) on the Anthropic and the
  OpenAI-compatible path: wall time and peak RSS;
- the first request's size in tokens: tools vs system vs messages, in the full tool
  profile and in the compact one (for small local models; target <= 1,500 for tools + system).

Run from the repository root: `python bench/bench_core.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.script import text, tool_call  # noqa: E402
from tests.fakes.server import FakeModelServer  # noqa: E402

TARGETS = {"version_s": 0.060, "headless_s": 0.30, "headless_mib": 50, "compact_first_request_tokens": 1500}


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}\n{err}")
    return wall, usage.ru_maxrss / 1024


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update({"NANO_CLAUDE_HOME": str(home), "HOME": str(home), "NO_COLOR": "1"})
    return env


def bench_version(runs: int, env: dict[str, str], cwd: Path) -> dict[str, float]:
    exe = [sys.executable, "-m", "nano_claude", "--version"]
    baseline = statistics.median(timed([sys.executable, "-c", "pass"], env, cwd)[0]
                                 for _ in range(runs))
    wall = statistics.median(timed(exe, env, cwd)[0] for _ in range(runs))
    return {"version_s": wall, "python_startup_s": baseline, "ratio": wall / baseline}


PATHS = {
    "anthropic": ("claude-sonnet-4-6", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", ""),
    "openai-compatible": ("gpt-4.1", "OPENAI_API_KEY", "OPENAI_BASE_URL", "/v1"),
}


def bench_headless(path: str, runs: int, env: dict[str, str], cwd: Path) -> dict[str, object]:
    model, key_env, base_env_name, suffix = PATHS[path]
    (cwd / "notes.txt").write_text("hello\n")
    walls, rss, first_request = [], [], None
    for _ in range(runs):
        server = FakeModelServer()
        server.start()
        server.script(tool_call("Read", {"file_path": "notes.txt"}), text("It says hello."))
        run_env = {**env, key_env: "sk-bench", base_env_name: server.url + suffix}
        try:
            wall, peak = timed([sys.executable, "-m", "nano_claude", "-p", "read notes.txt",
                                "-m", model], run_env, cwd)
        finally:
            server.stop()
        server.verify()
        walls.append(wall)
        rss.append(peak)
        first_request = first_request or server.model_requests[0].body
    # Tokens are counted by the caller after every timing: loading a tokenizer here
    # would grow this process, and children forked from it report that memory as theirs.
    return {"wall_s": statistics.median(walls), "peak_rss_mib": statistics.median(rss),
            "first_request": first_request or {}}


def compact_first_request(env: dict[str, str], cwd: Path) -> dict:
    """The first request of a headless run on the OpenAI-compatible path with the compact profile."""
    model, key_env, base_env_name, suffix = PATHS["openai-compatible"]
    server = FakeModelServer()
    server.start()
    server.script(text("Hello."))
    run_env = {**env, key_env: "sk-bench", base_env_name: server.url + suffix,
               "NANO_CLAUDE_TOOL_PROFILE": "compact"}
    try:
        timed([sys.executable, "-m", "nano_claude", "-p", "hello", "-m", model], run_env, cwd)
    finally:
        server.stop()
    server.verify()
    return server.model_requests[0].body


def request_tokens(body: dict) -> dict[str, int]:
    """Tokens of the first request by part: SmolLM2's tokenizer when installed, else chars/4."""
    parts = {
        "tools": json.dumps(body.get("tools", [])),
        "system": json.dumps(body.get("system", "")) if "system" in body else json.dumps(
            [m for m in body.get("messages", []) if m.get("role") in ("system", "developer")]),
        "messages": json.dumps([m for m in body.get("messages", [])
                                if m.get("role") not in ("system", "developer")]),
    }
    count = _tokenizer()
    return {k: count(v) for k, v in parts.items()}


def _tokenizer():
    try:
        from llama_cpp import Llama

        from nano_claude.config import Settings
        from nano_claude.providers.factory import embedded_model_path

        path = embedded_model_path(Settings())
        if path is None:
            raise ImportError
        vocab = Llama(str(path), vocab_only=True, verbose=False)
        return lambda s: len(vocab.tokenize(s.encode(), add_bos=False))
    except ImportError:
        return lambda s: len(s) // 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home, cwd = Path(tmp) / "home", Path(tmp) / "project"
        home.mkdir()
        cwd.mkdir()
        env = base_env(home)
        report = {"version": bench_version(args.runs, env, cwd)}
        for path in PATHS:
            report[path] = bench_headless(path, args.runs, env, cwd)
        compact = compact_first_request(env, cwd)
    startup = report["version"]["python_startup_s"]
    for path in PATHS:
        report[path]["first_request_tokens"] = request_tokens(report[path].pop("first_request"))
        # Machines and their load differ; the ratio to a bare interpreter start does not.
        report[path]["ratio_to_python_startup"] = report[path]["wall_s"] / startup
    report["openai-compatible"]["first_request_tokens_compact"] = request_tokens(compact)
    report["targets"] = TARGETS
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
