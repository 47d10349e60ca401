"""What a hook's exit code and output mean, as Claude Code defines it.

Exit 0: success; stdout is read as JSON when it starts with `{`, and otherwise, for
UserPromptSubmit and SessionStart only, added to the model's context. Exit 2: block, stderr
being the reason (PreToolUse blocks the call, UserPromptSubmit drops the prompt, Stop and
SubagentStop keep the agent going). Any other code: a non-blocking error the user sees.

JSON fields: `continue` (false stops the run, `stopReason` says why to the user),
`systemMessage` (a warning for the user), `decision: "block"` + `reason`, and
`hookSpecificOutput` with `permissionDecision` (allow/deny/ask), `permissionDecisionReason`,
`updatedInput`, `additionalContext`, and for PermissionRequest `decision: {behavior, message}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from nano_claude.extensions.hooks.handlers import Ran

Permission = Literal["allow", "deny", "ask"]
PLAIN_CONTEXT = frozenset({"UserPromptSubmit", "SessionStart"})
MAX_TEXT = 10_000  # characters of a hook's text that reach the model


@dataclass(frozen=True)
class Said:
    """One hook's answer."""

    block: bool = False  # exit 2, or decision "block"
    reason: str = ""  # for the model: why it blocked
    permission: Permission | None = None
    permission_reason: str = ""
    updated_input: dict[str, Any] | None = None
    context: str = ""  # added to what the model reads
    message: str = ""  # systemMessage: for the user
    halt: str | None = None  # `continue: false`: stop the run; the stopReason
    failure: str = ""  # a non-blocking error: shown, never fatal


def interpret(event: str, ran: Ran) -> Said:
    if ran.code is None:
        return Said(failure=ran.failure)
    if ran.code == 2:
        return Said(block=True, reason=clip(ran.stderr.strip()))
    if ran.code != 0:
        # the last line says why: a traceback's first is always "Traceback (most recent call last):"
        lines = [line.strip() for line in ran.stderr.splitlines() if line.strip()]
        return Said(failure=f"exit {ran.code}: {lines[-1][:300] if lines else 'no error output'}")
    text = ran.stdout.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return Said(failure=f"its output starts with {{ but is not JSON ({exc.msg} at line "
                        f"{exc.lineno}); it was ignored")
        if isinstance(data, dict):
            return from_json(event, data)
    if text and event in PLAIN_CONTEXT:
        return Said(context=clip(text))
    return Said()


def from_json(event: str, data: dict[str, Any]) -> Said:
    specific = data.get("hookSpecificOutput")
    specific = specific if isinstance(specific, dict) else {}
    decision = data.get("decision")
    block = decision == "block"
    permission = _permission(specific.get("permissionDecision"))
    if permission is None and event == "PreToolUse" and decision in ("approve", "block"):
        permission = "allow" if decision == "approve" else "deny"  # the older top-level form
        block = False
    permission_reason = _string(specific.get("permissionDecisionReason"))
    updated = specific.get("updatedInput")
    asked = specific.get("decision")
    if event == "PermissionRequest" and isinstance(asked, dict):
        behavior = asked.get("behavior")
        permission = behavior if behavior in ("allow", "deny") else permission
        permission_reason = _string(asked.get("message")) or permission_reason
        updated = asked.get("updatedInput", updated)
    halt = None
    if data.get("continue") is False:
        halt = _string(data.get("stopReason"))
    reason = _string(data.get("reason"))
    if permission == "deny" and not permission_reason:
        permission_reason = reason
    return Said(block=block, reason=clip(reason), permission=permission,
                permission_reason=clip(permission_reason),
                updated_input=updated if isinstance(updated, dict) else None,
                context=clip(_string(specific.get("additionalContext"))),
                message=_string(data.get("systemMessage")), halt=halt)


def _permission(value: Any) -> Permission | None:
    return value if value in ("allow", "deny", "ask") else None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def clip(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT:,} more characters from the hook cut]"
