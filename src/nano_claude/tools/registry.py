"""The tool registry: what the model may call, and the one place a call is validated and run.

Built-in tools, MCP servers, plugins and skills all go through `register_tool()`.

Two tool profiles. `full`: every built-in tool as written. `compact`, for small local
models: the six tools such a model can use well (Read, Glob, Grep, Edit, Write, Bash;
background shells, notebooks, the web and questions are left out), each with a one-line
description and only the fields it needs, so the first request stays under 1,500 tokens
(about 9 s of prompt processing for SmolLM2 on 2 cores instead of 20). Only what the model
sees is shortened: the input models still accept every field and the tools behave the same.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from nano_claude.core.messages import INVALID_JSON_KEY, JSON_ERROR_KEY
from nano_claude.providers.base import ToolSpec
from nano_claude.tools.base import Tool, ToolContext, ToolError, ToolOutput

ToolProfile = Literal["full", "compact"]


@dataclass(frozen=True)
class CompactSpec:
    """How a tool reads in the compact profile: a short description, and the fields the
    model is shown with their short descriptions ("": the name says it all). Fields left
    out are optional ones a small model does without; the input model still takes them."""

    description: str
    fields: dict[str, str]


COMPACT: dict[str, CompactSpec] = {
    "Read": CompactSpec("Read a text file; lines come back numbered. Read a file before you edit it.",
                        {"file_path": "", "offset": "first line (1-based)", "limit": "number of lines"}),
    "Glob": CompactSpec("Find files by name pattern, like **/*.py.", {"pattern": "", "path": "folder"}),
    "Grep": CompactSpec("Search file contents with a regular expression; lists matching files.",
                        {"pattern": "", "path": "file or folder",
                         "output_mode": "content shows the matching lines"}),
    "Edit": CompactSpec("Replace old_string, which must occur once in the file, with new_string.",
                        {"file_path": "", "old_string": "", "new_string": "", "replace_all": ""}),
    "Write": CompactSpec("Write a whole file (creates it, or replaces one you have read).",
                         {"file_path": "", "content": ""}),
    "Bash": CompactSpec("Run a shell command; returns its output and exit code.", {"command": ""}),
}


def schema_of(tool: Tool) -> dict[str, Any]:
    """The JSON schema derived from the tool's input model, without pydantic's titles, and
    with optional fields written as their type (`anyOf: [X, null], default: null` -> `X`):
    the model omits them either way, and every request is shorter."""
    schema = tool.input_model.model_json_schema(by_alias=True)
    return _simplify(_strip_titles(schema))


def compact_schema(tool: Tool, spec: CompactSpec) -> dict[str, Any]:
    """The full schema cut down to the fields `spec` names, with its short descriptions."""
    full = schema_of(tool)
    properties = {}
    for name, note in spec.fields.items():
        prop = {k: v for k, v in full["properties"][name].items() if k != "description"}
        properties[name] = {**prop, "description": note} if note else prop
    required = [name for name in full.get("required", []) if name in properties]
    return {"type": "object", "properties": properties, "required": required}


def spec_of(tool: Tool, profile: ToolProfile = "full") -> ToolSpec:
    """What the model is told about the tool. A tool without a compact form (MCP, plugins)
    keeps its own description in either profile."""
    raw = getattr(tool, "input_schema", None)  # an MCP tool's schema, as its server gave it
    if raw is not None:
        return ToolSpec(tool.name, tool.description, raw)
    short = COMPACT.get(tool.name) if profile == "compact" else None
    if short is None:
        return ToolSpec(tool.name, tool.description, schema_of(tool))
    return ToolSpec(tool.name, short.description, compact_schema(tool, short))


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
    def __init__(self, tools: Iterable[Tool] = (), *, profile: ToolProfile = "full") -> None:
        self.profile = profile
        self._tools: dict[str, Tool] = {}
        self._specs: tuple[ToolSpec, ...] | None = None  # derived once, until the set changes
        # Callable, but their schemas are not sent until loaded (MCP tools behind ToolSearch)
        self._deferred: set[str] = set()
        for tool in tools:
            self.register_tool(tool)

    def register_tool(self, tool: Tool, *, deferred: bool = False) -> None:
        """Add (or replace) a tool; takes effect from the next model request. A deferred
        tool can be called, but its schema is sent only once `load()` asks for it."""
        self._tools[tool.name] = tool
        if deferred:
            self._deferred.add(tool.name)
        else:
            self._deferred.discard(tool.name)
        self._specs = None

    def remove(self, name: str) -> None:
        """Take a tool out of the model's view; takes effect from the next model request."""
        self._deferred.discard(name)
        if self._tools.pop(name, None) is not None:
            self._specs = None

    def load(self, name: str) -> bool:
        """Send a deferred tool's schema from the next request on. It moves to the end of
        the list, so the requests' shared prefix (and the provider's cache of it) holds."""
        if name not in self._deferred:
            return False
        self._deferred.discard(name)
        self._tools[name] = self._tools.pop(name)
        self._specs = None
        return True

    @property
    def deferred(self) -> list[str]:
        return [name for name in self._tools if name in self._deferred]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """Sent with every request: schemas are derived once, not per turn."""
        if self._specs is None:
            self._specs = tuple(spec_of(t, self.profile) for t in self._tools.values()
                                if t.name not in self._deferred)
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


def builtin_tools(profile: ToolProfile = "full") -> list[Tool]:
    """The profile's built-in tools (compact: those in COMPACT), in the order the model sees them."""
    from nano_claude.extensions.memory import memory_tools
    from nano_claude.extensions.tasks import task_tools
    from nano_claude.tools.bash import BashTool
    from nano_claude.tools.diagnostics import GetDiagnosticsTool
    from nano_claude.tools.files import EditTool, WriteTool
    from nano_claude.tools.interact import AskUserQuestionTool, SleepTimerTool
    from nano_claude.tools.notebook import NotebookEditTool
    from nano_claude.tools.read import ReadTool
    from nano_claude.tools.search import GlobTool, GrepTool
    from nano_claude.tools.shells import BashOutputTool, KillShellTool
    from nano_claude.tools.web import WebFetchTool, WebSearchTool

    tools: list[Tool] = [
        ReadTool(), GlobTool(), GrepTool(), EditTool(), WriteTool(), NotebookEditTool(),
        BashTool(), BashOutputTool(), KillShellTool(), WebFetchTool(), WebSearchTool(),
        GetDiagnosticsTool(), AskUserQuestionTool(), SleepTimerTool(),
    ]
    if profile == "compact":
        return [t for t in tools if t.name in COMPACT]
    return [*tools, *task_tools(), *memory_tools()]
