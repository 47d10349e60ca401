"""The install hint names where this copy came from, never a package index entry that
does not exist."""

from __future__ import annotations

import sys
from pathlib import Path

from nano_claude.install import install_command

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_hint_installs_the_extra_from_this_checkout() -> None:
    # the tests run from a `pip install -e '.[local,test]'` of this checkout (the README's command)
    command = install_command("local")
    assert command.startswith(f"{sys.executable} -m pip install ")
    assert f"{CHECKOUT}[local]" in command
    assert "nano-claude-code[local]" not in command
