"""Sub-agents through the real CLI (-p) against the fake model server: foreground and
background children, messages to them, several at once and the queue, the nesting cap,
permissions that flow down, worktrees, custom types, and kept transcripts.

Each conversation's steps are routed with `when=mentions(...)` (a child's first user
message is its prompt), and `Meet` orders answers across conversations where the test
proves an order or an overlap."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nano_claude.extensions.agents.types import BUILTIN
from tests.conftest import Cli
from tests.fakes.script import Call, Step, Usage, mentions, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.agents_support import (
    Meet,
    agent_file,
    conversation,
    everything_sent,
    git,
    git_repo,
    last_text,
    plain,
    result,
    results,
    run,
    system,
    tool_names,
)

PARENT = "PARENT-JOB"
parent = mentions(PARENT)
SUBAGENT_SECTION = "# You are a sub-agent"
AGENT_ID = re.compile(r"Started background agent ([0-9a-f]{6}) ")


child = mentions  # a child's conversation: its first user message is the prompt it was given


# --- 1. foreground -------------------------------------------------------------------------


def test_a_foreground_child_answers_the_call_with_its_own_history_prompt_and_tools(
        cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "app.py").write_text("def handler():\n    pass\n")
    fake_server.script(
        tool_call("Agent", {"prompt": "SCOUT-TASK: find the handler", "subagent_type": "Explore",
                            "name": "scout", "description": "find the handler"}, id="call_agent_1",
                  when=parent),
        tool_call("Grep", {"pattern": "handler"}, id="call_grep_1", when=child("SCOUT-TASK"),
                  usage=Usage(input=1000, output=200)),
        text("The handler is app.py:1.", when=child("SCOUT-TASK"), usage=Usage(input=1100, output=300)),
        text("Parent: the handler is in app.py.", when=parent),
    )
    out = run(cli, fake_server, f"{PARENT}: earlier context PARENT-ONLY-FACT", fmt="stream-json")
    assert out.returncode == 0, out.stderr

    first, *rest = conversation(fake_server, "SCOUT-TASK")
    # none of the parent's history: only its prompt
    assert plain(first.body["messages"]) == [("user", "SCOUT-TASK: find the handler")]
    assert "PARENT-ONLY-FACT" not in json.dumps(first.body)
    sys_prompt = system(first.body)
    assert SUBAGENT_SECTION in sys_prompt and "'scout', a Explore agent" in sys_prompt
    assert BUILTIN["Explore"].instructions.strip() in sys_prompt
    tools = tool_names(first.body)
    assert set(tools) == {"Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch"}
    assert not {"Edit", "Write", "NotebookEdit", "AskUserQuestion", "Agent"} & set(tools)
    assert results(rest[0].body) == [("Found 1 file\napp.py", False)]  # its Grep ran, in the project

    answer, failed = result(conversation(fake_server, PARENT)[1].body)
    assert not failed and answer.startswith("The handler is app.py:1.")

    events = out.json_lines()
    mine = [e for e in events if e.get("parent_tool_use_id") == "call_agent_1"]
    assert [e["type"] for e in mine] == ["user", "assistant", "user", "assistant"]
    assert mine[1]["message"]["content"][0]["name"] == "Grep"
    assert mine[2]["message"]["content"][0]["type"] == "tool_result"
    assert mine[3]["message"]["content"] == [{"type": "text", "text": "The handler is app.py:1."}]
    own = [e for e in events if e["type"] in ("assistant", "user") and e not in mine]
    assert all(e["parent_tool_use_id"] is None for e in own) and len(own) == 3
    final = events[-1]
    assert final["type"] == "result" and final["result"] == "Parent: the handler is in app.py."
    # the child's tokens count toward the session: 10 + 1000 + 1100 + 10 in, 5 + 200 + 300 + 5 out
    assert final["usage"]["input_tokens"] == 2120 and final["usage"]["output_tokens"] == 510


def test_text_mode_verbose_shows_the_childs_tool_lines_indented_and_not_its_text(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_call("Agent", {"prompt": "LOOK-TASK", "name": "looker"}, when=parent),
        tool_call("Glob", {"pattern": "*"}, when=child("LOOK-TASK")),
        text("CHILD-WORDS not for stdout", when=child("LOOK-TASK")),
        text("Parent answer.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--verbose", fmt="text")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Parent answer.\n"
    assert "  [looker] ⚙ Glob(" in out.stderr and "  [looker] ✓ " in out.stderr
    assert "CHILD-WORDS" not in out.stdout


# --- 2. background -------------------------------------------------------------------------


@pytest.mark.parametrize("how", [{"run_in_background": True}, {"wait": False}], ids=["run_in_background",
                                                                                    "wait-false"])
def test_a_background_child_returns_an_id_at_once_and_wakes_the_idle_parent(
        cli: Cli, fake_server: FakeModelServer, how: dict[str, bool]) -> None:
    meet = Meet()
    fake_server.script(
        tool_call("Agent", {"prompt": "BG-TASK: compute", "name": "bg", **how}, when=parent),
        text("I will wait for it.", when=parent, expect=meet.mark("parent ended its turn")),
        # The child answers only once the parent has its id and has ended its turn: an Agent call
        # that waited for the child would never get there, and this step would time out.
        text("BG-ANSWER: 42", when=child("BG-TASK"), expect=meet.after("parent ended its turn"),
             usage=Usage(input=500, output=70)),
        text("Final: the answer is 42.", when=parent),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr

    started, woken_req = conversation(fake_server, PARENT)[1:]
    said, failed = result(started.body)
    found = AGENT_ID.search(said)
    assert not failed and found, said
    woken = last_text(woken_req.body)
    assert woken_req.body["messages"][-1]["role"] == "user"
    assert woken.startswith(f"[Background agent finished] {found.group(1)} bg (general-purpose): completed")
    assert "BG-ANSWER: 42" in woken
    final = out.json()
    assert final["result"] == "Final: the answer is 42." and final["subtype"] == "success"
    assert final["usage"]["input_tokens"] == 530  # three parent requests and the child's


def test_check_agent_result_and_list_agent_tasks_while_a_background_child_runs(
        cli: Cli, fake_server: FakeModelServer) -> None:
    meet = Meet()
    fake_server.script(
        tool_call("Agent", {"prompt": "SLOW-TASK", "name": "slow", "run_in_background": True}, when=parent),
        tool_calls(Call("CheckAgentResult", {"task_id": "slow"}, "call_check"),
                   Call("ListAgentTasks", {}, "call_list"), when=parent),
        text("Waiting.", when=parent, expect=meet.mark("checked")),
        text("SLOW-ANSWER", when=child("SLOW-TASK"), expect=meet.after("checked")),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    requests = conversation(fake_server, PARENT)
    (check, check_failed), (listing, list_failed) = results(requests[2].body)
    assert not check_failed and check.startswith("slow (general-purpose) is running ("), check
    row = r"[0-9a-f]{6}  slow \(general-purpose\)  running  \d+s  \d+ tokens  0 tool calls  background"
    row += "  - SLOW-TASK"
    assert not list_failed and re.fullmatch(row, listing), listing
    assert "SLOW-ANSWER" in last_text(requests[3].body)  # still woken with it: nothing was delivered early


# BUG (fails until fixed): runtime.py `Subagents._background` drives a background child with
# relay=None, and headless.py has no Pool listener, so none of a background child's messages
# (nor its denials, in text mode) reach stream-json; only foreground children's are relayed.
def test_stream_json_carries_a_background_childs_messages_tagged_with_its_call(
        cli: Cli, fake_server: FakeModelServer) -> None:
    """The issue: "stream-json carries the child's events tagged with its id (parent_tool_use_id)".
    Foreground children's are relayed; a background child's go nowhere in a headless run."""
    fake_server.script(
        tool_call("Agent", {"prompt": "BG-TASK", "name": "bg", "run_in_background": True}, id="call_bg",
                  when=parent),
        text("I will wait for it.", when=parent),
        tool_call("Glob", {"pattern": "*"}, when=child("BG-TASK")),
        text("BG-ANSWER", when=child("BG-TASK")),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, fmt="stream-json")
    assert out.returncode == 0, out.stderr
    events = out.json_lines()
    assert events[-1]["result"] == "Done."
    tagged = [e for e in events if e.get("parent_tool_use_id") == "call_bg"]
    assert [e["type"] for e in tagged if e["type"] == "assistant"] == ["assistant", "assistant"], events


# --- 3. messages -----------------------------------------------------------------------------


def test_send_message_reaches_a_running_child_before_its_next_request(
        cli: Cli, fake_server: FakeModelServer) -> None:
    meet = Meet()

    def carries_the_message(body: dict) -> None:
        last = last_text(body)
        assert "[Message from your caller] EXTRA-NOTE: use tabs" in last, last
        assert body["messages"][-1]["content"][0]["type"] == "tool_result"  # riding with the results

    fake_server.script(
        tool_call("Agent", {"prompt": "WORK-TASK", "name": "worker", "run_in_background": True}, when=parent),
        tool_call("SendMessage", {"to": "worker", "message": "EXTRA-NOTE: use tabs"}, when=parent),
        text("Waiting for the worker.", when=parent, expect=meet.mark("message sent")),
        # Its first step is still under way when the message is sent
        tool_call("Glob", {"pattern": "*"}, when=child("WORK-TASK"), expect=meet.after("message sent")),
        text("Worker done, with tabs.", when=child("WORK-TASK"), expect=carries_the_message),
        text("All done.", when=parent),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    requests = conversation(fake_server, PARENT)
    said, failed = result(requests[2].body)
    assert not failed and said.startswith("Message queued for worker (general-purpose)")
    assert "Worker done, with tabs." in last_text(requests[3].body)
    assert out.json()["result"] == "All done."


def test_send_message_to_a_finished_child_resumes_it_with_its_whole_history(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_call("Agent", {"prompt": "HELP-TASK: count the files", "name": "helper"}, when=parent),
        text("There are 3 files.", when=child("HELP-TASK")),
        tool_call("SendMessage", {"to": "helper", "message": "FOLLOW-UP: and folders?"}, when=parent),
        text("There are 2 folders.", when=child("HELP-TASK")),
        text("3 files, 2 folders.", when=parent),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    second = conversation(fake_server, "HELP-TASK")[1]
    assert plain(second.body["messages"]) == [("user", "HELP-TASK: count the files"),
                                              ("assistant", "There are 3 files."),
                                              ("user", "FOLLOW-UP: and folders?")]
    assert SUBAGENT_SECTION in system(second.body)
    said, failed = result(conversation(fake_server, PARENT)[2].body)
    assert not failed and said.startswith("There are 2 folders.")
    assert out.json()["result"] == "3 files, 2 folders."


# BUG (fails until fixed): runtime.py `Subagents.send` queues the text in `run.inbox` and tells the
# caller "it reads it before its next step", but the inbox is only read in `before_request`; a child
# whose request in flight is its last ends its turn (`_wakeup` knows no inbox) and the message is
# dropped: the parent is woken with an answer that never saw it.
def test_a_message_sent_while_the_child_writes_its_final_answer_is_not_lost(
        cli: Cli, fake_server: FakeModelServer) -> None:
    meet = Meet()
    fake_server.script(
        tool_call("Agent", {"prompt": "LATE-TASK", "name": "late", "run_in_background": True}, when=parent),
        tool_call("SendMessage", {"to": "late", "message": "LATE-NOTE: also check docs/"}, when=parent),
        text("Waiting.", when=parent, expect=meet.mark("message sent")),
        # Its last request is under way when the message comes: it was told "queued", so the
        # child must still read it (a request after this one), not end with it unread.
        text("Done without docs.", when=child("LATE-TASK"), expect=meet.after("message sent")),
        text("Docs checked too.", when=child("LATE-TASK"),
             expect=lambda body: _holds(last_text(body), "[Message from your caller] LATE-NOTE")),
        text("All done.", when=parent),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    assert "Docs checked too." in last_text(conversation(fake_server, PARENT)[-1].body)


def _holds(haystack: str, needle: str) -> None:
    assert needle in haystack, haystack


# --- 4. several at once, and the queue ----------------------------------------------------------

NAMES = ("alpha", "beta", "gamma")


def _three_children(meet: Meet, *, at_once: bool) -> list[Step]:
    """Each child: a Glob, then its answer. With `at_once`, each first request waits until
    all three are in flight. Answers go out one per parent wake-up (a ticket each), so the
    parent is woken three times, once per child, whatever order they finish in."""
    steps = []
    for name in NAMES:
        first = meet.barrier("first requests", 3) if at_once else None
        steps += [tool_call("Glob", {"pattern": "*"}, id=f"call_glob_{name}", when=child(f"TASK-{name}"),
                            expect=first),
                  text(f"RESULT-{name}", when=child(f"TASK-{name}"), expect=meet.ticket("answers", "wake"))]
    return steps


def _parent_wakes(meet: Meet) -> list[Step]:
    return [tool_calls(*(Call("Agent", {"prompt": f"TASK-{name}", "name": name, "run_in_background": True},
                              f"call_agent_{name}") for name in NAMES), when=parent),
            text("Waiting for all three.", when=parent),
            text("One in.", when=parent, expect=meet.mark("wake")),
            text("Two in.", when=parent, expect=meet.mark("wake")),
            text("All three are done.", when=parent, expect=meet.mark("wake"))]


def _woken_with(fake_server: FakeModelServer) -> list[str]:
    """Which child's result each wake-up of the parent carried."""
    wakes = [last_text(r.body) for r in conversation(fake_server, PARENT)[2:]]
    assert all(w.count("[Background agent finished]") == 1 for w in wakes), wakes
    return [next(n for n in NAMES if f"RESULT-{n}" in w) for w in wakes]


def test_three_background_children_run_at_once(cli: Cli, fake_server: FakeModelServer) -> None:
    meet = Meet()
    fake_server.script(*_parent_wakes(meet), *_three_children(meet, at_once=True))
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    assert meet.marks["first requests"] == 3  # all three first requests were in flight together
    assert sorted(_woken_with(fake_server)) == sorted(NAMES)
    assert out.json()["result"] == "All three are done."


def test_max_background_agents_one_queues_the_children(cli: Cli, fake_server: FakeModelServer) -> None:
    cli.write_config(max_background_agents=1)
    meet = Meet()
    fake_server.script(*_parent_wakes(meet), *_three_children(meet, at_once=False))
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    order = [next(n for n in NAMES if mentions(f"TASK-{n}")(r.body)) for r in fake_server.model_requests
             if not parent(r.body)]
    # one after another: each child's two requests together, never interleaved with another's
    assert len(order) == 6 and order[0::2] == order[1::2], order
    assert sorted(order[0::2]) == sorted(NAMES)
    assert _woken_with(fake_server) == order[0::2]
    assert out.json()["result"] == "All three are done."


# --- 5. the nesting cap -------------------------------------------------------------------------


def test_sub_agents_nest_three_levels_and_the_third_cannot_start_another(
        cli: Cli, fake_server: FakeModelServer) -> None:
    def refused(body: dict) -> None:
        said, failed = result(body)
        assert failed and "Sub-agents may nest 3 levels deep" in said, said
        assert "this agent is at level 3" in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "LEVEL-1 task", "name": "one"}, when=parent),
        tool_call("Agent", {"prompt": "LEVEL-2 task", "name": "two"}, when=child("LEVEL-1")),
        tool_call("Agent", {"prompt": "LEVEL-3 task", "name": "three"}, when=child("LEVEL-2")),
        tool_call("Agent", {"prompt": "LEVEL-4 task", "name": "four"}, when=child("LEVEL-3")),
        text("Level 3 did it itself.", when=child("LEVEL-3"), expect=refused),
        text("Level 2 done.", when=child("LEVEL-2"),
             expect=lambda body: _holds(result(body)[0], "Level 3 did it itself.")),
        text("Level 1 done.", when=child("LEVEL-1"),
             expect=lambda body: _holds(result(body)[0], "Level 2 done.")),
        text("All levels done.", when=parent, expect=lambda body: _holds(result(body)[0], "Level 1 done.")),
    )
    out = run(cli, fake_server, PARENT)
    assert out.returncode == 0, out.stderr
    assert not conversation(fake_server, "LEVEL-4")
    assert "Agent" in tool_names(conversation(fake_server, "LEVEL-3")[0].body)
    assert out.json()["result"] == "All levels done."


# --- 6. permissions flow down ------------------------------------------------------------------

SECRET = "the-launch-code-is-0000"


@pytest.mark.parametrize("where", ["flag", "settings"])
def test_a_parent_deny_rule_holds_inside_the_child(cli: Cli, fake_server: FakeModelServer,
                                                   where: str) -> None:
    (cli.project / "secret.txt").write_text(SECRET + "\n")
    args: tuple[str, ...] = ()
    if where == "flag":
        args = ("--disallowedTools", "Read(./secret.txt)")
    else:
        settings = cli.project / ".nano_claude" / "settings.json"
        settings.parent.mkdir()
        settings.write_text(json.dumps({"permissions": {"deny": ["Read(./secret.txt)"]}}))

    def denied(body: dict) -> None:
        said, failed = result(body)
        assert failed and "Permission denied by the rule Read(./secret.txt)" in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "PEEK-TASK: read secret.txt", "name": "peek"}, when=parent),
        tool_call("Read", {"file_path": "secret.txt"}, when=child("PEEK-TASK")),
        tool_call("Bash", {"command": "cat secret.txt"}, when=child("PEEK-TASK"), expect=denied),
        text("I may not read it.", when=child("PEEK-TASK"), expect=denied),
        text("The child could not read it.", when=parent),
    )
    out = run(cli, fake_server, PARENT, *args)
    assert out.returncode == 0, out.stderr
    assert SECRET not in everything_sent(fake_server) and SECRET not in out.stdout
    assert out.json()["result"] == "The child could not read it."


def test_an_explore_child_cannot_write_even_under_accept_all(cli: Cli, fake_server: FakeModelServer) -> None:
    def refused(body: dict) -> None:
        said, failed = result(body)
        assert failed and "Write is not available to a Explore sub-agent" in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "EXPLORE-TASK", "subagent_type": "Explore"}, when=parent),
        tool_call("Write", {"file_path": "made.txt", "content": "x"}, when=child("EXPLORE-TASK")),
        text("I cannot write.", when=child("EXPLORE-TASK"), expect=refused),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()


@pytest.mark.parametrize("mode", ["auto", "accept-all"])
def test_a_bypass_permissions_type_gets_no_more_than_its_parent(cli: Cli, fake_server: FakeModelServer,
                                                                mode: str) -> None:
    agent_file(cli.project / ".claude" / "agents", "yolo",
               "name: yolo\ndescription: Runs anything\npermissionMode: bypassPermissions", "Just do it.")

    def answered(body: dict) -> None:
        said, failed = result(body)
        if mode == "auto":  # the parent would have to ask, and nobody is here to answer
            assert failed and "Permission denied: Bash needs approval" in said, said
        else:
            assert not failed, said

    fake_server.script(
        tool_call("Agent", {"prompt": "YOLO-TASK", "subagent_type": "yolo"}, when=parent),
        tool_call("Bash", {"command": "touch made.txt"}, when=child("YOLO-TASK")),
        text("Tried.", when=child("YOLO-TASK"), expect=answered),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--permission-mode", mode)
    assert out.returncode == 0, out.stderr
    assert (cli.project / "made.txt").exists() == (mode == "accept-all")


def test_a_type_whose_tools_name_a_form_of_bash_gets_only_that_form(cli: Cli,
                                                                   fake_server: FakeModelServer) -> None:
    # `tools: Bash(git diff:*)` once handed the child all of Bash; now its other commands are refused,
    # even in accept-all mode, and the form it names still runs
    agent_file(cli.project / ".claude" / "agents", "differ",
               "name: differ\ndescription: Reads diffs\ntools: Read, Bash(git diff:*)", "Read the diff.")
    seen: list[tuple[str, bool]] = []

    def answered(body: dict) -> None:
        seen.append(result(body))

    fake_server.script(
        tool_call("Agent", {"prompt": "DIFF-TASK", "subagent_type": "differ"}, when=parent),
        tool_call("Bash", {"command": "touch made.txt"}, when=child("DIFF-TASK")),
        tool_call("Bash", {"command": "git diff --stat"}, id="call_bash_2", when=child("DIFF-TASK"),
                  expect=answered),
        text("Read it.", when=child("DIFF-TASK"), expect=answered),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--permission-mode", "accept-all")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()
    (refused, failed), (diffed, _) = seen
    assert failed and "this agent may use Bash only as Bash(git diff:*)" in refused
    assert "this agent may use" not in diffed  # judged as usual: it ran


# --- 7. worktrees ---------------------------------------------------------------------------------

BRANCH = "nano-claude/agent-wt"


def test_a_worktree_child_commits_on_its_branch_and_leaves_the_checkout_alone(
        cli: Cli, fake_server: FakeModelServer) -> None:
    git_repo(cli.project)

    def reported(body: dict) -> None:
        said, failed = result(body)
        assert not failed and f"committed on branch {BRANCH}" in said and "A\tfeature.txt" in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "TREE-TASK: add feature.txt", "name": "wt", "isolation": "worktree"},
                  when=parent),
        tool_call("Write", {"file_path": "feature.txt", "content": "from the agent\n"},
                  when=child("TREE-TASK")),
        text("Added feature.txt.", when=child("TREE-TASK")),
        text("Merged later.", when=parent, expect=reported),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert git(cli.project, "show", f"{BRANCH}:feature.txt") == "from the agent\n"
    assert git(cli.project, "log", "--format=%s", "-1", BRANCH).startswith("nano-claude agent:")
    assert not (cli.project / "feature.txt").exists()
    assert git(cli.project, "status", "--porcelain") == ""
    assert git(cli.project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert len(git(cli.project, "worktree", "list", "--porcelain").split("worktree ")) == 2  # only main


# BUG (fails until fixed): runtime.py `Subagents._child` gives a worktree child its parent's system
# prompt (`_system(parent.options.system, run)`), whose environment section says "Working directory:
# <main checkout>" (and the main checkout's git state), while its tools run in the worktree.
def test_a_worktree_childs_prompt_names_its_worktree_not_the_main_checkout(
        cli: Cli, fake_server: FakeModelServer) -> None:
    """The system prompt's environment section is what a model takes absolute paths from: a
    worktree child told the main checkout is its working directory writes there."""
    git_repo(cli.project)
    fake_server.script(
        tool_call("Agent", {"prompt": "WHERE-TASK", "name": "where", "isolation": "worktree"}, when=parent),
        text("Nothing to do.", when=child("WHERE-TASK")),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    prompt = system(conversation(fake_server, "WHERE-TASK")[0].body)
    assert f"Working directory: {cli.project}\n" not in prompt + "\n", prompt[-400:]
    assert "worktrees" in prompt and "agent-where" in prompt, prompt[-400:]


# BUG (fails until fixed): with that prompt a model writes by absolute path into the main checkout;
# the child's Policy (project = the worktree) still lets it there (in accept-all, or where the parent
# allows writes), and `worktree.finish` then reports "The agent changed nothing".
def test_a_worktree_child_cannot_write_into_the_main_checkout_by_its_absolute_path(
        cli: Cli, fake_server: FakeModelServer) -> None:
    """Its prompt names the main checkout (the test above), so a model writes there by absolute
    path; the result then says the agent "changed nothing" while the checkout has a new file."""
    git_repo(cli.project)
    fake_server.script(
        tool_call("Agent", {"prompt": "ABS-TASK", "name": "abs", "isolation": "worktree"}, when=parent),
        tool_call("Write", {"file_path": str(cli.project / "abs.txt"), "content": "x\n"},
                  when=child("ABS-TASK")),
        text("Wrote abs.txt.", when=child("ABS-TASK")),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert git(cli.project, "status", "--porcelain") == ""
    assert not (cli.project / "abs.txt").exists()


def test_a_worktree_child_that_changes_nothing_leaves_no_branch(cli: Cli,
                                                                fake_server: FakeModelServer) -> None:
    git_repo(cli.project)

    def reported(body: dict) -> None:
        said, failed = result(body)
        assert not failed and "The agent changed nothing; its worktree and branch were removed." in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "IDLE-TASK", "name": "idle", "isolation": "worktree"}, when=parent),
        text("Nothing needed changing.", when=child("IDLE-TASK")),
        text("Fine.", when=parent, expect=reported),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert git(cli.project, "branch", "--list", "nano-claude/*") == ""
    assert len(git(cli.project, "worktree", "list", "--porcelain").split("worktree ")) == 2


def test_a_worktree_child_outside_a_repository_is_an_error_the_model_reads(
        cli: Cli, fake_server: FakeModelServer) -> None:
    def refused(body: dict) -> None:
        said, failed = result(body)
        assert failed and "isolation 'worktree' needs a git repository" in said, said

    fake_server.script(
        tool_call("Agent", {"prompt": "NOGIT-TASK", "isolation": "worktree"}, when=parent),
        text("No repository here.", when=parent, expect=refused),
    )
    out = run(cli, fake_server, PARENT, "--accept-all")
    assert out.returncode == 0, out.stderr
    assert not conversation(fake_server, "NOGIT-TASK")


# --- 8. custom types --------------------------------------------------------------------------------

REVIEWER_X = ("name: reviewer-x\ndescription: Reviews a diff for the tests\ntools: Read, Grep\nmodel: sonnet",
              "REVIEWER-X-INSTRUCTIONS: report every TODO with its line.")


def test_a_custom_type_from_claude_agents_brings_its_instructions_tools_and_model(
        cli: Cli, fake_server: FakeModelServer) -> None:
    agent_file(cli.project / ".claude" / "agents", "reviewer-x", *REVIEWER_X)
    broken = agent_file(cli.project / ".claude" / "agents", "broken", "description: [unclosed", "Body.")
    fake_server.script(
        tool_call("Agent", {"prompt": "REVIEW-TASK", "subagent_type": "reviewer-x"}, when=parent),
        text("No TODOs.", when=child("REVIEW-TASK")),
        text("Reviewed.", when=parent),
    )
    # The session runs on Anthropic's haiku: `model: sonnet` is the catalog's sonnet there
    out = run(cli, fake_server, PARENT, model="claude-haiku-4-5")
    assert out.returncode == 0, out.stderr
    assert str(broken) in out.stderr  # reported with its path, and the run goes on
    first = conversation(fake_server, "REVIEW-TASK")[0].body
    assert REVIEWER_X[1] in system(first) and SUBAGENT_SECTION in system(first)
    assert tool_names(first) == ["Read", "Grep"]
    assert first["model"] == "claude-sonnet-4-6"
    assert conversation(fake_server, PARENT)[0].body["model"] == "claude-haiku-4-5"
    assert out.json()["result"] == "Reviewed."


def test_a_claude_model_alias_under_another_provider_inherits_the_parents_model(
        cli: Cli, fake_server: FakeModelServer) -> None:
    agent_file(cli.project / ".claude" / "agents", "reviewer-x", *REVIEWER_X)
    fake_server.script(
        tool_call("Agent", {"prompt": "REVIEW-TASK", "subagent_type": "reviewer-x"}, when=parent),
        text("No TODOs.", when=child("REVIEW-TASK")),
        text("Reviewed.", when=parent),
    )
    out = cli.run("-p", PARENT, "-m", "gpt-4.1", "--output-format", "json",
                  env={"OPENAI_BASE_URL": fake_server.url + "/v1", "OPENAI_API_KEY": "sk-test"})
    assert out.returncode == 0, out.stderr
    assert [r.body["model"] for r in fake_server.model_requests] == ["gpt-4.1"] * 3
    assert out.json()["result"] == "Reviewed."


def test_the_agents_flag_adds_a_type_for_one_run(cli: Cli, fake_server: FakeModelServer) -> None:
    quick = {"quick": {"description": "Quick lookups", "prompt": "QUICK-INSTRUCTIONS: be brief.",
                       "tools": ["Read"]}}
    fake_server.script(
        tool_call("Agent", {"prompt": "QUICK-TASK", "subagent_type": "quick"}, when=parent),
        text("Brief.", when=child("QUICK-TASK")),
        text("Done.", when=parent),
    )
    out = run(cli, fake_server, PARENT, "--agents", json.dumps(quick))
    assert out.returncode == 0, out.stderr
    first = conversation(fake_server, "QUICK-TASK")[0].body
    assert "QUICK-INSTRUCTIONS: be brief." in system(first) and tool_names(first) == ["Read"]

    # the next run without the flag has no such type
    fake_server.script(
        tool_call("Agent", {"prompt": "QUICK-AGAIN", "subagent_type": "quick"}, when=mentions("SECOND-RUN")),
        text("No such type.", when=mentions("SECOND-RUN"),
             expect=lambda body: _holds(result(body)[0], "Unknown subagent_type 'quick'")),
    )
    again = run(cli, fake_server, "SECOND-RUN")
    assert again.returncode == 0, again.stderr
    assert not conversation(fake_server, "QUICK-AGAIN")


# --- 9. listing types, and denying one -----------------------------------------------------------


def test_list_agent_types_shows_built_in_and_custom_types_and_a_deny_rule_hides_one(
        cli: Cli, fake_server: FakeModelServer) -> None:
    agent_file(cli.project / ".claude" / "agents", "reviewer-x", *REVIEWER_X)
    listed: dict[str, list[str]] = {}

    def keep(run_name: str):
        def expect(body: dict) -> None:
            said, failed = result(body)
            assert not failed, said
            listed[run_name] = [line[2:].split(":")[0] for line in said.splitlines() if line.startswith("- ")]
        return expect

    fake_server.script(tool_call("ListAgentTypes", {}, when=mentions("FIRST-RUN")),
                       text("Listed.", when=mentions("FIRST-RUN"), expect=keep("open")))
    assert run(cli, fake_server, "FIRST-RUN").returncode == 0
    builtin = ["general-purpose", "coder", "reviewer", "researcher", "tester", "Explore", "Plan"]
    assert sorted(listed["open"]) == sorted([*builtin, "reviewer-x"])

    def denied(body: dict) -> None:
        said, failed = result(body)
        assert failed and "Permission denied by the rule Agent(Explore)" in said, said

    fake_server.script(
        tool_call("ListAgentTypes", {}, when=parent),
        tool_call("Agent", {"prompt": "EXPLORE-DENIED", "subagent_type": "Explore"}, when=parent,
                  expect=keep("denied")),
        text("Explore is not allowed.", when=parent, expect=denied),
    )
    out = run(cli, fake_server, PARENT, "--disallowedTools", "Agent(Explore)")
    assert out.returncode == 0, out.stderr
    assert sorted(listed["denied"]) == sorted([n for n in builtin if n != "Explore"] + ["reviewer-x"])
    assert not conversation(fake_server, "EXPLORE-DENIED")
    assert [d["tool_name"] for d in out.json()["permission_denials"]] == ["Agent"]


# --- 10. transcripts, and resuming a child after the run ---------------------------------------------


def _agents_folder(cli: Cli, session_id: str) -> Path:
    return cli.home / "sessions" / "transcripts" / f"{session_id}.agents"


def test_a_childs_transcript_is_kept_and_a_resumed_session_can_message_it(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(
        tool_call("Agent", {"prompt": "KEEP-TASK: remember 7", "name": "keeper"}, when=parent),
        text("Noted: 7.", when=child("KEEP-TASK")),
        text("Stored.", when=parent),
    )
    first = run(cli, fake_server, PARENT)
    assert first.returncode == 0, first.stderr
    session_id = first.json()["session_id"]
    folder = _agents_folder(cli, session_id)
    index = json.loads((folder / "index.json").read_text())
    (run_id, entry), = index.items()
    assert entry["name"] == "keeper" and entry["type"] == "general-purpose"
    assert entry["status"] == "completed" and entry["result"] == "Noted: 7."
    assert entry["transcript"] == f"agent-{run_id}.jsonl"
    lines = [json.loads(line) for line in (folder / entry["transcript"]).read_text().splitlines()]
    kept = [(r["message"]["role"], r["message"]["content"][0]["text"])
            for r in lines if r["type"] == "message"]
    assert kept == [("user", "KEEP-TASK: remember 7"), ("assistant", "Noted: 7.")]

    fake_server.script(
        tool_call("SendMessage", {"to": "keeper", "message": "RECALL: which number?"}, when=parent),
        text("It was 7.", when=child("KEEP-TASK")),
        text("The number was 7.", when=parent, expect=lambda body: _holds(result(body)[0], "It was 7.")),
    )
    second = run(cli, fake_server, "ask the keeper", "--resume", session_id)
    assert second.returncode == 0, second.stderr
    resumed = conversation(fake_server, "KEEP-TASK")[-1].body
    assert plain(resumed["messages"]) == [("user", "KEEP-TASK: remember 7"), ("assistant", "Noted: 7."),
                                          ("user", "RECALL: which number?")]
    assert SUBAGENT_SECTION in system(resumed)
    assert second.json()["result"] == "The number was 7."


# BUG (fails until fixed): runtime.py `Subagents._reload` makes the run with no recorder; `_drive`
# then records nothing (its `_observe` has no recorder, its `finally` syncs before `_record` creates
# one, which is never synced), so what a child said after a resume is not in its transcript, though
# index.json's "result" shows it. And `_reload` sets written=0: a recorder that did sync would write
# the old messages a second time.
def test_a_child_resumed_after_a_resume_keeps_what_it_said_then(cli: Cli,
                                                                fake_server: FakeModelServer) -> None:
    """Three runs: the child is made, messaged after one resume, then after another. The second
    exchange must be in its transcript for the third run to see it."""
    fake_server.script(
        tool_call("Agent", {"prompt": "KEEP-TASK: remember 7", "name": "keeper"}, when=parent),
        text("Noted: 7.", when=child("KEEP-TASK")),
        text("Stored.", when=parent),
    )
    session_id = run(cli, fake_server, PARENT).json()["session_id"]
    for question, answer in (("RECALL-1: which number?", "It was 7."), ("RECALL-2: and doubled?", "14.")):
        fake_server.script(
            tool_call("SendMessage", {"to": "keeper", "message": question}, when=parent),
            text(answer, when=child("KEEP-TASK")),
            text("Relayed.", when=parent),
        )
        out = run(cli, fake_server, "ask the keeper", "--resume", session_id)
        assert out.returncode == 0, out.stderr
    last = conversation(fake_server, "KEEP-TASK")[-1].body
    assert plain(last["messages"]) == [("user", "KEEP-TASK: remember 7"), ("assistant", "Noted: 7."),
                                       ("user", "RECALL-1: which number?"), ("assistant", "It was 7."),
                                       ("user", "RECALL-2: and doubled?")]
    folder = _agents_folder(cli, session_id)
    (entry,) = json.loads((folder / "index.json").read_text()).values()
    assert entry["result"] == "14."
