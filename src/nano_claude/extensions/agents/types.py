"""Agent types: what a sub-agent is for, its instructions, and which tools it may have.

Sources, highest precedence first (a name defined twice: the higher source's type wins whole):

    --agents JSON       one run's types: {"name": {"description", "prompt", "tools", ...}}
    project             <cwd>/.nano_claude/agents/, then Claude Code's .claude/agents/ in every
                        folder from cwd up to the repository root (the nearest wins)
    user                ~/.nano_claude/agents/, then ~/.claude/agents/
    built-in            BUILTIN below

A file is Markdown with YAML front matter (Claude Code's shape): `name` (else the file's stem),
`description` (required), `tools`, `disallowedTools`, `model`, `permissionMode`, `maxTurns`,
`skills`; other keys are Claude Code's and are ignored. The body is the agent's instructions.
Folders are scanned recursively. A malformed file is one error line and is skipped; the rest load.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.extensions import frontmatter, walk

if TYPE_CHECKING:
    from nano_claude.extensions.plugins import Active
    from nano_claude.permissions.rules import Rule

# Claude Code's tool names, as ours.
ALIASES: dict[str, tuple[str, ...]] = {
    "Task": ("Agent",),
    "MultiEdit": ("Edit",),
    "NotebookRead": ("Read",),
    "LS": ("Glob",),
    "TodoWrite": ("TaskCreate", "TaskUpdate", "TaskGet", "TaskList"),
    "TodoRead": ("TaskCreate", "TaskUpdate", "TaskGet", "TaskList"),
}
WRITE_TOOLS = ("Edit", "Write", "NotebookEdit", "MemorySave", "MemoryDelete")  # never in a read-only type

# permissionMode as written -> (our mode, dont_ask). Ours are accepted as written.
PERMISSION_MODES: dict[str, tuple[str, bool]] = {
    "default": ("auto", False),
    "acceptEdits": ("auto", False),  # we have no edits-only mode: the nearer safe one
    "auto": ("auto", False),
    "dontAsk": ("auto", True),
    "bypassPermissions": ("accept-all", False),
    "plan": ("plan", False),
    "accept-all": ("accept-all", False),
    "manual": ("manual", False),
}


@dataclass(frozen=True)
class AgentType:
    name: str
    description: str
    instructions: str  # the body: the agent's own instructions (system prompt part)
    tools: tuple[str, ...] | None  # None: every tool the parent has (minus disallowed)
    disallowed: tuple[str, ...] = ()
    model: str | None = None  # None: inherit the parent's model; else a name as written
    permission_mode: str | None = None  # ours: "auto" | "accept-all" | "manual" | "plan"
    dont_ask: bool = False  # Claude Code's permissionMode dontAsk: questions are answered no
    max_turns: int | None = None
    skills: tuple[str, ...] = ()
    source: str = "built-in"  # "built-in", "--agents", or the file's path
    read_only: bool = False  # Explore and Plan: no tool that changes files

    def scoped_rules(self) -> tuple[tuple[Rule, ...], ...]:
        """The tools its `tools` names only in a form (`Bash(git diff:*)`): the agent has the tool,
        for calls that match one of those forms (Policy.scoped). `Agent(...)` names the types it may
        start, not a form of call."""
        if self.tools is None:
            return ()
        from nano_claude.core.errors import ConfigError
        from nano_claude.permissions.rules import parse_rule

        bare = {entry.strip() for entry in self.tools if "(" not in entry}
        groups: dict[str, list[Rule]] = {}
        for entry in self.tools:
            if "(" not in entry or not entry.strip().endswith(")"):
                continue
            try:
                rule = parse_rule(entry.strip(), "allow", f"agent type {self.name}")
            except ConfigError:
                continue
            if rule.content is None or rule.tool in bare or rule.tool in ("Agent", "Task"):
                continue
            for tool in ALIASES.get(rule.tool, (rule.tool,)):  # MultiEdit(docs/**) holds our Edit
                if tool not in bare:
                    groups.setdefault(tool, []).append(replace(rule, tool=tool))
        return tuple(tuple(rules) for rules in groups.values())

    def allows(self, tool: str) -> bool:
        """May this type have `tool` (one of the parent's)? `disallowed` is applied first."""
        if self.read_only and tool in WRITE_TOOLS:
            return False
        if any(entry_matches(entry, tool) for entry in self.disallowed):
            return False
        return self.tools is None or any(entry_matches(entry, tool) for entry in self.tools)


def entry_matches(entry: str, tool: str) -> bool:
    """Does a `tools` entry cover `tool`? Exact names, Claude Code's aliases, globs
    (`mcp__github__*`), a server (`mcp__github`), and rule-like `Name(...)` (covers Name, whose
    calls are then held to that form: AgentType.scoped_rules)."""
    name = entry.strip()
    if name.endswith(")") and "(" in name:
        name = name[: name.index("(")].rstrip()
    if tool == name or tool in ALIASES.get(name, ()):
        return True
    if any(char in name for char in "*?[") and fnmatch.fnmatchcase(tool, name):
        return True
    return name.startswith("mcp__") and tool.startswith(name + "__")


_RESULT = (
    "The caller sees none of your work, only your final message, so that message must hold the "
    "whole answer"
)

BUILTIN: dict[str, AgentType] = {
    t.name: t
    for t in (
        AgentType(
            "general-purpose",
            "Use for complex, multi-step tasks that need any tool: researching an open question, "
            "searching widely, or making changes across files when no other type fits.",
            "You handle one task for another agent, on your own: search, read, run commands and "
            "change files as the task needs. Nobody can answer questions while you work, so make a "
            "reasonable choice where the task is unclear and say which you made. Check your work "
            "before you finish (run it, test it, or re-read what you changed).\n\n"
            f"{_RESULT}: the answer itself, the facts it rests on with file paths and line numbers, "
            "every file you changed and how, and what you did not finish or could not verify.",
            None,
        ),
        AgentType(
            "coder",
            "Use to implement a well-defined change (a feature, a bug fix, a refactoring) and check "
            "that it runs; it edits files and runs commands.",
            "You implement one change in the code. Read the code around it first and follow the "
            "project's conventions: its structure, style, error handling and tests. Make the "
            "smallest change that does the whole job; do not rewrite what the task does not need. "
            "Then prove it runs: run the relevant tests, the linter or type checker, or the program "
            "itself, and fix what you broke. Do not commit unless the task says so.\n\n"
            f"{_RESULT}: each file you changed and what the change does, the commands you ran to "
            "check it and their results, and anything left undone, failing or uncertain.",
            None,
        ),
        AgentType(
            "reviewer",
            "Use after a change to review code or a diff for bugs, security holes and missing "
            "tests; it reports problems by severity and changes nothing.",
            "You review code and report problems; you change nothing (no edits, no commits, no "
            "command that modifies files). Find what you were asked to review (the working tree's "
            "`git diff`, named files, a branch) and read enough of the surrounding code to judge "
            "what it really does. Look for wrong results and edge cases, unhandled errors, races, "
            "leaks, security problems, missing or weak tests, and departures from the project's "
            "conventions. Run the tests or a checker when that settles a suspicion.\n\n"
            f"{_RESULT}: the problems grouped by severity (critical, major, minor), each with its "
            "file path and line number, what is wrong, why it matters and a suggested fix. If you "
            "found nothing serious, say so plainly rather than padding the list with nits.",
            ("Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch", "GetDiagnostics"),
        ),
        AgentType(
            "researcher",
            "Use to find facts in the code, its history, its documentation or on the web, each "
            "with its source; it answers questions and changes nothing.",
            "You find facts. Search broadly first, then read the sources that matter. Prefer "
            "primary sources (the code itself, `git log`, official documentation, the project's "
            "issue tracker) over summaries, and check what documents claim against the code when "
            "you can. Use Bash only for commands that read. Keep what you verified apart from what "
            "you infer.\n\n"
            f"{_RESULT}: the direct answer first, then the evidence, each fact with its source "
            "(file path and line number, or URL), then what you could not confirm.",
            ("Read", "Glob", "Grep", "WebFetch", "WebSearch", "Bash"),
        ),
        AgentType(
            "tester",
            "Use to write and run tests for some code or a bug, or to find out why tests fail.",
            "You write and run tests. First find how the project tests: its framework, layout, "
            "fixtures and the command that runs them, and follow them. Write tests that exercise "
            "real behaviour and would fail if it broke: edge cases, error paths, the bug being "
            "chased. Run them. When one fails, work out whether the test or the code is wrong; do "
            "not change the code under test unless asked, and never weaken a test to make it "
            "pass.\n\n"
            f"{_RESULT}: the tests you added or changed (file paths), the command you ran and its "
            "result, and for each failure what fails, its cause (file path and line number) and "
            "what would fix it.",
            ("Read", "Glob", "Grep", "Bash", "BashOutput", "KillShell", "Edit", "Write",
             "GetDiagnostics"),
        ),
        AgentType(
            "Explore",
            "Use for fast, read-only search of a codebase: finding files by pattern, code by "
            'keyword, or how something works. Say how thorough to be: "quick", "medium" or '
            '"very thorough".',
            "You search a codebase fast and change nothing: you cannot edit or create files, and "
            "you use Bash only for commands that read (ls, git log, git grep). Find what the "
            "caller asks for with Glob and Grep, read only the parts that matter, and follow "
            "references as far as the question needs; run independent searches together. Match "
            'the thoroughness asked for: "quick" is a few targeted searches and the first good '
            'answer, "medium" (the default) checks the main places and naming variants, "very '
            'thorough" covers every location and naming convention, tests and configuration '
            "included.\n\n"
            f"{_RESULT}: the answer, then the relevant files with paths and line numbers and what "
            "each holds, and what you looked for and did not find.",
            ("Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch"),
            permission_mode="plan",
            read_only=True,
        ),
        AgentType(
            "Plan",
            "Use before a change to research the code and design its implementation: it returns a "
            "step-by-step plan naming the files to change, and changes nothing.",
            "You plan a change and change nothing: you cannot edit or create files, and you use "
            "Bash only for commands that read. Read the code the change touches, its callers and "
            "its tests; find the project's conventions and the existing code the change can "
            "reuse; look up outside facts on the web when they matter. Then choose an approach, "
            "and when the choice is not obvious, say which alternatives you rejected and why.\n\n"
            f"{_RESULT}: numbered steps, each naming the files to create or change (with the "
            "functions or line numbers) and what to do there, then how to test the change, the "
            "risks, and the questions the caller must decide.",
            ("Read", "Glob", "Grep", "Bash", "WebFetch", "WebSearch"),
            permission_mode="plan",
            read_only=True,
        ),
    )
}


@dataclass
class Found:
    types: dict[str, AgentType] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Invalid(Exception):
    """One source's mistake, already a whole error line."""


def load_types(cwd: Path, home: Path, *, agents_json: str | None = None,
               repo_root: Path | None = None, plugins: Sequence[Active] = ()) -> Found:
    """Every agent type, the higher source winning a name; `home` is the user's home folder.
    A plugin's agents come after the user's, as PLUGIN:NAME."""
    found = Found()
    layers: list[list[AgentType]] = []
    if agents_json is not None:
        layers.append(_from_json(agents_json, found.errors))
    layers += [_from_folder(folder, found.errors) for folder in agent_folders(cwd, home, repo_root)]
    layers += [plugin_agents(active, found.errors) for active in plugins]
    layers.append(list(BUILTIN.values()))
    for layer in layers:
        for agent in layer:
            found.types.setdefault(agent.name, agent)
    return found


def plugin_agents(active: Active, errors: list[str]) -> list[AgentType]:
    """A plugin's agents, named PLUGIN:NAME, their bodies' ${CLAUDE_PLUGIN_ROOT} filled in. As in
    Claude Code, a plugin's agent cannot pick its own permission mode: it runs under its parent's."""
    out = []
    for entry in active.plugin.agent_dirs:
        if entry.is_dir():
            read = _from_folder(entry, errors)
        else:
            try:
                read = [_from_file(entry)]
            except _Invalid as exc:
                errors.append(str(exc))
                continue
        out += [replace(agent, name=f"{active.name}:{agent.name}", permission_mode=None, dont_ask=False,
                        instructions=active.fill(agent.instructions)) for agent in read]
    return out


def agent_folders(cwd: Path, home: Path, repo_root: Path | None = None) -> list[Path]:
    """The folders agent files are read from, highest precedence first."""
    cwd = cwd.resolve()
    top = (repo_root or walk.repo_root(cwd)).resolve()
    folders = [cwd / ".nano_claude" / "agents"]
    folders += [level / ".claude" / "agents" for level in walk.levels(cwd, top)]
    folders += [home / ".nano_claude" / "agents", home / ".claude" / "agents"]
    unique: dict[Path, Path] = {}
    for folder in folders:
        unique.setdefault(folder.resolve(), folder)  # home inside the repository: read it once
    return list(unique.values())


def _from_folder(folder: Path, errors: list[str]) -> list[AgentType]:
    try:
        files = sorted(path for path in folder.rglob("*.md") if path.is_file())
    except OSError as exc:
        errors.append(f"{folder}: cannot be listed ({exc.strerror or exc}); check its permissions")
        return []
    types: dict[str, AgentType] = {}
    for path in files:
        try:
            agent = _from_file(path)
        except _Invalid as exc:
            errors.append(str(exc))
            continue
        if agent.name in types:
            errors.append(f"{path}: the name {agent.name!r} is taken by {types[agent.name].source} in "
                          "the same folder; rename one of them (the first one is used)")
            continue
        types[agent.name] = agent
    return list(types.values())


def _from_file(path: Path) -> AgentType:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"{path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise _Invalid(f"{path}: cannot be read ({exc.strerror or exc}); "
                       "check that it is a file you may read") from None
    try:
        meta, body = frontmatter.parse(text, str(path))
    except frontmatter.FrontMatterError as exc:
        raise _Invalid(str(exc)) from None
    if not meta:
        raise _Invalid(f"{path}: has no front matter; begin the file with a --- line, "
                       "description: <when to use this agent>, and a closing --- line")
    return _build(meta.get("name", path.stem), meta, body.strip(), str(path), str(path))


def _from_json(text: str, errors: list[str]) -> list[AgentType]:
    import json

    example = """'{"reviewer": {"description": "Reviews code", "prompt": "You review..."}}'"""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(f"--agents: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                      f"pass an object of agent types by name, e.g. {example}")
        return []
    if not isinstance(data, dict):
        errors.append(f"--agents: the JSON is {type(data).__name__}, not an object of agent types by "
                      f"name; pass e.g. {example}")
        return []
    types = []
    for name, entry in data.items():
        label = f"--agents: {name}"
        try:
            if not isinstance(entry, dict):
                raise _Invalid(f"{label}: is {type(entry).__name__}, not an object; write "
                               '{"description": "...", "prompt": "..."}')
            prompt = entry.get("prompt") or ""
            if not isinstance(prompt, str):
                raise _Invalid(f'{label}: "prompt" must be text; write the instructions as one string')
            types.append(_build(name, entry, prompt.strip(), "--agents", label))
        except _Invalid as exc:
            errors.append(str(exc))
    return types


def _build(name: Any, meta: Mapping[Any, Any], instructions: str, source: str, label: str) -> AgentType:
    """An AgentType from front matter (or an --agents entry); `label` starts each error."""
    if not isinstance(name, str) or not name.strip():
        raise _Invalid(f"{label}: name must be text; write e.g. name: code-reviewer")
    name = name.strip()
    if ":" in name or "/" in name or any(char.isspace() for char in name):
        raise _Invalid(f"{label}: the name {name!r} holds a colon, slash or space; "
                       "use letters, digits and hyphens, e.g. code-reviewer")
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _Invalid(f"{label}: description is missing; add description: <when to use this "
                       "agent> (the model picks agents by it)")
    mode, dont_ask = _permission_mode(meta.get("permissionMode"), label)
    return AgentType(
        name=name,
        description=description.strip(),
        instructions=instructions,
        tools=_names(meta.get("tools"), "tools", label),
        disallowed=_names(meta.get("disallowedTools"), "disallowedTools", label) or (),
        model=_model(meta.get("model"), label),
        permission_mode=mode,
        dont_ask=dont_ask,
        max_turns=_max_turns(meta.get("maxTurns"), label),
        skills=_names(meta.get("skills"), "skills", label) or (),
        source=source,
    )


def _names(value: Any, key: str, label: str) -> tuple[str, ...] | None:
    """A comma-separated string or a list; None when absent. Commas inside `Name(a, b)` stay."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items = _split_top_level(value)
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = value
    else:
        raise _Invalid(f"{label}: {key} must be names separated by commas or a list of names; "
                       f"write e.g. {key}: Read, Grep, Glob")
    return tuple(item.strip() for item in items if item.strip())


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth <= 0:
            items.append(text[start:index])
            start = index + 1
    items.append(text[start:])
    return items


def _model(value: Any, label: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{label}: model must be a model name or inherit; write e.g. model: sonnet")
    value = value.strip()
    return None if value in ("", "inherit") else value


def _permission_mode(value: Any, label: str) -> tuple[str | None, bool]:
    if value is None:
        return None, False
    if isinstance(value, str) and value.strip() in PERMISSION_MODES:
        return PERMISSION_MODES[value.strip()]
    raise _Invalid(f"{label}: permissionMode {value!r} is not one we know; use one of "
                   f"{', '.join(PERMISSION_MODES)}")


def _max_turns(value: Any, label: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid(f"{label}: maxTurns {value!r} is not a positive whole number; write e.g. maxTurns: 20")
    return value
