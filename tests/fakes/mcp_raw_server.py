"""A bare MCP server over stdio, JSON-RPC by hand (no SDK: it answers at once), for what
real servers get wrong: `--banner` prints a line that is not JSON before anything else;
`--no-lists` offers prompts and resources but fails to list them. Its tool `fine` answers
"fine"; `broken_images` answers with two images no provider would take (data that is not
base64, and text labelled PNG). Run: python tests/fakes/mcp_raw_server.py [--banner] [--no-lists]
"""

from __future__ import annotations

import base64
import json
import sys


def main(argv: list[str]) -> None:
    if "--banner" in argv:
        print("raw server running on stdio", flush=True)
    for line in sys.stdin:
        message = json.loads(line)
        ident, method = message.get("id"), message.get("method")
        if ident is None:
            continue  # a notification
        if method == "initialize":
            result = {"protocolVersion": message["params"]["protocolVersion"],
                      "capabilities": {"tools": {}, "prompts": {}, "resources": {}},
                      "serverInfo": {"name": "raw", "version": "1"}}
        elif method == "tools/list":
            empty = {"type": "object", "properties": {}}
            result = {"tools": [{"name": "fine", "description": "Says fine.", "inputSchema": empty},
                                {"name": "broken_images", "description": "Bad images.",
                                 "inputSchema": empty}]}
        elif method == "tools/call" and message["params"]["name"] == "broken_images":
            fake_png = base64.b64encode(b"this is text, not a PNG").decode()
            result = {"content": [{"type": "image", "data": "not base64!!", "mimeType": "image/png"},
                                  {"type": "image", "data": fake_png, "mimeType": "image/png"},
                                  {"type": "text", "text": "two images"}]}
        elif method == "tools/call":
            result = {"content": [{"type": "text", "text": "fine"}]}
        elif method in ("prompts/list", "resources/list") and "--no-lists" not in argv:
            result = {method.split("/")[0]: []}
        else:
            error = {"code": -32601, "message": f"no {method}"}
            print(json.dumps({"jsonrpc": "2.0", "id": ident, "error": error}), flush=True)
            continue
        print(json.dumps({"jsonrpc": "2.0", "id": ident, "result": result}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
