"""The permission policy: pure, so it can be tested exhaustively and never talked around.

This is the base the full rule system (issue: tools and permissions) builds on.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["auto", "accept-all", "manual"]
Decision = Literal["allow", "ask", "deny"]


def decide(mode: Mode, read_only: bool) -> Decision:
    """auto: reads run, anything that writes or runs commands asks; accept-all: all run;
    manual: everything asks."""
    if mode == "accept-all":
        return "allow"
    if mode == "manual":
        return "ask"
    return "allow" if read_only else "ask"
