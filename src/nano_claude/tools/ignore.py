"""Which files a search sees: .gitignore-style rules, and a walk that honours them the way
ripgrep does, so Glob and Grep's Python fallback see exactly the files `rg` sees.

The precedence mirrors ripgrep's `ignore` crate. For each path, `.rgignore` beats `.ignore`,
which beats `.gitignore`, which beats `.git/info/exclude`; within each kind the deepest
directory with a matching rule decides, and within one file the last matching line.
`.gitignore` and `.git/info/exclude` count only inside a git repository (a directory holding
`.git` at or above the path) and stop at its root; `.ignore` and `.rgignore` apply anywhere,
read from every ancestor. Hidden files are walked; `.git` never is; symbolic links are not
followed. The user's global excludes file is not read (ripgrep runs with --no-ignore-global).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

MAGIC = frozenset("*?[{")


def has_magic(part: str) -> bool:
    return any(c in MAGIC for c in part)


def glob_to_regex(glob: str) -> str:
    """A glob as regex source: `*` and `?` stay within one path component, `**` spans any
    number of them, plus `[...]` classes, `{a,b}` alternatives and backslash escapes."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            if j - i >= 2 and (i == 0 or glob[i - 1] == "/") and (j == n or glob[j] == "/"):
                out.append(".*" if j == n else "(?:.*/)?")
                i = j + (j < n)
                continue
            out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            piece, i = _char_class(glob, i)
            out.append(piece)
        elif c == "{":
            piece, i = _alternatives(glob, i)
            out.append(piece)
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _char_class(glob: str, start: int) -> tuple[str, int]:
    i = start + 1
    negate = i < len(glob) and glob[i] in "!^"
    i += negate
    body: list[str] = []
    first = True
    while i < len(glob) and (glob[i] != "]" or first):
        c = glob[i]
        if c == "\\" and i + 1 < len(glob):
            i += 1
            body.append(re.escape(glob[i]))
        else:
            body.append("-" if c == "-" and not first and glob[i + 1:i + 2] != "]" else re.escape(c))
        first = False
        i += 1
    if i >= len(glob):  # no closing bracket: a literal "["
        return re.escape("["), start + 1
    return ("[^/" if negate else "[") + "".join(body) + "]", i + 1


def _alternatives(glob: str, start: int) -> tuple[str, int]:
    depth, i, parts, part_start = 0, start, [], start + 1
    while i < len(glob):
        c = glob[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                parts.append(glob[part_start:i])
                return "(?:" + "|".join(glob_to_regex(p) for p in parts) + ")", i + 1
        elif c == "," and depth == 1:
            parts.append(glob[part_start:i])
            part_start = i + 1
        i += 1
    return re.escape("{"), start + 1  # unclosed: a literal "{"


# ripgrep's own definitions (rg --type-list) of the common file types.
_TYPES = """\
c: *.[chH], *.[chH].in, *.cats
clojure: *.clj, *.cljc, *.cljs, *.cljx
cmake: *.cmake, CMakeLists.txt
config: *.cfg, *.conf, *.config, *.ini
cpp: *.[ChH], *.[ChH].in, *.[ch]pp, *.[ch]pp.in, *.[ch]xx, *.[ch]xx.in, *.cc, *.cc.in, *.hh,
    *.hh.in, *.inl
cs: *.cs
csharp: *.cs
css: *.css, *.scss
dart: *.dart
docker: *Dockerfile*
elixir: *.eex, *.ex, *.exs, *.heex, *.leex, *.livemd
erlang: *.erl, *.hrl
go: *.go
h: *.h, *.hh, *.hpp
haskell: *.c2hs, *.cpphs, *.hs, *.hsc, *.lhs
html: *.ejs, *.htm, *.html
java: *.java, *.jsp, *.jspx, *.properties
js: *.cjs, *.js, *.jsx, *.mjs, *.vue
json: *.json, *.sarif, composer.lock
julia: *.jl
kotlin: *.kt, *.kts
lua: *.lua
make: *.mak, *.mk, [Gg][Nn][Uu]makefile, [Gg][Nn][Uu]makefile.am, [Gg][Nn][Uu]makefile.in,
    [Mm]akefile, [Mm]akefile.am, [Mm]akefile.in
markdown: *.markdown, *.md, *.mdown, *.mdwn, *.mdx, *.mkd, *.mkdn
md: *.markdown, *.md, *.mdown, *.mdwn, *.mdx, *.mkd, *.mkdn
objc: *.h, *.m
ocaml: *.ml, *.mli, *.mll, *.mly
perl: *.PL, *.perl, *.pl, *.plh, *.plx, *.pm, *.t
php: *.php, *.php3, *.php4, *.php5, *.php7, *.php8, *.pht, *.phtml
py: *.py, *.pyi
r: *.R, *.Rmd, *.Rnw, *.r
rst: *.rst
ruby: *.gemspec, *.rb, *.rbw, .irbrc, Gemfile, Rakefile, config.ru
rust: *.rs
scala: *.sbt, *.scala
sh: *.bash, *.bashrc, *.csh, *.cshrc, *.ksh, *.kshrc, *.sh, *.tcsh, *.zsh, .bash_login,
    .bash_logout, .bash_profile, .bashrc, .cshrc, .kshrc, .login, .logout, .profile, .tcshrc,
    .zlogin, .zlogout, .zprofile, .zshenv, .zshrc, bash_login, bash_logout, bash_profile, bashrc,
    profile, zlogin, zlogout, zprofile, zshenv, zshrc
sql: *.psql, *.sql
svelte: *.svelte
swift: *.swift
tf: *.auto.tfvars, *.auto.tfvars.json, *.terraform.lock.hcl, *.terraformrc, *.tf, *.tf.json, *.tfrc,
    terraform.rc, terraform.tfvars, terraform.tfvars.json
toml: *.toml, Cargo.lock
ts: *.cts, *.mts, *.ts, *.tsx
txt: *.txt
vim: *.vim, .gvimrc, .vimrc, _gvimrc, _vimrc, gvimrc, vimrc
vue: *.vue
xml: *.dtd, *.rng, *.sch, *.xhtml, *.xjb, *.xml, *.xml.dist, *.xsd, *.xsl, *.xslt
yaml: *.yaml, *.yml
zig: *.zig
"""


def type_table() -> dict[str, list[str]]:
    """Type name -> globs; an indented line continues the one above."""
    table: dict[str, list[str]] = {}
    name = ""
    for line in _TYPES.splitlines():
        if not line.startswith(" "):
            name, _, line = line.partition(": ")
        table.setdefault(name, []).extend(g.strip() for g in line.split(",") if g.strip())
    return table


def type_names() -> list[str]:
    return list(type_table())


def type_pattern(name: str) -> re.Pattern[str] | None:
    """What a file's name must match to be of one of rg's types (None: not a type we know)."""
    globs = type_table().get(name)
    return re.compile("|".join(map(glob_to_regex, globs)), re.S) if globs else None


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negated: bool  # a "!" line: re-includes what an earlier line excluded
    dir_only: bool  # a trailing "/": matches directories only


def parse_rule(line: str) -> Rule | None:
    """One .gitignore line, or None for blanks and comments. A pattern with a slash
    before its end is anchored to the file's directory; one without matches at any depth."""
    line = line.rstrip("\r\n")
    if not line.endswith("\\ "):
        line = line.rstrip()
    if not line or line.startswith("#"):
        return None
    negated = anchored = False
    if line.startswith(("\\!", "\\#")):
        line = line[1:]
    else:
        if line.startswith("!"):
            negated, line = True, line[1:]
        if line.startswith("/"):
            anchored, line = True, line[1:]
    dir_only = line.endswith("/")
    if dir_only:
        line = line[:-1]
        if line.endswith("\\"):
            line = line[:-1]
    if not line:
        return None
    if not anchored and "/" not in line:
        line = "**/" + line
    if line.endswith("/**"):
        line += "/*"  # everything inside the directory, not the directory itself
    return Rule(re.compile(glob_to_regex(line), re.S), negated, dir_only)


class RuleSet:
    """The rules of one ignore file, matched against paths relative to its directory."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(reversed(rules))  # the last matching line wins
        # One combined pattern answers the usual question, "does any line match?", in one go.
        self._any = re.compile("|".join(f"(?:{r.regex.pattern})" for r in rules), re.S)

    @classmethod
    def parse(cls, text: str) -> RuleSet | None:
        rules = [r for r in map(parse_rule, text.splitlines()) if r is not None]
        return cls(rules) if rules else None

    @classmethod
    def load(cls, path: str) -> RuleSet | None:
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        return cls.parse(text)

    def match(self, path: str, is_dir: bool) -> bool | None:
        """True: ignored; False: re-included by a "!" line; None: no line matches."""
        if not self._any.fullmatch(path):
            return None
        for rule in self.rules:
            if (is_dir or not rule.dir_only) and rule.regex.fullmatch(path):
                return not rule.negated
        return None


class Overrides:
    """ripgrep's --glob: a matching glob decides alone (ignore files are not consulted, so
    "*.log" finds ignored logs); with any positive glob, files matching none are skipped.
    Globs are relative to the searched directory; "!glob" excludes."""

    def __init__(self, globs: Sequence[str]) -> None:
        # In gitignore terms a user's positive glob is an "ignore" line, then read inverted.
        rules = [r for r in map(parse_rule, globs) if r is not None]
        self.rules = RuleSet(rules)
        self.positive = any(not r.negated for r in rules)

    def include(self, path: str, is_dir: bool) -> bool | None:
        """True: take it; False: skip it; None: the globs have no say."""
        m = self.rules.match(path, is_dir)
        if m is None:
            return False if self.positive and not is_dir else None
        return m


@dataclass(frozen=True)
class _Frame:
    """The ignore files of one directory. A path relative to the walk's start becomes
    relative to this directory as `prefix + path[strip:]`."""

    prefix: str
    strip: int
    custom: RuleSet | None  # .rgignore
    ignore: RuleSet | None  # .ignore
    git: RuleSet | None  # .gitignore
    exclude: RuleSet | None  # .git/info/exclude
    has_git: bool


def _frame(directory: str, names: set[str] | None, prefix: str, strip: int) -> _Frame | None:
    def load(name: str) -> RuleSet | None:
        if names is not None and name not in names:
            return None
        return RuleSet.load(os.path.join(directory, name))

    git_dir = os.path.join(directory, ".git")
    has_git = ".git" in names if names is not None else os.path.lexists(git_dir)
    exclude = RuleSet.load(os.path.join(git_dir, "info", "exclude")) if has_git else None
    frame = _Frame(prefix, strip, load(".rgignore"), load(".ignore"), load(".gitignore"), exclude, has_git)
    if has_git or frame.custom or frame.ignore or frame.git or exclude:
        return frame
    return None


def ancestor_frames(start: str) -> tuple[_Frame, ...]:
    """The ignore files above the walk's start, outermost first."""
    real = os.path.realpath(start)
    frames: list[_Frame] = []
    parent = os.path.dirname(real)
    while True:
        prefix = os.path.relpath(real, parent).replace(os.sep, "/") + "/"
        frame = _frame(parent, None, prefix, 0)
        if frame is not None:
            frames.append(frame)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    return tuple(reversed(frames))


def is_ignored(frames: Sequence[_Frame], rel: str, is_dir: bool) -> bool | None:
    """The verdict of the ignore files on a path: True ignored, False re-included, None silent."""
    custom = ignore = git = exclude = None
    any_git = any(f.has_git for f in frames)
    saw_git = False
    for f in reversed(frames):
        path = f.prefix + rel[f.strip:]
        if custom is None and f.custom is not None:
            custom = f.custom.match(path, is_dir)
        if ignore is None and f.ignore is not None:
            ignore = f.ignore.match(path, is_dir)
        if any_git and not saw_git:
            if git is None and f.git is not None:
                git = f.git.match(path, is_dir)
            if exclude is None and f.exclude is not None:
                exclude = f.exclude.match(path, is_dir)
        saw_git = saw_git or f.has_git
    for verdict in (custom, ignore, git, exclude):
        if verdict is not None:
            return verdict
    return None


def walk(start: str, *, overrides: Overrides | None = None, name_filter: re.Pattern[str] | None = None,
         max_depth: int | None = None, stop: Callable[[], bool] | None = None,
         ) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """The files under `start` a search should see: (path relative to start, entry).

    `overrides` are --glob style globs; `name_filter` must match a file's name (a file
    type); `max_depth` 1 keeps to start's own files; `stop` is polled once per directory.
    """
    pending: list[tuple[str, str, tuple[_Frame, ...], int]] = [(start, "", ancestor_frames(start), 0)]
    while pending:
        directory, rel_dir, frames, depth = pending.pop()
        if stop is not None and stop():
            return
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            continue
        frame = _frame(directory, {e.name for e in entries}, "", len(rel_dir))
        if frame is not None:
            frames = (*frames, frame)
        for entry in entries:
            if entry.name == ".git":
                continue
            try:
                if entry.is_symlink():
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            rel = rel_dir + entry.name
            take = overrides.include(rel, is_dir) if overrides is not None else None
            if take is False:
                continue
            if take is None:
                if frames and is_ignored(frames, rel, is_dir):
                    continue
                if not is_dir and name_filter is not None and not name_filter.fullmatch(entry.name):
                    continue
            if is_dir:
                if max_depth is None or depth + 1 < max_depth:
                    pending.append((entry.path, rel + "/", frames, depth + 1))
            else:
                yield rel, entry
