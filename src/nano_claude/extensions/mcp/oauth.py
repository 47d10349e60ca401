"""OAuth for remote (http/sse) MCP servers, through the `mcp` SDK's client flow.

Two halves, kept apart on purpose:

- `auth_for` gives a connection its `httpx2.Auth`: the stored access token on every request,
  refreshed first when it has expired, and refreshed once more (then the request sent again)
  when the server answers 401 to it. It never opens a browser or waits for anyone: without a
  usable token the request goes out as it is, the server's 401 stands, and the connection
  shows "needs-auth" (`refused` keeps that status for `connection.explain`, because the
  streamable HTTP transport turns a 401 into a bare JSON-RPC error).
- `login` is the interactive flow, the SDK's `OAuthClientProvider` driven by one request to
  the server: metadata discovery, dynamic client registration (or the client the entry's
  `"oauth": {"clientId", "callbackPort"}` names), PKCE, a callback page on localhost, the
  authorization URL opened in a browser and always shown, the code exchanged for tokens.

Tokens live in one JSON file per server under the user's data folder, mode 0600, named after
the server and a hash of its URL: a different server under the same name never gets them.
Tokens never appear in a message, a log line or /mcp.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
import webbrowser
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import httpx2

from nano_claude import __version__
from nano_claude.config import atomic_write
from nano_claude.core.errors import NanoClaudeError
from nano_claude.extensions.mcp.config import ServerConfig
from nano_claude.paths import Paths

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

LOGIN_TIMEOUT = 300.0  # how long login waits for the browser to come back
EXPIRY_MARGIN = 30.0  # a token this close to its expiry is refreshed before it is sent
CLIENT_NAME = "nano_claude"
_CONSOLE_BROWSERS = {"www-browser", "links", "links2", "elinks", "lynx", "w3m"}


class McpAuthError(NanoClaudeError):
    """A login that did not complete; the message says why in one line (never a token)."""


# --- where the tokens live ----------------------------------------------------------------------

def token_path(server: ServerConfig, paths: Paths) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", server.name)[:60] or "server"
    digest = hashlib.sha256(server.url.encode()).hexdigest()[:12]
    return paths.home / "mcp-auth" / f"{safe}-{digest}.json"


class TokenFile:
    """One server's tokens, client registration and discovered metadata, as JSON, 0600."""

    def __init__(self, server: ServerConfig, paths: Paths) -> None:
        self.path = token_path(server, paths)
        self.name = server.name
        self.url = server.url

    def read(self) -> dict[str, Any]:
        """What is stored for this server; {} when nothing (or nothing readable) is."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("url") == self.url else {}

    def version(self) -> tuple[int, int] | None:
        """Changes whenever the file is written (each write is a new file renamed into place)."""
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def update(self, **fields: Any) -> None:
        data = {**self.read(), **fields, "server": self.name, "url": self.url}
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(data, indent=2) + "\n", mode=0o600)

    def save_tokens(self, tokens: OAuthToken) -> None:
        expires_at = time.time() + int(tokens.expires_in) if tokens.expires_in else None
        self.update(tokens=tokens.model_dump(mode="json", exclude_none=True), expires_at=expires_at)

    def tokens(self, data: dict[str, Any] | None = None) -> tuple[OAuthToken | None, float | None]:
        """The stored tokens and when to stop using the access token (a margin before expiry)."""
        from mcp.shared.auth import OAuthToken

        data = self.read() if data is None else data
        try:
            tokens = OAuthToken.model_validate(data.get("tokens"))
        except ValueError:
            return None, None
        expires_at = data.get("expires_at")
        return tokens, _use_until(tokens, expires_at) if isinstance(expires_at, int | float) else None

    def client(self) -> OAuthClientInformationFull | None:
        from mcp.shared.auth import OAuthClientInformationFull

        return _model(OAuthClientInformationFull, self.read().get("client"))

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def _model(kind: Any, data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    try:
        return kind.model_validate(data)
    except ValueError:
        return None


# --- a connection's Auth: stored tokens, refreshed, never a browser -----------------------------

def auth_for(server: ServerConfig, paths: Paths) -> httpx2.Auth | None:
    """The Auth for a remote server's connection (None for stdio servers)."""
    if server.transport == "stdio":
        return None
    return StoredTokens(TokenFile(server, paths))


class StoredTokens(httpx2.Auth):
    """Sends the stored token; refreshes it when expired or refused (then retries once)."""

    def __init__(self, file: TokenFile) -> None:
        self.file = file
        self.refused: int | None = None  # 401/403 when the last request was refused
        self._context: OAuthContext | None = None
        self._version: tuple[int, int] | bool | None = False  # the file version loaded

    async def async_auth_flow(self, request: httpx2.Request
                              ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER

        ctx = self._ctx()
        self.refused = None
        async with ctx.lock:
            self._load(ctx)  # a login (here or in another process) writes a new file
            ctx.protocol_version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
            refreshed = False
            if ctx.current_tokens is not None and not ctx.is_token_valid() and ctx.can_refresh_token():
                refreshed = await self._refreshed(ctx, (yield _refresh_request(ctx)))
            if ctx.is_token_valid():
                _bearer(request, ctx)
            response = yield request
            if response.status_code == 401 and not refreshed and ctx.can_refresh_token():
                # Once: a second 401 stands. Sent again even when the refresh failed, so what
                # the transport sees is the server's own answer, not the token endpoint's
                if await self._refreshed(ctx, (yield _refresh_request(ctx))):
                    _bearer(request, ctx)
                else:
                    request.headers.pop("Authorization", None)
                response = yield request
            if response.status_code in (401, 403):
                self.refused = response.status_code

    def _ctx(self) -> OAuthContext:
        if self._context is None:
            from mcp.client.auth.oauth2 import OAuthContext
            from mcp.shared.auth import OAuthClientMetadata

            # The SDK's context for its helpers (expiry, resource indicator, client authentication);
            # the tokens come from the file, so it needs no storage and no redirect handlers
            metadata = OAuthClientMetadata(redirect_uris=None, client_name=CLIENT_NAME)
            self._context = OAuthContext(self.file.url, metadata, storage=None,  # type: ignore[arg-type]
                                         redirect_handler=None, callback_handler=None)
        return self._context

    def _load(self, ctx: OAuthContext) -> None:
        version = self.file.version()
        if version == self._version:
            return
        self._version = version
        from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, ProtectedResourceMetadata

        data = self.file.read()
        ctx.current_tokens, ctx.token_expiry_time = self.file.tokens(data)
        ctx.client_info = _model(OAuthClientInformationFull, data.get("client"))
        ctx.oauth_metadata = _model(OAuthMetadata, data.get("authorization_server"))
        ctx.protected_resource_metadata = _model(ProtectedResourceMetadata, data.get("resource"))

    async def _refreshed(self, ctx: OAuthContext, response: httpx2.Response) -> bool:
        """Take a refresh's answer: new tokens stored, or (refused) no tokens until a login."""
        from mcp.shared.auth import OAuthToken

        await response.aread()
        token = _model(OAuthToken, _json(response)) if response.status_code == 200 else None
        if token is None:
            ctx.clear_tokens()
            # Another nano_claude may have used the same refresh token first (servers rotate
            # them): what it stored then serves here too
            self._load(ctx)
            return ctx.is_token_valid()
        prior = ctx.current_tokens  # RFC 6749 §6: an unchanged scope or refresh token may be left out
        if prior is not None:
            token.scope = token.scope or prior.scope
            token.refresh_token = token.refresh_token or prior.refresh_token
        ctx.current_tokens = token
        lifetime = token.expires_in
        ctx.token_expiry_time = _use_until(token, time.time() + lifetime) if lifetime else None
        with contextlib.suppress(OSError):  # unsaved, the new token still serves this process
            self.file.save_tokens(token)
            self._version = self.file.version()
        return True


def _use_until(tokens: OAuthToken, expires_at: float) -> float:
    """When to stop sending an access token: a margin before it expires."""
    return float(expires_at) - min(EXPIRY_MARGIN, (tokens.expires_in or 0) / 4)


def _refresh_request(ctx: OAuthContext) -> httpx2.Request:
    """The token request the SDK's provider makes to refresh (its resource indicator and client
    authentication), for the endpoint the login discovered."""
    assert ctx.current_tokens is not None and ctx.current_tokens.refresh_token and ctx.client_info
    if ctx.oauth_metadata is not None:
        url = str(ctx.oauth_metadata.token_endpoint)
    else:
        url = ctx.get_authorization_base_url(ctx.server_url) + "/token"
    data = {"grant_type": "refresh_token", "refresh_token": ctx.current_tokens.refresh_token,
            "client_id": ctx.client_info.client_id}
    if ctx.should_include_resource_param(ctx.protocol_version):
        data["resource"] = ctx.get_resource_url()
    data, headers = ctx.prepare_token_auth(data, {"Content-Type": "application/x-www-form-urlencoded"})
    return httpx2.Request("POST", url, data=data, headers=headers)


def _bearer(request: httpx2.Request, ctx: OAuthContext) -> None:
    assert ctx.current_tokens is not None
    request.headers["Authorization"] = f"Bearer {ctx.current_tokens.access_token}"


def _json(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def logout(server: ServerConfig, paths: Paths) -> bool:
    """Forget the server's tokens and client registration; False when there were none."""
    return server.transport != "stdio" and TokenFile(server, paths).delete()


# --- login: the interactive flow ----------------------------------------------------------------

async def login(server: ServerConfig, paths: Paths, *, open_browser: bool,
                say: Callable[[str], None]) -> None:
    """Log in to a remote server and store its tokens. Cancelling (Ctrl+C) stops the wait."""
    if server.transport == "stdio":
        raise McpAuthError(f"MCP server {server.name!r} is a local command (stdio); only http and sse "
                           "servers log in")
    client_id, port = _preregistered(server)
    file = TokenFile(server, paths)
    stored = None if client_id else file.client()
    _quiet_sdk_logs()
    async with Callback(port or _port_of(stored), required=port is not None) as callback:
        client = _client(client_id, callback.redirect_uri, stored)
        storage = LoginStorage(file, client)
        provider = _provider(server, callback, storage, open_browser, say)
        try:
            async with httpx2.AsyncClient(auth=provider, headers=dict(server.headers),
                                          timeout=httpx2.Timeout(30.0)) as http:
                status = await _knock(http, server)
        except McpAuthError:
            raise
        except Exception as exc:
            raise McpAuthError(_why(server, exc)) from None
    if not storage.got_tokens:
        raise McpAuthError(f"MCP server {server.name!r} did not ask for authentication (it answered "
                           f"HTTP {status} without a token); there is nothing to log in to")
    if status in (401, 403):
        raise McpAuthError(f"MCP server {server.name!r} refused the new token (HTTP {status}); "
                           "check its scopes or the account you logged in with")
    ctx = provider.context  # what a refresh needs later: the client and the endpoints found
    file.update(client=_dump(ctx.client_info), authorization_server=_dump(ctx.oauth_metadata),
                resource=_dump(ctx.protected_resource_metadata))
    say(f"Logged in to MCP server {server.name!r}; its tokens are kept in {file.path} (readable by you only)")


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None


def _preregistered(server: ServerConfig) -> tuple[str | None, int | None]:
    """The entry's `"oauth": {"clientId", "callbackPort"}`, checked."""
    options = server.raw.get("oauth")
    if options is None:
        return None, None
    where = f"{server.source}: MCP server {server.name!r}: \"oauth\""
    if not isinstance(options, dict):
        raise McpAuthError(f"{where} must be an object like "
                           "{\"clientId\": \"...\", \"callbackPort\": 8080}")
    client_id, port = options.get("clientId"), options.get("callbackPort")
    if client_id is not None and (not isinstance(client_id, str) or not client_id.strip()):
        raise McpAuthError(f"{where}: \"clientId\" must be the client id the authorization server gave you")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536):
        raise McpAuthError(f"{where}: \"callbackPort\" must be a port number (1-65535)")
    return client_id, port


def _port_of(client: OAuthClientInformationFull | None) -> int | None:
    """The callback port a stored registration was made for: reusing it keeps the registration."""
    for uri in (client.redirect_uris or []) if client else []:
        if uri.host == "localhost" and uri.port:
            return uri.port
    return None


def _client(client_id: str | None, redirect_uri: str, stored: OAuthClientInformationFull | None
            ) -> OAuthClientInformationFull | None:
    """The client to log in as: the pre-registered one, a stored registration for this very
    redirect address, or None (the flow registers one)."""
    from mcp.shared.auth import OAuthClientInformationFull

    if client_id:
        return OAuthClientInformationFull(client_id=client_id, redirect_uris=[redirect_uri],
                                          token_endpoint_auth_method="none", client_name=CLIENT_NAME)
    if stored is not None and redirect_uri in [str(u) for u in stored.redirect_uris or []]:
        return stored
    return None


class LoginStorage:
    """The SDK's `TokenStorage` for a login: no old tokens (a login always asks afresh), the
    registration to reuse, and every answer written to the server's token file."""

    def __init__(self, file: TokenFile, client: OAuthClientInformationFull | None) -> None:
        self.file = file
        self.client = client
        self.got_tokens = False

    async def get_tokens(self) -> OAuthToken | None:
        return None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.file.save_tokens(tokens)
        self.got_tokens = True

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info
        self.file.update(client=_dump(client_info))  # kept even if the login fails: the next reuses it


def _provider(server: ServerConfig, callback: Callback, storage: LoginStorage, open_browser: bool,
              say: Callable[[str], None]) -> Any:
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    async def redirect(url: str) -> None:
        callback.expect(parse_qs(urlparse(url).query).get("state", [""])[0])
        if open_browser and await _open(url):
            say(f"Opened your browser to log in to MCP server {server.name!r}; if it did not open, visit:")
        else:
            say(f"To log in to MCP server {server.name!r}, open this address in a browser:")
        say(url)
        say(f"Waiting for the browser to come back to {callback.redirect_uri} "
            f"(up to {LOGIN_TIMEOUT / 60:g} minutes; Ctrl+C cancels)")

    metadata = OAuthClientMetadata(redirect_uris=[callback.redirect_uri], client_name=CLIENT_NAME,
                                   grant_types=["authorization_code", "refresh_token"],
                                   software_id="nano-claude-code", software_version=__version__)
    return OAuthClientProvider(server.url, metadata, storage, redirect_handler=redirect,
                               callback_handler=lambda: callback.result(LOGIN_TIMEOUT))


async def _knock(http: httpx2.AsyncClient, server: ServerConfig) -> int:
    """Ask the server what a connection would (its 401 starts the provider's flow); the status
    of the answer, once the flow has run."""
    if server.transport == "sse":
        async with http.stream("GET", server.url, headers={"Accept": "text/event-stream"}) as response:
            return response.status_code
    from mcp_types import LATEST_PROTOCOL_VERSION

    hello = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": LATEST_PROTOCOL_VERSION, "capabilities": {},
                        "clientInfo": {"name": CLIENT_NAME, "version": __version__}}}
    async with http.stream("POST", server.url, json=hello,
                           headers={"Accept": "application/json, text/event-stream"}) as response:
        status, session = response.status_code, response.headers.get("mcp-session-id")
    if session:  # do not leave the session the knock opened
        with contextlib.suppress(httpx2.HTTPError):
            await http.delete(server.url, headers={"mcp-session-id": session})
    return status


def _why(server: ServerConfig, exc: BaseException) -> str:
    from mcp.client.auth import OAuthFlowError, OAuthRegistrationError, OAuthTokenError

    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    name = f"MCP server {server.name!r}"
    if isinstance(exc, OAuthRegistrationError):
        return (f"{name}: the authorization server did not register nano_claude as a client ({text}); "
                "if it needs a pre-registered client, add \"oauth\": {\"clientId\": \"...\"} to the entry")
    if isinstance(exc, OAuthTokenError):
        return f"{name}: the authorization server did not give a token ({text})"
    if isinstance(exc, OAuthFlowError):
        return f"{name}: login failed ({text})"
    if isinstance(exc, httpx2.HTTPError):
        return f"{name}: cannot reach {server.url} ({type(exc).__name__}: {text})"
    if isinstance(exc, ValueError):  # metadata that does not parse
        return f"{name}: the server's OAuth metadata is not usable ({type(exc).__name__})"
    return f"{name}: login failed ({type(exc).__name__}: {text})"


def _quiet_sdk_logs() -> None:
    """The SDK logs a failed flow with a traceback; with no logging set up that would reach the
    terminal through Python's last-resort handler. Our error says it in one line instead."""
    import logging

    log = logging.getLogger("mcp.client.auth")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())  # handlers the user set up still get the records


async def _open(url: str) -> bool:
    """Open `url` in a graphical browser; False when there is none (a console browser would take
    over this terminal, so it is not used)."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if type(browser) is webbrowser.GenericBrowser and os.path.basename(browser.name) in _CONSOLE_BROWSERS:
        return False
    try:
        return bool(await asyncio.wait_for(asyncio.to_thread(browser.open, url), 5))
    except (asyncio.TimeoutError, OSError, webbrowser.Error):
        return False


# --- the page the browser comes back to ---------------------------------------------------------

class Callback:
    """A one-page HTTP server on localhost that takes the authorization server's redirect."""

    def __init__(self, port: int | None, *, required: bool) -> None:
        self.port = port
        self.required = required
        self.redirect_uri = ""
        self._state: str | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._answer: asyncio.Future[AuthorizationCodeResult] | None = None

    async def __aenter__(self) -> Callback:
        self._answer = asyncio.get_running_loop().create_future()
        try:
            self._servers.append(await asyncio.start_server(self._serve, "127.0.0.1", self.port or 0))
        except OSError as exc:
            if self.required:
                raise McpAuthError(f"cannot listen on localhost port {self.port} for the login callback "
                                   f"({exc.strerror or exc}); free it or change \"oauth\".\"callbackPort\""
                                   ) from None
            self._servers.append(await asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._servers[0].sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):  # a browser may resolve localhost to ::1 first
            self._servers.append(await asyncio.start_server(self._serve, "::1", self.port))
        self.redirect_uri = f"http://localhost:{self.port}/callback"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def expect(self, state: str) -> None:
        self._state = state

    async def result(self, timeout: float) -> AuthorizationCodeResult:
        assert self._answer is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._answer), timeout)
        except asyncio.TimeoutError:
            raise McpAuthError(f"the browser did not come back within {timeout / 60:g} minutes; "
                               "run the login again") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, page = self._take(await asyncio.wait_for(_request_target(reader), 10))
        except (asyncio.TimeoutError, OSError, ValueError):
            status, page = 400, "Bad request."
        body = (f"<!doctype html><meta charset=utf-8><title>nano_claude</title>"
                f"<p style='font-family:sans-serif'>{page}</p>").encode()
        writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                     f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(writer.drain(), 5)
        writer.close()

    def _take(self, target: str) -> tuple[int, str]:
        """The redirect's answer, if it is the one we wait for."""
        from mcp.shared.auth import AuthorizationCodeResult

        url = urlparse(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path != "/callback":
            return 404, "Not found."
        if self._answer is None or self._answer.done() or self._state is None \
                or query.get("state") != self._state:
            return 400, "This is not the login nano_claude is waiting for; start it again from nano_claude."
        if "error" in query:
            detail = query.get("error_description")
            reason = query["error"] + (f": {detail}" if detail else "")
            self._answer.set_exception(McpAuthError(f"the authorization server refused the login "
                                                    f"({reason[:200]})"))
            return 400, "Login failed. You can close this tab and look at nano_claude."
        if not query.get("code"):
            return 400, "The answer has no authorization code."
        self._answer.set_result(AuthorizationCodeResult(code=query["code"], state=query["state"],
                                                        iss=query.get("iss")))
        return 200, "Logged in. You can close this tab and go back to nano_claude."


async def _request_target(reader: asyncio.StreamReader) -> str:
    """The target of an HTTP request line (the headers are read and ignored)."""
    line = (await reader.readline()).decode("latin-1").split()
    if len(line) < 3 or line[0] != "GET":
        raise ValueError("not a GET request")
    for _ in range(100):
        if (await reader.readline()) in (b"\r\n", b"\n", b""):
            break
    return line[1]
