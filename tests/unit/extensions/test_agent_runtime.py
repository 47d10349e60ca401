"""The sub-agent runtime in process: a real Agent with real Subagents, a real Policy, real files and
real git, against a model that answers each conversation (the parent's, every sub-agent's) from its
own script. Each test holds one defect a review found, so it cannot come back: a worktree child
reading what the parent's rules deny in the main checkout, a killed queued agent hanging its parent,
a child's mode fixed at its start, an agent talking to a sibling it did not start, a result counted
before its branch was committed, a cancelled worktree left behind, background usage lost on the way
up, resumed agents that could not run again, and a stopped agent's own agents running on."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nano_claude.config import Settings
from nano_claude.core.events import Event, Response, TextDelta, TokenUsage, TurnDone
from nano_claude.core.loop import Agent, LoopOptions, Session
from nano_claude.core.messages import Block, Message, TextBlock, ToolResultBlock, ToolUseBlock, user_text
from nano_claude.core.prompter import HeadlessPrompter, PermissionRequest, Prompter, Question, Verdict
from nano_claude.extensions.agents.runtime import AgentRun, Pool, Subagents
from nano_claude.extensions.agents.tools import agent_tools
from nano_claude.extensions.agents.types import BUILTIN, AgentType, Found
from nano_claude.permissions.policy import Mode, Policy
from nano_claude.permissions.rules import RuleSet
from nano_claude.providers.base import Request
from nano_claude.providers.catalog import cost_usd, lookup
from nano_claude.sessions.session import RecordedSession
from nano_claude.tools.base import ToolContext
from nano_claude.tools.registry import Registry, builtin_tools

MODEL = lookup("anthropic", "claude-sonnet-4-6")
TIMEOUT = 5.0  # seconds: a regression that hangs fails here instead of stalling the suite
USAGE = TokenUsage(10, 5)  # every response's

Reply = tuple[Block, ...]
Step = Reply | Callable[[Request], Awaitable[Reply]]


class Routed:
    """A strict fake model for several conversations at once. A conversation is told apart by a
    key in its first user message (a sub-agent's first message is its prompt) and answered from its
    own script, in order, whatever order the concurrent requests come in. A step is the reply's
    blocks, or an async function of the request returning them: one that holds the reply until the
    test lets it go, or never answers. A request with no key or no step left fails the test."""

    name = "routed"

    def __init__(self, scripts: dict[str, list[Step]]) -> None:
        self.scripts = scripts
        self.requests: dict[str, list[Request]] = {key: [] for key in scripts}
        self.unexpected: list[str] = []

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        first = next(m for m in request.messages if m.role == "user")
        keys = [key for key in self.scripts if key in first.text]
        if len(keys) != 1 or not self.scripts[keys[0]]:
            self.unexpected.append(first.text[:80])
            raise AssertionError(f"Routed: no step for a conversation starting {first.text[:80]!r}")
        key = keys[0]
        self.requests[key].append(request)
        step = self.scripts[key].pop(0)
        blocks = step if isinstance(step, tuple) else await step(request)
        for block in blocks:
            if isinstance(block, TextBlock):
                yield TextDelta(block.text)
        stop = "tool_use" if any(isinstance(b, ToolUseBlock) for b in blocks) else "end_turn"
        yield Response(Message("assistant", blocks), USAGE, stop)

    def count(self, key: str) -> int:
        return len(self.requests[key])

    def verify(self, *, unused: tuple[str, ...] = ()) -> None:
        """Every request was expected, and every script but `unused` was played to its end."""
        assert not self.unexpected, f"Routed: unexpected requests {self.unexpected}"
        left = {key: len(steps) for key, steps in self.scripts.items() if steps and key not in unused}
        assert not left, f"Routed: steps never requested: {left}"

    async def aclose(self) -> None:
        return None


def say(text: str) -> Reply:
    return (TextBlock(text),)


def use(name: str, input: dict[str, Any], id: str) -> Reply:
    return (ToolUseBlock(id, name, input),)


def spawn(prompt: str, name: str, id: str, **more: Any) -> Reply:
    return use("Agent", {"prompt": prompt, "name": name, **more}, id)


def held(gate: asyncio.Event, reply: Reply) -> Step:
    """A reply the model gives only once the test opens `gate`."""
    async def step(request: Request) -> Reply:
        await gate.wait()
        return reply
    return step


async def _never(request: Request) -> Reply:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


HANG: Step = _never  # a request that is never answered: an agent busy until it is stopped


class Approving:
    """A user who says yes to every question, and whom the test can ask what was asked."""

    def __init__(self) -> None:
        self.asked: list[PermissionRequest] = []

    async def confirm(self, request: PermissionRequest) -> Verdict:
        self.asked.append(request)
        return Verdict(True)

    async def ask(self, question: Question) -> str:
        raise AssertionError(f"nobody should ask the user {question}")


def make_agent(project: Path, model: Routed, *, mode: Mode = "auto", rules: RuleSet | None = None,
               limit: int = 4, wait_for_wakeups: bool = True, prompter: Prompter | None = None,
               transcripts: Path | None = None) -> Agent:
    """The session's own agent as assemble.py builds it, with the Agent tools and a Pool; the
    user's data folder (worktrees) and home are beside the project."""
    home = project.parent / "home"
    home.mkdir(exist_ok=True)
    ctx = ToolContext(cwd=project, environ={**os.environ, "HOME": str(home)}, project=project)
    tools = Registry(builtin_tools())
    for tool in agent_tools():
        tools.register_tool(tool)
    policy = Policy(mode, rules or RuleSet(), project, home, cwd=project)
    options = LoopOptions(system="You are the parent.", permission_mode=mode, policy=policy,
                          wait_for_wakeups=wait_for_wakeups)
    agent = Agent(model, MODEL, tools, ctx, prompter or HeadlessPrompter(), options)
    Subagents(agent, Found(dict(BUILTIN)), Settings(), Pool(limit, transcripts),
              data_dir=project.parent / "data")
    return agent


async def collect(agent: Agent, session: Session, prompt: str) -> list[Event]:
    return [event async for event in agent.run(session, user_text(prompt))]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a state another task reaches; fail, saying what never happened, after TIMEOUT."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(poll(), TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"within {TIMEOUT}s: {what}") from None


async def finished(turn: asyncio.Future[list[Event]], what: str) -> list[Event]:
    try:
        return await asyncio.wait_for(turn, TIMEOUT)
    except asyncio.TimeoutError:
        raise AssertionError(f"within {TIMEOUT}s: {what}") from None


async def close(agent: Agent) -> None:
    """The session ends: whatever still runs in the background stops."""
    await asyncio.wait_for(agent.aclose(), TIMEOUT)


def results(session: Session) -> dict[str, ToolResultBlock]:
    """Every tool result of a conversation, by the id of the call it answers."""
    return {r.tool_use_id: r for m in session.messages for r in m.tool_results}


def run_of(agent: Agent, name: str) -> AgentRun:
    run = agent.ctx.agents.pool.find(name)
    assert run is not None, f"no sub-agent {name!r} was started"
    return run


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project that is a git repository with one commit (a worktree needs one to start from)."""
    project = tmp_path / "repo"
    project.mkdir()
    git(project, "init", "-q")
    (project / "README.md").write_text("# the project\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "first")
    return project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "README.md").write_text("# the project\n")
    return folder


# --- permissions ------------------------------------------------------------------------


async def test_a_worktree_child_cannot_read_what_the_parents_rules_deny_in_the_main_checkout(
        repo: Path) -> None:
    # Not committed: the worktree has no copy; the main checkout's files are the ones at stake
    (repo / ".env").write_text("SECRET=from-the-env-file\n")
    (repo / "secrets").mkdir()
    (repo / "secrets" / "k").write_text("SECRET=from-the-key-file\n")
    rules = RuleSet()
    rules.add(["Read(.env)", "Read(./secrets/**)"], "deny", "settings.json")
    model = Routed({
        "PARENT": [spawn("CHILD-W look at the main checkout", "w", "c1", isolation="worktree"),
                   say("done")],
        "CHILD-W": [(ToolUseBlock("r1", "Read", {"file_path": str(repo / ".env")}),
                     ToolUseBlock("r2", "Read", {"file_path": str(repo / "secrets" / "k")}),
                     ToolUseBlock("g1", "Grep", {"pattern": "SECRET", "path": str(repo)}),
                     ToolUseBlock("g2", "Glob", {"pattern": "**/*", "path": str(repo)})),
                    use("Bash", {"command": f"cat {repo}/.env"}, "b1"),
                    say("looked")],
    })
    agent = make_agent(repo, model, mode="accept-all", rules=rules)
    try:
        await finished(asyncio.ensure_future(collect(agent, Session(), "PARENT job")), "the parent's turn")
        child = run_of(agent, "w")
        seen = results(child.session)
        for call in ("r1", "r2", "b1"):
            assert seen[call].is_error and "Permission denied" in seen[call].text, seen[call].text
        assert not any("SECRET=" in r.text for r in seen.values())
        assert ".env" not in seen["g1"].text and "secrets" not in seen["g1"].text, seen["g1"].text
        assert "README.md" in seen["g2"].text, seen["g2"].text  # the search itself works
        assert ".env" not in seen["g2"].text and "secrets/k" not in seen["g2"].text, seen["g2"].text
        assert child.agent is not None and child.agent.policy.mode == "accept-all"
        assert child.agent.policy.protects(repo / ".env")
        assert child.agent.policy.protects(repo / "secrets" / "k")
        assert not child.agent.policy.protects(repo / "README.md")
        model.verify()
    finally:
        await close(agent)


async def test_a_background_childs_mode_follows_the_parents_switch_to_plan_mode(project: Path) -> None:
    gate = asyncio.Event()
    user = Approving()  # if the child still ran in auto mode, its Write would ask, and be allowed
    model = Routed({
        "PARENT": [spawn("CHILD-R write the report", "r", "c1", run_in_background=True),
                   say("it runs"), say("r is done")],
        "CHILD-R": [held(gate, use("Read", {"file_path": "README.md"}, "r1")),
                    use("Write", {"file_path": "report.md", "content": "the report\n"}, "w1"),
                    say("tried to write")],
    })
    agent = make_agent(project, model, mode="auto", prompter=user)
    try:
        turn = asyncio.ensure_future(collect(agent, Session(), "PARENT job"))
        await until(lambda: model.count("CHILD-R") == 1, "the child's first request")
        agent.policy.mode = "plan"  # the user switches modes while the child works
        gate.set()
        await finished(turn, "the parent being woken with the child's result")
        write = results(run_of(agent, "r").session)["w1"]
        assert write.is_error and "plan mode is read-only" in write.text, write.text
        assert not (project / "report.md").exists()
        assert user.asked == []
        model.verify()
    finally:
        await close(agent)


async def test_an_agent_may_talk_only_to_the_agents_it_started(project: Path) -> None:
    readonly = AgentType("readonly", "reviews, never writes", "You never write.", None,
                         permission_mode="plan")
    model = Routed({
        "PARENT": [spawn("CHILD-GP hello", "gp", "c1"),
                   spawn("CHILD-RO review only", "ro", "c2", subagent_type="readonly"),
                   use("CheckAgentResult", {"task_id": "gp"}, "c3"),
                   say("parent done")],
        # What the sibling would do if the plan-mode agent could reach it
        "CHILD-GP": [say("gp ready"),
                     use("Write", {"file_path": "pwned.txt", "content": "written for ro\n"}, "g1"),
                     say("gp wrote it")],
        "CHILD-RO": [spawn("HELPER look around", "helper", "r1"),
                     (ToolUseBlock("r2", "SendMessage", {"to": "gp", "message": "CHILD-GP write pwned.txt"}),
                      ToolUseBlock("r3", "CheckAgentResult", {"task_id": "gp"})),
                     say("ro done")],
        "HELPER": [say("helper done")],
    })
    agent = make_agent(project, model, mode="accept-all")
    agent.ctx.agents.types.types["readonly"] = readonly
    try:
        session = Session()
        await finished(asyncio.ensure_future(collect(agent, session, "PARENT job")), "the parent's turn")
        helper = run_of(agent, "helper")
        seen = results(run_of(agent, "ro").session)
        for call in ("r2", "r3"):
            assert seen[call].is_error, seen[call].text
            assert "among the ones you started" in seen[call].text, seen[call].text
            assert f"helper ({helper.id})" in seen[call].text, seen[call].text
        assert not (project / "pwned.txt").exists()
        assert model.count("CHILD-GP") == 1  # the sibling was never woken
        own = results(session)["c3"]  # its own caller still reaches it
        assert not own.is_error and "gp ready" in own.text, own.text
        model.verify(unused=("CHILD-GP",))
    finally:
        await close(agent)


# --- background agents ----------------------------------------------------------------


async def test_a_queued_background_agent_that_is_killed_ends_cancelled_and_its_parent_goes_on(
        project: Path) -> None:
    gate = asyncio.Event()
    model = Routed({
        "PARENT": [(*spawn("CHILD-A work", "a", "c1", run_in_background=True),
                    *spawn("CHILD-B work", "b", "c2", run_in_background=True)),
                   say("waiting for both"), say("b was stopped"), say("a finished too")],
        "CHILD-A": [held(gate, say("A finished"))],
        "CHILD-B": [say("B finished")],
    })
    agent = make_agent(project, model, limit=1)  # one slot: b waits for a's
    try:
        turn = asyncio.ensure_future(collect(agent, Session(), "PARENT job"))
        await until(lambda: model.count("PARENT") == 2 and model.count("CHILD-A") == 1,
                    "the parent waiting while a runs")
        b = run_of(agent, "b")
        assert b.status == "queued"
        agent.ctx.agents.kill("b")  # /agents kill b
        await until(lambda: b.status == "cancelled", "the killed queued agent ending cancelled")
        await until(lambda: model.count("PARENT") == 3, "the parent being woken by b's end")
        assert "b (general-purpose): cancelled" in model.requests["PARENT"][2].messages[-1].text
        gate.set()
        events = await finished(turn, "the parent's turn ending once a is done too")
        assert isinstance(events[-1], TurnDone) and events[-1].stop_reason == "end_turn"
        assert run_of(agent, "a").status == "completed" and b.status == "cancelled"
        model.verify(unused=("CHILD-B",))
        assert model.count("CHILD-B") == 0
    finally:
        await close(agent)


async def test_the_wake_up_for_a_background_worktree_agent_names_its_branch(repo: Path) -> None:
    async def wait_for_w(request: Request) -> Reply:
        # The parent's turn ends the moment w counts as done: its result must be whole by then
        await until(lambda: run_of(agent, "w").done, "w finishing")
        return say("waiting for w")

    model = Routed({
        "PARENT": [spawn("CHILD-W add new.txt", "w", "c1", run_in_background=True, isolation="worktree",
                         subagent_type="coder"),
                   wait_for_w, say("w is done")],
        "CHILD-W": [use("Write", {"file_path": "new.txt", "content": "hi\n"}, "w1"), say("W wrote new.txt")],
    })
    agent = make_agent(repo, model, mode="accept-all")
    try:
        await finished(asyncio.ensure_future(collect(agent, Session(), "PARENT job")), "the parent's turn")
        woken = model.requests["PARENT"][2].messages[-1].text
        assert "[Background agent finished]" in woken, woken
        assert "committed on branch nano-claude/agent-w" in woken and "new.txt" in woken, woken
        assert git(repo, "show", "nano-claude/agent-w:new.txt") == "hi\n"
        assert git(repo, "status", "--porcelain") == "" and not (repo / "new.txt").exists()
        model.verify()
    finally:
        await close(agent)


async def test_a_cancelled_worktree_agent_commits_its_partial_work_and_its_worktree_goes(repo: Path) -> None:
    model = Routed({
        "PARENT": [spawn("CHILD-W do it in halves", "w", "c1", isolation="worktree")],
        "CHILD-W": [use("Write", {"file_path": "half.txt", "content": "half done\n"}, "w1"), HANG],
    })
    agent = make_agent(repo, model, mode="accept-all")
    try:
        turn = asyncio.ensure_future(collect(agent, Session(), "PARENT job"))
        await until(lambda: model.count("CHILD-W") == 2, "the child writing half.txt and going on")
        worktree = run_of(agent, "w").worktree
        assert worktree is not None and str(worktree.path) in git(repo, "worktree", "list")
        turn.cancel()  # Ctrl+C on the parent's turn stops its foreground child
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(turn, TIMEOUT)
        run = run_of(agent, "w")
        assert run.status == "cancelled"
        listed = git(repo, "worktree", "list", "--porcelain")
        assert str(worktree.path) not in listed and not worktree.path.exists(), listed
        assert git(repo, "show", "nano-claude/agent-w:half.txt") == "half done\n"
        assert "nano-claude/agent-w" in run.outcome, run.outcome
        assert git(repo, "status", "--porcelain") == "" and not (repo / "half.txt").exists()
    finally:
        await close(agent)


async def test_a_background_grandchilds_usage_counts_for_the_whole_session(project: Path) -> None:
    model = Routed({
        "PARENT": [spawn("CHILD-X work", "x", "c1"), say("parent done")],
        "CHILD-X": [spawn("GRAND-G work", "g", "x1", run_in_background=True),
                    say("x waits for g"), say("x done after g")],
        "GRAND-G": [say("g done")],
    })
    agent = make_agent(project, model)
    try:
        session = Session()
        await finished(asyncio.ensure_future(collect(agent, session, "PARENT job")), "the parent's turn")
        requests = sum(model.count(key) for key in model.requests)
        assert requests == 6 and model.count("GRAND-G") == 1
        assert (session.usage.input_tokens, session.usage.output_tokens) == (10 * requests, 5 * requests)
        assert session.cost_usd == pytest.approx(requests * cost_usd(MODEL, 10, 5, 0, 0))
        model.verify()
    finally:
        await close(agent)


async def test_stopping_a_background_agent_stops_its_own_background_agents(project: Path) -> None:
    model = Routed({
        "PARENT": [spawn("CHILD-C start a helper", "c", "c1", run_in_background=True),
                   say("waiting for c"), say("c was stopped")],
        "CHILD-C": [spawn("GRAND-G wait", "g", "x1", run_in_background=True), say("c waits for g")],
        "GRAND-G": [HANG],
    })
    agent = make_agent(project, model)
    try:
        turn = asyncio.ensure_future(collect(agent, Session(), "PARENT job"))
        await until(lambda: model.count("GRAND-G") == 1 and model.count("CHILD-C") == 2,
                    "c waiting on its running grandchild g")
        grandchild = run_of(agent, "g")
        assert grandchild.status == "running"
        agent.ctx.agents.kill("c")  # /agents kill c
        await until(lambda: grandchild.status == "cancelled", "the grandchild stopping with c")
        await finished(turn, "the parent being woken with c's end")
        assert run_of(agent, "c").status == "cancelled"
        model.verify()
    finally:
        await close(agent)


# --- resuming ---------------------------------------------------------------------------


async def ended_session(project: Path, transcripts: Path) -> RecordedSession:
    """A session that ended with background agent a running and b still queued behind it."""
    model = Routed({
        "PARENT": [(*spawn("CHILD-A work", "a", "c1", run_in_background=True),
                    *spawn("CHILD-B work", "b", "c2", run_in_background=True)),
                   say("both started")],
        "CHILD-A": [HANG],
        "CHILD-B": [],
    })
    agent = make_agent(project, model, limit=1, wait_for_wakeups=False, transcripts=transcripts)
    session = RecordedSession.new(project)
    await finished(asyncio.ensure_future(collect(agent, session, "PARENT job")), "the first session's turn")
    await until(lambda: model.count("CHILD-A") == 1, "a running")
    await close(agent)
    return session


def index_of(transcripts: Path, session: RecordedSession) -> dict[str, dict[str, Any]]:
    by_id = json.loads((transcripts / f"{session.id}.agents" / "index.json").read_text())
    return {entry["name"]: entry for entry in by_id.values()}


def resumed(project: Path, transcripts: Path, session: RecordedSession,
            scripts: dict[str, list[Step]]) -> tuple[Agent, Routed, RecordedSession]:
    """The session resumed in a new process: a new agent, the same session id and history."""
    model = Routed(scripts)
    agent = make_agent(project, model, limit=1, transcripts=transcripts)
    return agent, model, RecordedSession(messages=list(session.messages), id=session.id)


async def test_an_agent_queued_when_the_session_ended_resumes_from_its_prompt(
        project: Path, tmp_path: Path) -> None:
    transcripts = tmp_path / "transcripts"
    first = await ended_session(project, transcripts)
    entry = index_of(transcripts, first)["b"]
    assert entry["status"] == "cancelled"
    assert not (transcripts / f"{first.id}.agents" / entry["transcript"]).exists()  # it never ran
    agent, model, session = resumed(project, transcripts, first, {
        "PARENT": [use("SendMessage", {"to": "b", "message": "CHILD-B go on now"}, "s1"),
                   say("b resumed"), say("b answered")],
        "CHILD-B": [say("B again")],
    })
    try:
        await finished(asyncio.ensure_future(collect(agent, session, "PARENT again")),
                       "the resumed parent being woken with b's answer")
        sent = results(session)["s1"]
        assert not sent.is_error and "resumed" in sent.text, sent.text
        history = model.requests["CHILD-B"][0].messages
        assert history[0].text == "CHILD-B work"  # its task, from the stored prompt
        assert "CHILD-B go on now" in history[-1].text
        assert "B again" in model.requests["PARENT"][2].messages[-1].text
        assert run_of(agent, "b").status == "completed"
        model.verify()
    finally:
        await close(agent)


async def test_an_agent_left_running_by_a_crash_resumes_from_its_transcript(
        project: Path, tmp_path: Path) -> None:
    transcripts = tmp_path / "transcripts"
    first = await ended_session(project, transcripts)
    index = transcripts / f"{first.id}.agents" / "index.json"
    entries = json.loads(index.read_text())
    for entry in entries.values():  # a killed process last wrote the index when its agents started
        entry["status"] = "queued"
    index.write_text(json.dumps(entries))
    assert (index.parent / index_of(transcripts, first)["a"]["transcript"]).exists()
    agent, model, session = resumed(project, transcripts, first, {
        "PARENT": [use("SendMessage", {"to": "a", "message": "CHILD-A go on now"}, "s1"),
                   say("a resumed"), say("a answered")],
        "CHILD-A": [say("A again")],
    })
    try:
        await finished(asyncio.ensure_future(collect(agent, session, "PARENT again")),
                       "the resumed parent being woken with a's answer")
        sent = results(session)["s1"]
        assert not sent.is_error and "resumed" in sent.text, sent.text
        history = model.requests["CHILD-A"][0].messages
        assert history[0].text == "CHILD-A work" and "CHILD-A go on now" in history[-1].text
        assert not any("stopped before I began" in m.text for m in history)  # its transcript, not a stand-in
        assert "A again" in model.requests["PARENT"][2].messages[-1].text
        assert run_of(agent, "a").status == "completed"
        model.verify()
    finally:
        await close(agent)
