"""A real terminal for REPL tests: the program runs in tmux (its own server socket per
test), keys are typed with send-keys, and the screen is read with capture-pane."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

TMUX = shutil.which("tmux")
LAUNCH = Path(__file__).with_name("launch.py")


class Terminal:
    def __init__(self, workdir: Path, env: dict[str, str], cwd: Path, *, width: int = 110,
                 height: int = 32) -> None:
        assert TMUX is not None, "tmux is needed for terminal tests"
        self.socket = workdir / "tmux.sock"
        self.workdir, self.env, self.cwd = workdir, env, cwd
        self.status_file = workdir / "exit.status"  # written by launch.py when the program ends
        self.width, self.height = width, height

    def _tmux(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([TMUX, "-S", str(self.socket), *args], capture_output=True, text=True,
                              check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, *args: str, program: str | None = None) -> Terminal:
        """Run `python -m nano_claude ARGS` (or `program`, a shell command line)."""
        command = program or shlex.join([sys.executable, "-m", "nano_claude", *args])
        self.status_file.unlink(missing_ok=True)
        command = shlex.join([sys.executable, str(LAUNCH), str(self.status_file),
                              "sh", "-c", f"exec {command}"])
        script = self.workdir / "run.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env.items()
                          if k not in ("COLUMNS", "LINES"))
        # COLUMNS and LINES from the test process would override the terminal's real size
        script.write_text(f"unset COLUMNS LINES\n{exports}cd {shlex.quote(str(self.cwd))}\nexec {command}\n")
        config = self.workdir / "tmux.conf"  # options in force before the program can exit
        config.write_text("set -g remain-on-exit on\nset -g history-limit 50000\n"
                          f"set -g default-size {self.width}x{self.height}\n")
        self._tmux("-f", str(config), "new-session", "-d", "-x", str(self.width), "-y", str(self.height),
                   "-s", "t", f"sh {shlex.quote(str(script))}")
        return self

    def send(self, *keys: str) -> None:
        """tmux key names: "Enter", "Escape", "C-c", "Up", "Tab", "M-Enter"."""
        self._tmux("send-keys", "-t", "t", *keys)

    def type(self, text: str) -> None:
        """Literal text, as typed."""
        self._tmux("send-keys", "-t", "t", "-l", text)

    def paste(self, text: str) -> None:
        """A bracketed paste, as a terminal does it when the program asked for one."""
        buffer = self.workdir / "paste.txt"
        buffer.write_text(text)
        self._tmux("load-buffer", "-b", "p", str(buffer))
        self._tmux("paste-buffer", "-p", "-d", "-b", "p", "-t", "t")

    def screen(self, *, history: bool = True) -> str:
        """What the terminal shows, scrollback included; wrapped lines joined."""
        args = ["capture-pane", "-p", "-J", "-t", "t"]
        if history:
            args += ["-S", "-"]
        return self._tmux(*args)

    def wait_for(self, pattern: str, *, timeout: float = 20, count: int = 1) -> str:
        """Poll the screen until `pattern` (a regular expression) shows `count` times."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if len(regex.findall(screen)) >= count:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear {count}x within {timeout}s; screen:\n"
                                     f"{screen}")
            time.sleep(0.05)

    def wait_prompt(self, count: int = 1, *, timeout: float = 20) -> str:
        """Wait until the input prompt has been shown `count` times in all."""
        return self.wait_for(r"\] ❯", count=count, timeout=timeout)

    def command(self, line: str, prompts: int) -> str:
        """Type a slash command and wait for the prompt after it (the `prompts`-th in all);
        what it printed."""
        self.type(line)
        self.send("Enter")
        return self.wait_prompt(prompts).rsplit(f"❯ {line}", 1)[-1]

    @property
    def exited(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "t", "#{pane_dead}", check=False).strip() == "1"

    def wait_exit(self, timeout: float = 40) -> int:
        """The program's exit code, as launch.py wrote it (tmux 3.3 may mark a pane dead and
        never give its status)."""
        deadline = time.monotonic() + timeout
        while True:
            written = self.status_file.read_text().strip() if self.status_file.exists() else ""
            if written and int(written) >= 0:
                return int(written)
            if written:
                raise AssertionError(f"the program was killed by signal {-int(written)}; screen:\n"
                                     f"{self.screen()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the program did not exit; screen:\n{self.screen()}")
            time.sleep(0.05)

    def close(self) -> None:
        self._tmux("kill-server", check=False)
