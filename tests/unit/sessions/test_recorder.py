"""The recorder writes what the real loop yields, as it happens (fake model server)."""

from __future__ import annotations

import json
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from nano_claude.core.events import ToolCallStarted
from nano_claude.core.loop import INTERRUPTED, Session
from nano_claude.core.messages import Message, TextBlock, user_text
from nano_claude.core.prompter import NoUserPresent, PermissionRequest, Question, Verdict
from nano_claude.sessions.recorder import Recorder, RecordingPrompter
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.store import SessionStore
from nano_claude.sessions.transcript import read_transcript
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer
from tests.toolkit import make_agent


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def recording(tmp_path: Path) -> tuple[SessionStore, RecordedSession, Recorder]:
    store = SessionStore(tmp_path / "sessions")
    session = RecordedSession.new(tmp_path)
    recorder = Recorder(store.transcripts, lambda: "anthropic/claude-sonnet-4-6")
    recorder.follow(session)
    return store, session, recorder


async def test_a_tool_call_is_on_disk_before_it_runs(fake_server: FakeModelServer, tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    path = store.transcript(session.id)
    fake_server.script(tool_call("Bash", {"command": f"cat {path}"}, id="toolu_cat"), text("done"))
    agent = make_agent(fake_server, tmp_path)
    async for event in agent.run(session, user_text("show the transcript")):
        recorder.on_event(event)
    await agent.ctx.aclose()
    while_running = [json.loads(line) for line in session.messages[2].tool_results[0].text.splitlines()]
    assert [r["type"] for r in while_running] == ["session", "message", "message", "tool_call"]
    assert while_running[0]["model"] == "anthropic/claude-sonnet-4-6"
    assert while_running[3]["id"] == "toolu_cat"
    assert [r["type"] for r in lines(path)][4:] == ["tool_done", "message", "message"]
    assert read_transcript(path).messages == session.messages


class Peeking:
    """A user who looks at the transcript when asked, then allows the call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[dict[str, Any]] = []

    async def confirm(self, request: PermissionRequest) -> Verdict:
        self.seen = lines(self.path)
        return Verdict(True)

    async def ask(self, question: Question) -> str:
        raise NoUserPresent("not in this test")


async def test_an_open_permission_question_is_on_disk_while_it_is_asked(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    user = Peeking(store.transcript(session.id))
    prompter = RecordingPrompter(user)
    prompter.recorder = recorder
    fake_server.script(tool_call("Bash", {"command": "echo hi"}, id="toolu_ask"), text("done"))
    agent = make_agent(fake_server, tmp_path, mode="manual", prompter=prompter)
    async for event in agent.run(session, user_text("say hi")):
        recorder.on_event(event)
    await agent.ctx.aclose()
    assert user.seen[-1]["type"] == "permission_pending" and user.seen[-1]["id"] == "toolu_ask"
    answer = next(r for r in lines(store.transcript(session.id)) if r["type"] == "permission")
    assert answer["allowed"] is True and answer["by_user"] is True


async def test_messages_a_cancelled_run_added_without_an_event_are_written_by_sync(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    fake_server.script(tool_call("Bash", {"command": "sleep 30"}, id="toolu_stop"))
    agent = make_agent(fake_server, tmp_path)
    async with aclosing(agent.run(session, user_text("wait"))) as events:
        async for event in events:
            recorder.on_event(event)
            if isinstance(event, ToolCallStarted):
                break  # the user pressed Esc: the run is closed before the call runs
    await agent.ctx.aclose()
    assert len(read_transcript(store.transcript(session.id)).messages) == 2
    recorder.sync()
    written = read_transcript(store.transcript(session.id)).messages
    assert written == session.messages and written[-1].tool_results[0].text == INTERRUPTED


def test_a_history_compacted_in_place_is_written_whole_once(tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    session.messages.extend([user_text("one"), Message("assistant", (TextBlock("1"),)), user_text("two")])
    recorder.sync()
    session.messages[:] = [user_text("recap: one, two"), *session.messages[2:]]
    session.messages.append(Message("assistant", (TextBlock("2"),)))
    recorder.sync()
    session.messages.append(user_text("three"))
    recorder.sync()
    path = store.transcript(session.id)
    assert [r["type"] for r in lines(path)] == ["session", *["message"] * 3, "rewrite", "message"]
    assert read_transcript(path).messages == session.messages


def test_a_cleared_conversation_becomes_a_new_session_with_its_own_transcript(tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    session.messages.append(user_text("before /clear"))
    recorder.sync()
    fresh = RecordedSession.adopt(Session(), tmp_path)
    recorder.follow(fresh)
    fresh.messages.append(user_text("after /clear"))
    recorder.sync()
    recorder.close()
    assert fresh.id != session.id and fresh.changed
    assert [m.text for m in read_transcript(store.transcript(fresh.id)).messages] == ["after /clear"]
    assert [m.text for m in read_transcript(store.transcript(session.id)).messages] == ["before /clear"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to play a full disk")
async def test_a_transcript_that_cannot_be_written_is_reported_and_the_run_goes_on(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    store, session, recorder = recording(tmp_path)
    path = store.transcript(session.id)
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/full")  # every write: "No space left on device"
    fake_server.script(tool_call("Bash", {"command": "echo hi"}), text("still here"))
    agent = make_agent(fake_server, tmp_path)
    async for event in agent.run(session, user_text("hi")):
        recorder.on_event(event)
    await agent.ctx.aclose()
    assert session.messages[-1].text == "still here"
    assert recorder.failure == f"could not write the transcript {path}: No space left on device"
    assert session.written == 0  # nothing counts as written: the next sync tries it all again
