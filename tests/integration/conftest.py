"""MCP servers over HTTP, shared by the MCP tests of a run (each takes a second to start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.mcp_support import EVERYTHING, HttpServer, fake_http, serving


@pytest.fixture(scope="session")
def mcp_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """tests/fakes/mcp_servers.py `normal` over streamable HTTP."""
    with fake_http("normal", "streamable-http", tmp_path_factory.mktemp("mcp") / "http.log") as server:
        yield server


@pytest.fixture(scope="session")
def mcp_sse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """tests/fakes/mcp_servers.py `normal` over SSE."""
    with fake_http("normal", "sse", tmp_path_factory.mktemp("mcp") / "sse.log") as server:
        yield server


@pytest.fixture(scope="session")
def everything() -> str:
    """@modelcontextprotocol/server-everything, installed by .ci/run into .ci/node."""
    if not EVERYTHING.exists():
        pytest.skip(f"{EVERYTHING} is absent: .ci/run installs @modelcontextprotocol/server-everything "
                    "there with npm (npm install --no-save --prefix .ci/node ...)")
    return str(EVERYTHING)


@pytest.fixture(scope="session")
def everything_sse(everything: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with serving([everything, "sse"], "/sse", tmp_path_factory.mktemp("mcp") / "everything-sse.log") as s:
        yield s


@pytest.fixture(scope="session")
def everything_http(everything: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    with serving([everything, "streamableHttp"], "/mcp",
                 tmp_path_factory.mktemp("mcp") / "everything-http.log") as s:
        yield s
