"""Where hooks come from, as the settings files say them; nothing runs here.

The `hooks` key of every settings file, all levels merged (an identical handler under the
same event and matcher is kept once, from the first file that has it):

    user     ~/.nano_claude/config.json, ~/.nano_claude/settings.json, ~/.claude/settings.json
    project  .nano_claude/settings.json, .nano_claude/settings.local.json,
             .claude/settings.json, .claude/settings.local.json
    plugin   each enabled plugin's hooks/hooks.json (and its manifest's `hooks`), once the user
             allowed the plugin's code (extensions/plugins): they run as the user's own, with
             ${CLAUDE_PLUGIN_ROOT} and ${CLAUDE_PLUGIN_DATA} filled and exported

Claude Code's files are read unless the setting `read_claude_config` is off. Project hooks
come with the repository, so they run only once the user trusts them (trust.py). A
malformed entry is reported in one line naming the file, the entry and what is wrong; the
rest load.

    {"hooks": {"PreToolUse": [{"matcher": "Bash|Edit", "hooks": [
        {"type": "command", "command": "./check.sh", "timeout": 30}]}]}}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nano_claude.config import read_json
from nano_claude.core.errors import ConfigError
from nano_claude.paths import Paths

if TYPE_CHECKING:
    from nano_claude.extensions.plugins import Active

EVENTS = ("SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PermissionRequest",
          "PostToolUse", "PostToolUseFailure", "Notification", "Stop", "SubagentStop", "PreCompact")
# Events of Claude Code's that nothing here raises: their entries are skipped without a word
UNRAISED = frozenset({"Setup", "UserPromptExpansion", "PermissionDenied", "PostToolBatch", "MessageDisplay",
                      "SubagentStart", "TaskCreated", "TaskCompleted", "StopFailure", "TeammateIdle",
                      "InstructionsLoaded", "ConfigChange", "CwdChanged", "DirectoryAdded", "FileChanged",
                      "WorktreeCreate", "WorktreeRemove", "PostCompact", "Elicitation", "ElicitationResult"})
Scope = Literal["user", "project"]
_EXACT = re.compile(r"[A-Za-z0-9_ ,|-]*")


@dataclass(frozen=True)
class Handler:
    """What one hook runs: a shell command, or a POST of the same JSON to a URL."""

    type: Literal["command", "http"]
    command: str = ""
    url: str = ""
    timeout: float | None = None  # seconds; None: the event's default (runner.py)
    headers: tuple[tuple[str, str], ...] = ()
    allowed_env: tuple[str, ...] = ()  # the variables `${VAR}` in headers may read
    env: tuple[tuple[str, str], ...] = ()  # more variables for the command (a plugin's root and data)

    @property
    def target(self) -> str:
        return self.command if self.type == "command" else self.url

    @property
    def key(self) -> tuple[str, str]:
        """Two hooks with the same key are the same hook: it runs once."""
        return self.type, self.target


@dataclass(frozen=True)
class Hook:
    event: str
    matcher: str
    handler: Handler
    source: str  # the file it is in
    scope: Scope
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)  # the handler as written

    def matches(self, value: str | None) -> bool:
        """Claude Code's matcher: empty or `*` matches all; letters, digits, `_`, `-`, spaces,
        `|` and `,` only: exact names; anything else a regular expression, searched (so
        `Edit.*` also hits NotebookEdit). An event without a matcher value runs every hook."""
        return value is None or matches(self.matcher, value)


def matches(matcher: str, value: str) -> bool:
    if matcher in ("", "*"):
        return True
    if _EXACT.fullmatch(matcher):
        return value in {name.strip() for name in re.split(r"[|,]", matcher)}
    return re.search(matcher, value) is not None


@dataclass
class Found:
    hooks: list[Hook] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # entries skipped, one line each

    @property
    def project(self) -> list[Hook]:
        return [h for h in self.hooks if h.scope == "project"]

    @property
    def digest(self) -> str:
        """What trusting the project's hooks is given to: a changed one is asked about again."""
        listed = [[h.source, h.event, h.matcher, h.raw] for h in self.project]
        text = json.dumps(listed, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def files(paths: Paths, project: Path, home: Path, read_claude: bool) -> list[tuple[Path, Scope]]:
    """Every settings file that may hold hooks, user files first."""
    found: list[tuple[Path, Scope]] = [(paths.user_config, "user"), (paths.user_settings, "user")]
    if read_claude:
        found.append((home / ".claude" / "settings.json", "user"))
    found += [(paths.project_settings, "project"), (paths.project_local, "project")]
    if read_claude:
        found += [(project / ".claude" / "settings.json", "project"),
                  (project / ".claude" / "settings.local.json", "project")]
    return found


def load(paths: Paths, project: Path, home: Path, *, read_claude: bool = True,
         plugins: Sequence[Active] = ()) -> Found:
    found = Found()
    seen: set[tuple[str, str, tuple[str, str]]] = set()

    def add(hooks: list[Hook]) -> None:
        for hook in hooks:
            key = (hook.event, hook.matcher, hook.handler.key)
            if key not in seen:
                seen.add(key)
                found.hooks.append(hook)

    for path, scope in files(paths, project, home, read_claude):
        try:
            data = read_json(path)
        except ConfigError as exc:
            found.errors.append(f"{exc} (its hooks were skipped)")
            continue
        add(parse(data.get("hooks"), str(path), scope, found.errors))
    for active in plugins:
        if active.code:
            add(plugin_hooks(active, found.errors))
    return found


def plugin_hooks(active: Active, errors: list[str]) -> list[Hook]:
    """A plugin's hooks, its variables filled into each command and exported to it."""
    env = tuple(active.env.items())
    out = []
    for where, events in active.plugin.hooks:
        for hook in parse(events, where, "user", errors):
            handler = hook.handler
            if handler.type == "command":
                handler = replace(handler, command=active.fill(handler.command), env=env)
            out.append(replace(hook, handler=handler))
    return out


def parse(hooks: Any, source: str, scope: Scope, errors: list[str]) -> list[Hook]:
    """The hooks of one file's `hooks` value; what cannot be used is a line in `errors`."""
    if hooks is None:
        return []
    if not isinstance(hooks, dict):
        errors.append(f"{source}: \"hooks\" must be an object of events, like {{\"PreToolUse\": [...]}}; "
                      "its hooks were skipped")
        return []
    parsed: list[Hook] = []
    for event, groups in hooks.items():
        if event in UNRAISED:
            continue
        if event not in EVENTS:
            errors.append(f"{source}: hooks.{event}: no such event (the events are {', '.join(EVENTS)}); "
                          "it was skipped")
            continue
        if not isinstance(groups, list):
            errors.append(f"{source}: hooks.{event} must be a list of "
                          "{\"matcher\": ..., \"hooks\": [...]}; it was skipped")
            continue
        for i, group in enumerate(groups):
            parsed.extend(_group(group, event, f"{source}: hooks.{event}[{i}]", source, scope, errors))
    return parsed


def _group(group: Any, event: str, where: str, source: str, scope: Scope, errors: list[str]) -> list[Hook]:
    if not isinstance(group, dict):
        errors.append(f"{where} must be an object like {{\"matcher\": \"Bash\", \"hooks\": [...]}}; "
                      "it was skipped")
        return []
    matcher = group.get("matcher", "")
    if matcher is None:
        matcher = ""
    if not isinstance(matcher, str):
        errors.append(f"{where}: \"matcher\" must be a string (a tool name, names joined by |, or a "
                      "regular expression); it was skipped")
        return []
    if not _EXACT.fullmatch(matcher) and matcher != "*":
        try:
            re.compile(matcher)
        except re.error as exc:
            errors.append(f"{where}: matcher {matcher!r} is not a valid regular expression ({exc}); "
                          "it was skipped")
            return []
    handlers = group.get("hooks")
    if not isinstance(handlers, list):
        errors.append(f"{where} has no \"hooks\" list; add \"hooks\": [{{\"type\": \"command\", "
                      "\"command\": \"...\"}]; it was skipped")
        return []
    hooks: list[Hook] = []
    for j, raw in enumerate(handlers):
        try:
            handler = handler_of(raw, f"{where}.hooks[{j}]")
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        hooks.append(Hook(event, matcher.strip(), handler, source, scope, raw))
    return hooks


def handler_of(raw: Any, where: str) -> Handler:
    """One handler entry, checked; ConfigError (one line, with the fix) if unusable."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object like {{\"type\": \"command\", \"command\": \"...\"}}; "
                          "it was skipped")
    kind = raw.get("type", "command")
    if kind in ("prompt", "agent", "mcp_tool"):
        raise ConfigError(f"{where}: hooks of type {kind!r} are not supported here (only command and "
                          "http); it was skipped")
    if kind not in ("command", "http"):
        raise ConfigError(f"{where}: \"type\" must be \"command\" or \"http\" (got {kind!r}); it was skipped")
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or timeout <= 0):
        raise ConfigError(f"{where}: \"timeout\" must be a positive number of seconds (got {timeout!r}); "
                          "it was skipped")
    if kind == "command":
        command = raw.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"{where} has no \"command\"; add the shell command to run; it was skipped")
        return Handler("command", command=command, timeout=timeout)
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        raise ConfigError(f"{where}: an http hook needs a \"url\" starting with http:// or https://; "
                          "it was skipped")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}: \"headers\" must be an object of strings; it was skipped")
    allowed = raw.get("allowedEnvVars", [])
    if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
        raise ConfigError(f"{where}: \"allowedEnvVars\" must be a list of variable names; it was skipped")
    return Handler("http", url=url, timeout=timeout, headers=tuple(headers.items()),
                   allowed_env=tuple(allowed))
