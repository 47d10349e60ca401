"""The one way anything asks the user something: injected, so the same loop runs in
the REPL, in headless mode and in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""  # shown to the model when denied


class Prompter(Protocol):
    async def confirm(self, tool: str, description: str) -> Verdict:
        """May this tool call run?"""
        ...


class HeadlessPrompter:
    """No user is present: whatever the policy would ask about is denied, with a reason
    the model can relay and the user can act on."""

    async def confirm(self, tool: str, description: str) -> Verdict:
        return Verdict(
            False,
            f"Permission denied: {tool} needs approval and no user is present (headless run). "
            "Do not retry it; tell the user to rerun with --accept-all to allow it.",
        )
