"""MCP benchmarks against the fake model server (not part of CI's pass/fail).

- each server alone, from spawn to its `initialize` answer, and the SDK's import in a bare
  interpreter: the floor the run's wait stands on.
- launch to first request: a headless run with two stdio servers (mcp-server-time and
  mcp-server-git) against the same run with none, medians; target <= 1.2x with the servers
  answering. Also the time to the first request with a server that never answers (the
  run waits at most mcp_startup_timeout, then goes on).
- the REPL's time to a usable prompt with those two servers in ~/.nano_claude/mcp.json
  against none: the servers start behind the prompt, so it should not change.
- the first request's tool tokens with server-everything (npm) and mcp-server-git
  attached: every schema sent against deferred behind ToolSearch (mcp_defer_share 0).

Run from the repository root: `python bench/bench_mcp.py [--runs N]`. server-everything
is found in .ci/node (where .ci/run installs it) or on PATH; without it that part is skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_core import base_env, request_tokens  # noqa: E402
from bench.bench_repl import until_prompt  # noqa: E402
from tests.fakes.script import text  # noqa: E402
from tests.fakes.server import FakeModelServer  # noqa: E402

BIN = Path(sys.executable).parent
TARGETS = {"two_servers_ratio": 1.2}


def everything() -> str | None:
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "mcp-server-everything"
    return str(local) if local.exists() else shutil.which("mcp-server-everything")


def servers(repo: Path) -> dict[str, dict]:
    return {"time": {"command": str(BIN / "mcp-server-time")},
            "git": {"command": str(BIN / "mcp-server-git"), "args": ["--repository", str(repo)]}}


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}}


def server_boot(command: list[str]) -> float:
    """Seconds from spawning a server to its answer to `initialize`, asked by hand (no SDK
    here): what any client waits for before the server's tools exist."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(INITIALIZE) + "\n")
    proc.stdin.flush()
    proc.stdout.readline()
    took = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return took


def sdk_import() -> float:
    start = time.perf_counter()
    modules = "mcp.client.stdio, mcp.client.sse, mcp.client.streamable_http"
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)
    return time.perf_counter() - start


def first_request(env: dict[str, str], cwd: Path, config: dict | None,
                  extra: dict[str, str] | None = None) -> tuple[float, dict]:
    """Seconds from spawning `nano_claude -p` to the model server's first request, and that request."""
    server = FakeModelServer()
    server.start()
    server.script(text("ok"))
    args = [sys.executable, "-m", "nano_claude", "-p", "hi", "-m", "claude-sonnet-4-6", "--strict-mcp-config"]
    if config is not None:
        args += ["--mcp-config", json.dumps({"mcpServers": config})]
    run_env = {**env, "ANTHROPIC_API_KEY": "sk-bench", "ANTHROPIC_BASE_URL": server.url, **(extra or {})}
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=run_env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while not server.model_requests and proc.poll() is None:
            time.sleep(0.002)
        took = time.perf_counter() - start
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise SystemExit(f"run failed:\n{out.decode()}\n{err.decode()}")
    finally:
        server.stop()
    return took, server.model_requests[0].body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home, cwd = Path(tmp) / "home", Path(tmp) / "project"
        home.mkdir()
        cwd.mkdir()
        subprocess.run(["git", "init", "-q", str(cwd)], check=True)
        env = base_env(home)
        first_request(env, cwd, servers(cwd))  # warm the file cache for both cases
        none, two = [], []
        for _ in range(args.runs):  # interleaved, so drift in the machine's load hits both
            none.append(first_request(env, cwd, None)[0])
            two.append(first_request(env, cwd, servers(cwd))[0])
        repl = [sys.executable, "-m", "nano_claude", "-m", "claude-sonnet-4-6"]
        repl_env = {**env, "ANTHROPIC_API_KEY": "sk-bench", "TERM": "xterm-256color"}
        (home / "mcp.json").unlink(missing_ok=True)
        plain, with_servers = [], []
        for _ in range(args.runs):
            (home / "mcp.json").unlink(missing_ok=True)
            plain.append(until_prompt(repl, repl_env, cwd))
            (home / "mcp.json").write_text(json.dumps({"mcpServers": servers(cwd)}))
            with_servers.append(until_prompt(repl, repl_env, cwd))
        (home / "mcp.json").unlink()
        report["repl_prompt"] = {"no_servers_s": statistics.median(plain),
                                 "two_stdio_servers_s": statistics.median(with_servers),
                                 "ratio": statistics.median(with_servers) / statistics.median(plain)}
        boots: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for name, entry in servers(cwd).items():
                boots.setdefault(name, []).append(server_boot([entry["command"], *entry.get("args", [])]))
            boots.setdefault("sdk import (our side)", []).append(sdk_import())
        report["alone"] = {f"{name}_s": statistics.median(times) for name, times in boots.items()}
        hang = {"stuck": {"command": sys.executable, "args": ["-c", "import time; time.sleep(60)"]}}
        stuck, _ = first_request(env, cwd, hang, {"NANO_CLAUDE_MCP_STARTUP_TIMEOUT": "2"})
        report["launch_to_first_request"] = {
            "no_servers_s": statistics.median(none), "two_stdio_servers_s": statistics.median(two),
            "ratio": statistics.median(two) / statistics.median(none),
            "never_answering_server_s (mcp_startup_timeout 2 s)": stuck}
        everything_bin = everything()
        attached = servers(cwd)
        del attached["time"]
        if everything_bin:
            attached["everything"] = {"command": everything_bin, "args": ["stdio"]}
        else:
            report["note"] = "server-everything not installed: tool tokens are for mcp-server-git alone"
        _, sent = first_request(env, cwd, attached, {"NANO_CLAUDE_MCP_DEFER_SHARE": "1"})
        _, deferred = first_request(env, cwd, attached, {"NANO_CLAUDE_MCP_DEFER_SHARE": "0"})
        _, builtin = first_request(env, cwd, None)
    tokens = {name: request_tokens(body)["tools"] for name, body in
              (("built-in tools only", builtin), ("mcp schemas sent", sent), ("mcp deferred", deferred))}
    tokens["mcp tools"] = len([t for t in sent["tools"] if t["name"].startswith("mcp__")])
    report["first_request_tool_tokens"] = tokens
    report["targets"] = TARGETS
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
