"""The permission policy: mode + rules + a tool call -> allow, ask or deny, with the reason
and the rule that decided. Pure apart from reading the file system to resolve paths, so
it can be tested exhaustively and never talked around.

Order never matters: deny wins over ask over allow. A shell command is judged part by
part (see shell.py): it runs unasked only if every part may.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from nano_claude.core.errors import ConfigError
from nano_claude.permissions.commands import Effects, Tree, destructive, effects
from nano_claude.permissions.rules import (
    Rule,
    RuleSet,
    command_words,
    matches_command,
    matches_domain,
    matches_path,
    parse_rule,
    save_allow_rules,
)
from nano_claude.permissions.shell import DYNAMIC, Redirect, SimpleCommand, parse
from nano_claude.permissions.trees import WALK_LIMIT, reach

Mode = Literal["auto", "accept-all", "manual", "plan"]
MODES: tuple[Mode, ...] = ("auto", "accept-all", "manual", "plan")
Decision = Literal["allow", "ask", "deny"]
_RANK = {"allow": 0, "ask": 1, "deny": 2}
SAFE_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_PLAIN_WORD = re.compile(r"^[A-Za-z][\w:-]*$")
Matcher = Callable[[Rule], bool]


@dataclass(frozen=True)
class Ruling:
    decision: Decision
    reason: str = ""
    rule: str = ""  # the rule that decided, and where it came from
    suggestions: tuple[str, ...] = ()  # allow rules that would let this run next time

    def __str__(self) -> str:
        by = f" (rule {self.rule})" if self.rule else ""
        return f"{self.decision}: {self.reason}{by}"


@dataclass(frozen=True)
class Call:
    tool: str
    kind: str  # read | edit | shell | fetch | memory | other
    target: str | None  # the path, command or URL the rules match
    read_only: bool


def _worst(rulings: Iterable[Ruling]) -> Ruling:
    """Deny if any part is denied, else ask if any asks (offering every part's rule)."""
    best = Ruling("allow", "allowed")
    suggestions: list[str] = []
    for ruling in rulings:
        if ruling.decision == "ask":
            suggestions.extend(s for s in ruling.suggestions if s not in suggestions)
        if _RANK[ruling.decision] > _RANK[best.decision] or (ruling.rule and not best.rule
                                                             and ruling.decision == best.decision):
            best = ruling
    if best.decision == "ask":
        return Ruling("ask", best.reason, best.rule, tuple(suggestions))
    return best


def _cite(rule: Rule) -> str:
    return f"{rule} from {rule.source}" if rule.source else str(rule)


@dataclass
class Policy:
    mode: Mode
    rules: RuleSet
    project: Path
    home: Path
    cwd: Path | None = None
    extra_dirs: tuple[Path, ...] = ()
    session: RuleSet = field(default_factory=RuleSet)  # "allow for this session" answers
    save_to: Path | None = None  # where an "always" answer writes its rules
    walk_limit: int = WALK_LIMIT  # entries a recursive read may list before we ask instead
    # A skill's allowed-tools (allow) and disallowed-tools (deny) for the run it is used in;
    # whoever runs the agent empties it when the run ends (end_turn)
    turn: RuleSet = field(default_factory=RuleSet)
    # Tools a sub-agent may use only in the forms its type names (`tools: Bash(git diff:*)`): a
    # call of the tool must match one of each group's rules (a nested agent's groups add up)
    scoped: tuple[tuple[Rule, ...], ...] = ()

    def __post_init__(self) -> None:
        self.project = Path(os.path.realpath(self.project))
        self.cwd = Path(os.path.realpath(self.cwd or self.project))
        dirs = (*self.extra_dirs, *self.rules.extra_dirs)
        self.extra_dirs = tuple(Path(os.path.realpath(self.project / d)) for d in dirs)

    # --- the public face ------------------------------------------------------------

    def judge(self, call: Call) -> Ruling:
        if call.kind == "shell":
            return self.judge_command(call.target or "")
        outside = self.outside_scope(call)
        if outside:
            return Ruling("deny", outside)
        if call.kind in ("read", "edit"):
            tool = "Edit" if call.kind == "edit" else call.tool
            path = self._resolve(call.target or ".", self.cwd)
            return self._path(call.tool, tool, path, write=call.kind == "edit", explicit=True)
        hit = self._first(call.tool, lambda r: self._matches_other(r, call))
        if hit:
            return hit
        if self.mode == "accept-all":
            return Ruling("allow", "accept-all mode")
        if self.mode == "plan" and not call.read_only:
            return self._plan_denial(call.tool)
        if self.mode == "manual":
            return Ruling("ask", "manual mode asks before every tool", suggestions=(call.tool,))
        allowed = self._rule("allow", call.tool, lambda r: self._matches_other(r, call))
        if allowed:
            return Ruling("allow", "allowed by a rule", _cite(allowed))
        if call.kind == "fetch":
            host = _suggest_fetch(call)
            return Ruling("ask", "reaches the network", suggestions=(host,))
        if call.read_only:
            return Ruling("allow", "read-only tool")
        if call.kind == "memory":  # the agent's own notes, in its own folders (extensions/memory)
            return Ruling("allow", "writes only the memory folders")
        return Ruling("ask", f"{call.tool} changes things", suggestions=(call.tool,))

    def outside_scope(self, call: Call) -> str:
        """Why a call falls outside the forms its tool is scoped to ("" when it does not)."""
        for group in self.scoped:
            if not group or group[0].tool != call.tool:
                continue
            if not self._within(call, group):
                shown = ", ".join(str(rule) for rule in group)
                return (f"this agent may use {call.tool} only as {shown} (its type's tools); "
                        "do it another way or leave it to the caller")
        return ""

    def _within(self, call: Call, rules: tuple[Rule, ...]) -> bool:
        """Every command of a shell line matches a form, and it writes no file by a redirect
        (reading one, or writing /dev/null, is fine); a path matches as written and where it
        really leads."""
        if call.kind == "shell":
            script = parse(call.target or "")
            if script.problems:
                return False
            for item in script.order:
                if isinstance(item, Redirect):
                    if item.writes and item.target != "/dev/null":
                        return False
                elif not any(matches_command(rule, text) for rule in rules
                             for text in (item.normalized, _wrapped_text(item))):
                    return False
            return True
        if call.kind in ("read", "edit"):
            path = self._resolve(call.target or ".", self.cwd or self.project)
            return all(any(rule.content is None or matches_path(rule, form, self.project, self.home)
                           for rule in rules) for form in _forms(path))
        return any(self._matches_other(rule, call) for rule in rules)

    def judge_command(self, command: str) -> Ruling:
        """The decision for a shell command, with the rule that made it (for `/permissions
        why` and the tests)."""
        outside = self.outside_scope(Call("Bash", "shell", command, False))  # a sub-agent held to forms
        if outside:
            return Ruling("deny", outside)
        if not command.strip():
            return Ruling("allow", "empty command")
        script = parse(command)
        rulings: list[Ruling] = []
        for problem in script.problems:
            rulings.append(Ruling("ask", f"cannot be checked: {problem}", suggestions=()))
        cwd: Path | None = self.cwd
        for item in script.order:
            if cwd is None and self.mode != "accept-all":
                rulings.append(Ruling("ask", "runs in a directory only known at run time"))
            if isinstance(item, Redirect):
                if item.target == DYNAMIC or cwd is None:
                    rulings.append(Ruling("ask", "redirects to a file only known at run time"))
                    continue
                if item.writes:
                    path = self._resolve(item.target, cwd)
                    rulings.append(self._path("Bash", "Edit", path, write=True, explicit=True))
                else:  # `< .e*`: bash expands globs here too
                    rulings.append(self._operand(item.target, cwd, write=False))
                continue
            part = item
            if part.name in ("cd", "pushd", "popd"):
                cwd = self._change_directory(part.words, cwd)
            found = effects(part)
            danger = destructive(part.words) or self._deletes_outside(found, cwd)
            rulings.append(self._command_part(part.normalized, _wrapped_text(part), found, danger))
            reads = found.reads
            if found.read_only and not reads and cwd != self.cwd:
                reads = (".",)  # `cd ~/.ssh && ls`: it reads where it now is
            for target in reads:
                rulings.append(self._operand(target, cwd, write=False, tree=found.tree))
            for target in found.writes:
                rulings.append(self._operand(target, cwd, write=True, quiet_inside=True))
        return _worst(rulings)

    def _change_directory(self, words: tuple[str, ...], cwd: Path | None) -> Path | None:
        """Where `cd DIR` leads; None (unknown) for anything we cannot follow exactly:
        options, `cd -`, the directory stack, computed paths."""
        args = words[1:]
        if cwd is None or words[0] == "popd" or any(a.startswith(("-", "+")) for a in args):
            return None
        if len(args) > 1 or (words[0] == "pushd" and not args):
            return None
        target = args[0] if args else str(self.home)
        return None if target == DYNAMIC else self._resolve(target, cwd)

    def end_turn(self) -> None:
        """The run a skill was used in is over: its allowed and disallowed tools no longer apply."""
        self.turn.rules.clear()

    def remember(self, suggestions: Iterable[str]) -> None:
        """An "allow for this session" answer."""
        for text in suggestions:
            self.session.rules.append(parse_rule(text, "allow", "this session"))

    def save(self, suggestions: Iterable[str]) -> str:
        """An "always" answer: the rules go to the project's local settings. Returns what
        happened, in words for the user."""
        rules = list(suggestions)
        if self.save_to is None or not rules:
            return "allowed for this session (no settings file to save the rule to)"
        try:
            warning = save_allow_rules(self.save_to, rules)
        except (ConfigError, OSError) as exc:
            return f"allowed for this session; could not save the rule: {exc}"
        return f"saved {', '.join(rules)} to {self.save_to}" + (f" ({warning})" if warning else "")

    # --- shell parts ------------------------------------------------------------------

    def _command_part(self, normalized: str, full: str, found: Effects, danger: str) -> Ruling:
        name, _, rest = normalized.partition(" ")
        base = " ".join(filter(None, (os.path.basename(name), rest)))  # /usr/bin/curl is curl

        def match(rule: Rule) -> bool:
            return any(matches_command(rule, text) for text in (normalized, full, base))

        hit = self._first("Bash", match)
        if hit:
            return hit
        if self.mode == "accept-all":
            return Ruling("allow", "accept-all mode")
        read_only = found.read_only
        if self.mode == "plan":
            return (Ruling("allow", "read-only command") if read_only and not danger
                    else self._plan_denial("Bash", normalized))
        if self.mode == "manual":
            return Ruling("ask", "manual mode asks before every command",
                          suggestions=(_suggest_command(normalized),))
        for rule in self._all("allow", "Bash"):
            if not match(rule):
                continue
            if danger and not _names_the_form(rule):
                continue  # a broad rule such as Bash(git:*) does not cover a destructive form
            return Ruling("allow", "allowed by a rule", _cite(rule))
        if danger:
            return Ruling("ask", danger, suggestions=(f"Bash({normalized})",))
        if read_only:
            return Ruling("allow", "read-only command")
        why = found.why or "runs a program"
        return Ruling("ask", f"{normalized.split(' ')[0]}: {why}",
                      suggestions=(_suggest_command(normalized),))

    def _deletes_outside(self, found: Effects, cwd: Path | None) -> str:
        if not found.recursive_delete:
            return ""
        for target in found.writes:
            if target == DYNAMIC or cwd is None:
                return "rm -r of paths only known at run time"
            path = self._resolve(target, cwd)
            if not self._inside(path) or path in (self.project, *self.extra_dirs):
                return f"rm -r outside the project ({path})"
        return ""

    def _operand(self, target: str, cwd: Path | None, *, write: bool, quiet_inside: bool = False,
                 tree: Tree | None = None) -> Ruling:
        """tree: how the command reads every file under a directory operand, if it does."""
        if target == DYNAMIC or cwd is None:
            return Ruling("ask", f"{'writes' if write else 'reads'} files only known at run time")
        if target == "-":
            return Ruling("allow", "standard input")
        path = self._resolve(target, cwd)
        paths = [path]
        if any(c in target for c in "*?["):  # a glob may reach a denied file
            paths += [Path(p) for p in glob.glob(str(path), recursive=True)[:1000]]
        kind = "Edit" if write else "Read"
        rulings = [self._path("Bash", kind, p, write=write, quiet_inside=quiet_inside) for p in paths]
        if tree and not write:
            rulings += [self._tree(p, tree) for p in paths if p.is_dir()]
        return _worst(rulings)

    def _tree(self, root: Path, tree: Tree) -> Ruling:
        """A recursive read of a directory must not reach what a Read deny or ask rule keeps."""
        kinds: tuple[Decision, ...] = ("deny", "ask")
        for kind in kinds:
            rules = [r for r in self._all(kind, "Read") if r.content is not None]
            found = reach(root, rules, self.project, self.home, hidden=tree.hidden, follow=tree.follow,
                          limit=self.walk_limit)
            where = self._relative(root) if root != self.project else "the project"
            if found.too_big:
                return Ruling("ask", f"reads every file under {where}, too many to check against the "
                                     f"Read {kind} rules; name the files, or search with the Grep tool "
                                     "(it leaves out what the rules keep)")
            if found.rule is not None:
                verb = "denies" if kind == "deny" else "asks before"
                return Ruling(kind, f"reads every file under {where}, including "
                                    f"{self._relative(found.path)}, which a rule {verb} reading; "
                                    "name the files, or search with the Grep tool (it leaves that file out)",
                              _cite(found.rule))
        return Ruling("allow", "no protected file under the directory")

    def protects(self, path: Path) -> bool:
        """Does a Read deny or ask rule keep this file from the model? Grep and Glob leave
        such files out of what they return."""
        rules = [r for kind in ("deny", "ask") for r in self._all(kind, "Read") if r.content is not None]
        return bool(rules) and any(matches_path(r, p, self.project, self.home)
                                   for r in rules for p in _forms(path))

    # --- paths ----------------------------------------------------------------------------

    def _path(self, tool: str, rule_tool: str, path: Path, *, write: bool, explicit: bool = False,
              quiet_inside: bool = False) -> Ruling:
        """Judge a file access. explicit: the tool's whole point is this file (Edit, a
        redirection), so writing it asks in auto mode; otherwise only the place matters."""
        if write and (str(path) in SAFE_DEVICES or re.fullmatch(r"/dev/fd/\d+", str(path))):
            return Ruling("allow", "a device")
        forms = _forms(path)

        def match(rule: Rule) -> bool:
            return any(matches_path(rule, p, self.project, self.home) for p in forms)

        lookup = "Edit" if write else rule_tool
        hit = self._first(lookup, match)
        if hit:
            return hit
        if self.mode == "accept-all":
            return Ruling("allow", "accept-all mode")
        if self.mode == "plan" and write:
            return self._plan_denial(tool, str(path))
        inside = self._inside(forms[-1])
        for rule in self._all("allow", lookup):
            if rule.content is None and not inside:
                continue  # a bare Edit or Read rule stays inside the project
            if match(rule):
                return Ruling("allow", "allowed by a rule", _cite(rule))
        if self.mode == "manual" and explicit:
            return Ruling("ask", "manual mode asks before every tool", suggestions=(tool,))
        where = self._relative(forms[-1])
        if not inside:
            verb = "writes" if write else "reads"
            kind = "Edit" if write else "Read"
            return Ruling("ask", f"{verb} outside the project: {path}",
                          suggestions=(f"{kind}(/{_dir_glob(forms[-1])})",))
        if write and explicit:
            return Ruling("ask", f"writes {where}", suggestions=(f"Edit({_dir_glob(Path(where))})",))
        return Ruling("allow", "inside the project")

    def _inside(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in (self.project, *self.extra_dirs))

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project))
        except ValueError:
            return str(path)

    def _resolve(self, target: str, cwd: Path) -> Path:
        if target == "~" or target.startswith("~/"):
            target = str(self.home) + target[1:]
        elif target.startswith("~"):
            return Path("/nonexistent-user-home") / target  # ~user: somebody else's home
        path = Path(target) if os.path.isabs(target) else cwd / target
        return Path(os.path.normpath(path))

    # --- rules -------------------------------------------------------------------------

    def _all(self, kind: str, tool: str) -> list[Rule]:
        return (self.rules.of(kind, tool) + self.session.of(kind, tool)  # type: ignore[arg-type]
                + self.turn.of(kind, tool))  # type: ignore[arg-type]

    def _rule(self, kind: str, tool: str, match: Matcher) -> Rule | None:
        return next((r for r in self._all(kind, tool) if match(r)), None)

    def _first(self, tool: str, match: Matcher) -> Ruling | None:
        """A deny or ask rule decides before the mode does."""
        denied = self._rule("deny", tool, match)
        if denied:
            return Ruling("deny", "denied by a rule", _cite(denied))
        asked = self._rule("ask", tool, match)
        if asked:
            return Ruling("ask", "a rule says to ask", _cite(asked))
        return None

    def _matches_other(self, rule: Rule, call: Call) -> bool:
        if call.kind == "fetch" and rule.content is not None:
            return matches_domain(rule, call.target or "")
        return rule.content is None or rule.content == call.target

    def _plan_denial(self, tool: str, what: str = "") -> Ruling:
        shown = f" ({what})" if what else ""
        return Ruling("deny", f"plan mode is read-only: {tool}{shown} would change something. "
                              "Finish the plan and present it; the user leaves plan mode to carry it out")


def _forms(path: Path) -> tuple[Path, ...]:
    """The path as written and where it really leads (a symlink cannot smuggle a file past
    a rule); the real one last."""
    real = Path(os.path.realpath(path))
    return (path, real) if real != path else (path,)


def _dir_glob(path: Path) -> str:
    parent = str(path.parent)
    return f"{parent.rstrip('/')}/**" if parent not in (".", "") else str(path)


def _wrapped_text(part: SimpleCommand) -> str:
    wrapped = " ".join(part.wrapped_by)
    return f"{wrapped} {part.normalized}" if wrapped else part.normalized


def _names_the_form(rule: Rule) -> bool:
    if rule.content is None:
        return False
    words = command_words(rule.content.removesuffix(":*").replace("*", ""))
    return bool(destructive(words))


# Programs whose second word is a subcommand: a rule names the subcommand (git commit:*).
_SUBCOMMANDS = {"git", "npm", "pnpm", "yarn", "bun", "cargo", "go", "docker", "podman", "kubectl", "bunx",
                "uvx", "pipx",
                "pip", "pip3", "uv", "poetry", "gh", "make", "brew", "apt", "apt-get", "dotnet",
                "mvn", "gradle", "terraform", "helm", "conda", "rustup", "deno", "npx", "just"}
# Programs that run other programs or code from their arguments, or change files by
# option: only the exact command is offered for them.
_RUNS_ANYTHING = {"awk", "gawk", "mawk", "sed", "find", "fd", "fdfind", "xargs", "env", "timeout", "nice",
                  "nohup", "stdbuf", "time", "command", "builtin", "exec", "watch", "strace", "ltrace",
                  "gdb", "lldb", "vim", "vi", "nvim", "emacs", "parallel", "script", "doas", "su", "rg",
                  "tar", "rsync", "git-lfs"}
# Runners whose first argument is the program to run (npx jest, uvx ruff).
_PACKAGE_RUNNERS = {"npx", "bunx", "uvx", "pipx"}
# Programs that run whatever code they are given: only the exact command is offered.
_INTERPRETERS = {"python", "python3", "node", "ruby", "perl", "php", "bash", "sh", "zsh", "deno",
                 "bun", "lua", "Rscript", "java", "osascript", "pwsh", "eval", "sudo", "ssh"}


def _suggest_command(normalized: str) -> str:
    """The rule an "allow" answer adds: narrow enough to mean what the user saw, and a
    prefix (`Bash(python -m pytest:*)`) wherever the prefix names one program run one way,
    so the next `-k other_test` does not ask again."""
    words = normalized.split(" ")
    name = words[0]
    exact = f"Bash({normalized})"
    if name in _RUNS_ANYTHING:
        return exact  # awk 'BEGIN{system(…)}', find -delete, env CMD: a prefix would allow anything
    if name in _SUBCOMMANDS:
        if len(words) < 2 or not _PLAIN_WORD.match(words[1]):
            return exact  # git -c alias.x=… x: options before the subcommand change what runs
        verb = words[1] in ("run", "run-script", "exec", "x", "dlx")
        rest = words[2:] if verb else words[1:]  # what a runner runs: npm run BUILD, npx JEST
        runs = verb or name in _PACKAGE_RUNNERS
        if runs and rest and rest[0] in _INTERPRETERS:  # uv run python -m pytest, npx node x.js
            prefix = _interpreter_prefix(rest)
            head = words[:len(words) - len(rest)]
            return f"Bash({' '.join(head)} {prefix}:*)" if prefix else exact
        depth = len(words) - len(rest) + 1 if runs and rest else 2
        if any(not _PLAIN_WORD.match(w) for w in words[:depth]):
            return exact
        return f"Bash({' '.join(words[:depth])}:*)"
    if name in _INTERPRETERS:
        prefix = _interpreter_prefix(words)
        return f"Bash({prefix}:*)" if prefix else exact
    if _PLAIN_WORD.match(name) or _SCRIPT.match(name):  # pytest -q, ./scripts/test.sh --fast
        return f"Bash({name}:*)"
    return exact


# A module run with -m, and a script in the project given to its interpreter.
_MODULE = re.compile(r"^[A-Za-z_][\w.]*$")
_SCRIPT = re.compile(r"^(\./)?[\w.-]+(/[\w.-]+)*\.(py|js|mjs|cjs|ts|rb|pl|php|sh|bash|lua|R)$")
# Interpreters that run a module or script as told, and nothing else, when given one.
_RUNNERS = {"python", "python3", "node", "ruby", "perl", "php", "bash", "sh", "zsh", "deno", "bun", "lua",
            "Rscript"}


def _interpreter_prefix(words: list[str]) -> str:
    """`python -m pytest …` -> `python -m pytest`; `python manage.py test` -> `python
    manage.py`. Empty when the interpreter runs code given inline (-c, -e, stdin) or is a
    gateway to anything (sudo, ssh, eval): only the exact command is offered then."""
    if words[0] not in _RUNNERS or len(words) < 2:
        return ""
    if words[1] == "-m" and len(words) > 2 and _MODULE.match(words[2]):
        return " ".join(words[:3])
    if _SCRIPT.match(words[1]) and ".." not in words[1].split("/"):
        return " ".join(words[:2])
    return ""


def _suggest_fetch(call: Call) -> str:
    host = urlsplit(call.target or "").hostname if call.tool == "WebFetch" else None
    return f"{call.tool}(domain:{host})" if host else call.tool
