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
    """The JSON schema derived from the tool's input model, without pydantic's titles, and
    with optional fields written as their type (`anyOf: [X, null], default: null` -> `X`):
    the model omits them either way, and every request is shorter."""
    schema = tool.input_model.model_json_schema(by_alias=True)
    return _simplify(_strip_titles(schema))


def _simplify(node: Any) -> Any:
    if isinstance(node, list):
        return [_simplify(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _simplify(v) for k, v in node.items()}
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        kept = next(o for o in options if o != {"type": "null"})
        out.pop("anyOf")
        if out.get("default", 0) is None:
            out.pop("default")
        out = {**kept, **out}
    return out


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
    """Every built-in tool, in the order the model sees them."""
    from nano_claude.tools.bash import BashTool
    from nano_claude.tools.diagnostics import GetDiagnosticsTool
    from nano_claude.tools.files import EditTool, WriteTool
    from nano_claude.tools.interact import AskUserQuestionTool, SleepTimerTool
    from nano_claude.tools.notebook import NotebookEditTool
    from nano_claude.tools.read import ReadTool
    from nano_claude.tools.search import GlobTool, GrepTool
    from nano_claude.tools.shells import BashOutputTool, KillShellTool
    from nano_claude.tools.web import WebFetchTool, WebSearchTool

    return [
        ReadTool(), GlobTool(), GrepTool(), EditTool(), WriteTool(), NotebookEditTool(),
        BashTool(), BashOutputTool(), KillShellTool(), WebFetchTool(), WebSearchTool(),
        GetDiagnosticsTool(), AskUserQuestionTool(), SleepTimerTool(),
    ]
