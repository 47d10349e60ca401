"""REPL start-up: from launch to a usable prompt, in a real pseudo-terminal.

The REPL runs in a pty (as in a terminal); the clock stops when the prompt `❯` has
been drawn. The baseline is the same measurement of `python -c` printing a prompt,
so the ratio says what the REPL adds to starting Python. The target is 0.25 s.

Then the same with ten plugins installed (each with a skill, a command, an agent, a hook and
an MCP server; one with a Python tool module), their code allowed: plugins load behind the
prompt, so the time to the prompt should not move.

Run from the repository root: `python bench/bench_repl.py [--runs N] [--plugins N]`.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.25
PROMPT = "❯".encode()


def until_prompt(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 20) -> float:
    """Seconds from fork to the prompt appearing on the pty."""
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the program
        os.chdir(cwd)
        os.execve(argv[0], argv, env)
    seen = b""
    try:
        while PROMPT not in seen:
            ready, _, _ = select.select([fd], [], [], timeout)
            shown = seen.decode(errors="replace")
            if not ready:
                raise SystemExit(f"no prompt from {' '.join(argv)} within {timeout}s:\n{shown}")
            try:
                seen += os.read(fd, 65536)
            except OSError:
                raise SystemExit(f"{' '.join(argv)} exited:\n{shown}") from None
        return time.perf_counter() - start
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--plugins", type=int, default=10)
    options = parser.parse_args()
    runs = options.runs
    with tempfile.TemporaryDirectory() as tmp:
        home, project = Path(tmp, "home"), Path(tmp, "project")
        home.mkdir()
        project.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update({"HOME": str(home), "NANO_CLAUDE_HOME": str(home / ".nano_claude"),
                    "TERM": "xterm-256color", "ANTHROPIC_API_KEY": "sk-bench",
                    "NANO_CLAUDE_MODEL": "claude-sonnet-4-6"})
        repl = [sys.executable, "-m", "nano_claude"]
        baseline = [sys.executable, "-c", "print('[project] ❯ ', end='', flush=True); input()"]
        until_prompt(repl, env, project)  # warm the file cache
        ours = statistics.median(until_prompt(repl, env, project) for _ in range(runs))
        base = statistics.median(until_prompt(baseline, env, project) for _ in range(runs))
        install_plugins(options.plugins, Path(tmp), home, project)
        until_prompt(repl, env, project)
        loaded = statistics.median(until_prompt(repl, env, project) for _ in range(runs))
    print(f"REPL start to prompt: {ours:.3f} s (median of {runs}; target {TARGET_S} s)")
    print(f"python start to prompt (baseline): {base:.3f} s")
    print(f"ratio: {ours / base:.1f}x; added by nano_claude: {ours - base:.3f} s")
    print(f"with {options.plugins} plugins installed: {loaded:.3f} s to the prompt "
          f"({loaded / ours:.2f}x the time with none)")


def install_plugins(count: int, tmp: Path, home: Path, project: Path) -> None:
    """`count` plugins, installed and allowed as `nano_claude plugin install --yes` would."""
    import json

    from nano_claude.extensions.plugins.sources import Source
    from nano_claude.extensions.plugins.store import Store
    from nano_claude.paths import Paths

    store = Store(Paths(home / ".nano_claude", project / ".nano_claude"), project)
    for i in range(count):
        folder = tmp / f"src-{i}"
        files = {
            ".claude-plugin/plugin.json": json.dumps({"name": f"bench-{i}", "version": "1.0.0"}),
            "skills/tidy/SKILL.md": "---\ndescription: Tidy files\n---\nTidy $ARGUMENTS.\n",
            "commands/check.md": "---\ndescription: Check\n---\nCheck the files.\n",
            "agents/reviewer.md": "---\nname: reviewer\ndescription: Reviews\n---\nReview.\n",
            "hooks/hooks.json": json.dumps({"hooks": {"Stop": [{"hooks": [{"type": "command",
                                                                            "command": "true"}]}]}}),
            ".mcp.json": json.dumps({"mcpServers": {"clock": {"command": "mcp-server-time"}}}),
        }
        if i == 0:
            files["plugin.json"] = json.dumps({"name": "bench-0", "tools": ["tools"]})
            files["tools.py"] = "from nano_claude.plugin import hookimpl\n\n\n@hookimpl\n" \
                                "def register_tools(profile):\n    return []\n"
            del files[".claude-plugin/plugin.json"]
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        store.install(Source("path", str(folder)), "user", confirm=lambda plugin: True)


if __name__ == "__main__":
    main()
