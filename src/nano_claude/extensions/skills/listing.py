"""What the system prompt says about skills: names and descriptions only (progressive disclosure).

A skill's body reaches the model when the skill runs (the Skill tool's result, or the user's
/name message); until then the model sees one line per skill, within a budget of 1 % of the
model's window in characters (4 characters a token), at least 2,000 and at most 8,000, as
Claude Code sizes its listing. Past the budget the descriptions of the least-used skills go
first; names always stay. How often each skill ran is counted in ~/.nano_claude/skills_usage.json
(best effort: a file that cannot be read or written only makes the order less apt).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from nano_claude.extensions.skills.loader import DESCRIPTION_CAP, Skill

MIN_BUDGET, MAX_BUDGET = 2_000, 8_000
CHARS_PER_TOKEN = 4

HEADER = """\
# Skills
Skills are instructions for particular tasks, written by the user or shipped with the tool. \
When a task matches a skill below, run it with the Skill tool ({"name": "<skill>", "args": "<arguments>"}) \
before doing the work yourself: its full instructions come back as the result, and you follow them. \
The user runs the same skills by typing /<skill>. SkillList shows each one's arguments and folder; \
read files in a skill's folder only when its instructions point to them."""


def budget(window_tokens: int) -> int:
    """Characters the entries may take: 1 % of the window, within [MIN_BUDGET, MAX_BUDGET]."""
    return max(MIN_BUDGET, min(MAX_BUDGET, window_tokens * CHARS_PER_TOKEN // 100))


def describe(skill: Skill) -> str:
    """Description and when_to_use, within Claude Code's cap for the two together."""
    text = skill.description
    if text and text[-1] not in ".!?":
        text += "."
    if skill.when_to_use:
        text = f"{text} When to use: {skill.when_to_use}".strip()
    if skill.triggers:
        said = ", ".join(f'"{t}"' for t in skill.triggers)
        text = f"{text} (the user may ask for it as {said})".strip()
    return text if len(text) <= DESCRIPTION_CAP else text[: DESCRIPTION_CAP - 1] + "…"


def entry(skill: Skill, *, full: bool) -> str:
    if not full:
        return f"- {skill.name}"
    line = f"- {skill.name}: {describe(skill)}" if describe(skill) else f"- {skill.name}"
    if skill.supporting_files():
        line += f" [folder: {skill.folder}]"
    return line


def listing(skills: list[Skill], window_tokens: int, counts: dict[str, int] | None = None) -> str:
    """The system prompt's section on skills; "" when the model may run none."""
    shown = sorted((s for s in skills if s.model_invocable), key=lambda s: s.name)
    if not shown:
        return ""
    counts = counts or {}
    lines = {s.name: entry(s, full=True) for s in shown}
    size = sum(len(line) + 1 for line in lines.values())
    for skill in sorted(shown, key=lambda s: (counts.get(s.name, 0), s.name)):  # the least used first
        if size <= budget(window_tokens):
            break
        short = entry(skill, full=False)
        size -= len(lines[skill.name]) - len(short)
        lines[skill.name] = short
    return HEADER + "\n\n" + "\n".join(lines[s.name] for s in shown)


class UsageFile:
    """How often each skill ran, by name: {"deploy": 3}. Never raises."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def counts(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, int)}

    def record(self, name: str) -> None:
        counts = self.counts()
        counts[name] = counts.get(name, 0) + 1
        temp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".skills_usage.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(counts, out, indent=1, sort_keys=True)
            os.replace(temp, self.path)
        except OSError:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
