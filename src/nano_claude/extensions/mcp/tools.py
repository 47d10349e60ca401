"""MCP tools as our tools: names, schemas the providers accept, results the model can use.

A server's tool `get_time` becomes `mcp__<server>__get_time`. Its schema is passed through,
but a root `anyOf`/`oneOf`/`allOf` (which OpenAI and Gemini refuse) is flattened into one
object, and a schema no provider would take is left out with the reason, for /mcp. A result
bigger than `mcp_max_output_tokens` is not an error: it goes to a file, and the model gets
its head, its size and the path to Read the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from nano_claude.core.compaction import CHARS_PER_TOKEN
from nano_claude.core.messages import ImageBlock, TextBlock
from nano_claude.tools.base import ToolContext, ToolError, ToolOutput

if TYPE_CHECKING:
    from nano_claude.extensions.mcp.connection import Connection

NAME_LIMIT = 64  # the providers' limit on a tool's name
DESCRIPTION_LIMIT = 2048
HEAD_SHARE = 0.2  # of the output limit, what the model sees of a result saved to a file
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def clean(text: str) -> str:
    return _UNSAFE.sub("_", text)


def tool_name(server: str, tool: str, taken: set[str]) -> str:
    """`mcp__server__tool`, at most 64 characters and unlike every name in `taken`."""
    full = f"mcp__{clean(server)}__{clean(tool)}"
    name = full
    if len(full) > NAME_LIMIT:
        digest = hashlib.sha1(full.encode()).hexdigest()[:8]
        name = f"{full[:NAME_LIMIT - 9]}_{digest}"
    n = 2
    while name in taken:
        tail = f"_{n}"
        name = f"{name[:NAME_LIMIT - len(tail)]}{tail}" if len(name) + len(tail) > NAME_LIMIT else name + tail
        n += 1
    return name


class SchemaRefused(Exception):
    """A tool's input schema that providers would reject; the reason says why."""


def provider_schema(schema: Any) -> dict[str, Any]:
    """The schema as providers take it: an object at the root, combinators flattened."""
    if not isinstance(schema, dict):
        raise SchemaRefused(f"its input schema is a {type(schema).__name__}, not a JSON object")
    try:
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise SchemaRefused(f"its input schema is not plain JSON ({exc})") from exc
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise SchemaRefused(f"its input schema is invalid: {exc.message}") from exc
    out = dict(schema)
    for key in ("allOf", "anyOf", "oneOf"):
        branches = out.pop(key, None)
        if branches is None:
            continue
        properties: dict[str, Any] = dict(out.get("properties") or {})
        required_sets: list[set[str]] = []
        for branch in branches if isinstance(branches, list) else ():
            if isinstance(branch, dict):
                properties.update(branch.get("properties") or {})
                required_sets.append(set(branch.get("required") or ()))
        required = set(out.get("required") or ())
        if required_sets:
            # allOf: every branch's required fields; anyOf/oneOf: only those all branches need
            shared = set.union(*required_sets) if key == "allOf" else set.intersection(*required_sets)
            required |= shared
        out["properties"] = properties
        if required:
            out["required"] = sorted(required)
    kind = out.get("type", "object")
    if kind != "object":
        raise SchemaRefused(f"its input schema is of type {kind!r}; tools take an object of arguments")
    out["type"] = "object"
    out.setdefault("properties", {})
    return out


class McpArguments(BaseModel):
    """Whatever the model passes: the server checks its own arguments."""

    model_config = ConfigDict(extra="allow")


@dataclass
class Limits:
    max_output_tokens: int = 25_000
    tool_timeout: float | None = None  # seconds; None: wait as long as it takes


class McpTool:
    input_model: ClassVar[type[BaseModel]] = McpArguments
    permission_kind: ClassVar[str] = "other"

    def __init__(self, conn: Connection, tool: Any, name: str, schema: dict[str, Any], *,
                 trust_read_only: bool, limits: Limits) -> None:
        self.conn = conn
        self.server_tool = tool.name
        self.name = name
        self.description = _description(tool, conn.name)
        self.input_schema = schema
        hints = getattr(tool, "annotations", None)
        marked = bool(hints is not None and getattr(hints, "read_only_hint", False))
        self.read_only_hint = marked
        self.read_only = marked and trust_read_only
        self.concurrency_safe = self.read_only
        self.limits = limits

    def summary(self, args: Any) -> str:
        shown = json.dumps(_arguments(args), ensure_ascii=False)
        return f"{self.conn.name} · {self.server_tool} {shown if len(shown) < 160 else shown[:157] + '…'}"

    async def run(self, args: Any, ctx: ToolContext) -> ToolOutput:
        own = self.conn.config.timeout_ms
        timeout = own / 1000 if own else self.limits.tool_timeout
        try:
            result = await self.conn.call("call_tool", self.server_tool, _arguments(args),
                                          read_timeout_seconds=timeout)
        except Exception as exc:  # the server said no, or is gone: the model hears why
            if timeout is not None and _timed_out(exc):
                raise ToolError(f"{self.name} did not answer within {timeout:g} s") from exc
            raise ToolError(f"{self.name} failed: {reason(exc)}") from exc
        return convert(result, ctx, self.limits.max_output_tokens, f"{self.conn.name}-{self.server_tool}")


def _arguments(args: Any) -> dict[str, Any]:
    return args.model_dump() if isinstance(args, BaseModel) else dict(args or {})


def _description(tool: Any, server: str) -> str:
    text = (getattr(tool, "description", None) or getattr(tool, "title", None) or "").strip()
    text = text or f"The {tool.name} tool of the MCP server {server}."
    return text if len(text) <= DESCRIPTION_LIMIT else text[:DESCRIPTION_LIMIT - 1] + "…"


def _timed_out(exc: BaseException) -> bool:
    """The SDK reports a call past its read timeout as an MCPError with REQUEST_TIMEOUT."""
    from mcp_types import REQUEST_TIMEOUT

    code = getattr(getattr(exc, "error", None), "code", None)
    return isinstance(exc, TimeoutError) or code == REQUEST_TIMEOUT


def reason(exc: BaseException, limit: int = 2000) -> str:
    """What a server said when it refused (an MCPError's message), else the exception, cut."""
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None) or str(exc) or type(exc).__name__
    return message.strip()[:limit]


# --- results -------------------------------------------------------------------------------

def convert(result: Any, ctx: ToolContext, max_tokens: int, label: str) -> ToolOutput:
    """A CallToolResult (or ReadResourceResult) as our blocks; text past the limit to a file."""
    blocks: list[TextBlock | ImageBlock] = []
    for item in getattr(result, "content", None) or getattr(result, "contents", None) or ():
        blocks.extend(_item(item, ctx))
    structured = getattr(result, "structured_content", None)
    if not blocks and structured is not None:
        blocks.append(TextBlock(json.dumps(structured, indent=2, ensure_ascii=False)))
    if not blocks:
        blocks.append(TextBlock("(no output)"))
    error = bool(getattr(result, "is_error", False))
    text = "\n".join(b.text for b in blocks if isinstance(b, TextBlock))
    if len(text) > max_tokens * CHARS_PER_TOKEN:
        blocks = [spill(text, ctx, max_tokens, label), *(b for b in blocks if isinstance(b, ImageBlock))]
    return ToolOutput(tuple(blocks), is_error=error)


def content_blocks(content: Any, ctx: ToolContext) -> list[TextBlock | ImageBlock]:
    """One MCP content block (or a list of them) as ours: a prompt's message, say."""
    items = content if isinstance(content, list | tuple) else [content]
    return [block for item in items for block in _item(item, ctx)]


def _item(item: Any, ctx: ToolContext) -> list[TextBlock | ImageBlock]:
    kind = getattr(item, "type", None)
    if kind == "text":
        return [TextBlock(item.text)]
    if kind == "image":
        return [_image(item.data, item.mime_type, ctx, "image")]
    if kind == "audio":
        return [TextBlock(f"[audio {item.mime_type}, {len(item.data) * 3 // 4:,} bytes, not shown]")]
    if kind == "resource_link":
        return [TextBlock(f"[resource {item.uri}{' · ' + item.name if item.name else ''}: "
                          "ReadMcpResource reads it]")]
    resource = getattr(item, "resource", None) if kind == "resource" else item
    text = getattr(resource, "text", None)
    uri = str(getattr(resource, "uri", ""))
    if text is not None:
        return [TextBlock(f"[resource {uri}]\n{text}" if kind == "resource" else text)]
    blob = getattr(resource, "blob", None)
    mime = getattr(resource, "mime_type", None) or "application/octet-stream"
    if blob is not None:
        if mime in IMAGE_TYPES:
            return [_image(blob, mime, ctx, f"resource {uri}")]
        size = len(blob) * 3 // 4
        return [TextBlock(f"[resource {uri}: {mime}, {size:,} bytes of binary data, not shown]")]
    return [TextBlock(f"[{kind or type(item).__name__} content, not shown]")]


def _image(data: str, mime: str, ctx: ToolContext, what: str) -> TextBlock | ImageBlock:
    """An image goes to the model only as what Read would send: valid base64 of a PNG, JPEG,
    GIF or WebP (its own bytes say which) within the size providers take. Anything else
    becomes a note: a broken image in the history would make every later request fail."""
    from nano_claude.tools.read import MAX_IMAGE_BYTES, image_type

    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, TypeError):
        return TextBlock(f"[{what}: {mime}, not valid base64 data; not shown]")
    if not ctx.images:
        return TextBlock(f"[{what}: {mime}, {len(raw):,} bytes; not shown, this model takes no images]")
    actual = image_type(raw)
    if actual is None:
        return TextBlock(f"[{what}: said to be {mime}, but its bytes are no PNG, JPEG, GIF or WebP; "
                         "not shown]")
    if len(raw) > MAX_IMAGE_BYTES:
        return TextBlock(f"[{what}: {actual}, {len(raw):,} bytes, more than the {MAX_IMAGE_BYTES:,} "
                         "bytes models take; not shown]")
    return ImageBlock(actual, data)


def spill(text: str, ctx: ToolContext, max_tokens: int, label: str) -> TextBlock:
    """Save a result too big for the conversation; the model gets its head and the path."""
    folder = ctx.output_dir or Path(tempfile.gettempdir()) / "nano_claude-tool-output"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:6]
    path = folder / f"{clean(label)}-{time.strftime('%Y%m%d-%H%M%S')}-{digest}.txt"
    path.write_text(text, encoding="utf-8")
    head_chars = int(max_tokens * HEAD_SHARE) * CHARS_PER_TOKEN
    head = text[:head_chars]
    lines = text.count("\n") + 1
    return TextBlock(
        f"{head}\n\n[The result is {len(text):,} characters (about {len(text) // CHARS_PER_TOKEN:,} tokens, "
        f"{lines:,} lines), more than the {max_tokens:,}-token limit for one MCP result (setting "
        f"mcp_max_output_tokens). Above is its first {len(head):,} characters; all of it is saved in "
        f"{path}: Read it with offset and limit, or Grep it, for the rest.]")


# --- resources -----------------------------------------------------------------------------

class ListResourcesInput(BaseModel):
    server: str | None = Field(None, description="only this server's resources")


class ReadResourceInput(BaseModel):
    server: str = Field(description="the MCP server's name")
    uri: str = Field(description="the resource's URI, as ListMcpResources gives it")


class ListMcpResourcesTool:
    name: ClassVar[str] = "ListMcpResources"
    description: ClassVar[str] = ("List the resources (files, records, documents) the connected MCP servers "
                                  "offer, with their URIs; ReadMcpResource reads one.")
    input_model: ClassVar[type[BaseModel]] = ListResourcesInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def __init__(self, servers: dict[str, Connection]) -> None:
        self.servers = servers

    def summary(self, args: ListResourcesInput) -> str:
        return args.server or "every server"

    async def run(self, args: ListResourcesInput, ctx: ToolContext) -> ToolOutput:
        if args.server is not None and args.server not in self.servers:
            raise ToolError(f"No MCP server {args.server!r}; servers: {', '.join(self.servers) or 'none'}")
        lines = []
        for name, conn in self.servers.items():
            if args.server in (None, name):
                for r in conn.lists.resources:
                    about = f" — {r.description}" if getattr(r, "description", None) else ""
                    lines.append(f"{name}  {r.uri}  {r.name}{about}")
        return ToolOutput.text("\n".join(lines) or "No resources.", summary=f"{len(lines)} resources")


class ReadMcpResourceTool:
    name: ClassVar[str] = "ReadMcpResource"
    description: ClassVar[str] = "Read one resource of an MCP server by its URI."
    input_model: ClassVar[type[BaseModel]] = ReadResourceInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = True

    def __init__(self, servers: dict[str, Connection], limits: Limits) -> None:
        self.servers = servers
        self.limits = limits

    def summary(self, args: ReadResourceInput) -> str:
        return f"{args.server} {args.uri}"

    async def run(self, args: ReadResourceInput, ctx: ToolContext) -> ToolOutput:
        conn = self.servers.get(args.server)
        if conn is None:
            raise ToolError(f"No MCP server {args.server!r}; servers: {', '.join(self.servers) or 'none'}")
        return await read_resource(conn, args.uri, ctx, self.limits)


async def read_resource(conn: Connection, uri: str, ctx: ToolContext, limits: Limits) -> ToolOutput:
    try:
        result = await conn.call("read_resource", uri)
    except Exception as exc:
        raise ToolError(f"{conn.name} could not read {uri}: {reason(exc)}") from exc
    return convert(result, ctx, limits.max_output_tokens, f"{conn.name}-resource")
