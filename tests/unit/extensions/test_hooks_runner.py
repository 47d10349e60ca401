"""The HookRunner with real processes: hooks of an event run at once, a hook past its
timeout is killed with its process group, runs are recorded for /hooks, and the loop
and compaction act on what the hooks say."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from nano_claude.core.events import MessageAdded, Notice, PermissionAsked, ToolCallStarted, TurnDone
from nano_claude.core.loop import Agent, LoopOptions, Session
from nano_claude.core.messages import Message, TextBlock, user_text
from nano_claude.core.prompter import HeadlessPrompter
from nano_claude.extensions.hooks import config
from nano_claude.extensions.hooks.runner import HookFailed, HookRunner
from nano_claude.paths import Paths
from nano_claude.providers.catalog import lookup
from nano_claude.tools.base import ToolContext
from nano_claude.tools.registry import Registry, builtin_tools
from tests.fakes.provider import ScriptedProvider, Turn, call, say
from tests.processes import alive

MODEL = lookup("anthropic", "claude-sonnet-4-6")


def make_agent(tmp_path: Path, *turns: Turn) -> Agent:
    ctx = ToolContext(cwd=tmp_path, environ=dict(os.environ))
    return Agent(ScriptedProvider(list(turns)), MODEL, Registry(builtin_tools()), ctx, HeadlessPrompter(),
                 LoopOptions(system="sys", max_turns=10, permission_mode="accept-all"))


def with_hooks(agent: Agent, hooks: dict[str, Any], *, scope: config.Scope = "user", trust: str = "approved",
               paths: Paths | None = None) -> HookRunner:
    found = config.Found()
    found.hooks = config.parse(hooks, "settings.json", scope, found.errors)
    assert found.errors == []
    return HookRunner(found, trust=trust, project=agent.ctx.cwd, paths=paths).attach(agent)  # type: ignore[arg-type]


def command(text: str, matcher: str = "", **handler: Any) -> dict[str, Any]:
    return {"matcher": matcher, "hooks": [{"type": "command", "command": text, **handler}]}


async def test_the_hooks_of_an_event_run_at_once(tmp_path: Path) -> None:
    # The first waits for what the second does: run one after the other, it would time out
    waits = f"for i in $(seq 100); do [ -f {tmp_path}/made ] && exit 0; sleep 0.05; done; exit 1"
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"Stop": [command(waits, timeout=10), command(f"touch {tmp_path}/made")]})
    decision = await hooks.stop("done", active=False)
    assert decision.notices == [] and not decision.blocked
    assert [hooks.last_run(h).outcome for h in hooks.found.hooks] == ["exit 0", "exit 0"]  # type: ignore[union-attr]


async def test_a_hook_past_its_timeout_is_killed_with_everything_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"Stop": [command(f"sleep 60 & echo $! > {pid_file}; wait", timeout=0.5)]})
    decision = await hooks.stop("done", active=False)
    [failed] = decision.notices
    assert isinstance(failed, HookFailed) and "timed out after 0.5s" in failed.text and failed.code is None
    assert not alive(int(pid_file.read_text()))
    last = hooks.last_run(hooks.found.hooks[0])
    assert last is not None and last.outcome == "did not finish" and last.seconds >= 0.5


async def test_a_handler_under_two_matchers_runs_once_and_gets_the_project_dir(tmp_path: Path) -> None:
    log = tmp_path / "log"
    line = f"echo \"$CLAUDE_PROJECT_DIR $NANO_CLAUDE_PROJECT_DIR $(pwd)\" >> {log}"
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"PreToolUse": [command(line, "Bash"), command(line, "*")]})
    await hooks.run("PreToolUse", {"tool_name": "Bash"}, "Bash")
    assert log.read_text().splitlines() == [f"{tmp_path} {tmp_path} {tmp_path}"]


async def test_a_projects_hooks_run_only_once_trusted_and_the_answer_is_kept(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "home", tmp_path / ".nano_claude")
    paths.home.mkdir()
    marker = tmp_path / "ran"
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"Stop": [command(f"touch {marker}")]}, scope="project", trust="pending",
                       paths=paths)
    assert hooks.pending == hooks.found.hooks
    await hooks.stop("done", active=False)
    assert not marker.exists()
    assert hooks.decide(True) == ""
    await hooks.stop("done", active=False)
    assert marker.exists() and hooks.pending == []
    from nano_claude.extensions.hooks import trust

    assert trust.decision(paths, tmp_path, hooks.found.digest) == "approved"


async def test_a_sub_agents_end_is_subagent_stop_matched_on_its_type(tmp_path: Path) -> None:
    log = tmp_path / "log"
    agent, child = make_agent(tmp_path), make_agent(tmp_path)
    hooks = with_hooks(agent, {"SubagentStop": [command(f"cat >> {log}; echo >> {log}", "Explore")],
                               "Stop": [command(f"echo parent >> {log}")]})
    view = hooks.for_subagent(child, "a1b2c3", "Explore")
    assert child.hooks is view and view.stop_event == "SubagentStop"
    await view.stop("child answer", active=False)
    other = hooks.for_subagent(make_agent(tmp_path), "d4e5f6", "Plan")
    await other.stop("nothing", active=False)
    [payload] = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert payload["hook_event_name"] == "SubagentStop" and payload["agent_id"] == "a1b2c3"
    assert payload["agent_type"] == "Explore" and payload["last_assistant_message"] == "child answer"


async def test_continue_false_after_a_call_ends_the_run_with_the_reason(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Bash", {"command": "echo hi"}))
    stop = tmp_path / "stop.py"
    stop.write_text("print('{\"continue\": false, \"stopReason\": \"enough\"}')\n")
    say_stop = f"{sys.executable} {stop}"
    with_hooks(agent, {"PostToolUse": [command(say_stop, "Bash")]})
    session = Session()
    events = [e async for e in agent.run(session, user_text("go"))]
    assert Notice("A hook stopped the run: enough") in events
    done = events[-1]
    assert isinstance(done, TurnDone) and done.stop_reason == "end_turn" and done.turns == 1
    assert session.messages[-1].tool_results[0].text.startswith("hi")


def long_conversation() -> Session:
    session = Session()
    for n in range(6):
        size = 40_000 if n < 3 else 10  # the older turns far bigger than any recap
        session.messages.append(user_text(f"question {n} " + "x" * size))
        session.messages.append(Message("assistant", (TextBlock(f"answer {n} " + "y" * size),)))
    return session


async def test_a_pre_compact_hook_can_stop_a_compaction(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)  # no turn scripted: a summary request would fail the test
    with_hooks(agent, {"PreCompact": [command("echo 'keep it all' >&2; exit 2", "manual")]})
    session = long_conversation()
    before = list(session.messages)
    events = [e async for e in agent.compactor(session).compact()]
    assert Notice("A PreCompact hook stopped the compaction: keep it all") in events
    assert session.messages == before


async def test_pre_compact_hooks_hear_the_trigger_and_focus(tmp_path: Path) -> None:
    log = tmp_path / "log"
    agent = make_agent(tmp_path, say("the recap"))
    with_hooks(agent, {"PreCompact": [command(f"cat > {log}")]})
    session = long_conversation()
    events = [e async for e in agent.compactor(session).compact("the parser")]
    assert any(isinstance(e, Notice) and e.text.startswith("Compacted the conversation") for e in events)
    payload = json.loads(log.read_text())
    assert payload["trigger"] == "manual" and payload["custom_instructions"] == "the parser"


async def test_stop_feedback_is_a_user_message_and_the_model_goes_on(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, say("first"), say("second"))
    gate = tmp_path / "gate"
    once = f"[ -f {gate} ] && exit 0; touch {gate}; echo 'add a test' >&2; exit 2"
    with_hooks(agent, {"Stop": [command(once)]})
    session = Session()
    events = [e async for e in agent.run(session, user_text("go"))]
    added = [e.message for e in events if isinstance(e, MessageAdded) and e.message.role == "user"]
    assert [m.text for m in added] == ["go", "Stop hook feedback:\nadd a test"]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.text == "second"


async def test_pre_tool_use_context_goes_with_the_calls_result(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Bash", {"command": "echo hi"}), say("done"))
    hook = tmp_path / "context.py"
    hook.write_text("import json\nprint(json.dumps({'hookSpecificOutput': {'hookEventName': 'PreToolUse', "
                    "'additionalContext': 'this repo uses zsh'}}))\n")
    with_hooks(agent, {"PreToolUse": [command(f"{sys.executable} {hook}", "Bash")]})
    session = Session()
    [e async for e in agent.run(session, user_text("go"))]
    [answer] = session.messages[2].tool_results
    assert answer.text.startswith("hi")
    assert answer.text.endswith("Context from a PreToolUse hook:\nthis repo uses zsh")


ASK = ("grep -q ask-me && echo '{\"hookSpecificOutput\": {\"hookEventName\": \"PreToolUse\", "
       "\"permissionDecision\": \"ask\"}}'; exit 0")


async def test_a_notification_hook_does_not_hold_up_the_answered_call(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agent = make_agent(tmp_path, call("Bash", {"command": "echo ask-me"}), say("done"))
    with_hooks(agent, {"PreToolUse": [command(ASK, "Bash")],
                       "Notification": [command(f"echo $$ > {pid_file}; exec sleep 30", timeout=60)]})
    started = time.monotonic()
    events = [e async for e in agent.run(Session(), user_text("go"))]
    assert time.monotonic() - started < 10
    [asked] = [e for e in events if isinstance(e, PermissionAsked)]
    assert not asked.allowed and isinstance(events[-1], TurnDone)
    await agent.aclose()  # a notifier still running when the session ends is stopped
    assert not alive(int(pid_file.read_text()))


async def test_a_notification_hook_that_fails_later_is_reported_at_the_next_step(tmp_path: Path) -> None:
    # The hook fails only once the second call has started, and that call waits for it to be done
    waits = "until [ -f hook-done ]; do sleep 0.05; done; sleep 0.5"
    agent = make_agent(tmp_path, call("Bash", {"command": "echo ask-me"}, id="c1"),
                       call("Bash", {"command": f"touch go; {waits}"}, id="c2"), say("done"))
    late = "until [ -f go ]; do sleep 0.05; done; touch hook-done; echo 'no notifier here' >&2; exit 1"
    with_hooks(agent, {"PreToolUse": [command(ASK, "Bash")], "Notification": [command(late, timeout=30)]})
    events = [e async for e in agent.run(Session(), user_text("go"))]
    [failed] = [e for e in events if isinstance(e, HookFailed)]
    assert failed.event == "Notification" and failed.text.endswith("failed: exit 1: no notifier here")
    second = next(i for i, e in enumerate(events) if isinstance(e, ToolCallStarted) and e.id == "c2")
    assert events.index(failed) > second


def halting(reason: str) -> str:
    return "echo '" + json.dumps({"continue": False, "stopReason": reason}) + "'"


async def test_a_stop_hooks_continue_false_ends_the_turn_saying_why(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, say("finished"))
    with_hooks(agent, {"Stop": [command(halting("the budget is spent"))]})
    events = [e async for e in agent.run(Session(), user_text("go"))]
    assert Notice("A hook stopped the run: the budget is spent") in events
    assert isinstance(events[-1], TurnDone) and events[-1].text == "finished"


async def test_a_permission_request_hooks_continue_false_refuses_the_call_and_ends_the_run(
        tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Bash", {"command": f"echo ask-me > {tmp_path}/ran"}), say("unreached"))
    with_hooks(agent, {"PreToolUse": [command(ASK, "Bash")],
                       "PermissionRequest": [command(halting("nobody may approve now"), "Bash")]})
    session = Session()
    events = [e async for e in agent.run(session, user_text("go"))]
    assert not (tmp_path / "ran").exists()
    [answer] = session.messages[-1].tool_results
    assert answer.text == "Blocked by a PermissionRequest hook: nobody may approve now"
    assert Notice("A hook stopped the run: nobody may approve now") in events
    done = events[-1]
    assert isinstance(done, TurnDone) and done.turns == 1


async def test_a_notification_hooks_continue_false_ends_the_run_after_the_call(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, call("Bash", {"command": "echo ask-me"}), say("unreached"))
    with_hooks(agent, {"PreToolUse": [command(ASK, "Bash")],
                       "Notification": [command(halting("quiet hours"))]})
    events = [e async for e in agent.run(Session(), user_text("go"))]
    assert Notice("A hook stopped the run: quiet hours") in events
    done = events[-1]
    assert isinstance(done, TurnDone) and done.turns == 1


async def test_a_pre_compact_hooks_continue_false_stops_the_compaction(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)  # no turn scripted: a summary request would fail the test
    with_hooks(agent, {"PreCompact": [command(halting("compact later"))]})
    session = long_conversation()
    before = list(session.messages)
    events = [e async for e in agent.compactor(session).compact()]
    assert Notice("A PreCompact hook stopped the compaction: compact later") in events
    assert session.messages == before


async def test_a_session_start_hooks_continue_false_drops_the_prompt(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    hooks = with_hooks(agent, {"SessionStart": [command(halting("maintenance window"))]})
    submitted = await hooks.submit(Session(), "hello")
    assert submitted.blocked and submitted.reason == "maintenance window"
    assert submitted.event == "SessionStart"
