"""OAuth for remote MCP servers, against a real OAuth-protected MCP server on 127.0.0.1
(tests/fakes/mcp_oauth_server.py: the SDK's authorization server and resource pieces).

The "browser" is the test: it takes the address `login` shows and follows it with httpx, as a
browser would, through the authorization server's redirect to the localhost callback. Runs
go through the real CLI against the fake model server.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from nano_claude.extensions.mcp import config as mcp_config
from nano_claude.extensions.mcp import oauth
from nano_claude.extensions.mcp.config import ServerConfig
from nano_claude.paths import Paths
from tests.conftest import Cli, CliResult
from tests.fakes.mcp_oauth_server import SECRET_WORD, OAuthMcpServer
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import mcp_tools, remote, result, run, write

TOOL = "mcp__secure__secret_word"


@pytest.fixture
def secure() -> Iterator[OAuthMcpServer]:
    with OAuthMcpServer("http").running() as server:
        yield server


@pytest.fixture(params=["http", "sse"])
def secure_any(request: pytest.FixtureRequest) -> Iterator[OAuthMcpServer]:
    with OAuthMcpServer(request.param).running() as server:
        yield server


def configure(cli: Cli, server: OAuthMcpServer, **extra: object) -> ServerConfig:
    """The server as the user's ~/.nano_claude/mcp.json names it, read back the way runs read it."""
    write(cli.home / "mcp.json", {"mcpServers": {"secure": remote(server.url, server.transport, **extra)}})
    found = mcp_config.load(paths(cli), cli.project, cli.home.parent, {})
    assert not found.errors, found.errors
    return found.servers["secure"]


def paths(cli: Cli) -> Paths:
    return Paths(cli.home, cli.project / ".nano_claude")


class Browser:
    """Drives `oauth.login` and plays the browser for the address it shows."""

    def __init__(self, cli: Cli, server: ServerConfig) -> None:
        self.cli = cli
        self.server = server
        self.said: list[str] = []
        self.pages: list[httpx.Response] = []

    def login(self, visit: Callable[[str], list[str]] | None = None) -> None:
        """Log in; `visit` turns the authorization address into the ones the browser opens."""
        asyncio.run(self._login(visit or (lambda url: [url])))

    @property
    def page(self) -> httpx.Response:
        return self.pages[-1]

    async def _login(self, visit: Callable[[str], list[str]]) -> None:
        shown = asyncio.Event()

        def say(line: str) -> None:
            self.said.append(line)
            if "/authorize?" in line:
                shown.set()

        task = asyncio.create_task(oauth.login(self.server, paths(self.cli), open_browser=False, say=say))
        await asyncio.wait({task, asyncio.create_task(shown.wait())}, timeout=30,
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it failed before it showed an address
        assert shown.is_set(), f"login showed no address within 30 s: {self.said}"
        async with httpx.AsyncClient(follow_redirects=True, trust_env=False, timeout=10) as browser:
            for address in visit(self.address):
                self.pages.append(await browser.get(address))
        await asyncio.wait_for(task, 30)

    @property
    def address(self) -> str:
        return next(line for line in self.said if "/authorize?" in line)


def login(cli: Cli, server: ServerConfig) -> Browser:
    browser = Browser(cli, server)
    browser.login()
    return browser


def stored(cli: Cli, server: ServerConfig) -> dict:
    return json.loads(oauth.token_path(server, paths(cli)).read_text())


def uses_the_tool(cli: Cli, model: FakeModelServer) -> CliResult:
    """A run whose model calls the server's tool; the run's answer is "done"."""
    model.script(tool_call(TOOL, {}), text("done"))
    return run(cli, model, "--allowedTools", "mcp__secure", prompt="what is the secret word?")


def assert_no_token_leaks(cli: Cli, tokens: dict, *outputs: str) -> None:
    """The tokens are in their 0600 file and nowhere else: not in output, not in other files."""
    secrets = [tokens["access_token"], tokens["refresh_token"]]
    for output in outputs:
        assert not any(s in output for s in secrets)
    auth = cli.home / "mcp-auth"
    for folder in (cli.home, cli.project):
        for path in folder.rglob("*"):
            if path.is_file() and auth not in path.parents:
                content = path.read_bytes()
                assert not any(s.encode() in content for s in secrets), f"a token leaked into {path}"


# --- before login ----------------------------------------------------------------------------------

def test_a_server_needing_login_is_reported_and_the_run_still_answers(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    configure(cli, secure)
    fake_server.script(text("I have no tool for that."))
    out = run(cli, fake_server, prompt="what is the secret word?")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "I have no tool for that.\n"
    assert "'secure' is not available: needs authentication (HTTP 401)" in out.stderr
    assert "mcp login secure" in out.stderr
    assert mcp_tools(fake_server.model_requests[0]) == []
    # Nothing interactive happened behind the user's back: no registration, no authorization
    assert "/authorize" not in out.stdout + out.stderr
    assert secure.provider.registrations == 0 and secure.provider.codes_issued == 0
    assert "Traceback" not in out.stderr


# --- login, and the runs after it -----------------------------------------------------------------------

def test_login_stores_the_tokens_0600_and_later_runs_use_the_tool(
        cli: Cli, fake_server: FakeModelServer, secure_any: OAuthMcpServer) -> None:
    server = configure(cli, secure_any)
    browser = login(cli, server)

    assert browser.page.status_code == 200
    assert "Logged in" in browser.page.text
    assert browser.address.startswith(f"{secure_any.base}/authorize?")
    query = parse_qs(urlparse(browser.address).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"][0].startswith(
        "http://localhost:")
    assert secure_any.provider.registrations == 1  # dynamic client registration
    path = oauth.token_path(server, paths(cli))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert any("Logged in to MCP server 'secure'" in line for line in browser.said)

    out = uses_the_tool(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"
    assert TOOL in mcp_tools(fake_server.model_requests[0])
    answer = result(fake_server.model_requests[1])
    assert not answer.is_error and answer.text == SECRET_WORD
    assert "needs authentication" not in out.stderr
    assert_no_token_leaks(cli, stored(cli, server)["tokens"], out.stdout, out.stderr, *browser.said)


def test_an_expired_access_token_is_refreshed_before_the_request(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    login(cli, server)
    path = oauth.token_path(server, paths(cli))
    data = stored(cli, server)
    old = data["tokens"]["access_token"]
    data["expires_at"] = time.time() - 60  # it expired a minute ago
    path.write_text(json.dumps(data))

    out = uses_the_tool(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert result(fake_server.model_requests[1]).text == SECRET_WORD
    assert secure.provider.refreshes == 1
    assert secure.provider.refused == 0  # the expired token was never sent
    renewed = stored(cli, server)
    assert renewed["tokens"]["access_token"] != old and renewed["expires_at"] > time.time()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert_no_token_leaks(cli, renewed["tokens"], out.stdout, out.stderr)


def test_a_token_the_server_refuses_is_refreshed_and_the_request_sent_again(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    login(cli, server)
    secure.provider.expire_access_tokens()  # the server forgot it; the stored expiry is hours away

    out = uses_the_tool(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert result(fake_server.model_requests[1]).text == SECRET_WORD
    assert secure.provider.refused >= 1 and secure.provider.refreshes == 1
    assert "needs authentication" not in out.stderr


def test_revoked_tokens_make_the_server_need_authentication_again(
        cli: Cli, fake_server: FakeModelServer, secure_any: OAuthMcpServer) -> None:
    server = configure(cli, secure_any)
    login(cli, server)
    secure_any.provider.revoke_all()  # the refresh token no longer works either

    fake_server.script(text("Answered without it."))
    out = run(cli, fake_server, prompt="what is the secret word?")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Answered without it.\n"
    assert "'secure' is not available: needs authentication (HTTP 401)" in out.stderr
    assert mcp_tools(fake_server.model_requests[0]) == []
    assert "Traceback" not in out.stderr


def test_tokens_belong_to_the_server_url_not_to_its_name(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    login(cli, configure(cli, secure))
    with OAuthMcpServer("http").running() as other:
        configure(cli, other)  # another server, under the same name
        fake_server.script(text("ok"))
        out = run(cli, fake_server)
        assert out.returncode == 0, out.stderr
        assert "'secure' is not available: needs authentication" in out.stderr
        assert other.provider.refused == 0  # the first server's token was never shown to it


def test_logging_in_again_reuses_the_registered_client(cli: Cli, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    login(cli, server)
    first = stored(cli, server)
    login(cli, server)
    again = stored(cli, server)
    assert secure.provider.registrations == 1 and secure.provider.codes_issued == 2
    assert again["client"]["client_id"] == first["client"]["client_id"]
    assert again["tokens"]["access_token"] != first["tokens"]["access_token"]


def test_a_pre_registered_client_logs_in_on_its_callback_port(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    from mcp.shared.auth import OAuthClientInformationFull

    port = free_port()
    secure.provider.clients["team-client"] = OAuthClientInformationFull(
        client_id="team-client", redirect_uris=[f"http://localhost:{port}/callback"],
        token_endpoint_auth_method="none")
    server = configure(cli, secure, oauth={"clientId": "team-client", "callbackPort": port})
    browser = login(cli, server)

    query = parse_qs(urlparse(browser.address).query)
    assert query["client_id"] == ["team-client"]
    assert query["redirect_uri"] == [f"http://localhost:{port}/callback"]
    assert secure.provider.registrations == 0
    secure.provider.expire_access_tokens()  # refreshing works with the pre-registered client too
    out = uses_the_tool(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert result(fake_server.model_requests[1]).text == SECRET_WORD
    assert secure.provider.refreshes == 1


def test_logout_forgets_the_tokens(cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    login(cli, server)
    assert oauth.logout(server, paths(cli)) is True
    assert not oauth.token_path(server, paths(cli)).exists()
    assert oauth.logout(server, paths(cli)) is False
    fake_server.script(text("ok"))
    out = run(cli, fake_server)
    assert "'secure' is not available: needs authentication" in out.stderr


# --- a login that does not finish -------------------------------------------------------------------

def test_a_refused_authorization_ends_the_login_with_the_reason(cli: Cli, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    browser = Browser(cli, server)

    def refused(address: str) -> list[str]:
        query = parse_qs(urlparse(address).query)
        callback = query["redirect_uri"][0]
        return [f"{callback}?code=forged&state=not-ours",  # an answer meant for another login
                f"{callback}?error=access_denied&error_description=The+user+said+no&state={query['state'][0]}"]

    with pytest.raises(oauth.McpAuthError) as failure:
        browser.login(refused)
    stray, denied = browser.pages
    assert stray.status_code == 400 and "not the login" in stray.text  # turned away; the wait goes on
    assert "access_denied: The user said no" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert "Login failed" in denied.text
    assert "tokens" not in stored(cli, server)  # the registration is kept for next time; no tokens


def test_cancelling_a_login_closes_its_callback_port(cli: Cli, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)

    async def cancelled() -> int:
        shown = asyncio.Event()
        said: list[str] = []

        def say(line: str) -> None:
            said.append(line)
            if "/authorize?" in line:
                shown.set()

        task = asyncio.create_task(oauth.login(server, paths(cli), open_browser=False, say=say))
        await asyncio.wait_for(shown.wait(), 30)
        address = next(line for line in said if "/authorize?" in line)
        task.cancel()  # what Ctrl+C does to the waiting login
        with pytest.raises(asyncio.CancelledError):
            await task
        return urlparse(parse_qs(urlparse(address).query)["redirect_uri"][0]).port or 0

    port = asyncio.run(cancelled())
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


# --- the command ------------------------------------------------------------------------------------------

def test_nano_claude_mcp_login_prints_the_address_and_stores_the_tokens(
        cli: Cli, fake_server: FakeModelServer, secure: OAuthMcpServer) -> None:
    server = configure(cli, secure)
    proc = subprocess.Popen([sys.executable, "-m", "nano_claude", "mcp", "login", "secure", "--no-browser"],
                            cwd=cli.project, env=cli.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    try:
        address = ""
        deadline = time.monotonic() + 30
        while not address:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if "/authorize?" in line:
                address = line.strip()
        page = httpx.get(address, follow_redirects=True, trust_env=False, timeout=10)
        assert page.status_code == 200 and "Logged in" in page.text
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert stat.S_IMODE(oauth.token_path(server, paths(cli)).stat().st_mode) == 0o600
    out = uses_the_tool(cli, fake_server)
    assert out.returncode == 0, out.stderr
    assert result(fake_server.model_requests[1]).text == SECRET_WORD


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
