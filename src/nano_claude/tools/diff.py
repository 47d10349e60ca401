"""Unified diffs of text, git style, for the UI, permission prompts and checkpoints.

Plain text only: colouring is the renderer's business.
"""

from __future__ import annotations

import difflib
import re

NO_NEWLINE = "\\ No newline at end of file"
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def unified_diff(old: str, new: str, path: str, context: int = 3, *, created: bool = False) -> str:
    """The diff that turns `old` into `new`, or "" when they are equal.

    A relative `path` gets git's a/ and b/ prefixes; `created` marks a new file
    (`--- /dev/null`). A last line without a newline is flagged the way git does,
    so a diff that only adds the final newline still shows a change.
    """
    if old == new:
        return ""
    if path.startswith("/"):
        before, after = path, path
    else:
        before, after = f"a/{path}", f"b/{path}"
    if created:
        before = "/dev/null"
    lines = difflib.unified_diff(
        _lines(old), _lines(new),
        fromfile=before, tofile=after, n=context,
    )
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(f"{line}\n{NO_NEWLINE}\n")
    return "".join(out)


def _lines(text: str) -> list[str]:
    # Not str.splitlines: form feeds and U+2028 inside a line are not line breaks.
    return _LINE.findall(text)


def counts(diff: str) -> tuple[int, int]:
    """(lines added, lines removed) in a unified diff.

    Hunk headers give each hunk's length, so a removed line that starts with
    "--" is not mistaken for a file header.
    """
    added = removed = 0
    old_left = new_left = 0
    for line in diff.splitlines():
        if old_left <= 0 and new_left <= 0:
            match = _HUNK.match(line)
            if match:
                old_left = int(match.group(1) or 1)
                new_left = int(match.group(2) or 1)
            continue
        if line.startswith("+"):
            added += 1
            new_left -= 1
        elif line.startswith("-"):
            removed += 1
            old_left -= 1
        elif line.startswith(" ") or line == "":
            old_left -= 1
            new_left -= 1
    return added, removed


def line_count(text: str) -> int:
    """Lines as an editor counts them: a final line without a newline still counts."""
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)
