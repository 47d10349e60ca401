"""The built-in tools, REPL commands and providers, registered through the same hooks as any
plugin's (extensions/plugins/python.py): a plugin adds to the agent the way the agent is made."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nano_claude.extensions.plugins.python import hookimpl

if TYPE_CHECKING:
    from nano_claude.providers.catalog import ProviderSpec
    from nano_claude.tools.base import Tool
    from nano_claude.tools.registry import ToolProfile
    from nano_claude.ui.commands import Command


@hookimpl
def register_tools(profile: ToolProfile) -> list[Tool]:
    from nano_claude.tools.registry import builtin_tools

    return builtin_tools(profile)


@hookimpl
def register_commands() -> list[Command]:
    """One command per module of ui/commands (MODULES), each imported now, on the first lookup."""
    from nano_claude.ui import commands

    return [importlib.import_module(f"{commands.__name__}.{module}").COMMAND for module in commands.MODULES]


@hookimpl
def register_providers() -> list[ProviderSpec]:
    from nano_claude.providers.catalog import BUILTIN_PROVIDERS, PROVIDERS

    return [spec for name, spec in PROVIDERS.items() if name in BUILTIN_PROVIDERS]
