"""Runs a terminal test's program in its tmux pane and writes its exit status to a file.

tmux 3.3 now and then marks a pane dead without its exit status (seen under load: the
status stays empty for good), so a test waiting for the exit code would wait in vain. This
launcher is the pane's process: it starts the program (which gets the terminal's keys and
signals as before), ignores the terminal's own signals meanwhile, writes the status when
the program ends and ends the same way.

    python launch.py STATUS_FILE PROGRAM [ARGS...]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main() -> None:
    status_file, *command = sys.argv[1:]
    child = subprocess.Popen(command)  # exec'd before the handlers below are set: it keeps the defaults
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # Ctrl+C and the like are for the program, not for us
    code = child.wait()
    Path(status_file).write_text(str(code))
    if code < 0:  # killed by a signal: die of the same one, so tmux says so too
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main()
