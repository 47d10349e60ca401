"""Skills and custom commands on disk: where they are, what a file says, which one wins a name.

Folders, highest precedence first (a name found twice: the higher one takes it):

    project   .nano_claude/skills/          NAME.md or NAME/SKILL.md (our format, with `triggers`)
              .claude/skills/               NAME/SKILL.md, in every folder from the cwd up to
                                            the repository root (the nearest first)
              .agents/skills/               NAME/SKILL.md, the same walk (what other agents install)
              .claude/commands/             *.md at any depth (Claude Code's custom commands),
                                            the same walk
    user      ~/.nano_claude/skills/, ~/.claude/skills/, ~/.agents/skills/, ~/.claude/commands/
    plugin    each enabled plugin's skills/, commands/ and skill files, as /PLUGIN:NAME, and as
              /NAME too when nothing else has that name (extensions/plugins)
    built-in  the files shipped in builtin/ (/commit, /review)

So within a level a skill beats a command of the same name, and a project's command beats a
user's skill. A skill runs as /NAME: the file or folder name, unless its `triggers` name
commands (`triggers: ["/deploy", "ship it"]`: the ones starting with "/" are command names;
the others are phrases the listing shows the model). A malformed file is one error line (its
path and why) and is skipped; the rest load. Reading the folders costs a few `stat`s when they
are absent; yaml is imported only when a file has front matter (extensions/frontmatter.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nano_claude.core.errors import ConfigError
from nano_claude.extensions import frontmatter, walk

if TYPE_CHECKING:
    from nano_claude.extensions.plugins import Active

Level = Literal["project", "user", "built-in"]
Kind = Literal["skill", "command"]
Layout = Literal["ours", "folders", "commands"]  # NAME.md + NAME/SKILL.md | NAME/SKILL.md | **/*.md

BUILTIN = Path(__file__).with_name("builtin")
SKILL_FILE = "SKILL.md"
DESCRIPTION_CAP = 1536  # description + when_to_use, as Claude Code caps them in its listing
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_ARGUMENT = re.compile(r"^[A-Za-z_]\w*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# `argument-hint: [env] [version]` is not YAML (a list, then more): it is meant as text
_HINT_LINE = re.compile(r"^(argument[-_]hint):[ \t]+(\[.*?)\s*$", re.M)
_PLAIN_LINE = re.compile(r"^([A-Za-z_][\w-]*):(?:[ \t]+(.*?))?[ \t]*$")
_YAML_MARKS = "'[]{}|>&*!%@`#-?,"
_YAML_NULLS = ("~", "null", "Null", "NULL")


@dataclass(frozen=True)
class Skill:
    name: str  # what it runs as, /name: the first of `commands`
    description: str
    body: str
    source: str  # the file it was read from
    level: Level
    kind: Kind  # "command": a .claude/commands file; "skill": any other
    folder: Path  # the folder holding its file: ${CLAUDE_SKILL_DIR}
    commands: tuple[str, ...] = ()  # every /name it answers to
    triggers: tuple[str, ...] = ()  # phrases (triggers that are not /commands)
    title: str = ""  # the front matter's `name`, when it differs from the command
    when_to_use: str = ""
    argument_hint: str = ""
    arguments: tuple[str, ...] = ()  # named positional arguments: $env, $ENV
    allowed_tools: tuple[str, ...] = ()  # permission rules allowed for the turn it runs in
    disallowed_tools: tuple[str, ...] = ()  # ... and refused for it
    model: str | None = None
    context: Literal["inline", "fork"] = "inline"
    agent: str | None = None  # the sub-agent type of a fork
    disable_model_invocation: bool = False
    user_invocable: bool = True
    own_folder: bool = False  # NAME/SKILL.md: the folder is the skill's, supporting files and all
    plugin: str = ""  # the plugin it comes with: its names are PLUGIN:NAME
    plugin_allowed: bool = True  # ... and whether the user allowed that plugin's code (its commands)

    @property
    def model_invocable(self) -> bool:
        return not self.disable_model_invocation

    def supporting_files(self) -> list[str]:
        """Files beside SKILL.md in the skill's own folder (the model reads them when it needs to)."""
        if not self.own_folder:
            return []
        try:
            return sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(self.folder)
                          if e.name != SKILL_FILE and not e.name.startswith("."))
        except OSError:
            return []


@dataclass(frozen=True)
class Location:
    folder: Path
    layout: Layout
    level: Level


@dataclass
class Found:
    """The skills by command name, in precedence order, and what went wrong reading them."""

    by_name: dict[str, Skill] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    shadowed: list[tuple[Skill, Skill]] = field(default_factory=list)  # (hidden, by the one that won)

    @property
    def skills(self) -> list[Skill]:
        """Each skill once, in the order their first name was found."""
        unique: dict[int, Skill] = {}
        for skill in self.by_name.values():
            unique.setdefault(id(skill), skill)
        return list(unique.values())

    def get(self, name: str) -> Skill | None:
        """By command name (with or without its slash), or by the front matter's `name`."""
        name = name.strip().removeprefix("/")
        found = self.by_name.get(name)
        if found is None:
            found = next((s for s in self.skills if s.title == name), None)
        return found


class SkillFileError(ConfigError):
    """A skill or command file that cannot be used; the message names the file and the fix."""


def load_skills(cwd: Path, home: Path, *, repo_root: Path | None = None,
                builtin: Path | None = BUILTIN, plugins: Sequence[Active] = ()) -> Found:
    """Every skill and command, the higher location winning each name; `home` is the user's home."""
    found = Found()
    where = locations(cwd, home, repo_root=repo_root, builtin=builtin)
    shipped = where.pop() if builtin is not None else None
    layers = [_read_location(location, found.errors) for location in where]
    layers += [plugin_skills(active, found.errors) for active in plugins]
    if shipped is not None:
        layers.append(_read_location(shipped, found.errors))
    for skill in (skill for layer in layers for skill in layer):
        for name in skill.commands:
            winner = found.by_name.setdefault(name, skill)
            if winner is not skill:
                found.shadowed.append((skill, winner))
    for skill in (skill for layer in layers for skill in layer if skill.plugin):
        for name in skill.commands:  # /NAME as well as /PLUGIN:NAME, while nothing else is /NAME
            found.by_name.setdefault(name.partition(":")[2], skill)
    return found


def plugin_skills(active: Active, errors: list[str]) -> list[Skill]:
    """A plugin's skills and commands, named PLUGIN:NAME, ${CLAUDE_PLUGIN_ROOT} and
    ${CLAUDE_PLUGIN_DATA} filled in their bodies."""
    plugin, level = active.plugin, active.scope
    read: list[Skill] = []
    for folder in plugin.skill_dirs:
        read += _read_location(Location(folder, "folders", level), errors)
    for path in plugin.skill_files:
        stem = plugin.name if path.parent == plugin.root else path.parent.name if path.name == SKILL_FILE \
            else path.stem
        try:
            read.append(read_skill(path, stem, level, "skill", own_folder=path.name == SKILL_FILE
                                   and path.parent != plugin.root))
        except SkillFileError as exc:
            errors.append(str(exc))
    for entry in plugin.command_dirs:
        if entry.is_dir():
            read += _read_location(Location(entry, "commands", level), errors)
            continue
        try:
            read.append(read_skill(entry, entry.stem, level, "command"))
        except SkillFileError as exc:
            errors.append(str(exc))
    out, taken = [], set()
    for skill in read:
        commands = tuple(f"{plugin.name}:{name}" for name in skill.commands)
        if any(name in taken for name in commands):
            errors.append(f"{skill.source}: /{commands[0]} is taken by another of the plugin's skills or "
                          "commands; rename one (the first one is used)")
            continue
        taken.update(commands)
        out.append(replace(skill, name=commands[0], commands=commands, body=active.fill(skill.body),
                           plugin=plugin.name, plugin_allowed=active.code))
    return out


def locations(cwd: Path, home: Path, *, repo_root: Path | None = None,
              builtin: Path | None = BUILTIN) -> list[Location]:
    """Where skills are read from, highest precedence first (each folder once)."""
    cwd = cwd.resolve()
    top = (repo_root or walk.repo_root(cwd)).resolve()
    levels = list(walk.levels(cwd, top))
    wanted = [Location(cwd / ".nano_claude" / "skills", "ours", "project")]
    wanted += [Location(level / ".claude" / "skills", "folders", "project") for level in levels]
    wanted += [Location(level / ".agents" / "skills", "folders", "project") for level in levels]
    wanted += [Location(level / ".claude" / "commands", "commands", "project") for level in levels]
    wanted += [Location(home / ".nano_claude" / "skills", "ours", "user"),
               Location(home / ".claude" / "skills", "folders", "user"),
               Location(home / ".agents" / "skills", "folders", "user"),
               Location(home / ".claude" / "commands", "commands", "user")]
    if builtin is not None:
        wanted.append(Location(builtin, "ours", "built-in"))
    unique: dict[Path, Location] = {}
    for location in wanted:  # the home folder inside the repository: read once, as the project's
        unique.setdefault(Path(os.path.realpath(location.folder)), location)
    return list(unique.values())


# --- one folder ---------------------------------------------------------------------------------

def _read_location(location: Location, errors: list[str]) -> list[Skill]:
    try:
        files = list(_files(location))
    except FileNotFoundError:
        return []
    except OSError as exc:
        errors.append(f"{location.folder}: cannot be listed ({exc.strerror or exc}); check its permissions")
        return []
    kind: Kind = "command" if location.layout == "commands" else "skill"
    taken: dict[str, Skill] = {}
    out = []
    for path, stem, own_folder in files:
        try:
            skill = read_skill(path, stem, location.level, kind, own_folder=own_folder)
        except SkillFileError as exc:
            errors.append(str(exc))
            continue
        clash = next((taken[n] for n in skill.commands if n in taken), None)
        if clash is not None:
            errors.append(f"{path}: /{skill.name} is taken by {clash.source} in the same folder; rename "
                          "one of them (the first one is used)")
            continue
        taken.update(dict.fromkeys(skill.commands, skill))
        out.append(skill)
    return out


def _files(location: Location) -> Iterator[tuple[Path, str, bool]]:
    """(file, the name it gives, whether the folder is the skill's own), sorted by path."""
    folder = location.folder
    if location.layout == "commands":
        if not folder.is_dir():
            raise FileNotFoundError(folder)
        found, seen = [], set()
        for root, dirs, names in os.walk(folder, followlinks=True):
            real = os.path.realpath(root)
            dirs[:] = [] if real in seen else sorted(d for d in dirs if not d.startswith("."))
            if real in seen:  # a link back up the tree: walked once
                continue
            seen.add(real)
            found += [Path(root) / n for n in names if n.endswith(".md") and not n.startswith(".")]
        for path in sorted(found):
            yield path, path.stem, False
        return
    entries = sorted(os.scandir(folder), key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            skill_file = Path(entry.path) / SKILL_FILE
            if skill_file.is_file():
                yield skill_file, entry.name, True
        elif location.layout == "ours" and entry.name.endswith(".md") and entry.is_file():
            yield Path(entry.path), entry.name[:-3], False


def read_skill(path: Path, stem: str, level: Level, kind: Kind, *, own_folder: bool = False) -> Skill:
    """One file as a Skill; SkillFileError says what is wrong with it and how to fix it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SkillFileError(f"{path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise SkillFileError(f"{path}: cannot be read ({exc.strerror or exc}); "
                             "check that it is a file you may read") from None
    text = _quote_hint(text)
    try:
        meta, body = _plain_front_matter(text) or frontmatter.parse(text, str(path))
    except frontmatter.FrontMatterError as exc:
        raise SkillFileError(str(exc)) from None
    return build(meta, body, path, stem, level, kind, own_folder=own_folder)


def _quote_hint(text: str) -> str:
    """`argument-hint: [env] [version]` as the text it is meant to be (YAML reads a list, or fails)."""
    end = text.find("\n---", 3)
    if not text.lstrip("\ufeff").startswith("---") or end < 0:
        return text

    def quoted(match: re.Match[str]) -> str:
        value = match.group(2).replace("\\", "\\\\").replace('"', '\\"')
        return f'{match.group(1)}: "{value}"'

    return _HINT_LINE.sub(quoted, text[:end]) + text[end:]


def _plain_front_matter(text: str) -> tuple[dict[str, Any], str] | None:
    """Front matter of plain one-line `key: value` pairs (the usual skill, and ours), read as
    YAML would read them but without importing yaml (30 ms at every start); None for anything
    else (lists, quotes YAML treats specially, comments, an unclosed block), which
    frontmatter.parse reads (and reports)."""
    text = text.removeprefix("\ufeff")
    first, _, rest = text.partition("\n")
    if first.rstrip() != "---":
        return {}, text
    lines = rest.replace("\r\n", "\n").split("\n")
    closing = next((i for i, line in enumerate(lines) if line.rstrip() == "---"), None)
    if closing is None:
        return None
    meta: dict[str, Any] = {}
    for line in lines[:closing]:
        if not line.strip():
            continue
        match = _PLAIN_LINE.match(line)
        if match is None:
            return None
        value: Any = match.group(2) or None
        if value is not None and value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                return None
            if not isinstance(value, str):
                return None
        elif value is not None and (value[0] in _YAML_MARKS or " #" in value or value in _YAML_NULLS):
            return None
        meta[match.group(1)] = value
    return meta, "\n".join(lines[closing + 1:])


def build(meta: Mapping[Any, Any], body: str, path: Path, stem: str, level: Level, kind: Kind, *,
          own_folder: bool = False) -> Skill:
    """A Skill from front matter (keys with - or _ alike; unknown ones ignored) and body."""
    label = str(path)
    fields = {str(k).strip().lower().replace("_", "-"): v for k, v in meta.items()}
    title = _text(fields.get("name"), "name", label)
    triggers = _words(fields.get("triggers"), "triggers", label, split=False)
    commands = tuple(t[1:].strip() for t in triggers if t.startswith("/"))
    phrases = tuple(t for t in triggers if not t.startswith("/"))
    if not commands:
        commands = (stem,)
    for name in commands:
        if not _NAME.match(name):
            raise SkillFileError(f"{label}: /{name} cannot be a command name (no spaces or slashes); use "
                                 "letters, digits and - _ . : (e.g. triggers: [/deploy])")
    body = body.strip("\n")
    description = _text(fields.get("description"), "description", label) or _first_paragraph(body)
    context = (_text(fields.get("context"), "context", label) or "inline").lower()
    if context not in ("inline", "fork"):
        raise SkillFileError(f"{label}: context {context!r} is not inline or fork; write context: fork "
                             "to run it as a sub-agent, or leave it out")
    model = _text(fields.get("model"), "model", label)
    arguments = _words(fields.get("arguments"), "arguments", label, split=True)
    for argument in arguments:
        if not _ARGUMENT.match(argument):
            raise SkillFileError(f"{label}: the argument name {argument!r} is not a name; use letters, "
                                 "digits and _ (e.g. arguments: [env, version])")
    return Skill(
        name=commands[0], description=description, body=body, source=label, level=level, kind=kind,
        folder=path.parent, commands=commands, triggers=phrases,
        title=title if title and title != commands[0] else "",
        when_to_use=_text(fields.get("when-to-use"), "when_to_use", label),
        argument_hint=_text(fields.get("argument-hint"), "argument-hint", label),
        arguments=arguments,
        allowed_tools=_rules(fields.get("allowed-tools"), "allowed-tools", label),
        disallowed_tools=_rules(fields.get("disallowed-tools"), "disallowed-tools", label),
        model=None if model in ("", "inherit") else model,
        context=context,  # type: ignore[arg-type]
        agent=_text(fields.get("agent"), "agent", label) or None,
        disable_model_invocation=_flag(fields.get("disable-model-invocation"), "disable-model-invocation",
                                       label, default=False),
        user_invocable=_flag(fields.get("user-invocable"), "user-invocable", label, default=True),
        own_folder=own_folder,
    )


# --- fields -------------------------------------------------------------------------------------

def _text(value: Any, key: str, label: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        if key == "argument-hint" and isinstance(value, list):  # [issue-number] read as a list
            return " ".join(f"[{v}]" for v in value)
        raise SkillFileError(f"{label}: {key} must be text; write {key}: <text> (quote it if it holds "
                             "\": \" or starts with [ or {)")
    return str(value).strip()


def _flag(value: Any, key: str, label: str, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise SkillFileError(f"{label}: {key} {value!r} is not true or false; write {key}: true "
                         "(yes/no, on/off and 1/0 work too)")


def _words(value: Any, key: str, label: str, *, split: bool) -> tuple[str, ...]:
    """A list of strings, or one string (split on commas and spaces when `split`)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = re.split(r"[,\s]+", value) if split else [value]
    elif isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        items = [str(v) for v in value]
    else:
        raise SkillFileError(f"{label}: {key} must be a list of text; write e.g. {key}: [a, b]")
    return tuple(item.strip() for item in items if item.strip())


def _rules(value: Any, key: str, label: str) -> tuple[str, ...]:
    """Permission rules: `Bash(git add:*), Read` or a list; each must parse as a rule."""
    from nano_claude.permissions.rules import parse_rule, split_rules

    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = split_rules(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value if v.strip()]
    else:
        raise SkillFileError(f"{label}: {key} must be rules separated by commas, or a list of rules; "
                             f"write e.g. {key}: Bash(git status:*), Read")
    for item in items:
        try:
            parse_rule(item, "allow", label)
        except ConfigError:
            raise SkillFileError(f"{label}: {key} holds {item!r}, which is not a permission rule; write Tool "
                                 "or Tool(specifier), e.g. Bash(git add:*)") from None
    return tuple(items)


def _first_paragraph(body: str) -> str:
    """The description a file without one gets: its first paragraph, headings' # taken off."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    prose = [p for p in paragraphs if not all(line.lstrip().startswith("#") for line in p.splitlines())]
    for paragraph in prose or paragraphs:
        return " ".join(line.strip().lstrip("#").strip() for line in paragraph.splitlines())[:250]
    return ""
