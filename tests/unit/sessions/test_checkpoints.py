"""Checkpoints and /rewind: turns run through the real loop against the fake model server,
with a real ToolContext whose hook keeps the files, and /rewind run through `dispatch` on
a real ReplState."""

from __future__ import annotations

import io
import json
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from nano_claude.config import Paths, Settings
from nano_claude.core.loop import Agent
from nano_claude.core.messages import Message, TextBlock
from nano_claude.sessions.checkpoints import MAX_FILE_BYTES, TURN_KEY, Checkpoints, new_turn_id
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import SessionStore
from nano_claude.ui.commands import dispatch
from nano_claude.ui.state import PlainEcho, ReplState
from tests.fakes.script import Step, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.toolkit import Answers, make_agent

NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "calc", "metadata": {}, "execution_count": None, "outputs": [],
     "source": ["1 + 1"]}]}


@dataclass
class Rig:
    """A REPL's state without the terminal: turns as the REPL runs them, commands by dispatch."""

    state: ReplState
    out: io.StringIO
    server: FakeModelServer
    project: Path
    store: SessionStore

    @property
    def session(self) -> RecordedSession:
        assert isinstance(self.state.session, RecordedSession)
        return self.state.session

    @property
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(self.store.checkpoints(self.session.id))

    async def turn(self, prompt: str, *steps: Step) -> list[str]:
        """One user turn whose tools' file changes are kept; returns the tool results."""
        self.server.script(*steps, text("done"))
        agent: Agent = self.state.agent
        message = Message("user", (TextBlock(prompt),), {TURN_KEY: new_turn_id()})
        with self.checkpoints.turn(agent.ctx, self.session, message):
            async for _ in agent.run(self.session, message):
                pass
        self.store.sync(self.session, agent.model.qualified)
        results = [m for m in self.session.messages if m.tool_results]
        return [r.text for m in results for r in m.tool_results]

    async def do(self, line: str) -> str:
        self.out.seek(0)
        self.out.truncate()
        assert await dispatch(self.state, line)
        return self.out.getvalue()


def make_rig(server: FakeModelServer, tmp_path: Path, answers: list[str | None] | None = None) -> Rig:
    project, home = tmp_path / "project", tmp_path / "home" / ".nano_claude"
    project.mkdir(parents=True)
    agent = make_agent(server, project, prompter=Answers(answers=list(answers or [])))
    out = io.StringIO()
    settings = Settings()
    state = ReplState(agent, RecordedSession.new(project), settings, Paths(home, project / ".nano_claude"),
                      {"HOME": str(tmp_path / "home")}, PlainEcho(out))
    return Rig(state, out, server, project, SessionStore.of(home, settings))


@pytest.fixture
def rig(fake_server: FakeModelServer, tmp_path: Path) -> Rig:
    return make_rig(fake_server, tmp_path)


def read(path: str) -> Step:
    return tool_call("Read", {"file_path": path}, id=f"read_{path}_{new_turn_id()}")


def edit(path: str, old: str, new: str) -> Step:
    return tool_call("Edit", {"file_path": path, "old_string": old, "new_string": new},
                     id=f"edit_{new_turn_id()}")


def write(path: str, content: str) -> Step:
    return tool_call("Write", {"file_path": path, "content": content}, id=f"write_{new_turn_id()}")


async def two_turns(rig: Rig) -> None:
    """Turn 1 edits app.py and creates notes.md; turn 2 edits app.py again."""
    (rig.project / "app.py").write_text("x = 1\n")
    await rig.turn("make x two", read("app.py"), edit("app.py", "x = 1", "x = 2"),
                   write("notes.md", "x is two\n"))
    await rig.turn("make x three", edit("app.py", "x = 2", "x = 3"))
    assert (rig.project / "app.py").read_text() == "x = 3\n"


# --- files ------------------------------------------------------------------------------


async def test_rewinding_files_puts_each_back_as_it_was_before_the_turn(rig: Rig) -> None:
    await two_turns(rig)
    out = await rig.do("/rewind 2 files")
    assert (rig.project / "app.py").read_text() == "x = 2\n"
    assert (rig.project / "notes.md").read_text() == "x is two\n"  # turn 1 made it: it stays
    assert "Restored 1 file to before message 2:\n  app.py\n" in out
    assert "not tracked" in out and "shell commands" in out
    assert len(rig.session.messages) == 12  # the conversation is left alone

    out = await rig.do("/rewind 1 files")
    assert (rig.project / "app.py").read_text() == "x = 1\n"
    assert not (rig.project / "notes.md").exists()  # the agent created it: deleted
    assert "  notes.md (deleted: it did not exist then)" in out and "  app.py\n" in out


async def test_a_file_is_kept_once_per_turn_with_its_mode(rig: Rig) -> None:
    script = rig.project / "run.sh"
    script.write_text("echo one\n")
    script.chmod(0o750)
    await rig.turn("change it twice", read("run.sh"), edit("run.sh", "one", "two"),
                   edit("run.sh", "two", "three"))
    turn = rig.checkpoints.turns()[0]
    assert [b.path.name for b in turn.files] == ["run.sh"]  # kept before the first edit only
    script.chmod(0o644)
    out = await rig.do("/rewind 1 files")
    assert script.read_text() == "echo one\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert "run.sh" in out


async def test_a_notebook_edit_is_kept_and_restored(rig: Rig) -> None:
    book = rig.project / "calc.ipynb"
    book.write_text(json.dumps(NOTEBOOK, indent=1))
    before = book.read_bytes()
    results = await rig.turn("change the cell", read("calc.ipynb"),
                             tool_call("NotebookEdit", {"notebook_path": "calc.ipynb", "cell_id": "calc",
                                                        "new_source": "2 + 2"}))
    assert "2 + 2" in book.read_text(), results
    await rig.do("/rewind 1 files")
    assert book.read_bytes() == before


async def test_a_change_that_is_refused_keeps_nothing(rig: Rig) -> None:
    (rig.project / "app.py").write_text("x = 1\n")
    results = await rig.turn("edit without reading", edit("app.py", "x = 1", "x = 2"),
                             read("app.py"), edit("app.py", "nope", "x = 2"))
    assert "has not been read" in results[0] and "not found" in results[2]
    assert rig.checkpoints.turns()[0].files == []
    out = await rig.do("/rewind 1 files")
    assert "No file was changed by Write, Edit or NotebookEdit since message 1" in out


async def test_a_file_changed_outside_the_agent_is_restored_and_named(rig: Rig) -> None:
    await two_turns(rig)
    (rig.project / "app.py").write_text("x = 3  # tuned by hand\n")
    out = await rig.do("/rewind 2 files")
    assert (rig.project / "app.py").read_text() == "x = 2\n"
    assert "app.py (it had been changed outside nano_claude since" in out


async def test_a_file_changed_outside_between_turns_is_named(rig: Rig) -> None:
    (rig.project / "app.py").write_text("x = 1\n")
    await rig.turn("one", read("app.py"), edit("app.py", "x = 1", "x = 2"))
    (rig.project / "app.py").write_text("x = 2  # by hand\n")
    await rig.turn("two", read("app.py"), edit("app.py", "# by hand", "# by the agent"))
    out = await rig.do("/rewind 1 files")
    assert (rig.project / "app.py").read_text() == "x = 1\n"
    assert "changed outside nano_claude since" in out  # the hand edit is undone too: said so


async def test_a_file_over_the_limit_is_not_kept_and_rewind_says_so(rig: Rig) -> None:
    big = rig.project / "big.txt"
    big.write_text("a" * (MAX_FILE_BYTES + 1))
    rig.state.agent.ctx.stamp(big)  # the model has seen it as it is
    await rig.turn("shrink it", write("big.txt", "small\n"))
    assert big.read_text() == "small\n"
    assert not rig.checkpoints.copies.exists()
    out = await rig.do("/rewind 1 files")
    assert big.read_text() == "small\n"
    assert "big.txt: not restored: it was 5.0 MB, over the 5 MB kept for a checkpoint" in out


async def test_a_checkpoint_that_cannot_be_kept_stops_the_change(rig: Rig) -> None:
    (rig.project / "app.py").write_text("x = 1\n")
    folder = rig.store.checkpoints(rig.session.id)
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")  # where the checkpoints would go
    results = await rig.turn("edit", read("app.py"), edit("app.py", "x = 1", "x = 2"))
    assert "Cannot keep a checkpoint of" in results[1] and "so it was not changed" in results[1]
    assert (rig.project / "app.py").read_text() == "x = 1\n"


# --- the conversation ---------------------------------------------------------------------


async def test_rewinding_the_conversation_cuts_it_and_the_transcript_resumes_there(rig: Rig) -> None:
    await two_turns(rig)
    kept = rig.session.messages[:8]
    out = await rig.do("/rewind 2 conversation")
    assert rig.session.messages == kept
    assert "Conversation rewound to before message 2 (make x three): 4 messages removed." in out
    assert (rig.project / "app.py").read_text() == "x = 3\n"  # the files are left alone
    resumed = rig.store.load(rig.session.id).session
    assert resumed.messages == kept


async def test_rewinding_both(rig: Rig) -> None:
    await two_turns(rig)
    out = await rig.do("/rewind 1 both")
    assert rig.session.messages == []
    assert (rig.project / "app.py").read_text() == "x = 1\n" and not (rig.project / "notes.md").exists()
    assert "Restored 2 files" in out and "Conversation rewound to before message 1" in out
    assert rig.store.load(rig.session.id).session.messages == []


async def test_changes_of_turns_rewound_away_are_undone_by_rewinding_further(rig: Rig) -> None:
    await two_turns(rig)
    await rig.do("/rewind 2 conversation")  # app.py stays at x = 3
    await rig.turn("make x four instead", edit("app.py", "x = 3", "x = 4"))
    await rig.do("/rewind 2 files")  # before "make x four": the rewound turn came earlier
    assert (rig.project / "app.py").read_text() == "x = 3\n"
    await rig.do("/rewind 1 files")
    assert (rig.project / "app.py").read_text() == "x = 1\n" and not (rig.project / "notes.md").exists()


# --- asking -----------------------------------------------------------------------------------


async def test_rewind_lists_the_turns_and_asks(fake_server: FakeModelServer, tmp_path: Path) -> None:
    rig = make_rig(fake_server, tmp_path, answers=["2", "files"])
    await two_turns(rig)
    out = await rig.do("/rewind")
    lines = out.splitlines()
    first = next(line for line in lines if line.startswith("  1  "))
    second = next(line for line in lines if line.startswith("  2  "))
    assert "make x two" in first and "app.py, notes.md (new)" in first
    assert "make x three" in second and second.rstrip().endswith("app.py")
    assert datetime.now().strftime("%H:") in first  # the time the turn began
    prompter = rig.state.agent.prompter
    assert isinstance(prompter, Answers)
    assert [q.question for q in prompter.questions] == [
        "Rewind to before which message? [1-2, or q to cancel]", "Restore what?"]
    assert (rig.project / "app.py").read_text() == "x = 2\n"


async def test_rewind_cancelled_or_wrong_changes_nothing(fake_server: FakeModelServer,
                                                         tmp_path: Path) -> None:
    rig = make_rig(fake_server, tmp_path, answers=["q"])
    assert "Nothing to rewind" in await rig.do("/rewind")
    await two_turns(rig)
    assert "Nothing rewound." in await rig.do("/rewind")
    assert "'7' is not one of your messages: give a number from 1 to 2" in await rig.do("/rewind 7")
    assert "say what to restore" in await rig.do("/rewind 1 everything")
    assert "Nothing rewound." in await rig.do("/rewind 1")  # nobody answers what to restore
    assert len(rig.session.messages) == 12 and (rig.project / "app.py").read_text() == "x = 3\n"


# --- storage ------------------------------------------------------------------------------------


def test_checkpoints_go_with_their_session_under_the_history_cap(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions", history_limit=1)
    old, new = (RecordedSession.new(tmp_path, messages=[Message("user", (TextBlock(t),))])
                for t in ("old", "new"))
    store.save(old, "m")
    folder = store.checkpoints(old.id)
    Checkpoints(folder).begin(old.messages[0], 0)
    assert folder.is_dir()
    store.save(new, "m")
    assert not folder.exists() and not store.transcript(old.id).exists()


def test_copies_are_private_and_shared_between_turns(tmp_path: Path) -> None:
    file = tmp_path / "a.txt"
    file.write_text("same")
    checkpoints = Checkpoints(tmp_path / "cp")
    for _ in range(2):
        checkpoints.begin(Message("user", (TextBlock("go"),), {TURN_KEY: new_turn_id()}), 0)
        checkpoints.keep(file)
        checkpoints.settle()
    copies = list(checkpoints.copies.iterdir())
    assert len(copies) == 1 and copies[0].read_text() == "same"
    assert stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(checkpoints.log).st_mode) == 0o600


async def test_a_log_line_cut_short_by_a_crash_loses_only_itself(rig: Rig) -> None:
    await two_turns(rig)
    with rig.checkpoints.log.open("a") as log:
        log.write('{"type": "file", "turn": "x", "pa')  # killed mid-write
    await rig.turn("make x four", edit("app.py", "x = 3", "x = 4"))
    assert [len(t.files) for t in rig.checkpoints.turns()] == [2, 1, 1]
    await rig.do("/rewind 3 files")
    assert (rig.project / "app.py").read_text() == "x = 3\n"
