"""Every configured MCP server for one session: started in the background, their tools
kept in the agent's registry, the project's servers held back until the user trusts them.

The agent calls `before_request` before each model request: the first one waits for
servers still starting, at most `startup_wait` seconds (the REPL: 0, so the prompt and
the first answer never wait; headless: `mcp_startup_timeout`); every one brings the
registry up to date with what the servers offer now. Tools join at the end of the list
and leave when their server does, so a request's prefix stays what it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from nano_claude.core.compaction import CHARS_PER_TOKEN
from nano_claude.core.errors import NanoClaudeError
from nano_claude.extensions.mcp import config as mcp_config
from nano_claude.extensions.mcp.config import Found, ServerConfig
from nano_claude.extensions.mcp.connection import Connection
from nano_claude.extensions.mcp.tools import (
    Limits,
    ListMcpResourcesTool,
    McpTool,
    ReadMcpResourceTool,
    SchemaRefused,
    clean,
    provider_schema,
    tool_name,
)
from nano_claude.tools.base import ToolContext, ToolError, ToolOutput

if TYPE_CHECKING:
    from nano_claude.core.loop import Agent
    from nano_claude.paths import Paths
    from nano_claude.tools.registry import Registry

Trust = Literal["trusted", "approved", "pending", "denied"]


@dataclass(frozen=True)
class Options:
    startup_wait: float = 5.0  # how long the first request waits for servers still starting
    connect_timeout: float = 30.0
    defer_share: float = 0.1  # MCP schemas past this share of the window go behind ToolSearch
    trust_read_only: bool = False  # readOnlyHint tools run unasked in auto mode
    trust_project: bool = False  # a project's .mcp.json servers start without approval
    roots: tuple[Path, ...] = ()  # folders beside the project the servers may work on (--add-dir)
    limits: Limits = field(default_factory=Limits)


@dataclass
class ServerView:
    """One line of /mcp and `nano_claude mcp list`."""

    config: ServerConfig
    status: str  # connected | starting | failed | needs-auth | pending-approval | denied | stopped
    error: str = ""
    tools: list[str] = field(default_factory=list)  # as the model knows them
    left_out: dict[str, str] = field(default_factory=dict)  # server tool name -> why
    prompts: int = 0
    resources: int = 0
    log: Path | None = None


class McpManager:
    def __init__(self, found: Found, *, paths: Paths, project: Path, options: Options,
                 interactive: bool) -> None:
        self.found = found
        self.paths = paths
        self.project = project
        self.options = options
        self.interactive = interactive
        self.log_dir = paths.home / "logs" / "mcp"
        choices = mcp_config.choices(paths, project)
        self.trust: dict[str, Trust] = {}
        for server in found.servers.values():
            if server.scope != "project" or options.trust_project:
                self.trust[server.name] = "trusted"
            else:
                self.trust[server.name] = choices.decision(server)
        self.connections: dict[str, Connection] = {
            name: self._connection(server) for name, server in found.servers.items() if self._may_run(name)}
        self._started = False
        self._waited = False  # the first request has said which servers are not up
        self._settled = False  # the first request's wait for starting servers is over
        self._dirty = True
        self._stopping: set[asyncio.Task[None]] = set()
        # the servers whose resources the model and @server:uri may read (updated by sync)
        self.readable: dict[str, Connection] = {}
        self.rules: Any = None  # the permission rules (a RuleSet), for what deny rules hide
        self._registered: dict[str, McpTool] = {}
        self._left_out: dict[str, dict[str, str]] = {}
        self._loaded: set[str] = set()  # deferred tools ToolSearch has brought in
        self._denied: set[str] = set()  # tools a deny rule takes out of the model's view

    def _may_run(self, name: str) -> bool:
        return self.trust[name] in ("trusted", "approved")

    def _connection(self, server: ServerConfig) -> Connection:
        auth = None
        if server.transport != "stdio":  # stored OAuth tokens; the module is not imported for stdio
            from nano_claude.extensions.mcp import oauth

            auth = oauth.auth_for(server, self.paths)
        return Connection(server, project=self.project, log_dir=self.log_dir,
                          connect_timeout=self.options.connect_timeout, on_change=self._changed, auth=auth,
                          roots=self.options.roots)

    def _changed(self, _: Connection) -> None:
        self._dirty = True

    # --- what the user decides --------------------------------------------------------------

    @property
    def pending(self) -> list[ServerConfig]:
        """Project servers waiting for the user's approval."""
        return [self.found.servers[n] for n, t in self.trust.items() if t == "pending"]

    def decide(self, approve: Iterable[str], deny: Iterable[str]) -> str:
        """The user's answer about project servers: the approved ones start, and the answer
        is remembered; "" or why it could not be (it still holds for this session)."""
        approved = [self.found.servers[n] for n in approve if n in self.found.servers]
        denied = [n for n in deny if n in self.found.servers]
        try:
            mcp_config.remember(self.paths, self.project, approved, denied)
            unsaved = ""
        except (NanoClaudeError, OSError, AttributeError, TypeError) as exc:  # a broken mcp.json
            unsaved = (f"Your answer holds for this session but could not be saved in "
                       f"{mcp_config.user_file(self.paths)}: {exc}")
        for server in approved:
            self.trust[server.name] = "approved"
            old = self.connections.get(server.name)
            if old is not None and old.config == server:
                continue  # running already
            self.connections[server.name] = conn = self._connection(server)
            if old is not None:
                self._stop_later(old)
            if self._started:
                conn.start()
        for name in denied:
            self.trust[name] = "denied"
            conn = self.connections.pop(name, None)
            if conn is not None:
                self._stop_later(conn)
        self._dirty = True
        return unsaved

    def _stop_later(self, conn: Connection) -> None:
        """Stop a server in the background; the task is kept until it is done."""
        task = asyncio.get_running_loop().create_task(conn.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    # --- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start every runnable server in the background (idempotent; needs a running loop)."""
        if self._started:
            return
        self._started = True
        for conn in self.connections.values():
            conn.start()

    async def before_request(self, agent: Agent) -> list[str]:
        """Bring the agent's tools up to date; the first call waits for starting servers.
        Returns what the user should hear (servers that failed to start)."""
        self.start()
        notes: list[str] = []
        if not self._waited:
            self._waited = True
            await self.settle()
            for conn in self.connections.values():
                if conn.status in ("failed", "needs-auth"):
                    notes.append(f"MCP server {conn.name!r} is not available: {conn.error}")
                elif conn.status == "starting" and self.options.startup_wait > 0:
                    notes.append(f"MCP server {conn.name!r} is still starting after "
                                 f"{self.options.startup_wait:g} s; its tools join when it is up")
        if self._dirty:
            self.sync(agent.tools, agent.ctx, agent.model.context_window, agent.policy.rules)
        return notes

    async def settle(self) -> None:
        """Start the servers and give those still starting the first request's wait (an MCP
        prompt or resource in a -p prompt needs its server before the first request)."""
        self.start()
        if self._settled:
            return
        self._settled = True  # the wait is given once, whoever asks first
        waiting = [c for c in self.connections.values() if c.status == "starting"]
        if waiting and self.options.startup_wait > 0:
            await asyncio.gather(*(c.wait(self.options.startup_wait) for c in waiting))
        self.update_readable()

    def update_readable(self) -> None:
        """A deny rule on a whole server (mcp__srv, mcp__srv__*, mcp__*) hides its resources too."""
        def denied(name: str) -> bool:
            probes = (f"mcp__{clean(name)}", f"mcp__{clean(name)}__ReadMcpResource")
            return self.rules is not None and any(
                r.content is None for probe in probes for r in self.rules.of("deny", probe))
        self.readable.clear()
        self.readable.update((n, c) for n, c in self.connections.items() if not denied(n))

    async def reload(self, name: str | None = None) -> None:
        """Reconnect one server (or all), reading nothing new from the files."""
        for conn in list(self.connections.values()):
            if name in (None, conn.name):
                await conn.stop()
                conn.start()
        await asyncio.gather(*(c.wait(self.options.connect_timeout + 1) for c in self.connections.values()
                               if name in (None, c.name)))
        self._dirty = True

    async def add_server(self, server: ServerConfig) -> Trust:
        """A server configured during the session (/mcp add), or a new entry for one: it
        replaces the one of that name and starts at once if it may run; a project server
        waits for approval as at startup. Its tools join from the next request."""
        old = self.connections.pop(server.name, None)
        if old is not None:
            await old.stop()
        self.found.servers[server.name] = server
        if server.scope != "project" or self.options.trust_project:
            self.trust[server.name] = "trusted"
        else:
            self.trust[server.name] = mcp_config.choices(self.paths, self.project).decision(server)
        if self._may_run(server.name):
            self.connections[server.name] = conn = self._connection(server)
            if self._started:
                conn.start()
        self._dirty = True
        return self.trust[server.name]

    async def remove_server(self, name: str) -> None:
        """A server no file configures any more (/mcp remove): stopped, its tools gone from
        the next request."""
        conn = self.connections.pop(name, None)
        self.found.servers.pop(name, None)
        self.trust.pop(name, None)
        if conn is not None:
            await conn.stop()
        self._dirty = True

    async def aclose(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.connections.values()), *self._stopping,
                             return_exceptions=True)

    # --- the registry ------------------------------------------------------------------------

    def sync(self, registry: Registry, ctx: ToolContext, window: int, rules: Any = None) -> None:
        self._dirty = False
        wanted: dict[str, McpTool] = {}
        taken = {n for n in registry.names if n not in self._registered}
        self._left_out = {}
        self._denied = set()
        for conn in self.connections.values():
            if conn.status != "connected":
                continue
            left = self._left_out.setdefault(conn.name, {})
            for tool in conn.lists.tools:
                try:
                    schema = provider_schema(getattr(tool, "input_schema", None))
                except SchemaRefused as exc:
                    left[tool.name] = str(exc)
                    continue
                name = tool_name(conn.name, tool.name, taken)
                if rules is not None and any(r.content is None for r in rules.of("deny", name)):
                    self._denied.add(name)
                    left[tool.name] = "a deny rule covers it"
                    continue
                taken.add(name)
                wanted[name] = McpTool(conn, tool, name, schema, trust_read_only=self.options.trust_read_only,
                                       limits=self.options.limits)
        for name in set(self._registered) - set(wanted):
            registry.remove(name)
        defer = self._defer(wanted.values(), window)
        for name, tool in wanted.items():
            old = self._registered.get(name)
            hold = defer and name not in self._loaded and not tool.conn.config.always_load
            if old is None or _differs(old, tool) or (name in registry.deferred) != hold:
                registry.register_tool(tool, deferred=hold)
            else:
                wanted[name] = old  # the same tool: keep the object the registry has
        self._registered = wanted
        # ToolSearch lists every tool it can load, loaded ones too: its description (in the
        # requests' prefix) changes only when the servers' tools do
        self.rules = rules
        self.update_readable()
        self._sync_helpers(registry, [t for t in wanted.values() if defer and not t.conn.config.always_load])

    def _defer(self, tools: Iterable[McpTool], window: int) -> bool:
        share = self.options.defer_share
        if share >= 1:
            return False
        candidates = [t for t in tools if not t.conn.config.always_load]
        if not candidates:
            return False
        if share <= 0:
            return True
        size = sum(len(t.description) + len(json.dumps(t.input_schema)) + len(t.name) for t in candidates)
        return size / CHARS_PER_TOKEN > share * window

    def _sync_helpers(self, registry: Registry, deferred: list[McpTool]) -> None:
        connected = {n: c for n, c in self.readable.items() if c.status == "connected"}
        if any(c.lists.resources for c in connected.values()):
            if registry.get(ListMcpResourcesTool.name) is None:
                registry.register_tool(ListMcpResourcesTool(self.readable))
                registry.register_tool(ReadMcpResourceTool(self.readable, self.options.limits))
        else:
            registry.remove(ListMcpResourcesTool.name)
            registry.remove(ReadMcpResourceTool.name)
        if deferred:
            search = ToolSearchTool(registry, self, deferred)
            old = registry.get(ToolSearchTool.name)
            if old is None or getattr(old, "description", "") != search.description:
                registry.register_tool(search)
        else:
            registry.remove(ToolSearchTool.name)

    def loaded(self, names: Iterable[str]) -> None:
        self._loaded.update(names)

    # --- what /mcp and `nano_claude mcp list` show ----------------------------------------------

    def views(self) -> list[ServerView]:
        out = []
        for name, server in self.found.servers.items():
            trust = self.trust[name]
            conn = self.connections.get(name)
            if conn is None:
                status = "pending-approval" if trust == "pending" else "denied"
                out.append(ServerView(server, status))
                continue
            tools = [t for t, tool in self._registered.items() if tool.conn is conn]
            out.append(ServerView(server, conn.status if self._started else "stopped", conn.error, tools,
                                  dict(self._left_out.get(name, {})), len(conn.lists.prompts),
                                  len(conn.lists.resources),
                                  conn.log_path if server.transport == "stdio" else None))
        return out


def _differs(old: McpTool, new: McpTool) -> bool:
    return (old.conn is not new.conn or old.description != new.description
            or old.input_schema != new.input_schema or old.read_only != new.read_only)


# --- ToolSearch: schemas on demand -----------------------------------------------------------

class ToolSearchInput(BaseModel):
    query: str | None = Field(None, description="words to look for in the deferred tools' names and "
                                                "descriptions")
    names: list[str] | None = Field(None, description="exact names of deferred tools to load")


class ToolSearchTool:
    name: ClassVar[str] = "ToolSearch"
    input_model: ClassVar[type[BaseModel]] = ToolSearchInput
    read_only: ClassVar[bool] = True
    concurrency_safe: ClassVar[bool] = False  # it changes what the next request sends

    def __init__(self, registry: Registry, manager: McpManager, deferred: list[McpTool]) -> None:
        self.registry = registry
        self.manager = manager
        listing = "\n".join(f"- {t.name}: {_first_line(t.description)}" for t in deferred)
        self.description = (
            "Load the full definitions of MCP tools that are listed here by name only (to save "
            "context). Give exact `names`, or a `query` to match names and descriptions; the tools "
            f"found can be called from your next step on. Tools available this way:\n{listing}")

    def summary(self, args: ToolSearchInput) -> str:
        return ", ".join(args.names or ()) or (args.query or "")

    async def run(self, args: ToolSearchInput, ctx: ToolContext) -> ToolOutput:
        deferred = {n: self.registry.get(n) for n in self.registry.deferred}
        if args.names:
            unknown = [n for n in args.names if n not in deferred and self.registry.get(n) is None]
            if unknown:
                raise ToolError(f"No tool named {', '.join(unknown)}; the deferred tools are: "
                                f"{', '.join(deferred) or 'none'}")
            chosen = [n for n in args.names if n in deferred]
        elif args.query:
            words = args.query.lower().split()
            chosen = [n for n, t in deferred.items()
                      if all(w in f"{n} {getattr(t, 'description', '')}".lower() for w in words)]
            if not chosen:
                chosen = [n for n, t in deferred.items()
                          if any(w in f"{n} {getattr(t, 'description', '')}".lower() for w in words)]
        else:
            raise ToolError("Give `names` (exact tool names) or a `query`.")
        if not chosen:
            return ToolOutput.text(f"No deferred tool matches {args.query!r}. "
                                   f"They are: {', '.join(deferred)}")
        parts = []
        for name in chosen[:20]:
            tool = deferred[name]
            self.registry.load(name)
            parts.append(json.dumps({"name": name, "description": tool.description,  # type: ignore[union-attr]
                                     "input_schema": tool.input_schema}, ensure_ascii=False))  # type: ignore[union-attr]
        self.manager.loaded(chosen[:20])
        more = f"\n({len(chosen) - 20} more matched; ask for them by name)" if len(chosen) > 20 else ""
        return ToolOutput.text("Loaded; call them as usual from now on:\n" + "\n".join(parts) + more,
                               summary=f"loaded {min(len(chosen), 20)} tools")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 100 else line[:99] + "…"
