"""Which installed packages extend nano_claude: the `nano_claude.plugins` entry points, without
importing pluggy or any of them (python.py loads them).

Finding entry points reads every installed distribution (about 60 ms), so the result is kept
in the user's cache folder, keyed by the modification times of the folders searched: a pip
install or uninstall changes its site-packages folder's. The folder the agent was started in is
never searched: a cloned repository must not run code by holding a *.dist-info folder.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

GROUP = "nano_claude.plugins"
CACHE_FILE = "entry_points.json"
CACHE_FORMAT = 1


def search_path() -> list[str]:
    """sys.path without the folder the agent was started in (`python -m` puts it first)."""
    try:
        here = os.getcwd()
    except OSError:
        here = ""
    return [p for p in sys.path if p and os.path.abspath(p) != here]


def cache_file(environ: Mapping[str, str]) -> Path:
    from nano_claude.providers.prefix_cache import cache_root

    return cache_root(environ) / CACHE_FILE


def scan(path: Iterable[str], cache_file: Path) -> list[tuple[str, str, str]]:
    """(name, object reference, distribution) of each `nano_claude.plugins` entry point on
    `path`, from `cache_file` while none of the folders changed."""
    folders = list(path)
    key = [[folder, _mtime(folder)] for folder in folders]
    try:
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        if cached.get("format") == CACHE_FORMAT and cached.get("key") == key:
            return [(str(n), str(v), str(d)) for n, v, d in cached["found"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass  # none yet, or unreadable: it is only a cache, scanned again and rewritten
    from importlib.metadata import distributions

    found: list[tuple[str, str, str]] = []
    for dist in distributions(path=folders):
        for entry in dist.entry_points:  # entry_points.txt only: no metadata parsed for the rest
            if entry.group == GROUP and all(entry.name != name for name, _, _ in found):
                found.append((entry.name, entry.value, dist.name or "?"))
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
        temp.write_text(json.dumps({"format": CACHE_FORMAT, "key": key, "found": found}), encoding="utf-8")
        os.replace(temp, cache_file)
    except OSError:
        pass  # a read-only cache folder: the next start scans again, nothing else is lost
    return found


def _mtime(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None
