"""One MCP server, kept connected in a task of its own.

The SDK's transports are anyio task groups: they must be entered and left in one task.
So each server lives in its own task, which connects, fetches the server's lists, and
waits until it is stopped; calls come from other tasks through the connected client.

Failure is a state, never an exception out of here: a server that cannot start, hangs,
crashes or refuses us says why in `error`, and the other servers do not notice. A stdio
server that died is started again once when its tools are next called; a remote server
that drops is reconnected with backoff (1, 2, 4, 8, 16 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nano_claude import __version__
from nano_claude.extensions.mcp.config import ServerConfig

if TYPE_CHECKING:
    from mcp import Client

Status = Literal["starting", "connected", "failed", "needs-auth", "stopped"]
RECONNECT_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)
LOG_LIMIT = 1 << 20  # a server's log starts over past 1 MiB
PAGE_CAP = 50  # pages of a list we follow before we stop asking (a paginator that never ends)
REFRESH_WAIT = 2.0  # seconds a call waits for the list refresh its own notification started


SDK_MODULES = ("mcp", "mcp.client.stdio", "mcp.client.sse", "mcp.client.streamable_http",
               "mcp.shared._httpx_utils", "mcp_types.version")


def preload(*, background: bool) -> None:
    """Import the SDK (about 0.6-0.9 s) before a connection needs it: in a thread, beside the
    rest of a headless run's setup, or here and now in the REPL's builder thread, so the
    prompt's event loop never stalls on the import when the servers start."""
    import importlib

    def load() -> None:
        import logging

        # The SDK logs a server's stray stdout line, with a traceback, to the terminal;
        # what a server does is in its log file, never on the screen
        sdk = logging.getLogger("mcp")
        sdk.addHandler(logging.NullHandler())
        sdk.propagate = False
        for module in SDK_MODULES:
            importlib.import_module(module)

    if not background:
        load()
        return
    import threading

    threading.Thread(target=load, name="mcp-preload", daemon=True).start()


async def loaded() -> None:
    """The SDK, imported off the event loop: a prompt or a run's other servers never stall on
    it (it waits there for the preload thread, if that is still at it)."""
    import functools
    import sys

    if any(module not in sys.modules for module in SDK_MODULES):
        await asyncio.get_running_loop().run_in_executor(None, functools.partial(preload, background=False))


class ServerGone(Exception):
    """The server is not there to answer (never started, crashed, dropped)."""


@dataclass
class Lists:
    """What a server offers, as it last told us."""

    tools: tuple[Any, ...] = ()  # mcp_types.Tool
    prompts: tuple[Any, ...] = ()  # mcp_types.Prompt
    resources: tuple[Any, ...] = ()  # mcp_types.Resource
    instructions: str = ""


class Connection:
    def __init__(self, config: ServerConfig, *, project: Path, log_dir: Path, connect_timeout: float,
                 on_change: Callable[[Connection], None] = lambda _: None, auth: Any = None,
                 roots: tuple[Path, ...] = ()) -> None:
        self.config = config
        self.project = project
        self.roots = (project, *roots)  # what the server may work on (`roots/list`; mcp-server-git uses it)
        self.log_path = log_dir / f"{_file_name(config.name)}.log"
        self.connect_timeout = connect_timeout
        self.on_change = on_change  # the lists changed, or the status did
        self.auth = auth  # an httpx2.Auth for remote servers (OAuth), or None
        self.status: Status = "stopped"
        self.error = ""
        self.lists = Lists()
        self.started_at = 0.0
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._up = asyncio.Event()
        self._timed_out = False  # the watchdog cancelled a start that took too long
        self._restarted = False  # a crashed stdio server gets one restart per crash
        self._refreshes: set[asyncio.Task[None]] = set()  # list refreshes under way

    @property
    def name(self) -> str:
        return self.config.name

    # --- life ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is not None and not self._task.done():
            return
        self._stop = asyncio.Event()
        self._up = asyncio.Event()
        self._set("starting", "")
        self.started_at = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._life(), name=f"mcp:{self.name}")

    async def wait(self, timeout: float) -> bool:
        """Wait until it is connected or has failed, at most `timeout` s; True when settled."""
        if self._task is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._up.wait()), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        # A connected server leaves by itself (its stdin closes); one still starting is
        # cancelled, once only: a second cancel would cut the SDK's shielded shutdown short
        # and leave the server's processes behind. Never wait on it for ever.
        if self._up.is_set() and not self._timed_out:
            await asyncio.wait({task}, timeout=5.0)
        if not task.done() and not self._timed_out:
            task.cancel()
        await asyncio.wait({task}, timeout=10.0)
        self._set("stopped", "")

    async def restart(self) -> None:
        await self.stop()
        self.start()
        await self.wait(self.connect_timeout + 1)

    async def _life(self) -> None:
        """Connect and stay connected until stopped; remote servers come back after a drop."""
        tries = 0  # reconnections since the last time it was connected
        while True:
            connected = await self._session()
            if self._stop.is_set() or self.config.transport == "stdio" or self.status == "needs-auth":
                return
            if connected:
                tries = 0
            if tries >= len(RECONNECT_DELAYS):
                return
            delay = RECONNECT_DELAYS[tries]
            tries += 1
            self.error = f"{self.error}; reconnecting in {delay:g} s" if self.error else ""
            self.on_change(self)
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return  # stopped while waiting
            except asyncio.TimeoutError:
                self._set("starting", self.error)

    async def _session(self) -> bool:
        """One connection, from start to end. True if it got connected at all. The connect
        timeout runs from here: loading the SDK counts, as the user waits for it too."""
        connected = False
        watchdog = asyncio.get_running_loop().call_later(self.connect_timeout, self._too_slow)
        self._timed_out = False
        try:
            await loaded()
            from mcp import Client
            from mcp_types import Implementation

            with self._errlog() as errlog:
                client = Client(self._transport(errlog), mode="auto", cache=None,
                                message_handler=self._on_message, list_roots_callback=self._list_roots,
                                client_info=Implementation(name="nano_claude", version=__version__))
                async with client:
                    self._client = client
                    self.lists = await self._fetch(client, Lists(instructions=client.instructions or ""))
                    watchdog.cancel()
                    connected = True
                    self._restarted = False
                    self._set("connected", "")
                    self._up.set()
                    async with _listening(client, self._refresh_soon):
                        await self._stop.wait()
        except asyncio.CancelledError:
            if not self._timed_out:
                raise
            self._set("failed", f"did not answer within {self.connect_timeout:g} s "
                                f"(log: {self.log_path})")
        except BaseException as exc:  # a transport failure arrives as an ExceptionGroup
            if not self._stop.is_set():
                status, why = explain(exc, self)
                self._set(status, why if not connected else f"connection lost: {why}")
        finally:
            watchdog.cancel()
            self._client = None
            self._up.set()
        if not connected and self.status == "starting":
            self._set("failed", "the server closed the connection before it answered "
                                f"(log: {self.log_path})")
        elif connected and not self._stop.is_set() and self.status == "connected":
            self._set("failed", f"the server went away (log: {self.log_path})")
        return connected

    def _too_slow(self) -> None:
        if self._task is not None and not self._up.is_set():
            self._timed_out = True
            # said now: the SDK's shutdown of the server (shielded, up to a few seconds) comes after
            self._set("failed", f"did not answer within {self.connect_timeout:g} s (log: {self.log_path})")
            self._up.set()
            self._task.cancel()

    def _transport(self, errlog: Any) -> Any:
        config = self.config
        if config.transport == "stdio":
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            env = {"NANO_CLAUDE_PROJECT_DIR": str(self.project), "CLAUDE_PROJECT_DIR": str(self.project),
                   **dict(config.env)}
            cwd = Path(config.cwd).expanduser() if config.cwd else self.project
            if not cwd.is_absolute():
                cwd = self.project / cwd
            if not cwd.is_dir():
                raise NotADirectoryError(f"its \"cwd\" {cwd} is not a folder; fix the entry")
            params = StdioServerParameters(command=config.command, args=list(config.args), env=env, cwd=cwd)
            return stdio_client(params, errlog=errlog)
        headers = dict(config.headers)
        if config.transport == "sse":
            from mcp.client.sse import sse_client

            return sse_client(config.url, headers=headers, timeout=self.connect_timeout, auth=self.auth)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        return streamable_http_client(config.url, http_client=create_mcp_http_client(headers, auth=self.auth))

    @contextlib.contextmanager
    def _errlog(self):
        """The server's stderr goes to its log file, never to the screen."""
        if self.config.transport != "stdio":
            yield None
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size > LOG_LIMIT:
                self.log_path.unlink()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {self.config.target}\n")
            log.flush()
            yield log

    def _set(self, status: Status, error: str) -> None:
        changed = (status, error) != (self.status, self.error)
        self.status, self.error = status, error
        if changed:
            self.on_change(self)

    # --- lists ----------------------------------------------------------------------------

    async def _fetch(self, client: Client, old: Lists,
                     kinds: tuple[str, ...] = ("tools", "prompts", "resources")) -> Lists:
        """The server's tools, prompts and resources (those its capabilities offer)."""
        caps = client.server_capabilities
        found = {"tools": old.tools, "prompts": old.prompts, "resources": old.resources}
        for kind in kinds:
            if getattr(caps, kind, None) is None:
                found[kind] = ()
                continue
            lister = getattr(client, f"list_{kind}")
            items: list[Any] = []
            cursor = None
            try:
                for _ in range(PAGE_CAP):
                    page = await lister(cursor=cursor)
                    items.extend(getattr(page, kind))
                    cursor = page.next_cursor
                    if not cursor:
                        break
            except Exception:
                if kind == "tools":
                    raise
                items = []  # prompts or resources it offers but cannot list: its tools still count
            found[kind] = tuple(items)
        return Lists(found["tools"], found["prompts"], found["resources"], old.instructions)

    async def _refresh(self, kind: str) -> None:
        """A list changed on the server: fetch it again; a failed refresh keeps the old list."""
        client = self._client
        if client is None:
            return
        try:
            self.lists = await self._fetch(client, self.lists, (kind,))
        except Exception as exc:
            self.error = f"refreshing its {kind} failed ({_short(exc)}); the previous list is kept"
        self.on_change(self)

    async def _list_roots(self, context: Any) -> Any:
        from mcp_types import ListRootsResult, Root

        return ListRootsResult(roots=[Root(uri=r.as_uri(), name=r.name or str(r)) for r in self.roots])

    async def _on_message(self, message: Any) -> None:
        method = getattr(message, "method", "")
        kind = {"notifications/tools/list_changed": "tools",
                "notifications/prompts/list_changed": "prompts",
                "notifications/resources/list_changed": "resources"}.get(method)
        if kind is not None:
            self._refresh_soon(kind)

    def _refresh_soon(self, kind: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._refresh(kind))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)
        return task

    async def _settle(self) -> None:
        """Let the list refreshes a call's own notifications started finish, so a tool that
        adds tools returns once the model can see them (the next request is sent at once)."""
        await asyncio.sleep(0)  # a notification delivered with the result starts its refresh
        pending = [t for t in self._refreshes if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=REFRESH_WAIT)

    # --- calls ------------------------------------------------------------------------------

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`client.<method>(...)`; a stdio server that died is started again once first."""
        client = self._client
        if client is None and self.config.transport == "stdio" and not self._restarted:
            self._restarted = True
            await self.restart()
            client = self._client
        if client is None:
            raise ServerGone(f"MCP server {self.name!r} is not connected ({self.status}"
                             f"{': ' + self.error if self.error else ''})")
        try:
            result = await getattr(client, method)(*args, **kwargs)
            await self._settle()
            return result
        except Exception as exc:
            if self._client is client and not _closed(exc):
                raise
            self._set("failed", f"the server went away (log: {self.log_path})")
        # The connection broke under the call: once more on a fresh one, if stdio may restart
        if self.config.transport == "stdio" and not self._restarted:
            self._restarted = True
            await self.restart()
            if self._client is not None:
                return await getattr(self._client, method)(*args, **kwargs)
        raise ServerGone(f"MCP server {self.name!r} went away during the call ({self.error or self.status})")


@contextlib.asynccontextmanager
async def _listening(client: Client, refresh: Callable[[str], Any]):
    """On 2026-era connections list changes come through a subscription, not notifications."""
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        yield
        return
    caps = client.server_capabilities
    wanted = {f"{kind}_list_changed": bool(getattr(getattr(caps, kind, None), "list_changed", False))
              for kind in ("tools", "prompts", "resources")}
    if not any(wanted.values()):
        yield
        return

    async def listen() -> None:
        with contextlib.suppress(Exception):
            async with client.listen(**wanted) as subscription:
                async for event in subscription:
                    kind = type(event).__name__.removesuffix("ListChanged").lower()
                    if kind in ("tools", "prompts", "resources"):
                        await refresh(kind)

    task = asyncio.get_running_loop().create_task(listen())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def explain(exc: BaseException, conn: Connection) -> tuple[Status, str]:
    """A failure in one line a user can act on."""
    leaves = list(_leaves(exc))
    refused = getattr(conn.auth, "refused", None)  # streamable HTTP hides a 401 in a JSON-RPC error
    for leaf in leaves:
        status = getattr(getattr(leaf, "response", None), "status_code", None) or refused
        if status in (401, 403):
            return "needs-auth", (f"needs authentication (HTTP {status}): run /mcp login {conn.name} "
                                  f"or nano_claude mcp login {conn.name}")
        if isinstance(leaf, FileNotFoundError | PermissionError) and conn.config.transport == "stdio":
            why = "not found" if isinstance(leaf, FileNotFoundError) else "permission denied"
            return "failed", f"cannot run {conn.config.command!r}: {why}; check \"command\" (and PATH)"
    if conn.config.transport == "stdio" and _closed(exc):  # it exited: its log says why
        when = " before it answered" if conn.status == "starting" else ""
        return "failed", f"the server closed the connection{when} (log: {conn.log_path})"
    leaf = leaves[0] if leaves else exc
    where = f" (log: {conn.log_path})" if conn.config.transport == "stdio" else ""
    return "failed", f"{_short(leaf)}{where}"


def _leaves(exc: BaseException):
    inner_ones = getattr(exc, "exceptions", None)  # an ExceptionGroup (3.10: the backport's)
    if isinstance(inner_ones, list | tuple):
        for inner in inner_ones:
            yield from _leaves(inner)
    elif not isinstance(exc, asyncio.CancelledError):
        yield exc


_QUERY = re.compile(r"(https?://[^\s'\"?#]*)[?#][^\s'\"]*")


def _short(exc: BaseException) -> str:
    """An error in one line, URLs without their query (where keys often ride)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = _QUERY.sub(r"\1?…", text)
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def _closed(exc: BaseException) -> bool:
    """Did the call fail because the connection is gone (not because the server said no)?"""
    from mcp_types import CONNECTION_CLOSED

    leaves = list(_leaves(exc))
    names = {type(leaf).__name__ for leaf in leaves}
    return bool(names & {"ClosedResourceError", "BrokenResourceError", "EndOfStream", "ConnectError",
                         "RemoteProtocolError", "ReadError"}) or any(
        getattr(leaf, "code", None) == CONNECTION_CLOSED for leaf in leaves)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "server"
