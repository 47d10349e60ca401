"""An OAuth-protected MCP server on 127.0.0.1, built from the `mcp` SDK's own server pieces:
an authorization server (metadata, dynamic registration, an /authorize that consents at once
and redirects back with a code, /token for authorization_code + PKCE and refresh_token) and
the protected resource (its metadata, and MCP over streamable HTTP or SSE that answers 401
without a valid bearer token). It runs in a thread of the test process, with uvicorn.

The test can make the server forget tokens (`expire_access_tokens`, `revoke_all`) and see
what the client did (`registrations`, `refreshes`, `codes_issued`, `refused`).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

SECRET_WORD = "swordfish-7431"


class AutoConsent:
    """An `OAuthAuthorizationServerProvider` that keeps everything in memory and never asks."""

    def __init__(self, token_lifetime: int) -> None:
        self.token_lifetime = token_lifetime
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.registrations = 0
        self.refreshes = 0
        self.codes_issued = 0
        self.refused = 0  # bearer tokens the resource did not accept
        self._lock = threading.Lock()

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        with self._lock:
            self.clients[client_info.client_id or ""] = client_info
            self.registrations += 1

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = AuthorizationCode(
                code=code, scopes=params.scopes or [], expires_at=time.time() + 300,
                client_id=client.client_id or "", code_challenge=params.code_challenge,
                redirect_uri=params.redirect_uri,
                redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                resource=params.resource)
            self.codes_issued += 1
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull,
                                      authorization_code: str) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: AuthorizationCode) -> OAuthToken:
        with self._lock:
            self.codes.pop(authorization_code.code, None)
        return self._issue(client.client_id or "", authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull,
                                 refresh_token: str) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        with self._lock:
            if self.refresh.pop(refresh_token.token, None) is None:
                raise TokenError("invalid_grant", "refresh token revoked")
            self.refreshes += 1
        return self._issue(client.client_id or "", scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            with self._lock:
                self.refused += 1
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        with self._lock:
            self.access.pop(token.token, None)
            self.refresh.pop(token.token, None)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = f"at-{secrets.token_urlsafe(24)}", f"rt-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.access[access] = AccessToken(token=access, client_id=client_id, scopes=scopes,
                                              expires_at=int(time.time()) + self.token_lifetime,
                                              resource=resource)
            self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes,
                                                 resource=resource)
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=self.token_lifetime,
                          refresh_token=refresh, scope=" ".join(scopes) or None)

    # --- what the test does to the server --------------------------------------------------

    def expire_access_tokens(self) -> None:
        """The server forgets every access token (refresh tokens still work)."""
        with self._lock:
            self.access.clear()

    def revoke_all(self) -> None:
        """Every token the server issued stops working, refresh tokens included."""
        with self._lock:
            self.access.clear()
            self.refresh.clear()


class OAuthMcpServer:
    def __init__(self, transport: Literal["http", "sse"] = "http", token_lifetime: int = 3600) -> None:
        self.transport = transport
        self.provider = AutoConsent(token_lifetime)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """What a client's config names."""
        return f"{self.base}/mcp" if self.transport == "http" else f"{self.base}/sse"

    def _app(self):
        from mcp.server.mcpserver import MCPServer

        auth = AuthSettings(issuer_url=self.base, resource_server_url=self.url,
                            validate_token_resource=False,
                            client_registration_options=ClientRegistrationOptions(enabled=True),
                            revocation_options=RevocationOptions(enabled=True))
        server = MCPServer("secure", auth_server_provider=self.provider, auth=auth, log_level="WARNING")

        @server.tool(description="The word only an authenticated client may know.")
        def secret_word() -> str:
            return SECRET_WORD

        if self.transport == "http":
            return server.streamable_http_app()
        return server.sse_app()

    @contextmanager
    def running(self) -> Iterator[OAuthMcpServer]:
        import uvicorn

        self._server = server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning",
                                                              lifespan="on"))
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[self._sock])),
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the OAuth MCP server did not start")
            time.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            self._thread.join(10)
            self._sock.close()
