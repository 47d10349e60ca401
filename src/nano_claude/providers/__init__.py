"""Providers: one module per wire protocol, imported lazily by factory.py.

httpx imports its command-line client (click, rich, pygments: ~50 ms at every
start) whenever click is installed, as the [local] extra's dependencies bring it.
We never use that client, so before any provider module imports httpx, a
stand-in without `main` sends httpx down its own fallback for a missing click.
"""

import sys
import types

sys.modules.setdefault("httpx._main", types.ModuleType("httpx._main"))
