"""Shared fixtures: the fake model server and a way to run the real CLI against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.server import FakeModelServer

# Variables that would leak the developer's real setup into a test.
_SCRUBBED_PREFIXES = ("ANTHROPIC_", "OPENAI_", "GEMINI_", "MOONSHOT_", "KIMI_", "DASHSCOPE_",
                      "QWEN_", "ZHIPU_", "DEEPSEEK_", "OLLAMA_", "LMSTUDIO_", "CUSTOM_",
                      "NANO_CLAUDE_", "HF_")  # HF_: a real Hub token, endpoint or offline switch


@pytest.fixture(autouse=True, scope="session")
def _shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One cache folder for the test run, never the user's: the embedded model's prefix
    cache lands there, for in-process providers and CLI children alike."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def fake_server() -> Iterator[FakeModelServer]:
    with FakeModelServer().running() as server:
        yield server


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


@dataclass
class Cli:
    """Runs `python -m nano_claude` in a subprocess with an isolated home and project."""

    home: Path
    project: Path
    env: dict[str, str]

    def run(self, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "nano_claude", *args],
            input=input if input is not None else "",
            capture_output=True, text=True, cwd=self.project,
            env={**self.env, **(env or {})}, timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def write_config(self, **settings: object) -> Path:
        path = self.home / "config.json"
        path.write_text(json.dumps(settings))
        return path


def _test_cache(folder: Path) -> Path:
    """A cache folder of the test's own, so what one test's server said about its window
    (providers/window.py, keyed by URL, and ports are reused) never answers for another's;
    the embedded model's prefix states stay shared with the whole run (they are slow to make)."""
    shared = Path(os.environ["XDG_CACHE_HOME"]) / "nano_claude" / "prefix"
    shared.mkdir(parents=True, exist_ok=True)
    (folder / "nano_claude").mkdir(parents=True)
    (folder / "nano_claude" / "prefix").symlink_to(shared, target_is_directory=True)
    return folder


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    home = tmp_path / "home"
    project = tmp_path / "project"
    (home / ".nano_claude").mkdir(parents=True)
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update({
        "XDG_CACHE_HOME": str(_test_cache(tmp_path / "cache")),
        "HOME": str(home),
        "NANO_CLAUDE_HOME": str(home / ".nano_claude"),
        "NO_COLOR": "1",
        # Fail fast in tests: retries keep their count but not their waiting.
        "NANO_CLAUDE_RETRY_BASE_DELAY": "0.01",
        "PYTHONUNBUFFERED": "1",
    })
    return Cli(home / ".nano_claude", project, env)
