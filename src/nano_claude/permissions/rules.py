"""Permission rules in Claude Code's syntax, and where they come from.

    Bash              every command            Bash(npm run test:*)   a command prefix
    Bash(git diff)    exactly that command     Bash(git * main)       a glob over the command
    Read(~/.ssh/**)   paths (gitignore-style)  Edit(src/**)           Edit covers every file write
    WebFetch(domain:example.com)               mcp__server__tool, mcp__server, mcp__server__*

Paths in rules: `//abs/path` is absolute, `~/path` is under home, `/path` and
`path` are relative to the project root. A pattern without a slash matches at any
depth (`*.env`). The order of rules never matters: deny wins over ask over allow.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from nano_claude.core.errors import ConfigError

if TYPE_CHECKING:
    from nano_claude.config import Paths

Kind = Literal["allow", "ask", "deny"]
KINDS: tuple[Kind, ...] = ("deny", "ask", "allow")
_RULE = re.compile(r"^(?P<tool>[A-Za-z_][\w*-]*)(?:\((?P<content>.*)\))?$", re.S)

# Which rules judge which tools: an Edit rule covers every tool that writes files.
READ_TOOLS = ("Read", "Glob", "Grep", "LS")
EDIT_TOOLS = ("Edit", "Write", "NotebookEdit", "MultiEdit")


@dataclass(frozen=True)
class Rule:
    tool: str
    content: str | None  # None: the whole tool
    kind: Kind
    source: str = ""  # the file (or flag) it came from

    def __str__(self) -> str:
        return self.tool if self.content is None else f"{self.tool}({self.content})"

    def covers_tool(self, tool: str) -> bool:
        if self.tool == tool:
            return True
        if fnmatch.fnmatchcase(tool, self.tool):
            # As in Claude Code, an allow glob covers MCP tools only below a server it names
            # (`mcp__github__get_*`): `mcp__*` or `*` may deny or ask, never allow every server.
            return self.kind != "allow" or not tool.startswith("mcp__") or _names_server(self.tool, tool)
        if self.tool.startswith("mcp__") and tool.startswith(self.tool + "__"):
            return True  # mcp__server covers all of that server's tools
        if self.tool == "Edit" and tool in EDIT_TOOLS:
            return True
        if self.tool == "Task" and tool == "Agent":
            return True  # Claude Code's Agent tool was called Task: its rules still hold
        return self.tool == "Read" and tool in READ_TOOLS


def _names_server(pattern: str, tool: str) -> bool:
    """Does the glob's literal start name the MCP server `tool` belongs to (`mcp__srv__x*`)?"""
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    server = re.match(r"mcp__.+?__", literal)
    return server is not None and tool.startswith(server.group(0))


def parse_rule(text: str, kind: Kind, source: str = "") -> Rule:
    match = _RULE.match(text.strip())
    if not match:
        raise ConfigError(
            f"{source or 'permissions'}: {kind} rule {text!r} is not a rule; write Tool or "
            "Tool(specifier), e.g. Bash(npm test:*), Edit(src/**), WebFetch(domain:example.com)"
        )
    content = match.group("content")
    if content is not None:
        content = content.strip()
        if not content or content == "*":
            content = None  # Bash() and Bash(*) mean the whole tool
    return Rule(match.group("tool"), content, kind, source)


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    extra_dirs: list[Path] = field(default_factory=list)  # outside the project, treated as inside

    def add(self, texts: Iterable[str], kind: Kind, source: str) -> None:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ConfigError(f"{source}: permissions.{kind} must be a list of rule strings")
        self.rules.extend(parse_rule(t, kind, source) for t in texts)

    def of(self, kind: Kind, tool: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind and r.covers_tool(tool)]


def rules_from(data: Any, source: str, rules: RuleSet, *, trusted: bool = True) -> list[str]:
    """Add the rules of a settings file's "permissions" object. A repository's shared
    file is not trusted to grant: its allow rules and extra directories are left out, and
    the returned warnings say so."""
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: \"permissions\" must be an object with allow/ask/deny lists")
    unknown = set(data) - {"allow", "ask", "deny", "additionalDirectories"}
    if unknown:
        raise ConfigError(f"{source}: unknown key permissions.{sorted(unknown)[0]} "
                          "(expected allow, ask, deny, additionalDirectories)")
    warnings = []
    for kind in KINDS:
        texts = data.get(kind, [])
        if kind == "allow" and texts and not trusted:
            warnings.append(
                f"ignored {len(texts)} allow rule(s) in {source}: a repository's shared settings "
                "cannot grant permissions; copy the ones you trust to .nano_claude/settings.local.json"
            )
            continue
        rules.add(texts, kind, source)
    dirs = data.get("additionalDirectories", [])
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise ConfigError(f"{source}: permissions.additionalDirectories must be a list of paths")
    if dirs and not trusted:
        warnings.append(f"ignored permissions.additionalDirectories in {source} (shared settings)")
    elif dirs:
        rules.extra_dirs.extend(Path(d).expanduser() for d in dirs)
    return warnings


def load_rules(paths: Paths) -> tuple[RuleSet, list[str]]:
    """Every settings file's rules, merged (not overridden): the order never matters."""
    from nano_claude.config import read_json

    rules = RuleSet()
    warnings: list[str] = []
    for path in paths.files:
        data = read_json(path).get("permissions")
        trusted = not paths.is_project_file(path) or (path == paths.project_local and not _tracked(path))
        warnings += rules_from(data, str(path), rules, trusted=trusted)
    return rules, warnings


def _tracked(path: Path) -> bool:
    """Is this file committed to git? Then it came with the repository: not trusted."""
    if not path.exists():
        return False
    try:
        result = subprocess.run(["git", "ls-files", "--error-unmatch", path.name], cwd=path.parent,
                                capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def split_rules(text: str) -> list[str]:
    """`Bash(git diff:*),Edit(src/**) Read`: split on commas and spaces outside parentheses."""
    out: list[str] = []
    depth = 0
    current = ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if depth == 0 and char in ", \t\n":
            if current.strip():
                out.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        out.append(current.strip())
    return out


# --- matching --------------------------------------------------------------------

def command_words(text: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


def matches_command(rule: Rule, normalized: str) -> bool:
    """Does a Bash rule match one simple command (its words joined by spaces)?"""
    if rule.content is None:
        return True
    content = rule.content
    if content.endswith(":*"):
        prefix = " ".join(command_words(content[:-2]))
        return normalized == prefix or normalized.startswith(prefix + " ")
    if "*" in content:
        return fnmatch.fnmatchcase(normalized, " ".join(content.split()))
    return normalized == " ".join(command_words(content))


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("/**", i) and i + 3 == len(pattern):
            break  # dir/** covers dir itself too (below)
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?$")  # a directory covers what it holds


def rule_path_pattern(content: str, project: Path, home: Path) -> str:
    """The absolute glob a path rule stands for."""
    if content.startswith("//"):
        return content[1:]
    if content.startswith("~/") or content == "~":
        return str(home) + content[1:]
    if content.startswith("/"):
        return str(project) + content
    if "/" not in content.rstrip("/"):
        return str(project) + "/**/" + content  # *.env: at any depth
    return str(project) + "/" + content.removeprefix("./")


def path_regex(content: str, project: Path, home: Path) -> re.Pattern[str]:
    """The regular expression a path rule's content stands for (over absolute paths)."""
    return _glob_regex(rule_path_pattern(content, project, home))


def matches_path(rule: Rule, path: Path, project: Path, home: Path) -> bool:
    if rule.content is None:
        return True
    return path_regex(rule.content, project, home).match(str(path)) is not None


def matches_domain(rule: Rule, url: str) -> bool:
    if rule.content is None:
        return True
    content = rule.content
    host = (urlsplit(url).hostname or "").lower()
    if content.startswith("domain:"):
        domain = content[len("domain:"):].lower().lstrip(".")
        if domain.startswith("*."):
            return host.endswith(domain[1:])
        return host == domain or host.endswith("." + domain)
    return fnmatch.fnmatchcase(url, content)


# --- files ---------------------------------------------------------------------------

def save_allow_rules(path: Path, rules: Iterable[str]) -> str:
    """Add allow rules to a settings file (the "always" answer), atomically; a broken file
    is reported and left as it is. Returns a warning for the user, or ""."""
    from nano_claude.config import atomic_write, read_json

    data = read_json(path)
    permissions = data.setdefault("permissions", {})
    if not isinstance(permissions, dict):
        raise ConfigError(f"{path}: \"permissions\" must be an object; fix the file (nothing was changed)")
    allow = permissions.setdefault("allow", [])
    for rule in rules:
        if rule not in allow:
            allow.append(rule)
    atomic_write(path, json.dumps(data, indent=2) + "\n", mode=0o600)
    return keep_out_of_git(path) if path.name.endswith(".local.json") else ""


def keep_out_of_git(path: Path) -> str:
    """A per-user file (this machine's grants) must not reach the repository, where it
    would grant everyone who clones it: name it in a .gitignore beside it, as Claude Code
    does. Lines already there are kept. Returns what went wrong, for the user, or ""."""
    from nano_claude.config import atomic_write

    ignore = path.parent / ".gitignore"
    try:
        lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
        if path.name in (line.strip().lstrip("/") for line in lines):
            return ""
        atomic_write(ignore, "".join(f"{line}\n" for line in [*lines, path.name]))
    except (OSError, UnicodeDecodeError) as exc:
        return f"could not add it to {ignore}: {exc}"
    return ""
