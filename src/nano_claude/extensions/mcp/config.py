"""Where MCP servers come from, as the files say them: no SDK, nothing started here.

Sources, lowest precedence first (a name defined twice: the higher source's whole entry
wins, fields are never merged):

    plugin   each enabled plugin's .mcp.json (and its manifest's mcpServers), once the user
             allowed the plugin's code: named plugin_PLUGIN_SERVER, ${CLAUDE_PLUGIN_ROOT} and
             ${CLAUDE_PLUGIN_DATA} expanded and exported to the server
    user     ~/.claude.json top-level mcpServers (Claude Code's user scope, read only),
             then ~/.nano_claude/mcp.json
    project  <project>/.mcp.json (committed with the repository: needs approval, see trust)
    local    ~/.claude.json projects[<abs project>].mcpServers (Claude Code's local scope)
    flag     --mcp-config FILE_OR_JSON, in the order given (--strict-mcp-config: only these)

A malformed entry is skipped with a one-line error naming the file, the server and the fix;
the other servers still start. `${VAR}` and `${VAR:-default}` expand in command, args, env,
url and headers; an unset variable without a default stays as written, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nano_claude.config import atomic_write, read_json
from nano_claude.core.errors import ConfigError
from nano_claude.paths import Paths

if TYPE_CHECKING:
    from nano_claude.extensions.plugins import Active

Transport = Literal["stdio", "sse", "http"]
Scope = Literal["user", "project", "local", "flag"]
TRANSPORTS: dict[str, Transport] = {"stdio": "stdio", "sse": "sse", "http": "http",
                                    "streamable-http": "http", "streamable_http": "http"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
PROJECT_FILE = ".mcp.json"
CLAUDE_FILE = ".claude.json"


@dataclass(frozen=True)
class ServerConfig:
    """One server as configured, variables expanded."""

    name: str
    transport: Transport
    source: str  # the file it came from, or "--mcp-config"
    scope: Scope
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    timeout_ms: int | None = None  # a tool call's limit
    always_load: bool = False  # never deferred behind ToolSearch
    plugin: str = ""  # the plugin it comes with (its name is plugin_PLUGIN_SERVER)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)  # as written, unexpanded

    @property
    def digest(self) -> str:
        """What an approval is given to: a changed command needs approving again."""
        text = json.dumps(self.raw, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def target(self) -> str:
        """The command line or URL as the file writes it, as /mcp and logs show it: a
        `${TOKEN}` stays a name, so what it holds is never on screen or in a log."""
        raw = self.raw
        if self.transport == "stdio":
            words = (raw.get("command", self.command), *raw.get("args", self.args))
            return " ".join(str(word) for word in words)
        return str(raw.get("url", self.url))


@dataclass
class Found:
    servers: dict[str, ServerConfig] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # entries skipped, one line each
    warnings: list[str] = field(default_factory=list)  # kept, but something is off


def user_file(paths: Paths) -> Path:
    return paths.home / "mcp.json"


def project_file(project: Path) -> Path:
    return project / PROJECT_FILE


def claude_file(home: Path) -> Path:
    return home / CLAUDE_FILE


def load(paths: Paths, project: Path, home: Path, environ: Mapping[str, str], *,
         flags: tuple[str, ...] = (), strict: bool = False, read_claude: bool = True,
         plugins: Sequence[Active] = ()) -> Found:
    """Every configured server, the higher source winning a name. Raises ConfigError only
    for a --mcp-config the user typed that cannot be read (the run should not start)."""
    found = Found()
    expand_env = {**environ, "NANO_CLAUDE_PROJECT_DIR": str(project), "CLAUDE_PROJECT_DIR": str(project)}
    sources: list[tuple[str, Scope, Any]] = []
    if not strict:
        for active in plugins:
            if active.code:
                plugin_servers(active, expand_env, found)
        claude = _read(claude_file(home), found) if read_claude else {}
        sources.append((str(claude_file(home)), "user", claude.get("mcpServers")))
        sources.append((str(user_file(paths)), "user", _read(user_file(paths), found).get("mcpServers")))
        sources.append((str(project_file(project)), "project",
                        _read(project_file(project), found).get("mcpServers")))
        projects = claude.get("projects")
        local = projects.get(str(project)) if isinstance(projects, dict) else None
        sources.append((f"{claude_file(home)} (projects[{project}])", "local",
                        local.get("mcpServers") if isinstance(local, dict) else None))
    for flag in flags:  # an error names the file it is in; inline JSON is the flag itself
        inline = flag.strip().startswith("{")
        sources.append(("--mcp-config" if inline else f"--mcp-config {Path(flag.strip()).expanduser()}",
                        "flag", flag_servers(flag)))
    for source, scope, servers in sources:
        if servers is None:
            continue
        if not isinstance(servers, dict):
            found.errors.append(f"{source}: \"mcpServers\" must be an object of servers by name; "
                                "fix the file (its servers were skipped)")
            continue
        for name, entry in servers.items():
            try:
                server = parse_entry(name, entry, source, scope, expand_env, found.warnings)
            except ConfigError as exc:
                found.errors.append(str(exc))
                continue
            found.servers.pop(name, None)  # re-inserted: the order shown is the order of precedence
            found.servers[name] = server
    return found


def plugin_servers(active: Active, environ: Mapping[str, str], found: Found) -> None:
    """A plugin's servers: its ${CLAUDE_PLUGIN_ROOT} and ${CLAUDE_PLUGIN_DATA} filled as written
    (so the entry /mcp shows is the one that runs), and exported to a stdio server."""
    for name, (source, entry) in active.plugin.mcp_servers.items():
        try:
            server = parse_entry(active.server_name(name), _filled(entry, active), source, "user", environ,
                                 found.warnings)
        except ConfigError as exc:
            found.errors.append(str(exc))
            continue
        if server.transport == "stdio":
            server = replace(server, env=(*active.env.items(), *server.env))
        taken = found.servers.get(server.name)
        if taken is not None:
            found.errors.append(f"{source}: MCP server {name!r} would be {server.name}, the name plugin "
                                f"{taken.plugin}'s server has; only one can run (rename one of the servers)")
            continue
        found.servers[server.name] = replace(server, plugin=active.name)


def _filled(value: Any, active: Active) -> Any:
    if isinstance(value, str):
        return active.fill(value)
    if isinstance(value, dict):
        return {key: _filled(item, active) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, active) for item in value]
    return value


def flag_servers(value: str) -> Any:
    """The mcpServers object of one --mcp-config: inline JSON or a file."""
    text = value.strip()
    where = "--mcp-config"
    if not text.startswith("{"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ConfigError(f"--mcp-config {value}: no such file; give a JSON file or an inline "
                              "JSON object like '{\"mcpServers\": {...}}'")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--mcp-config {value}: cannot read it ({exc})") from exc
        where = f"--mcp-config {path}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers"), dict):
        raise ConfigError(f"{where}: expected an object with \"mcpServers\": {{NAME: {{...}}}}")
    return data["mcpServers"]


def parse_entry(name: str, entry: Any, source: str, scope: Scope, environ: Mapping[str, str],
                warnings: list[str]) -> ServerConfig:
    """One server's entry, checked and expanded; ConfigError (one line, with the fix) if unusable."""
    where = f"{source}: MCP server {name!r}"
    if not re.fullmatch(r"[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*", name):
        # `__` separates server and tool in mcp__server__tool: a name holding it (or ending in
        # `_`) would let a rule for one server cover another's tools
        raise ConfigError(f"{source}: MCP server name {name!r} may hold only letters, digits, - and "
                          "single _ between them; rename it (it was skipped)")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object like {{\"command\": \"...\"}} or "
                          "{\"type\": \"http\", \"url\": \"...\"}; it was skipped")
    kind = entry.get("type")
    if kind is None:
        if "url" in entry:
            raise ConfigError(f"{where} has a url but no type; add \"type\": \"http\" (or \"sse\"); "
                              "it was skipped")
        kind = "stdio"
    transport = TRANSPORTS.get(kind) if isinstance(kind, str) else None
    if transport is None:
        raise ConfigError(f"{where}: type {kind!r} is not one of stdio, http, sse; it was skipped")

    def expand(text: str, what: str) -> str:
        return expand_vars(text, environ, lambda var: warnings.append(
            f"{where}: ${{{var}}} in {what} is not set and has no default; it is passed as written"))

    def strings(key: str) -> list[str]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: \"{key}\" must be a list of strings; it was skipped")
        return value

    def mapping(key: str) -> dict[str, str]:
        value = entry.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: \"{key}\" must be an object of strings; it was skipped")
        return value

    timeout = entry.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or timeout <= 0):
        raise ConfigError(f"{where}: \"timeout\" must be a positive number of milliseconds; it was skipped")
    common = dict(name=name, transport=transport, source=source, scope=scope, raw=entry,
                  timeout_ms=int(timeout) if timeout else None,
                  always_load=entry.get("alwaysLoad") is True)
    if transport == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"{where} has no \"command\"; add the program to run (or a \"type\" and "
                              "\"url\" for a remote server); it was skipped")
        cwd = entry.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise ConfigError(f"{where}: \"cwd\" must be a path; it was skipped")
        return ServerConfig(
            **common, command=expand(command, "command"),
            args=tuple(expand(a, "args") for a in strings("args")),
            env=tuple((k, expand(v, f"env.{k}")) for k, v in mapping("env").items()),
            cwd=expand(cwd, "cwd") if cwd else None)
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"{where} (type {kind}) has no \"url\"; add the server's address; it was skipped")
    url = expand(url, "url")
    if not re.match(r"^https?://", url):
        raise ConfigError(f"{where}: url {url!r} must start with http:// or https://; it was skipped")
    return ServerConfig(**common, url=url,
                        headers=tuple((k, expand(v, f"headers.{k}")) for k, v in mapping("headers").items()))


def expand_vars(text: str, environ: Mapping[str, str], unset: Any = None) -> str:
    """`${VAR}` and `${VAR:-default}`; an unset VAR without default stays as written."""
    def one(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        value = environ.get(var)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value  # set, but empty
        if unset is not None:
            unset(var)
        return match.group(0)
    return _VAR.sub(one, text)


def _read(path: Path, found: Found) -> dict[str, Any]:
    """A config file, or {} with one error line when it is broken (never rewritten)."""
    try:
        return read_json(path)
    except ConfigError as exc:
        found.errors.append(f"{exc} (its MCP servers were skipped)")
        return {}


# --- trust: a repository's servers run code on this machine ---------------------------------

@dataclass(frozen=True)
class Choices:
    """What the user decided about one project's .mcp.json servers."""

    approved: dict[str, str] = field(default_factory=dict)  # name -> digest of the entry approved
    denied: frozenset[str] = frozenset()

    def decision(self, server: ServerConfig) -> Literal["approved", "denied", "pending"]:
        if server.name in self.denied:
            return "denied"
        return "approved" if self.approved.get(server.name) == server.digest else "pending"


def choices(paths: Paths, project: Path) -> Choices:
    data = _approvals(paths).get(str(project))
    if not isinstance(data, dict):
        return Choices()
    approved = data.get("approved")
    denied = data.get("denied")
    if not isinstance(approved, dict):
        approved = {}
    if not isinstance(denied, list):
        denied = []
    return Choices({k: v for k, v in approved.items() if isinstance(v, str)},
                   frozenset(d for d in denied if isinstance(d, str)))


def remember(paths: Paths, project: Path, approve: list[ServerConfig], deny: list[str]) -> None:
    """Record approvals (of these exact entries) and refusals, in the user's mcp.json."""
    data = read_json(user_file(paths))  # a broken file raises: it is never overwritten
    approvals = data.setdefault("projectApprovals", {})
    mine = approvals.setdefault(str(project), {})
    approved = {**mine.get("approved", {})}
    denied = [d for d in mine.get("denied", []) if d not in {s.name for s in approve}]
    for server in approve:
        approved[server.name] = server.digest
    for name in deny:
        approved.pop(name, None)
        if name not in denied:
            denied.append(name)
    mine.update(approved=approved, denied=denied)
    atomic_write(user_file(paths), json.dumps(data, indent=2) + "\n", mode=0o600)


def _approvals(paths: Paths) -> dict[str, Any]:
    try:
        data = read_json(user_file(paths)).get("projectApprovals")
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


# --- editing (nano_claude mcp add/remove, /mcp add/remove) -----------------------------------

def add(path: Path, name: str, entry: dict[str, Any], *, mode: int) -> None:
    """Add or replace one server in a config file, atomically; other keys are kept."""
    parse_entry(name, entry, str(path), "user", {}, [])  # refuse what load() would skip
    data = read_json(path)
    servers = data.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: \"mcpServers\" is not an object; fix the file (nothing was changed)")
    servers[name] = entry
    atomic_write(path, json.dumps(data, indent=2) + "\n", mode=mode)


def remove(path: Path, name: str) -> bool:
    """Take one server out of a config file; False when it is not there."""
    data = read_json(path)
    servers = data.get("mcpServers")
    if not isinstance(servers, dict) or name not in servers:
        return False
    del servers[name]
    atomic_write(path, json.dumps(data, indent=2) + "\n", mode=path.stat().st_mode & 0o777)
    return True
