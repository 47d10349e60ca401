"""What a Python plugin imports: the hook marker and the types its tools, commands and providers
are made of.

    from nano_claude.plugin import ToolContext, ToolOutput, hookimpl

    @hookimpl
    def register_tools(profile):
        return [WordCountTool()]

The hooks: `register_tools(profile) -> list[Tool]`, `register_commands() -> list[Command]`,
`register_providers() -> list[ProviderSpec]` (extensions/plugins/python.py). A tool is written
like the built-in ones (tools/base.py): `name`, `description`, `input_model` (a pydantic model),
`read_only`, `concurrency_safe`, `summary(args)` and `async run(args, ctx) -> ToolOutput`; raise
ToolError for a failure the model should read. `Command` (a REPL slash command) is imported
only when asked for, so a tool plugin never loads the REPL's modules.
"""

from __future__ import annotations

from typing import Any

from nano_claude.extensions.plugins.python import hookimpl
from nano_claude.providers.catalog import ProviderSpec
from nano_claude.tools.base import Tool, ToolContext, ToolError, ToolOutput

__all__ = [  # noqa: F822 (Command comes from __getattr__)
    "Command", "ProviderSpec", "Tool", "ToolContext", "ToolError", "ToolOutput", "hookimpl",
]


def __getattr__(name: str) -> Any:
    if name == "Command":
        from nano_claude.ui.commands import Command

        return Command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
