"""Placeholders in a skill's body, filled in as Claude Code fills them (2.1.19 and later).

    $ARGUMENTS            everything typed after /name
    $ARGUMENTS[N], $N     the N-th argument, counted from 0, words split as a shell splits them
                          (`/fix "login page" 2` -> $0 = login page, $1 = 2); one past the last
                          is left as written
    $version, $VERSION    a named argument (front matter `arguments: [env, version]`: the
                          first word is $env, the second $version); missing ones are empty
    ${CLAUDE_SKILL_DIR}   the folder holding the skill's file (${NANO_CLAUDE_SKILL_DIR} too)
    ${CLAUDE_PROJECT_DIR} the project's folder (${NANO_CLAUDE_PROJECT_DIR} too)
    ${CLAUDE_SESSION_ID}  the session's id (${NANO_CLAUDE_SESSION_ID} too)
    \\$                    a literal $ (`\\$1` stays $1)

Any other `$word` or `${NAME}` is left alone: it is shell text in a code block. When the body
uses no argument placeholder at all and arguments were given, `ARGUMENTS: <them>` is appended,
so the model still sees them.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_TOKEN = re.compile(
    r"\\\$"  # \$: a literal dollar
    r"|\$\{(?P<var>[A-Z_]+)\}"
    r"|\$ARGUMENTS\[(?P<index>\d+)\]"
    r"|\$(?P<all>ARGUMENTS)(?!\w)"
    r"|\$(?P<number>\d+)"
    r"|\$(?P<word>[A-Za-z_]\w*)"
)


@dataclass(frozen=True)
class Places:
    """What the ${...} variables stand for."""

    skill_dir: str = ""
    project_dir: str = ""
    session_id: str = ""

    def get(self, name: str) -> str | None:
        bare = name.removeprefix("NANO_").removeprefix("CLAUDE_")
        if name not in (f"CLAUDE_{bare}", f"NANO_CLAUDE_{bare}"):
            return None
        return {"SKILL_DIR": self.skill_dir, "PROJECT_DIR": self.project_dir,
                "SESSION_ID": self.session_id}.get(bare)


def split_arguments(text: str) -> list[str]:
    """Words as a shell splits them (quotes group, backslashes escape); an unclosed quote
    falls back to splitting on spaces rather than failing."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def substitute(body: str, arguments: str, names: tuple[str, ...] = (), places: Places | None = None) -> str:
    """`body` with its placeholders filled from `arguments` (the text after /name)."""
    text, used = fill(body, arguments, names, places)
    if not used and arguments.strip():
        text = f"{text.rstrip()}\n\nARGUMENTS: {arguments.strip()}"
    return text


def fill(body: str, arguments: str, names: tuple[str, ...] = (),
         places: Places | None = None) -> tuple[str, bool]:
    """`body` with its placeholders filled, and whether it used an argument placeholder (a
    body filled piece by piece appends `ARGUMENTS:` once, after the last piece)."""
    places = places or Places()
    words = split_arguments(arguments)
    named = {name: words[i] if i < len(words) else "" for i, name in enumerate(names)}
    upper = {name.upper(): value for name, value in named.items()}
    used = False

    def one(match: re.Match[str]) -> str:
        nonlocal used
        if match.group(0) == "\\$":
            return "$"
        if match.group("var") is not None:
            value = places.get(match.group("var"))
            return match.group(0) if value is None else value
        if match.group("all") is not None:
            used = True
            return arguments.strip()
        index = match.group("index") or match.group("number")
        if index is not None:
            used = True
            position = int(index)
            return words[position] if position < len(words) else match.group(0)
        word = match.group("word")
        if word in named:
            used = True
            return named[word]
        if word in upper:
            used = True
            return upper[word]
        return match.group(0)

    return _TOKEN.sub(one, body), used
