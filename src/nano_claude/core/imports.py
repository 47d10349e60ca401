"""`@path` imports in instructions files (CLAUDE.md, AGENTS.md, rules), as Claude Code reads them.

A CLAUDE.md that says "See @README.md and @docs/style.md" gets those files too. Claude Code
keeps the token as written and loads the imported file after the one importing it; so do
we: each imported file is a section of its own right after its importer (depth first), so
/context can name it and say what imported it.

What counts as an import:

- a mention as in a message (core/mentions.py): `@` at the start of a line or after
  whitespace, so `ada@example.com` is text; a space kept with a backslash or quotes; the
  punctuation after a bare path (`see @notes.md.`) dropped unless a file has that name;
- relative to the importing file's folder; `~/` is the user's home; absolute paths work;
- only when it names an existing file: `@decorator`, `@alice` or `@types/node` in prose
  stay text (a token that looks like a path gets a note in /context), and so does a
  missing file;
- never inside code: a ``` or ~~~ fence (up to three spaces in, closed by a line of at
  least as many of the same character; an unclosed fence runs to the end) or a `span`
  (closed by a run of as many backticks, within a paragraph).

Imported files import in turn, up to MAX_DEPTH levels below the file on the walk (Claude
Code's limit); each file is read once in the whole prompt, so a cycle, or an import of a
file the walk reads anyway (`@AGENTS.md` in a CLAUDE.md), adds nothing. One file and all
it imports share its character cap: the expansion is what is capped, not each part, or a
file importing a hundred others would bring a hundred caps' worth.

A project's files (a cloned repository's) may import only from inside the project: its
repository, or outside one the folder the file was found in (and a rules file linked in
from elsewhere, from beside its real self). Claude Code asks once before
following an import out of the project; we have no one to ask while the prompt is built,
so `@~/.ssh/id_rsa` in someone's CLAUDE.md is left as text with a note, where the Read
tool would have asked. The user's own files (`~/.nano_claude/CLAUDE.md`, user rules)
may import from anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nano_claude.core.mentions import Mention, find

MAX_DEPTH = 4  # levels of imports below a file on the walk

# (file, at most this many characters) -> (its text, a note when cut); raises OSError
Reader = Callable[[Path, int], tuple[str, str]]

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)


@dataclass(frozen=True)
class Imported:
    path: Path
    text: str
    by: Path  # the file whose `@path` brought it in
    note: str = ""  # cut, or what it imports in turn that was left out


def without_code(text: str) -> str:
    """`text` with fenced blocks and code spans blanked (newlines kept, so positions hold)."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    fence = ""
    for line in lines:
        if fence:
            closing = _FENCE_CLOSE.match(line.rstrip("\r\n"))
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = ""
            out.append(_blank(line))
            continue
        opened = _FENCE_OPEN.match(line.rstrip("\r\n"))
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            out.append(_blank(line))
            continue
        out.append(line)
    rest = "".join(out)
    return _SPAN.sub(lambda span: _blank(span.group(0)), rest)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def imports_in(text: str) -> list[Mention]:
    """The `@path` tokens of `text` outside code, in order."""
    return find(without_code(text))


def resolve(mention: Mention, folder: Path, home: Path) -> tuple[Mention, Path | None]:
    """The token as meant and the file it names, if one exists (punctuation after a bare
    path is part of it only when the path without it names nothing)."""
    for meant in (mention, mention.trimmed):
        written = meant.path
        if written.startswith("~/"):
            path = home / written[2:]
        elif written.startswith("~"):
            continue  # `~alice/x`: another user's home, never ours to read
        else:
            path = folder / written
        path = Path(os.path.normpath(path))
        try:
            if path.is_file():
                return meant, path
        except (OSError, ValueError):  # a name too long for the system, a NUL byte
            continue
    return mention.trimmed, None


@dataclass
class Expansion:
    """The imports of one file on the walk: `left` is what remains of its character cap,
    `seen` the files already in the prompt (shared by the whole walk)."""

    home: Path
    seen: set[Path]
    left: int
    read: Reader
    within: tuple[Path, ...] | None = None  # None: the user's own file, imports from anywhere
    files: list[Imported] = field(default_factory=list)

    def expand(self, path: Path, text: str, depth: int = 0) -> list[str]:
        """Append the files `text` (the contents of `path`) imports to `files`, each followed
        by its own imports; return notes on what `path` imports that was left out."""
        notes: list[str] = []
        for token in imports_in(text):
            mention, target = resolve(token, path.parent, self.home)
            if target is None:
                if mention.looks_like_path:
                    notes.append(f"{mention.written}: no such file")
                continue
            real = target.resolve()
            if real in self.seen:
                continue
            why = self.refusal(real, depth)
            if why:
                notes.append(f"{mention.written} not imported: {why}")
                continue
            self.seen.add(real)
            try:
                body, cut = self.read(target, self.left)
            except OSError as exc:
                notes.append(f"{mention.written} not imported: {exc.strerror or exc}")
                continue
            if "\0" in body:
                notes.append(f"{mention.written} not imported: not a text file")
                continue
            self.left -= len(body)
            at = len(self.files)
            inner = self.expand(target, body, depth + 1) if body else []
            if body:
                self.files.insert(at, Imported(target, body, path, "; ".join(filter(None, [cut, *inner]))))
        return notes

    def refusal(self, real: Path, depth: int) -> str:
        if depth >= MAX_DEPTH:
            return f"imports go at most {MAX_DEPTH} levels deep"
        if self.within is not None and not any(real == top or top in real.parents for top in self.within):
            return (f"outside the project ({self.within[0]}): a project's instructions import only "
                    "from inside it (import it from ~/.nano_claude/CLAUDE.md instead)")
        if self.left <= 0:
            return "the file's character cap is used up by it and what it imports before"
        return ""
