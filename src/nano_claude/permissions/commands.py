"""What a simple command does: reads only, writes which files, or something destructive.

Read-only commands run without asking, but only in their harmless forms: `find`
without -exec or -delete, `sed` without -i or a `w` command, `git` subcommands
that only look. Anything not known to be harmless is not read-only.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

from nano_claude.permissions.shell import DYNAMIC, SimpleCommand, has_option


@dataclass(frozen=True)
class Tree:
    """How a command reads the files under a directory operand."""

    hidden: bool = True  # dot-names too (grep -r); rg and ag skip them unless told
    follow: bool = False  # into symbolic links (grep -R, rg -L)


@dataclass(frozen=True)
class Effects:
    read_only: bool
    reads: tuple[str, ...] = ()  # path arguments it reads
    writes: tuple[str, ...] = ()  # path arguments it writes or deletes
    why: str = ""  # why it is not read-only, when it is not
    recursive_delete: bool = False  # rm -r: destructive outside the project
    tree: Tree | None = None  # reads every file under a directory operand (grep -r, rg)


def _operands(words: tuple[str, ...], takes_value: frozenset[str] = frozenset()) -> list[str]:
    """Arguments that are not options (after `--`, everything)."""
    out: list[str] = []
    skip = False
    rest = False
    for word in words:
        if skip:
            skip = False
            continue
        if rest or word == DYNAMIC or not word.startswith("-") or word == "-":
            out.append(word)
        elif word == "--":
            rest = True
        elif word in takes_value:
            skip = True
    return out


_has = has_option


Check = Callable[[tuple[str, ...]], "Effects"]


def _paths(takes_value: frozenset[str] = frozenset(), *, first_is_code: bool = False,
           code_options: tuple[str, ...] = ()) -> Check:
    """A read-only command whose operands are files (after a pattern or program, if any)."""

    def check(args: tuple[str, ...]) -> Effects:
        operands = _operands(args, takes_value)
        if first_is_code and not _has(args, *code_options) and operands:
            operands = operands[1:]
        return Effects(True, reads=tuple(operands))

    return check


def _no_paths(args: tuple[str, ...]) -> Effects:
    return Effects(True)


def _refuse_options(check: Check, *options: str, why: str) -> Check:
    def guarded(args: tuple[str, ...]) -> Effects:
        if _has(args, *options):
            return Effects(False, why=why)
        return check(args)

    return guarded


def _find(args: tuple[str, ...]) -> Effects:
    dangerous = {"-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0",
                 "-fprintf", "-fls"}
    found = dangerous.intersection(args)
    if found:
        return Effects(False, why=f"find {sorted(found)[0]} runs commands or changes files")
    while (args and args[0] in ("-H", "-L", "-P")) or (args[:1] and args[0].startswith(("-D", "-O"))):
        args = args[1:]
    starts = next((i for i, w in enumerate(args) if w.startswith(("-", "(", "!")) and w != "-"),
                  len(args))
    return Effects(True, reads=tuple(args[:starts]) or (".",))


_SED_S = re.compile(r"s(.)((?:\\.|(?!\1).)*)\1((?:\\.|(?!\1).)*)\1([A-Za-z0-9]*)")
_SED_ADDRESS = re.compile(r"/(?:\\.|[^/])*/I?")
_SED_OK = re.compile(r"[\s0-9,$;!{}+~pdqnPND=lgGhHxz]*")


def _sed_script_is_harmless(script: str) -> bool:
    rest = script
    for match in _SED_S.finditer(script):
        if not set(match.group(4)) <= set("gpiImM0123456789"):
            return False  # the w and e flags write files and run commands
    rest = _SED_S.sub(";", rest)
    rest = _SED_ADDRESS.sub("", rest)
    return _SED_OK.fullmatch(rest) is not None


def _sed(args: tuple[str, ...]) -> Effects:
    if _has(args, "-i", "--in-place"):
        files = _operands(args, frozenset({"-e", "-f", "--expression", "--file"}))
        scripted = any(w in ("-e", "-f", "--expression", "--file") or w.startswith(("-e", "--expr"))
                       for w in args)
        return Effects(False, writes=tuple(files if scripted else files[1:]),
                       why="sed -i edits files in place")
    if _has(args, "-f", "--file"):
        return Effects(False, why="sed -f runs a script from a file")
    scripts = [args[i + 1] for i, w in enumerate(args[:-1]) if w in ("-e", "--expression")]
    scripts += [w[2:] for w in args if w.startswith("-e") and len(w) > 2]
    scripts += [w.split("=", 1)[1] for w in args if w.startswith("--expression=")]
    operands = _operands(args, frozenset({"-e", "--expression", "-l"}))
    if not scripts and operands:
        scripts, operands = [operands[0]], operands[1:]
    if any(s == DYNAMIC or not _sed_script_is_harmless(s) for s in scripts):
        return Effects(False, why="the sed script may write files or run commands")
    return Effects(True, reads=tuple(operands))


# Comparisons (NR>1, $3 > 100) are fine; `>` before a string, a variable or "(" may write.
_AWK_RISKY = re.compile(r"system|\||getline|@|ARGV|ENVIRON|>\s*[\"(a-zA-Z_$]|>>|printf?\s*>")


def _awk(args: tuple[str, ...]) -> Effects:
    if any(w.startswith("-") and not w.startswith(("-F", "-v", "--field-separator", "--assign"))
           for w in args if w != "--"):
        return Effects(False, why="that awk option may load code")
    operands = _operands(args, frozenset({"-F", "-v", "--assign", "--field-separator"}))
    if not operands:
        return Effects(False, why="awk without a program")
    program = operands[0]
    if program == DYNAMIC or _AWK_RISKY.search(program):
        return Effects(False, why="the awk program may run commands or write files")
    return Effects(True, reads=tuple(operands[1:]))


def _sort(args: tuple[str, ...]) -> Effects:
    if _has(args, "-o", "--output"):
        return Effects(False, why="sort -o writes a file")
    if _has(args, "--compress-program", "--files0-from", "-T", "--temporary-directory"):
        return Effects(False, why="that sort option runs a program or reads a file list")
    return Effects(True, reads=tuple(_operands(args, frozenset({"-k", "-t", "-S", "-T"}))))


def _uniq(args: tuple[str, ...]) -> Effects:
    operands = _operands(args, frozenset({"-f", "-s", "-w"}))
    if len(operands) > 1:
        return Effects(False, writes=(operands[1],), why="uniq IN OUT writes OUT")
    return Effects(True, reads=tuple(operands))


def _at_most_one(check: Check, why: str) -> Check:
    def guarded(args: tuple[str, ...]) -> Effects:
        operands = _operands(args)
        return Effects(False, writes=tuple(operands[1:]), why=why) if len(operands) > 1 else check(args)

    return guarded


def _without_operands(check: Check, why: str) -> Check:
    def guarded(args: tuple[str, ...]) -> Effects:
        return Effects(False, why=why) if _operands(args) else check(args)

    return guarded


def _version_only(args: tuple[str, ...]) -> Effects:
    if args and all(a in ("--version", "-V", "-VV", "--help", "-h") for a in args):
        return Effects(True)
    return Effects(False, why="runs a program")


_HEAD_TAIL = frozenset({"-n", "-c", "--lines", "--bytes"})
_GREP_VALUE = frozenset({"-e", "-f", "-m", "-A", "-B", "-C", "--include", "--exclude",
                         "--exclude-dir", "--max-count", "--regexp", "--file", "--label", "-d", "-D"})
_GREP_CODE = ("-e", "-f", "--regexp", "--file")
_RG_VALUE = frozenset({"-e", "-g", "-t", "-T", "-m", "-A", "-B", "-C", "-j", "-M", "-E",
                       "--glob", "--iglob", "--type", "--type-not", "--max-count", "--regexp",
                       "--context", "--after-context", "--before-context", "--encoding",
                       "--max-columns", "--sort", "--sortr", "--threads", "--max-depth",
                       "--type-add", "--color", "--colors", "-r", "--replace", "-d"})

def _tree(check: Check) -> Check:
    """Directory operands are read file by file, links followed (diff compares what two
    directories hold)."""

    def reads_trees(args: tuple[str, ...]) -> Effects:
        found = check(args)
        return replace(found, tree=Tree(follow=True)) if found.read_only else found

    return reads_trees


def _grep(args: tuple[str, ...]) -> Effects:
    found = _paths(_GREP_VALUE, first_is_code=True, code_options=_GREP_CODE)(args)
    follow = _has(args, "-R", "--dereference-recursive")
    recursive = follow or _has(args, "-r", "--recursive", "--directories=recurse") \
        or any(a.startswith("-d") and a.endswith("recurse") for a in args) \
        or any(b == "recurse" and a in ("-d", "--directories") for a, b in pairwise(args))
    if recursive:
        return replace(found, reads=found.reads or (".",), tree=Tree(follow=follow))  # no file: the cwd
    return found


def _searcher(check: Check, show_hidden: tuple[str, ...], follow: tuple[str, ...]) -> Check:
    """rg and ag search the cwd when given no path, skipping dot-names unless told not to."""

    def searches(args: tuple[str, ...]) -> Effects:
        found = check(args)
        if not found.read_only:
            return found
        tree = Tree(hidden=_has(args, *show_hidden), follow=_has(args, *follow))
        return replace(found, reads=found.reads or (".",), tree=tree)

    return searches


READ_ONLY: dict[str, Check] = {
    # --files0-from reads the names of files to read from a file: unchecked reads, and
    # wc/du print each bad "name" (the file's contents) in their errors
    **{name: _refuse_options(_paths(), "--files0-from", why=f"{name} --files0-from reads a named file")
       for name in ("wc", "du")},
    **{name: _paths() for name in (
        "ls", "cat", "file", "stat", "less", "more", "nl", "md5sum",
        "sha1sum", "sha256sum", "sha512sum", "cksum", "b2sum", "realpath", "readlink",
        "cmp", "comm", "strings", "od", "hexdump", "column", "fold", "expand", "unexpand",
        "rev", "tac", "paste", "join", "cut", "fmt", "pr", "lsof", "bat", "exa", "eza")},
    "head": _paths(_HEAD_TAIL),
    "tree": _refuse_options(_paths(frozenset({"-L", "-P", "-I", "--charset", "--filelimit"})),
                            "-o", "--fromfile", why="tree -o writes a file"),
    "diff": _refuse_options(_tree(_paths()), "--to-file", "--from-file", "--exclude-from", "-X",
                            why="that diff option reads a named file"),
    "tail": _paths(_HEAD_TAIL | {"-s", "--sleep-interval", "--pid"}),
    "xxd": _refuse_options(_at_most_one(_paths(frozenset({"-s", "-l", "-c", "-g"})), "xxd IN OUT writes OUT"),
                           "-r", "--revert", why="xxd -r writes binary files"),
    "grep": _grep, "egrep": _grep, "fgrep": _grep,
    "rg": _refuse_options(_searcher(_paths(_RG_VALUE, first_is_code=True, code_options=_GREP_CODE),
                                    ("--hidden", "-.", "-u", "--unrestricted"), ("-L", "--follow")),
                          "--pre", "--hostname-bin", why="rg --pre and --hostname-bin run a program"),
    "ag": _searcher(_paths(frozenset({"-G", "-A", "-B", "-C", "-m"}), first_is_code=True),
                    ("--hidden", "-u", "--unrestricted"), ("-f", "--follow")),
    "jq": _refuse_options(_paths(frozenset({"--indent", "-L"}), first_is_code=True,
                                 code_options=("-f", "--from-file")),
                          "--arg", "--argjson", "--slurpfile", "--rawfile", "--args", "--jsonargs",
                          why="jq reads named files or takes arguments it was not checked for"),
    "find": _find,
    "fd": _refuse_options(_paths(frozenset({"-e", "-t", "-d", "-E", "--extension", "--type",
                                            "--max-depth", "--exclude"}), first_is_code=True),
                          "-x", "--exec", "-X", "--exec-batch", why="fd -x runs commands"),
    "sed": _sed,
    "awk": _awk, "gawk": _awk, "mawk": _awk,
    "sort": _sort,
    "uniq": _uniq,
    "tr": _no_paths,
    **{name: _no_paths for name in (
        "pwd", "whoami", "id", "uname", "true", "false", ":", "break", "continue", "seq",
        "printenv", "which", "type", "whereis", "basename", "dirname", "nproc", "uptime", "free",
        "ps", "df", "lscpu", "groups", "tty", "locale", "arch", "sleep", "cd", "pushd", "popd",
        "dirs", "jobs", "getconf", "cal")},
    "date": _refuse_options(_no_paths, "-s", "--set", "-f", "--file", "-r", "--reference",
                            why="date -s sets the clock; -f and -r read files"),
    # test -v 'a[$(cmd)]' evaluates the subscript, running cmd
    "test": _refuse_options(_no_paths, "-v", why="test -v can run commands in array subscripts"),
    "[": _refuse_options(_no_paths, "-v", why="[ -v ] can run commands in array subscripts"),
    "printf": _refuse_options(_no_paths, "-v", why="printf -v sets a shell variable"),
    "echo": _no_paths,
    "hostname": _without_operands(_no_paths, "hostname NAME renames the machine"),
    "env": _without_operands(_no_paths, "runs a program"),
    "command": lambda args: Effects(args[:1] in (("-v",), ("-V",))) if args else Effects(False),
    **{name: _version_only for name in (
        "python", "python3", "node", "npm", "pip", "pip3", "ruby", "cargo", "rustc", "go",
        "java", "javac", "gcc", "make", "uv", "poetry", "deno", "bun", "tsc")},
}

# --- git ------------------------------------------------------------------------

_GIT_GLOBAL_VALUE = {"-C"}
_GIT_SAFE_GLOBAL = {"--no-pager", "-P", "--no-optional-locks", "--no-replace-objects", "--bare",
                    "--literal-pathspecs", "--paginate", "-p"}
_GIT_READ = {"status", "log", "diff", "show", "blame", "shortlog", "describe", "rev-parse",
             "rev-list", "ls-files", "ls-tree", "cat-file", "grep", "annotate", "whatchanged",
             "show-ref", "for-each-ref", "merge-base", "name-rev", "count-objects", "diff-tree",
             "diff-files", "diff-index", "check-ignore", "var", "version", "help", "range-diff"}
_GIT_NEVER = ("--output", "--ext-diff", "-O", "--open-files-in-pager", "--exec", "--upload-pack",
              "--receive-pack", "--contents", "--textconv")


def git_subcommand(words: tuple[str, ...]) -> tuple[int, str | None]:
    """Index and name of git's subcommand, or None when a global option is not harmless."""
    i = 1
    while i < len(words):
        word = words[i]
        if word in _GIT_GLOBAL_VALUE:
            i += 2
        elif word in _GIT_SAFE_GLOBAL:
            i += 1
        elif word.startswith("-"):
            return i, None  # -c, --exec-path, --git-dir, --config-env, ...
        else:
            return i, word
    return i, ""


def _git(words: tuple[str, ...]) -> Effects:
    i, sub = git_subcommand(words)
    if sub is None:
        return Effects(False, why=f"git {words[i]} changes how git runs")
    args = words[i + 1:]
    global_dirs = tuple(words[j + 1] for j in range(1, i) if words[j] == "-C" and j + 1 < len(words))
    outputs = _git_outputs(args, global_dirs)
    if outputs:  # judged as writes, so Edit rules and the project's bounds apply whatever allows the command
        return Effects(False, writes=outputs, why="git --output writes a file")
    if _has(args, *_GIT_NEVER):
        return Effects(False, why="that git option writes files or runs programs")
    if sub in _GIT_READ:
        # Paths given to git diff/grep/blame/show may be files outside the repository
        # (git diff /dev/null FILE switches to --no-index on its own): judge them as reads.
        operands = tuple(o for o in _operands(args) if "/" in o or o.startswith((".", "~")))
        return Effects(True, reads=global_dirs + operands)
    listing = {
        "branch": ("-a", "-r", "-v", "-vv", "--list", "-l", "--show-current", "--all", "--remotes",
                   "--verbose", "--contains", "--merged", "--no-merged", "--points-at", "--format",
                   "--sort", "--column", "--no-column", "--color", "--no-color"),
        "tag": ("-l", "--list", "-n", "--contains", "--merged", "--no-merged", "--points-at",
                "--format", "--sort", "--column"),
        "remote": ("-v", "--verbose", "get-url"),
        "stash": ("list", "show"),
        "reflog": ("show",),
        "worktree": ("list",),
        "submodule": ("status",),
        "config": ("--get", "--get-all", "--list", "-l", "--get-regexp"),
    }
    if sub in listing:
        allowed = listing[sub]
        first = args[0] if args else ""
        lists = not args or first in allowed or (first.startswith("--") and first.split("=")[0] in allowed)
        if sub == "remote" and len(args) > 1 and first != "get-url":
            lists = False  # git remote -v add evil URL
        flags_only = all(a.startswith("-") and a.split("=")[0] in allowed for a in args)
        if sub in ("branch", "tag") and lists and ("--list" in args or "-l" in args or flags_only):
            return Effects(True, reads=global_dirs)
        stash_view = sub == "stash" and args[:1] in (("list",), ("show",))  # bare `stash` saves
        if (sub in ("remote", "reflog", "worktree", "submodule") and lists) or stash_view:
            return Effects(True, reads=global_dirs)
        if sub == "config" and args and first in allowed and len(_operands(args)) <= 1:
            return Effects(True, reads=global_dirs)
    return Effects(False, why=f"git {sub} can change the repository")


def _git_outputs(args: tuple[str, ...], global_dirs: tuple[str, ...]) -> tuple[str, ...]:
    """The files `--output=FILE` / `--output FILE` (diff, log, show, format-patch) write,
    where git writes them: relative to its -C folders."""
    found = []
    for index, word in enumerate(args):
        if word == "--":
            break
        if word.startswith("--output="):
            found.append(word.split("=", 1)[1])
        elif word == "--output":
            found.append(args[index + 1] if index + 1 < len(args) else DYNAMIC)
    if not global_dirs:
        return tuple(found)
    if DYNAMIC in global_dirs:
        return tuple(DYNAMIC for _ in found)
    return tuple(t if t == DYNAMIC or t.startswith("~") else posixpath.join(*global_dirs, t) for t in found)


# --- commands that write files ------------------------------------------------------

_WRITERS_ALL = {"rm", "rmdir", "touch", "mkdir", "truncate", "shred", "unlink", "tee"}
_WRITERS_LAST = {"cp", "mv", "ln", "install", "rsync", "scp"}


def _written(name: str, args: tuple[str, ...]) -> tuple[str, ...]:
    operands = _operands(args, frozenset({"-m", "--mode", "-s", "--size", "-t", "--target-directory",
                                          "-S", "--suffix", "-o", "-g"}))
    if name in _WRITERS_ALL:
        return tuple(operands)
    if name in _WRITERS_LAST:
        targets = [args[i + 1] for i, w in enumerate(args[:-1]) if w in ("-t", "--target-directory")]
        return tuple(targets) or tuple(operands[-1:])
    if name in ("chmod", "chown", "chgrp"):
        return tuple(operands[1:])
    if name == "dd":
        return tuple(w[3:] for w in args if w.startswith("of="))
    return ()


def effects(command: SimpleCommand) -> Effects:
    words = command.words
    if not words:
        return Effects(True)
    name = words[0]
    if name == "git":
        return _git(words)
    check = READ_ONLY.get(name)
    if check is not None:
        return check(words[1:])
    written = _written(name, words[1:])
    recursive = name == "rm" and _has(words[1:], "-r", "-R", "--recursive")
    why = "runs a program" if not written else f"{name} changes files"
    return Effects(False, writes=written, why=why, recursive_delete=recursive)


# --- destructive forms: ask even under a broad allow rule ---------------------------------

def destructive(words: tuple[str, ...]) -> str:
    """The destructive form this command takes ("" if none). Only a rule that names the
    form itself (e.g. `Bash(git push --force:*)`) allows it without asking."""
    if not words:
        return ""
    if words[0] == "git":
        i, sub = git_subcommand(words)
        args = words[i + 1:]
        if sub == "reset" and _has(args, "--hard", "--merge", "--keep"):
            return "git reset --hard discards uncommitted work"
        if sub == "clean" and _has(args, "-f", "--force"):
            return "git clean -f deletes untracked files"
        if sub == "push" and (_has(args, "--force", "-f", "--force-with-lease", "--force-if-includes",
                                   "--delete", "-d", "--mirror", "--prune")
                              or any(a.startswith("+") or a.startswith(":") for a in _operands(args))):
            return "git push --force rewrites or deletes remote history"
        if sub == "checkout" and ("--" in args or "." in args or _has(args, "-f", "--force")):
            return "git checkout -- discards uncommitted changes"
        if sub == "restore" and not (_has(args, "--staged", "-S") and not _has(args, "--worktree", "-W")):
            return "git restore discards uncommitted changes"
        if sub == "branch" and (_has(args, "-D") or (_has(args, "-d", "--delete")
                                                       and _has(args, "-f", "--force"))):
            return "git branch -D deletes a branch that may not be merged"
        if sub == "switch" and _has(args, "--discard-changes", "-f", "--force"):
            return "git switch --discard-changes discards uncommitted changes"
        if sub == "branch" and _has(args, "-f", "--force") and _operands(args):
            return "git branch -f moves a branch, possibly losing commits"
        if sub == "stash" and args[:1] in (("drop",), ("clear",)):
            return "git stash drop deletes stashed work"
        if sub in ("filter-branch", "filter-repo") or (sub == "reflog" and args[:1] in (("expire",),
                                                                                       ("delete",))):
            return f"git {sub} rewrites history"
        if sub == "update-ref" and _has(args, "-d"):
            return "git update-ref -d deletes a ref"
        return _git_runs_a_program(words, i, sub, args)
    return ""


# Global options that make git run what they name: config (core.pager, alias.x=!cmd,
# diff.external), its own programs, another repository's config
_GIT_RUNS_GLOBAL = ("-c", "--config-env", "--exec-path=", "--git-dir", "--work-tree")
_GIT_RUNS = ("--ext-diff", "--upload-pack", "--receive-pack", "--exec", "--open-files-in-pager")


def _git_runs_a_program(words: tuple[str, ...], i: int, sub: str | None, args: tuple[str, ...]) -> str:
    """A form that makes git run another program. Counted as destructive so that a rule for
    the subcommand (`Bash(git log:*)`, a skill's grant) or for git does not cover it."""
    if sub is None and words[i].startswith(_GIT_RUNS_GLOBAL):
        return f"git {words[i].split('=', 1)[0]} can make git run any program"
    if _has(args, *_GIT_RUNS) or (sub == "grep" and _has(args, "-O")):
        return f"git {sub} with that option runs another program"
    return ""
