"""Hooks through the real CLI (-p) against the fake model server, written as small scripts
the way users write them for Claude Code: what a hook's exit code and JSON do to a call, a
prompt and the end of a turn; hooks that hang, fail or are missing; the project's own hooks
waiting for trust; Claude Code's settings files read as they are."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import Cli
from tests.fakes.script import mentions, text, tool_call
from tests.fakes.server import FakeModelServer as Server
from tests.integration.agents_support import MODEL, last_text, result, run

PY = sys.executable


def hooks_file(path: Path, hooks: dict[str, Any], **more: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hooks": hooks, **more}))
    return path


def on(event: str, command: str, matcher: str = "", **handler: Any) -> dict[str, Any]:
    """`{"PreToolUse": [{"matcher": ..., "hooks": [{"type": "command", "command": ...}]}]}`"""
    return {event: [{"matcher": matcher, "hooks": [{"type": "command", "command": command, **handler}]}]}


def script(folder: Path, name: str, body: str) -> str:
    """A Python hook script (reads the event's JSON from stdin as `event`); the command to run it."""
    path = folder / name
    path.write_text("import json, sys\nevent = json.load(sys.stdin)\n" + body)
    return f"{PY} {path}"


def logger(folder: Path, name: str = "seen.jsonl", then: str = "") -> tuple[str, Path]:
    """A hook that appends the JSON it was given to a file (and then does `then`)."""
    log = folder / name
    command = script(folder, f"log_{name}.py",
                     f"open({str(log)!r}, 'a').write(json.dumps(event) + '\\n')\n{then}")
    return command, log


def seen(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def user_hooks(cli: Cli, hooks: dict[str, Any]) -> Path:
    return hooks_file(cli.home / "settings.json", hooks)


# --- PreToolUse ---------------------------------------------------------------------------------


def test_pre_tool_use_exit_2_blocks_the_call_and_the_model_reads_stderr(cli: Cli, fake_server: Server,
                                                                        tmp_path: Path) -> None:
    guard = script(tmp_path, "guard.py",
                   "print('touching is not allowed here', file=sys.stderr)\nsys.exit(2)\n")
    user_hooks(cli, on("PreToolUse", guard, "Bash"))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Understood."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "touching is not allowed here" in told


def test_a_matcher_picks_the_tools_its_hook_sees(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    user_hooks(cli, on("PreToolUse", log_command, "Edit|Write"))
    fake_server.script(tool_call("Bash", {"command": "echo hi"}),
                       tool_call("Write", {"file_path": "notes.txt", "content": "x"}), text("Done."))
    out = run(cli, fake_server, "go", "--accept-all")
    assert out.returncode == 0, out.stderr
    events = seen(log)
    assert [e["tool_name"] for e in events] == ["Write"]
    first = events[0]
    assert first["hook_event_name"] == "PreToolUse" and first["tool_input"]["content"] == "x"
    assert first["cwd"] == str(cli.project) and first["permission_mode"] == "bypassPermissions"
    assert first["session_id"] and first["transcript_path"].endswith(f"{first['session_id']}.jsonl")
    assert first["tool_use_id"] == "call_write_1"


def test_updated_input_changes_the_call_that_runs(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    rewrite = script(tmp_path, "rewrite.py", "print(json.dumps({'hookSpecificOutput': {"
                     "'hookEventName': 'PreToolUse', 'updatedInput': {'command': 'touch changed.txt'}}}))\n")
    user_hooks(cli, on("PreToolUse", rewrite, "Bash"))
    fake_server.script(tool_call("Bash", {"command": "touch original.txt"}), text("Done."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash(touch:*)")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "changed.txt").exists() and not (cli.project / "original.txt").exists()


def decide(folder: Path, decision: str, reason: str) -> str:
    return script(folder, f"{decision}.py", "print(json.dumps({'hookSpecificOutput': {'hookEventName': "
                  f"'PreToolUse', 'permissionDecision': {decision!r}, "
                  f"'permissionDecisionReason': {reason!r}}}}}))\n")


def test_a_hooks_deny_wins_over_an_allow_rule(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    user_hooks(cli, on("PreToolUse", decide(tmp_path, "deny", "the hook says no"), "Bash"))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Understood."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "the hook says no" in told


def test_a_hooks_allow_saves_the_question_but_never_passes_a_deny_rule(cli: Cli, fake_server: Server,
                                                                       tmp_path: Path) -> None:
    user_hooks(cli, on("PreToolUse", decide(tmp_path, "allow", "fine by me"), "Bash"))
    # No rule: headless would refuse to ask; the hook's allow lets it run
    fake_server.script(tool_call("Bash", {"command": "touch allowed.txt"}), text("Made."))
    out = run(cli, fake_server, "make a file")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "allowed.txt").exists()
    # A deny rule: the hook's allow does not pass it
    fake_server.script(tool_call("Bash", {"command": "touch denied.txt"}), text("Understood."))
    out = run(cli, fake_server, "make another", "--disallowedTools", "Bash(touch:*)")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "denied.txt").exists()
    told, failed = result(fake_server.model_requests[3].body)
    assert failed and "Bash(touch:*)" in told and "Permission denied" in told


def test_a_hook_asking_means_a_question_headless_cannot_answer(cli: Cli, fake_server: Server,
                                                               tmp_path: Path) -> None:
    user_hooks(cli, on("PreToolUse", decide(tmp_path, "ask", "double-check this one"), "Bash"))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Understood."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "double-check this one" in told and "no user is present" in told


def test_a_permission_request_hook_answers_the_question(cli: Cli, fake_server: Server,
                                                        tmp_path: Path) -> None:
    allow = script(tmp_path, "allow.py", "print(json.dumps({'hookSpecificOutput': {'hookEventName': "
                   "'PermissionRequest', 'decision': {'behavior': 'allow'}}}))\n")
    note_command, notes = logger(tmp_path, "notifications.jsonl")
    hooks_file(cli.home / "settings.json", {**on("PermissionRequest", allow, "Bash"),
                                            **on("Notification", note_command)})
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Made."))
    out = run(cli, fake_server, "make a file")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "made.txt").exists()
    assert seen(notes) == []  # nobody was asked, so nobody was notified


def test_a_permission_request_hooks_updated_input_runs_and_deny_rules_still_hold(
        cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    change = script(tmp_path, "change.py", (
        "command = event['tool_input']['command']\n"
        "command = 'rm keep.txt' if 'swap' in command else command.replace('made', 'changed')\n"
        "print(json.dumps({'hookSpecificOutput': {'hookEventName': 'PermissionRequest', "
        "'decision': {'behavior': 'allow', 'updatedInput': {'command': command}}}}))\n"))
    hooks_file(cli.home / "settings.json", on("PermissionRequest", change, "Bash"),
               permissions={"ask": ["Bash(touch:*)"], "deny": ["Bash(rm:*)"]})
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Made."))
    out = run(cli, fake_server, "make a file")
    assert out.returncode == 0, out.stderr
    # the hook's allow answers the ask rule's question, for the input it gave
    assert (cli.project / "changed.txt").exists() and not (cli.project / "made.txt").exists()
    (cli.project / "keep.txt").write_text("kept\n")
    fake_server.script(tool_call("Bash", {"command": "touch swap.txt"}), text("Understood."))
    out = run(cli, fake_server, "make another")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "keep.txt").exists() and not (cli.project / "swap.txt").exists()
    told, failed = result(fake_server.model_requests[3].body)
    assert failed and "Permission denied by the rule Bash(rm:*)" in told


def test_notification_hooks_hear_of_a_permission_question(cli: Cli, fake_server: Server,
                                                          tmp_path: Path) -> None:
    note_command, notes = logger(tmp_path, "notifications.jsonl")
    user_hooks(cli, on("Notification", note_command, "permission_prompt"))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Refused."))
    out = run(cli, fake_server, "make a file")
    assert out.returncode == 0, out.stderr
    [note] = seen(notes)
    assert note["notification_type"] == "permission_prompt" and "Bash" in note["message"]


# --- PostToolUse ---------------------------------------------------------------------------------


def test_post_tool_use_context_joins_the_result_the_model_reads(cli: Cli, fake_server: Server,
                                                                tmp_path: Path) -> None:
    remind = script(tmp_path, "remind.py", "print(json.dumps({'hookSpecificOutput': {'hookEventName': "
                    "'PostToolUse', 'additionalContext': 'run the formatter on ' + "
                    "event['tool_input']['file_path']}}))\n")
    log_command, log = logger(tmp_path)
    hooks_file(cli.home / "settings.json", {"PostToolUse": [
        {"matcher": "Write", "hooks": [{"type": "command", "command": remind},
                                       {"type": "command", "command": log_command}]}]})
    fake_server.script(tool_call("Write", {"file_path": "app.py", "content": "x = 1\n"}), text("Written."))
    out = run(cli, fake_server, "write it", "--accept-all")
    assert out.returncode == 0, out.stderr
    told, failed = result(fake_server.model_requests[1].body)
    assert not failed and "run the formatter on app.py" in told
    [event] = seen(log)
    assert event["tool_response"]["success"] is True and event["tool_response"]["filePath"] == "app.py"


def test_post_tool_use_failure_hooks_see_the_error(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    log_command, log = logger(tmp_path, then="print('the file is missing; create it first', "
                                            "file=sys.stderr)\nsys.exit(2)\n")
    user_hooks(cli, on("PostToolUseFailure", log_command, "Read"))
    fake_server.script(tool_call("Read", {"file_path": "absent.txt"}), text("It is missing."))
    out = run(cli, fake_server, "read it")
    assert out.returncode == 0, out.stderr
    [event] = seen(log)
    assert event["hook_event_name"] == "PostToolUseFailure" and event["error"]
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "the file is missing; create it first" in told


# --- UserPromptSubmit and SessionStart ----------------------------------------------------------


def test_user_prompt_submit_adds_context_to_the_prompt(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    add = script(tmp_path, "add.py",
                 "print('Ticket ABC-123 is the one in progress; prompt was: ' + event['prompt'])\n")
    user_hooks(cli, on("UserPromptSubmit", add))
    fake_server.script(text("Noted."))
    out = run(cli, fake_server, "what am I working on?")
    assert out.returncode == 0, out.stderr
    sent = last_text(fake_server.model_requests[0].body)
    assert "what am I working on?" in sent
    assert "Ticket ABC-123 is the one in progress; prompt was: what am I working on?" in sent


def test_user_prompt_submit_exit_2_drops_the_prompt_and_says_why(cli: Cli, fake_server: Server,
                                                                 tmp_path: Path) -> None:
    block = script(tmp_path, "block.py",
                   "print('prompts may not contain passwords', file=sys.stderr)\nsys.exit(2)\n")
    user_hooks(cli, on("UserPromptSubmit", block))
    out = run(cli, fake_server, "my password is hunter2", fmt="text")
    assert out.returncode == 1
    assert "prompts may not contain passwords" in out.stderr and "blocked" in out.stderr
    assert fake_server.model_requests == []  # nothing was sent


def test_session_start_context_goes_with_the_first_prompt(cli: Cli, fake_server: Server,
                                                          tmp_path: Path) -> None:
    log_command, log = logger(tmp_path, then="print('The build is broken on main since this morning.')\n")
    end_command, ends = logger(tmp_path, "ends.jsonl")
    hooks_file(cli.home / "settings.json", {**on("SessionStart", log_command, "startup"),
                                            **on("SessionEnd", end_command)})
    fake_server.script(text("Noted."))
    out = run(cli, fake_server, "hello")
    assert out.returncode == 0, out.stderr
    assert "The build is broken on main since this morning." in last_text(fake_server.model_requests[0].body)
    [start] = seen(log)
    assert start["source"] == "startup" and start["session_id"] == out.json()["session_id"]
    [end] = seen(ends)
    assert end["reason"] == "other" and end["session_id"] == start["session_id"]


def test_a_session_start_hooks_continue_false_sends_nothing_and_says_why(cli: Cli, fake_server: Server,
                                                                         tmp_path: Path) -> None:
    halt = script(tmp_path, "halt.py",
                  "print(json.dumps({'continue': False, 'stopReason': 'maintenance window'}))\n")
    user_hooks(cli, on("SessionStart", halt))
    out = run(cli, fake_server, "hello", fmt="text")
    assert out.returncode == 1
    assert "a SessionStart hook blocked the prompt: maintenance window" in out.stderr
    assert fake_server.model_requests == []


def marking_skill(cli: Cli) -> None:
    """A user skill whose `!` command leaves marker.txt behind when it runs."""
    path = cli.home / "skills" / "mark.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\ndescription: mark the tree\nallowed-tools: Bash(touch:*)\n---\n"
                    "Marked: !`touch marker.txt && echo touched`\nFor: $ARGUMENTS\n")


def test_a_prompt_hook_blocks_a_skill_before_its_commands_run(cli: Cli, fake_server: Server,
                                                               tmp_path: Path) -> None:
    marking_skill(cli)
    log_command, log = logger(tmp_path, then="print('no marking today', file=sys.stderr)\nsys.exit(2)\n")
    user_hooks(cli, on("UserPromptSubmit", log_command))
    out = run(cli, fake_server, "/mark the docs", fmt="text")
    assert out.returncode == 1 and "no marking today" in out.stderr
    assert [e["prompt"] for e in seen(log)] == ["/mark the docs"]  # the line as typed
    assert not (cli.project / "marker.txt").exists()
    assert fake_server.model_requests == []


def test_prompt_hook_context_follows_the_expanded_skill(cli: Cli, fake_server: Server,
                                                       tmp_path: Path) -> None:
    marking_skill(cli)
    check = script(tmp_path, "check.py", "import os\nthere = os.path.exists('marker.txt')\n"
                   "print('marker there: ' + str(there) + '; typed: ' + event['prompt'])\n")
    start = script(tmp_path, "start.py", "print('started in ' + event['source'])\n")
    user_hooks(cli, {**on("UserPromptSubmit", check), **on("SessionStart", start)})
    fake_server.script(text("Noted."))
    out = run(cli, fake_server, "/mark the docs")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "marker.txt").exists()
    sent = last_text(fake_server.model_requests[0].body)
    body = sent.index("Marked: touched\nFor: the docs")
    started = sent.index("Context from a SessionStart hook:\nstarted in startup")
    prompted = sent.index("Context from a UserPromptSubmit hook:\nmarker there: False; typed: /mark the docs")
    assert body < started < prompted


# --- Stop ---------------------------------------------------------------------------------------


def test_stop_exit_2_keeps_the_model_going_with_the_reason(cli: Cli, fake_server: Server,
                                                           tmp_path: Path) -> None:
    log_command, log = logger(tmp_path, then=(
        "if not event['stop_hook_active']:\n"
        "    print('run the tests before you finish', file=sys.stderr)\n"
        "    sys.exit(2)\n"))
    user_hooks(cli, on("Stop", log_command))
    fake_server.script(text("All done."), text("Tests ran; now done."))
    out = run(cli, fake_server, "fix it")
    assert out.returncode == 0, out.stderr
    assert out.json()["result"] == "Tests ran; now done."
    assert "run the tests before you finish" in last_text(fake_server.model_requests[1].body)
    assert [(e["stop_hook_active"], e["last_assistant_message"]) for e in seen(log)] == [
        (False, "All done."), (True, "Tests ran; now done.")]


def test_stop_hooks_that_always_block_end_after_eight_in_a_row(cli: Cli, fake_server: Server,
                                                               tmp_path: Path) -> None:
    never = script(tmp_path, "never.py", "print('not yet', file=sys.stderr)\nsys.exit(2)\n")
    user_hooks(cli, on("Stop", never))
    fake_server.script(*(text(f"attempt {n}") for n in range(9)))
    out = run(cli, fake_server, "finish", fmt="text")
    assert out.returncode == 0, out.stderr
    assert len(fake_server.model_requests) == 9
    assert "8 times in a row" in out.stderr


def test_subagent_stop_hooks_keep_a_sub_agent_going(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    log_command, log = logger(tmp_path, then=(
        "if not event['stop_hook_active']:\n"
        "    print('check your answer once more', file=sys.stderr)\n"
        "    sys.exit(2)\n"))
    user_hooks(cli, on("SubagentStop", log_command, "Explore"))
    fake_server.script(
        tool_call("Agent", {"prompt": "SCOUT: look around", "subagent_type": "Explore",
                            "description": "look"}, id="call_agent_1", when=mentions("PARENT")),
        text("first look", when=mentions("SCOUT")),
        text("second look", when=mentions("SCOUT")),
        text("Parent done.", when=mentions("PARENT")))
    out = run(cli, fake_server, "PARENT: delegate")
    assert out.returncode == 0, out.stderr
    events = seen(log)
    assert [e["stop_hook_active"] for e in events] == [False, True]
    assert events[0]["hook_event_name"] == "SubagentStop" and events[0]["agent_type"] == "Explore"
    assert events[0]["agent_id"]


# --- hooks that fail ----------------------------------------------------------------------------


def test_a_hook_that_hangs_is_stopped_at_its_timeout_and_the_call_goes_on(cli: Cli, fake_server: Server,
                                                                          tmp_path: Path) -> None:
    user_hooks(cli, on("PreToolUse", "sleep 60", "Bash", timeout=1))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Made."))
    started = time.monotonic()
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash", fmt="text")
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 30
    assert (cli.project / "made.txt").exists()  # a hook that renders no decision fails open
    assert "PreToolUse hook `sleep 60` failed: timed out after 1s" in out.stderr


def test_a_missing_hook_script_is_shown_and_does_not_block(cli: Cli, fake_server: Server) -> None:
    user_hooks(cli, on("PreToolUse", "/nowhere/check.sh", "Bash"))
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Made."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash", fmt="text")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "made.txt").exists()
    assert "PreToolUse hook `/nowhere/check.sh` failed: exit 127" in out.stderr


def test_stream_json_writes_a_hook_error(cli: Cli, fake_server: Server) -> None:
    user_hooks(cli, on("PreToolUse", "/nowhere/check.sh", "Bash"))
    fake_server.script(tool_call("Bash", {"command": "echo hi"}), text("Done."))
    out = run(cli, fake_server, "say hi", "--allowedTools", "Bash", "--verbose", fmt="stream-json")
    assert out.returncode == 0, out.stderr
    errors = [e for e in out.json_lines() if e.get("subtype") == "hook_error"]
    assert len(errors) == 1
    error = errors[0]
    assert error["type"] == "system" and error["hook_event_name"] == "PreToolUse"
    assert error["hook"] == "/nowhere/check.sh" and error["exit_code"] == 127
    assert "exit 127" in error["message"]


def test_a_malformed_entry_is_named_and_the_rest_load(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    hooks_file(cli.home / "settings.json", {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command"}]},
        {"matcher": "Bash", "hooks": [{"type": "command", "command": log_command}]}],
        "PreToolUze": []})
    fake_server.script(tool_call("Bash", {"command": "echo hi"}), text("Done."))
    out = run(cli, fake_server, "say hi", "--allowedTools", "Bash", fmt="text")
    assert out.returncode == 0, out.stderr
    assert len(seen(log)) == 1
    settings = str(cli.home / "settings.json")
    assert f"{settings}: hooks.PreToolUse[0].hooks[0] has no \"command\"" in out.stderr
    assert f"{settings}: hooks.PreToolUze: no such event" in out.stderr


def test_identical_hooks_in_several_files_run_once(cli: Cli, fake_server: Server, tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    hooks_file(cli.home / "settings.json", on("PreToolUse", log_command, "Bash"))
    hooks_file(cli.home.parent / ".claude" / "settings.json", on("PreToolUse", log_command, "Bash"))
    fake_server.script(tool_call("Bash", {"command": "echo hi"}), text("Done."))
    out = run(cli, fake_server, "say hi", "--allowedTools", "Bash")
    assert out.returncode == 0, out.stderr
    assert len(seen(log)) == 1


def test_an_http_hook_gets_the_json_and_only_allowed_variables(cli: Cli, fake_server: Server) -> None:
    fake_server.route("POST", "/hook", {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "policy server says no"}})
    user_hooks(cli, {"PreToolUse": [{"matcher": "Bash", "hooks": [{
        "type": "http", "url": fake_server.url + "/hook",
        "headers": {"Authorization": "Bearer ${HOOK_TOKEN}", "X-Other": "[${OTHER_SECRET}]"},
        "allowedEnvVars": ["HOOK_TOKEN"]}]}]})
    fake_server.script(tool_call("Bash", {"command": "touch made.txt"}), text("Understood."))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash",
              env={"HOOK_TOKEN": "tok-123", "OTHER_SECRET": "leak"})
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "made.txt").exists()
    [call] = [r for r in fake_server.requests if r.path == "/hook"]
    assert call.headers["authorization"] == "Bearer tok-123" and call.headers["x-other"] == "[]"
    assert call.body["hook_event_name"] == "PreToolUse"
    assert call.body["tool_input"] == {"command": "touch made.txt"}
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "policy server says no" in told


# --- the project's own hooks, and Claude Code's files -------------------------------------------


def test_project_hooks_wait_for_trust_and_run_with_accept_all(cli: Cli, fake_server: Server,
                                                              tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    hooks_file(cli.project / ".nano_claude" / "settings.json", on("UserPromptSubmit", log_command))
    fake_server.script(text("One."))
    out = run(cli, fake_server, "first", fmt="text")
    assert out.returncode == 0, out.stderr
    assert seen(log) == []
    assert "1 hook(s) from this project's settings" in out.stderr and "were not run" in out.stderr
    fake_server.script(text("Two."))
    out = run(cli, fake_server, "second", "--accept-all", fmt="text")
    assert out.returncode == 0, out.stderr
    assert [e["prompt"] for e in seen(log)] == ["second"]


def test_trust_project_hooks_is_a_users_setting_a_project_cannot_give_itself(cli: Cli, fake_server: Server,
                                                                             tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    hooks_file(cli.project / ".nano_claude" / "settings.json", on("UserPromptSubmit", log_command),
               trust_project_hooks=True)
    out = run(cli, fake_server, "first", fmt="text")
    assert out.returncode != 0 and "cannot set trust_project_hooks" in out.stderr
    hooks_file(cli.project / ".nano_claude" / "settings.json", on("UserPromptSubmit", log_command))
    cli.write_config(trust_project_hooks=True)
    fake_server.script(text("One."))
    out = run(cli, fake_server, "first", fmt="text")
    assert out.returncode == 0, out.stderr
    assert [e["prompt"] for e in seen(log)] == ["first"]


def test_claude_code_settings_hooks_work_unchanged(cli: Cli, fake_server: Server) -> None:
    """The Bash command validator of Claude Code's hooks documentation, as a user has it in
    .claude/hooks/, named through $CLAUDE_PROJECT_DIR in .claude/settings.json."""
    validator = cli.project / ".claude" / "hooks" / "bash_validator.py"
    validator.parent.mkdir(parents=True)
    validator.write_text(f"#!{PY}\n" + '''import json
import re
import sys

_VALIDATION_RULES = [
    (r"\\bgrep\\b(?!.*\\|)", "Use 'rg' (ripgrep) instead of 'grep' for better performance and features"),
    (
        r"\\bfind\\s+\\S+\\s+-name\\b",
        "Use 'rg --files | rg pattern' or 'rg --files -g pattern' instead of 'find -name' "
        "for better performance",
    ),
]


def _validate_command(command: str) -> list[str]:
    issues = []
    for pattern, message in _VALIDATION_RULES:
        if re.search(pattern, command):
            issues.append(message)
    return issues


try:
    input_data = json.load(sys.stdin)
except json.JSONDecodeError as e:
    print(f"Error: Invalid JSON input: {e}", file=sys.stderr)
    sys.exit(1)

tool_name = input_data.get("tool_name", "")
tool_input = input_data.get("tool_input", {})
command = tool_input.get("command", "")

if tool_name != "Bash" or not command:
    sys.exit(1)

issues = _validate_command(command)
if issues:
    for message in issues:
        print(f"• {message}", file=sys.stderr)
    sys.exit(2)
''')
    validator.chmod(0o755)
    hooks_file(cli.project / ".claude" / "settings.json", {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": "\"$CLAUDE_PROJECT_DIR\"/.claude/hooks/bash_validator.py"}]}]})
    fake_server.script(tool_call("Bash", {"command": "grep -r TODO ."}), text("Switching to rg."))
    out = run(cli, fake_server, "find the TODOs", "--accept-all")
    assert out.returncode == 0, out.stderr
    told, failed = result(fake_server.model_requests[1].body)
    assert failed and "Use 'rg' (ripgrep) instead of 'grep'" in told


def test_read_claude_config_off_leaves_claude_codes_hooks_out(cli: Cli, fake_server: Server,
                                                              tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    hooks_file(cli.home.parent / ".claude" / "settings.json", on("UserPromptSubmit", log_command))
    cli.write_config(read_claude_config=False)
    fake_server.script(text("One."))
    out = run(cli, fake_server, "first")
    assert out.returncode == 0, out.stderr
    assert seen(log) == []
    cli.write_config()
    fake_server.script(text("Two."))
    assert run(cli, fake_server, "second").returncode == 0
    assert [e["prompt"] for e in seen(log)] == ["second"]


def test_hooks_in_our_settings_files_leave_the_other_settings_working(cli: Cli, fake_server: Server,
                                                                      tmp_path: Path) -> None:
    log_command, log = logger(tmp_path)
    config = cli.write_config(max_turns=3)
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, **{"hooks": on("UserPromptSubmit", log_command)}}))
    fake_server.script(text("One."))
    out = run(cli, fake_server, "first")
    assert out.returncode == 0, out.stderr
    assert len(seen(log)) == 1


def test_a_run_without_hooks_never_imports_the_runner(cli: Cli, fake_server: Server) -> None:
    cli.write_config(max_turns=5)  # a settings file, but no "hooks" in it
    fake_server.script(text("no hooks"))
    code = ("import sys\nfrom nano_claude.cli import main\n"
            f"code = main(['-p', 'hi', '-m', {MODEL!r}])\n"
            "print(sorted(m for m in sys.modules if m.startswith('nano_claude.extensions.hooks.')), code)")
    env = {**cli.env, "ANTHROPIC_BASE_URL": fake_server.url, "ANTHROPIC_API_KEY": "sk-test"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cli.project,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "no hooks\n['nano_claude.extensions.hooks.config'] 0\n"


def test_after_clear_hooks_see_the_new_sessions_id_and_one_start(cli: Cli, fake_server: Server,
                                                                  tmp_path: Path) -> None:
    """The REPL (stdin piped): /clear starts a session with an id and a transcript path from
    its first prompt on, and the next prompt does not end and start it again."""
    log_command, log = logger(tmp_path)
    user_hooks(cli, {event: [{"hooks": [{"type": "command", "command": log_command}]}]
                     for event in ("SessionStart", "SessionEnd", "UserPromptSubmit")})
    (cli.home / "skills").mkdir(parents=True, exist_ok=True)
    (cli.home / "skills" / "sid.md").write_text("SID=[${CLAUDE_SESSION_ID}]\n")
    fake_server.script(text("a"), text("b"), text("c"))
    out = cli.run("-m", MODEL, input="hello\n/clear\n/sid\nagain\n",
                  env={"ANTHROPIC_BASE_URL": fake_server.url, "ANTHROPIC_API_KEY": "sk-test"})
    assert out.returncode == 0, out.stderr
    events = [(e["hook_event_name"], e.get("source") or e.get("reason") or e.get("prompt"), e["session_id"],
               e["transcript_path"]) for e in seen(log)]
    assert [e[:2] for e in events] == [
        ("SessionStart", "startup"), ("UserPromptSubmit", "hello"), ("SessionEnd", "clear"),
        ("SessionStart", "clear"), ("UserPromptSubmit", "/sid"), ("UserPromptSubmit", "again"),
        ("SessionEnd", "prompt_input_exit")]
    first, second = events[0][2], events[3][2]
    assert first and second and first != second
    assert all(e[2] == second and e[3].endswith(f"{second}.jsonl") for e in events[3:])
    assert f"SID=[{second}]" in last_text(fake_server.model_requests[1].body)


def test_a_failing_hook_says_why_by_its_last_line_even_in_json_mode(cli: Cli, fake_server: Server,
                                                                    tmp_path: Path) -> None:
    crash = script(tmp_path, "crash.py", "event['missing']\n")  # a Python traceback on stderr
    user_hooks(cli, on("PreToolUse", crash, "Bash"))
    fake_server.script(tool_call("Bash", {"command": "echo hi"}), text("Done."))
    out = run(cli, fake_server, "say hi", "--allowedTools", "Bash", "--verbose")
    assert out.returncode == 0, out.stderr
    assert out.json()["result"] == "Done."
    assert "PreToolUse hook" in out.stderr and "KeyError: 'missing'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_project_cannot_switch_off_the_users_claude_code_hooks(cli: Cli, fake_server: Server,
                                                                 tmp_path: Path) -> None:
    guard = script(tmp_path, "guard.py", "print('no shell here', file=sys.stderr)\nsys.exit(2)\n")
    hooks_file(cli.home.parent / ".claude" / "settings.json", on("PreToolUse", guard, "Bash"))
    (cli.project / ".nano_claude").mkdir(exist_ok=True)
    (cli.project / ".nano_claude" / "settings.json").write_text(json.dumps({"read_claude_config": False}))
    out = run(cli, fake_server, "make a file", "--allowedTools", "Bash")  # refused before any request
    assert not (cli.project / "made.txt").exists()
    assert out.returncode == 2 and "a project's settings cannot set read_claude_config=False" in out.stderr
