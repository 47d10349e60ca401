"""Ctrl+C (SIGINT) and SIGTERM during a headless run: the commands it started are
stopped, json output still ends with a result, and the exit code says why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import Cli
from tests.fakes.script import tool_call
from tests.fakes.server import FakeModelServer
from tests.processes import alive


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_command_stops_it_and_reports(cli: Cli, fake_server: FakeModelServer,
                                                  sig: int, code: int) -> None:
    pidfile = cli.project / "child.pid"
    fake_server.script(tool_call("Bash", {"command": f"sleep 300 & echo $! > {pidfile}; wait"}))
    env = {**cli.env, "ANTHROPIC_API_KEY": "sk-x", "ANTHROPIC_BASE_URL": fake_server.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nano_claude", "-p", "wait", "-m", "claude-sonnet-4-6",
         "--accept-all", "--output-format", "stream-json"],
        cwd=cli.project, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()):  # the command is running
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    child = int(pidfile.read_text())
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    last = json.loads(out.splitlines()[-1])
    assert last["type"] == "result" and last["is_error"] is True
    assert last["subtype"] == "error_during_execution"
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.02)
    assert not alive(child), "the command's child outlived the run"
