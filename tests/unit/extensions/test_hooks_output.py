"""What a hook's exit code and output mean (Claude Code's contract)."""

from __future__ import annotations

import json

from nano_claude.extensions.hooks.handlers import Ran
from nano_claude.extensions.hooks.output import MAX_TEXT, interpret


def said(event: str, code: int | None, stdout: object = "", stderr: str = "", failure: str = ""):
    out = json.dumps(stdout) if isinstance(stdout, dict) else str(stdout)
    return interpret(event, Ran(code, out, stderr, failure))


def test_exit_2_blocks_with_stderr_as_the_reason() -> None:
    one = said("PreToolUse", 2, "ignored on exit 2", "  no force pushes  \n")
    assert one.block and one.reason == "no force pushes" and not one.failure


def test_other_exit_codes_are_non_blocking_errors_with_the_last_line_of_stderr() -> None:
    one = said("PreToolUse", 1, "", "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n\n")
    assert not one.block and one.failure == "exit 1: KeyError: 'x'"
    assert said("Stop", 127, "", "").failure == "exit 127: no error output"


def test_a_hook_that_did_not_finish_says_why() -> None:
    one = said("PreToolUse", None, failure="timed out after 1s and was stopped")
    assert one.failure == "timed out after 1s and was stopped" and not one.block and one.permission is None


def test_plain_stdout_is_context_only_for_prompt_submit_and_session_start() -> None:
    assert said("UserPromptSubmit", 0, "ticket ABC-1\n").context == "ticket ABC-1"
    assert said("SessionStart", 0, "on branch main").context == "on branch main"
    assert said("PreToolUse", 0, "just chatter").context == ""
    assert said("Stop", 0, "just chatter") == said("Stop", 0, "")


def test_pre_tool_use_json_decides_and_rewrites() -> None:
    one = said("PreToolUse", 0, {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "not on main", "updatedInput": {"command": "ls"},
        "additionalContext": "main is protected"}})
    assert one.permission == "deny" and one.permission_reason == "not on main"
    assert one.updated_input == {"command": "ls"} and one.context == "main is protected"
    assert said("PreToolUse", 0, {"hookSpecificOutput": {"permissionDecision": "defer"}}).permission is None


def test_the_older_top_level_approve_and_block_map_to_allow_and_deny() -> None:
    approve = said("PreToolUse", 0, {"decision": "approve", "reason": "known safe"})
    assert approve.permission == "allow" and not approve.block
    block = said("PreToolUse", 0, {"decision": "block", "reason": "known bad"})
    assert block.permission == "deny" and block.permission_reason == "known bad" and not block.block


def test_decision_block_with_a_reason_blocks_other_events() -> None:
    one = said("Stop", 0, {"decision": "block", "reason": "tests are failing"})
    assert one.block and one.reason == "tests are failing"


def test_continue_false_halts_with_the_stop_reason_and_system_message_goes_to_the_user() -> None:
    one = said("PostToolUse", 0, {"continue": False, "stopReason": "build broke",
                                  "systemMessage": "heads up"})
    assert one.halt == "build broke" and one.message == "heads up"
    assert said("PostToolUse", 0, {"continue": False}).halt == ""
    assert said("PostToolUse", 0, {"continue": True}).halt is None


def test_permission_request_decides_with_its_behavior() -> None:
    allow = said("PermissionRequest", 0, {"hookSpecificOutput": {"hookEventName": "PermissionRequest",
                                                                 "decision": {"behavior": "allow"}}})
    assert allow.permission == "allow"
    deny = said("PermissionRequest", 0, {"hookSpecificOutput": {"decision": {"behavior": "deny",
                                                                             "message": "not today"}}})
    assert deny.permission == "deny" and deny.permission_reason == "not today"


def test_output_that_starts_like_json_but_is_not_is_a_visible_error() -> None:
    one = said("PreToolUse", 0, '{"permissionDecision": deny}')
    assert one.failure.startswith("its output starts with { but is not JSON") and one.permission is None


def test_a_huge_context_is_cut_with_a_note() -> None:
    one = said("UserPromptSubmit", 0, "x" * (MAX_TEXT + 500))
    assert len(one.context) < MAX_TEXT + 100
    assert one.context.endswith("500 more characters from the hook cut]")
