"""The tool registry: what the model may call, and the one place a call is validated and run.

Built-in tools, MCP servers, plugins and skills all go through `register_tool()`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from nano_claude.core.messages import INVALID_JSON_KEY, JSON_ERROR_KEY
from nano_claude.providers.base import ToolSpec
from nano_claude.tools.base import Tool, ToolContext, ToolError, ToolOutput


def schema_of(tool: Tool) -> dict[str, Any]:
    """The JSON schema derived from the tool's input model, without pydantic's titles."""
    schema = tool.input_model.model_json_schema()
    return _strip_titles(schema)


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip_titles(v)
            for k, v in node.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


class Registry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._specs: tuple[ToolSpec, ...] | None = None  # derived once, until the set changes
        for tool in tools:
            self.register_tool(tool)

    def register_tool(self, tool: Tool) -> None:
        """Add (or replace) a tool; takes effect from the next model request."""
        self._tools[tool.name] = tool
        self._specs = None

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """Sent with every request: schemas are derived once, not per turn."""
        if self._specs is None:
            self._specs = tuple(ToolSpec(t.name, t.description, schema_of(t))
                                for t in self._tools.values())
        return self._specs

    def parse(self, name: str, raw: dict[str, Any]) -> tuple[Tool, Any]:
        """Find the tool and validate its input, or raise a ToolError the model can act on."""
        tool = self._tools.get(name)
        if tool is None:
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ToolError(
                f"Unknown tool {name!r}.{hint} Available tools: {', '.join(self.names)}."
            )
        if INVALID_JSON_KEY in raw:
            raise ToolError(
                f"The arguments of your {name} call were not valid JSON "
                f"({raw.get(JSON_ERROR_KEY, 'parse error')}): {str(raw[INVALID_JSON_KEY])[:200]!r}. "
                f"Call {name} again with a JSON object that matches its schema."
            )
        try:
            return tool, tool.input_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"Invalid arguments for {name}: {problems}.") from exc

    async def execute(self, tool: Tool, args: Any, ctx: ToolContext) -> ToolOutput:
        try:
            return await tool.run(args, ctx)
        except ToolError as exc:
            return ToolOutput.text(str(exc), is_error=True)
        except Exception as exc:  # a tool bug must not end the session
            return ToolOutput.text(f"{tool.name} failed: {type(exc).__name__}: {exc}", is_error=True)


def builtin_tools() -> list[Tool]:
    from nano_claude.tools.bash import BashTool
    from nano_claude.tools.read import ReadTool

    return [ReadTool(), BashTool()]
