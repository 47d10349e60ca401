"""/memory in a real terminal: the list with ages and the freshness note, a keyword search, an
edit in $EDITOR (a script that appends a line) and a delete that asks first; names complete."""

from __future__ import annotations

import re
import time

import pytest

from nano_claude.extensions.memory.store import MemoryStore
from tests.conftest import Cli
from tests.e2e.terminal import TMUX, Terminal

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")

DAYS = 3 * 86_400


def test_memory_command_lists_searches_edits_and_deletes(term: Terminal, cli: Cli) -> None:
    project = MemoryStore.project(cli.project, clock=lambda: time.time() - DAYS)
    project.save("deploy steps", "project", "How a release is made", "Tag it, then run make release.")
    MemoryStore.user(cli.home).save("terse", "feedback", "The user wants short answers", "No recaps.")
    editor = cli.project.parent / "editor.sh"
    editor.write_text('#!/bin/sh\necho "Then announce it." >> "$1"\n')
    editor.chmod(0o755)
    term.env["EDITOR"] = str(editor)
    term.start().wait_prompt()

    listed = term.command("/memory", 2)
    assert re.search(r"terse \(feedback, user, (just now|\dm ago)\) — The user wants short answers", listed)
    assert "deploy steps (project, project, 3d ago*) — How a release is made" in listed
    assert "* older than a day: check it still holds before relying on it" in listed
    assert "2 memories" in listed

    found = term.command("/memory release", 3)
    assert "deploy steps (project, project, 3d ago*)" in found and "Tag it, then run make release." in found
    assert "terse" not in found

    edited = term.command("/memory edit deploy steps", 4)
    assert "Memory 'deploy steps' saved; the project index is rebuilt." in edited
    memory = project.get("deploy steps")
    assert memory is not None and memory.content == "Tag it, then run make release.\nThen announce it."
    assert time.time() - memory.updated_at < 600  # stamped updated now: no longer three days old
    assert "3d ago" not in term.command("/memory", 5).split("❯")[0]

    term.type("/memory delete deploy steps")
    term.send("Enter")
    term.wait_for(r"Delete the project memory 'deploy steps' \(deploy-steps\.md\)\?\n.*\n.*\n\[1-2\]")
    term.type("1")
    term.send("Enter")
    said = term.wait_prompt(6).rsplit("❯ /memory delete deploy steps", 1)[-1]
    assert "Deleted the project memory 'deploy steps'; 0 left in that scope." in said
    assert not memory.path.exists() and not project.index_path.exists()

    term.type("/memory edit te")  # Tab completes a memory's name
    term.send("Tab")
    term.wait_for(r"❯ /memory edit terse\s*$")
