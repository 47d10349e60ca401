"""Adding and removing MCP servers in the config files: what `nano_claude mcp add|add-json|remove`
and `/mcp add|remove` share, so both read the same arguments and write the same files.

The user's ~/.nano_claude/mcp.json is written 0600 (headers and env may hold tokens); a
project's .mcp.json only with `--scope project`; Claude Code's ~/.claude.json never.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nano_claude.config import read_json
from nano_claude.core.errors import ConfigError, NanoClaudeError, UsageError
from nano_claude.extensions.mcp import config as mcp_config
from nano_claude.extensions.mcp.config import ServerConfig
from nano_claude.paths import Paths

WriteScope = Literal["user", "project"]
NAME = re.compile(r"^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*$")  # as config.parse_entry: no `__`
URL = re.compile(r"^https?://", re.I)
ADD_USAGE = ("add NAME [--transport stdio|sse|http] [--scope user|project] [-e K=V]... [-H \"K: V\"]... "
             "CMD_OR_URL [ARGS...]")
# where one name defined twice is taken from (config.load): a higher rank wins
RANK = {"user": 0, "project": 1, "local": 2, "flag": 3}


class NotFound(NanoClaudeError):
    """No server by that name where the user looked (exit code 1)."""


@dataclass(frozen=True)
class AddRequest:
    """`add` as typed, checked: what goes into the file."""

    name: str
    scope: WriteScope
    entry: dict[str, Any]


@dataclass(frozen=True)
class Added:
    name: str
    scope: WriteScope
    path: Path
    entry: dict[str, Any]
    config: ServerConfig  # as the file will be read
    warnings: list[str] = field(default_factory=list)  # ${VAR} not set, and the like


def _usage(message: str) -> UsageError:
    return UsageError(f"{message} (usage: {ADD_USAGE})")


def parse_add(tokens: Sequence[str]) -> AddRequest:
    """`NAME [options] CMD_OR_URL [ARGS...]`, options anywhere before the command, as in
    Claude Code. Everything after a command (or after `--`) is the server's own arguments, so
    `add git mcp-server-git --repository .` needs no `--`; after a URL, options go on."""
    options: dict[str, str] = {}
    env: dict[str, str] = {}
    headers: dict[str, str] = {}
    positional: list[str] = []
    args: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if len(positional) == 2 and not URL.match(positional[1]):
            args = list(tokens[i:])  # a command's own arguments, whatever they look like
            break
        if token == "--":
            if not positional:
                raise _usage("give the server's name before --")
            if len(positional) == 2:
                raise _usage(f"{positional[1]} is a URL: it takes nothing after --")
            rest = tokens[i + 1:]
            if not rest:
                raise _usage("nothing after --; give the command that starts the server")
            positional.append(rest[0])
            args = list(rest[1:])
            break
        if token.startswith("-") and token != "-":
            flag, eq, value = token.partition("=")
            if flag not in _FLAGS:
                raise _usage(f"unknown option {flag}; put a server's own options after its command "
                             "(or after --)")
            if not eq:
                if i + 1 >= len(tokens):
                    raise _usage(f"{flag} needs a value")
                i += 1
                value = tokens[i]
            kind = _FLAGS[flag]
            if kind == "env":
                key, eq, val = value.partition("=")
                if not eq or not key.strip():
                    raise _usage(f"{flag} {value!r}: write it as KEY=VALUE")
                env[key.strip()] = val
            elif kind == "header":
                key, colon, val = value.partition(":")
                if not colon or not key.strip():
                    raise _usage(f"{flag} {value!r}: write it as \"Name: value\"")
                headers[key.strip()] = val.strip()
            else:
                options[kind] = value
        elif len(positional) < 2:
            positional.append(token)
        else:
            raise _usage(f"{positional[1]} is a URL: it takes no argument {token!r}")
        i += 1
    if not positional:
        raise _usage("give the server's name and its command or URL")
    name = check_name(positional[0])
    if len(positional) < 2:
        raise _usage(f"give the command (or URL) of server {name!r}")
    target = positional[1]
    scope = check_scope(options.get("scope", "user"))
    transport = _transport(options.get("transport"), target)
    if transport == "stdio":
        if headers:
            raise _usage("-H/--header is for http and sse servers; a stdio server gets -e KEY=VALUE")
        entry: dict[str, Any] = {"type": "stdio", "command": target, "args": args, "env": env}
    else:
        if env:
            raise _usage("-e/--env sets a stdio server's environment; an http or sse server gets "
                         "-H \"Name: value\"")
        entry = {"type": transport, "url": target}
        if headers:
            entry["headers"] = headers
    return AddRequest(name, scope, entry)


_FLAGS = {"--transport": "transport", "-t": "transport", "--scope": "scope", "-s": "scope",
          "--env": "env", "-e": "env", "--header": "header", "-H": "header"}


def _transport(given: str | None, target: str) -> str:
    if given is None:
        return "http" if URL.match(target) else "stdio"
    transport = mcp_config.TRANSPORTS.get(given.lower())
    if transport is None:
        raise _usage(f"--transport {given!r} is not one of stdio, sse, http")
    if transport == "stdio" and URL.match(target):
        raise _usage(f"{target} is a URL: give --transport http (or sse), not stdio")
    if transport != "stdio" and not URL.match(target):
        raise _usage(f"--transport {given} needs the server's URL (http:// or https://), not {target!r}")
    return transport


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UsageError(f"server name {name!r}: use only letters, digits, - and single _ between them "
                         "(it becomes part of the tools' names, mcp__NAME__tool)")
    return name


def check_scope(scope: str) -> WriteScope:
    if scope == "local":
        raise UsageError("--scope local is Claude Code's ~/.claude.json, which nano_claude reads but never "
                         "writes; use --scope user (~/.nano_claude/mcp.json) or --scope project (.mcp.json)")
    if scope not in ("user", "project"):
        raise UsageError(f"--scope {scope!r} is not one of user, project")
    return scope  # type: ignore[return-value]


def parse_json_entry(name: str, text: str, scope: str) -> AddRequest:
    """`add-json NAME '{"command": ...}'`: the inner object of one server, as Claude Code takes it."""
    name = check_name(name)
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"the JSON for {name!r} does not parse (column {exc.colno}: {exc.msg}); give one "
                         "object like '{\"command\": \"...\", \"args\": [...]}'") from exc
    if isinstance(entry, dict) and isinstance(entry.get("mcpServers"), dict):
        raise UsageError("give the inner object of one server, not {\"mcpServers\": ...}: "
                         f"add-json {name} '{{\"command\": \"...\"}}'")
    if not isinstance(entry, dict):
        raise UsageError(f"the JSON for {name!r} must be an object like '{{\"command\": \"...\"}}' or "
                         "'{\"type\": \"http\", \"url\": \"...\"}'")
    return AddRequest(name, check_scope(scope), entry)


def target_file(scope: WriteScope, paths: Paths, project: Path) -> Path:
    return mcp_config.user_file(paths) if scope == "user" else mcp_config.project_file(project)


def add(request: AddRequest, paths: Paths, project: Path, environ: Mapping[str, str]) -> Added:
    """Write one new server into the file its scope names. A name that file has already is
    refused (remove it first), as Claude Code does; a broken file is never overwritten."""
    path = target_file(request.scope, paths, project)
    servers = read_json(path).get("mcpServers")
    if isinstance(servers, dict) and request.name in servers:
        raise UsageError(f"{path} already has an MCP server named {request.name!r}; remove it first "
                         f"(nano_claude mcp remove {request.name} --scope {request.scope}, or /mcp remove in "
                         "nano_claude) or choose another name")
    expand = {**environ, "NANO_CLAUDE_PROJECT_DIR": str(project), "CLAUDE_PROJECT_DIR": str(project)}
    warnings: list[str] = []
    try:
        server = mcp_config.parse_entry(request.name, request.entry, str(path), request.scope, expand,
                                        warnings)
    except ConfigError as exc:
        raise UsageError(f"{str(exc).removesuffix('; it was skipped')}; nothing was added") from exc
    mcp_config.add(path, request.name, request.entry, mode=0o600 if request.scope == "user" else 0o644)
    return Added(request.name, request.scope, path, request.entry, server, warnings)


def names_in(path: Path) -> list[str]:
    """The servers a file defines (none when it is missing or broken)."""
    try:
        servers = read_json(path).get("mcpServers")
    except ConfigError:
        return []
    return list(servers) if isinstance(servers, dict) else []


def remove(name: str, scope: str | None, paths: Paths, project: Path, home: Path,
           known: Sequence[str] = ()) -> Path:
    """Take a server out of our user file or the project's .mcp.json; the file it left.
    Without a scope it must be in exactly one of them (as in Claude Code: taking a server
    out of a file the team shares is never a guess)."""
    scopes: tuple[WriteScope, ...] = (check_scope(scope),) if scope else ("user", "project")
    having = [s for s in scopes if name in names_in(target_file(s, paths, project))]
    if len(having) > 1:
        raise UsageError(f"{name!r} is in both {target_file('user', paths, project)} and "
                         f"{target_file('project', paths, project)}; say which: --scope user or "
                         "--scope project")
    if having:
        path = target_file(having[0], paths, project)
        mcp_config.remove(path, name)
        return path
    claude = mcp_config.claude_file(home)
    try:
        data = read_json(claude)
    except ConfigError:
        data = {}
    projects = data.get("projects")
    local = projects.get(str(project)) if isinstance(projects, dict) else None
    for servers in (data.get("mcpServers"), local.get("mcpServers") if isinstance(local, dict) else None):
        if isinstance(servers, dict) and name in servers:
            raise NotFound(f"{name!r} is configured for Claude Code in {claude}, which nano_claude reads "
                           f"but never writes; remove it there with `claude mcp remove {name}` (or set "
                           "read_claude_config to false to stop using Claude Code's servers)")
    if scope:
        other: WriteScope = "project" if scope == "user" else "user"
        if name in names_in(target_file(other, paths, project)):
            raise NotFound(f"no MCP server {name!r} in {target_file(scope, paths, project)}; it is in "  # type: ignore[arg-type]
                           f"{target_file(other, paths, project)}: use --scope {other}")
    if name in known and name.startswith("plugin_"):
        raise NotFound(f"{name!r} comes with a plugin, not a file nano_claude can edit; turn the plugin off "
                       "instead (nano_claude plugin list shows which, plugin disable NAME)")
    raise NotFound(f"no MCP server named {name!r}; "
                   + (f"the servers are: {', '.join(known)}" if known else "none is configured"))
