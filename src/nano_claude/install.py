"""How to add an extra (`[local]`) to this very installation.

nano-claude-code is not on the package index: a hint that says `pip install
'nano-claude-code[local]'` sends the user to a package that does not exist. The right
command names where this copy was installed from, which pip recorded (PEP 610)."""

from __future__ import annotations

import json
import shlex
import sys
from urllib.parse import unquote, urlsplit

DISTRIBUTION = "nano-claude-code"


def install_command(extra: str) -> str:
    """`/path/to/python -m pip install '/path/to/checkout[extra]'`, or, when the source is
    not known, the same from the checkout's folder."""
    source = _source()
    target = f"{source}[{extra}]" if source else f".[{extra}]"
    command = f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(target)}"
    return command if source else f"{command} (in your nano-claude-code checkout)"


def _source() -> str:
    """The folder or URL this distribution was installed from; "" when pip did not say."""
    from importlib import metadata

    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        url = str(json.loads(text or "{}").get("url") or "")
    except (metadata.PackageNotFoundError, ValueError, OSError):
        return ""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return unquote(parts.path)
    return f"{DISTRIBUTION} @ {url}" if parts.scheme in ("http", "https", "git+https", "git+ssh") else ""
