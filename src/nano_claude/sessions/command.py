"""`nano_claude sessions list | search TEXT`, and the lines both it and the REPL print."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from nano_claude.sessions.search import Found
from nano_claude.sessions.store import Entry, SessionStore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def short_path(path: str, home: Path) -> str:
    try:
        rest = Path(path).relative_to(home)
    except ValueError:
        return path
    return "~" if str(rest) == "." else f"~/{rest}"


def turns(count: int) -> str:
    return f"{count} turn{'s' * (count != 1)}"


def entry_line(entry: Entry, home: Path) -> str:
    """`2026-04-05 11:05  a3f9c1b2    8 turns  ~/src/app  why does test_parse fail?`"""
    where = short_path(entry.cwd, home) if entry.cwd else "?"
    line = f"{entry.saved_at[:16]}  {entry.short_id}  {turns(entry.turn_count):>9}  {where}  {entry.title}"
    return line.rstrip()


def found_lines(found: Found, home: Path) -> list[str]:
    """Hits grouped by session, in the order of each session's best hit."""
    lines: list[str] = []
    seen: dict[str, list[str]] = {}
    for hit in found.hits:
        if hit.entry.session_id not in seen:
            seen[hit.entry.session_id] = [entry_line(hit.entry, home)]
        seen[hit.entry.session_id].append(f"    {hit.role}: {hit.snippet}")
    for group in seen.values():
        lines.extend(group)
    return lines


def main(argv: list[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    from nano_claude.config import load_settings, user_home
    from nano_claude.core.errors import NanoClaudeError
    from nano_claude.paths import Paths
    from nano_claude.sessions.search import search

    parser = argparse.ArgumentParser(prog="nano_claude sessions",
                                     description="List saved sessions, or search them all for text.")
    parser.add_argument("action", choices=("list", "search"), nargs="?", default="list")
    parser.add_argument("text", nargs="*", help="with search: the words to find (all of them, "
                                                "each also as the start of a longer word)")
    args = parser.parse_args(argv)
    environ = dict(os.environ) if environ is None else environ
    cwd = cwd or Path.cwd()
    home = user_home(environ)
    try:
        paths = Paths.from_env(environ, cwd)
        store = SessionStore.of(paths.home, load_settings(paths, environ))
        if args.action == "list":
            entries = store.entries()
            for entry in entries:
                print(entry_line(entry, home))
            print(f"{len(entries)} saved session(s) in {store.root}; `nano_claude --resume ID` continues "
                  "one, `nano_claude -c` the latest in this directory" if entries
                  else f"No saved sessions yet (they are kept in {store.root}).")
            return EXIT_OK
        if not args.text:
            parser.error('search needs some text: nano_claude sessions search "parse error"')
        found = search(store, " ".join(args.text))
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"nano_claude: cannot use {exc.filename or 'the sessions folder'}: {exc.strerror or exc}",
              file=sys.stderr)
        return EXIT_FAILED
    if found.note:
        print(f"note: {found.note}", file=sys.stderr)
    for line in found_lines(found, home) or [f"No saved session mentions {' '.join(args.text)!r}."]:
        print(line)
    return EXIT_OK
