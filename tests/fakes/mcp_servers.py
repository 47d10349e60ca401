"""MCP servers the tests run, written with the official SDK (`MCPServer`).

    python tests/fakes/mcp_servers.py MODE [--transport stdio|sse|streamable-http] [--port N]
                                           [--state FILE] [--tag TEXT]

Modes:
    normal      echo (readOnlyHint), add (not read-only), big (a result of N characters),
                sleep (answers after N seconds), image (a PNG), env (one of its environment
                variables), env_names, argv, headers (a header of the HTTP request it got),
                grow (adds the tool `grown` and says the tool list changed); a prompt `review`
                with arguments; two resources
    slow        `normal`, after a second spent starting up
    crash       `normal`, but the first tool call ever (no --state file yet) kills the process
                before it answers; the processes after it answer
    crash-start writes a line to stderr and exits before it answers anything
    hang        reads its input and never answers, not even `initialize`; stays after its
                input closes
    bad-schema  `good`, and `bad` whose input schema is not valid JSON Schema

Every mode writes one line to stderr when it starts, with its pid, so a test can find the
server's log and the process.
"""

import argparse
import base64
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

# A 1x1 PNG, red.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
STDERR_LINE = "fake-mcp-server: stderr is working"


def big_text(size: int) -> str:
    """`size` characters: numbered lines, the last one saying so (a test can find both ends)."""
    lines = []
    total = 0
    n = 0
    while total < size:
        n += 1
        line = f"line {n:06d} " + "x" * 60 + "\n"
        lines.append(line)
        total += len(line)
    text = "".join(lines)[: max(size - len("THE END"), 0)]
    return text + "THE END"


def build(mode: str, state: Path | None, tag: str) -> Any:
    # Imported here, so `crash-start` and `hang` are quick to fail. No `from __future__ import
    # annotations` in this file: the SDK evaluates the tools' annotations, here, in this scope.
    from mcp.server.mcpserver import Context, Image, MCPServer
    from mcp_types import ToolAnnotations

    server = MCPServer("fake", instructions=f"A fake server for tests ({mode}).", log_level="WARNING")

    def crash_once() -> None:
        if mode == "crash" and state is not None and not state.exists():
            state.write_text("crashed once\n")
            print("fake-mcp-server: crashing on purpose", file=sys.stderr, flush=True)
            os._exit(3)

    if mode == "bad-schema":
        @server.tool(description="A tool with a usable schema.")
        def good(x: str) -> str:
            return f"good: {x}"

        @server.tool(description="A tool whose schema is not valid JSON Schema, which providers refuse.")
        def bad(x: str) -> str:
            return f"bad: {x}"

        # The protocol itself insists on "type": "object" at the root; a property of a type
        # JSON Schema does not have is what broken servers send in practice
        server._tool_manager.get_tool("bad").parameters = {"type": "object",
                                                           "properties": {"x": {"type": "text"}}}
        return server

    @server.tool(description="Echo the text back.", annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        crash_once()
        return f"echo: {text}"

    @server.tool(description="Add two numbers.", annotations=ToolAnnotations(read_only_hint=False))
    def add(a: int, b: int) -> str:
        crash_once()
        return f"sum: {a + b}"

    @server.tool(description="Return a text of `size` characters.")
    def big(size: int) -> str:
        return big_text(size)

    @server.tool(description="Answer after `seconds`.")
    async def sleep(seconds: float) -> str:
        import anyio

        await anyio.sleep(seconds)  # a slow tool is what this simulates
        return "slept"

    @server.tool(description="Return a small PNG image.")
    def image() -> Image:
        return Image(data=PNG, format="png")

    @server.tool(description="The value of one of this server's environment variables.")
    def env(name: str) -> str:
        return os.environ.get(name, "<unset>")

    @server.tool(description="The names of this server's environment variables.")
    def env_names() -> str:
        return " ".join(sorted(os.environ))

    @server.tool(description="The command line this server was started with.")
    def argv() -> str:
        return " ".join([*sys.argv[1:], f"tag={tag}"])

    @server.tool(description="A header of the HTTP request that carried this call.")
    def headers(name: str, ctx: Context) -> str:
        got = ctx.headers or {}
        return next((v for k, v in got.items() if k.lower() == name.lower()), "<absent>")

    @server.tool(description="Add the tool `grown` and tell the client the tool list changed.")
    async def grow(ctx: Context) -> str:
        def grown() -> str:
            return "grown works"

        server.add_tool(grown, name="grown", description="A tool that appeared at run time.")
        await ctx.notify_tools_changed()  # 2026-era clients: through their subscription
        with contextlib.suppress(Exception):  # earlier clients: the notification
            await ctx.session.send_tool_list_changed()
        return "added the tool grown"

    @server.prompt(description="Ask for a review of one file.")
    def review(file: str, focus: str = "bugs") -> str:
        return f"Please review {file}, looking for {focus}."

    @server.resource("notes://first", name="first", description="The first note.", mime_type="text/plain")
    def first() -> str:
        return "the first note's text"

    @server.resource("notes://second", name="second", description="The second note.", mime_type="text/plain")
    def second() -> str:
        return "the second note's text"

    return server


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("normal", "slow", "crash", "crash-start", "hang", "bad-schema"))
    p.add_argument("--transport", default="stdio", choices=("stdio", "sse", "streamable-http"))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--state", type=Path)
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    print(f"{STDERR_LINE} ({args.mode}, pid {os.getpid()})", file=sys.stderr, flush=True)
    if args.mode == "crash-start":
        print("fake-mcp-server: cannot start, on purpose", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.mode == "hang":
        for _ in sys.stdin:  # takes every request and answers none
            pass
        while True:  # nor does it leave when its input closes: only a signal ends it
            time.sleep(3600)
    if args.mode == "slow":
        time.sleep(1.0)  # a server that takes its time to come up (this is what it simulates)
    server = build(args.mode, args.state, args.tag)
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run(args.transport, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main(sys.argv[1:])
