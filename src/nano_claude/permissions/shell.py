"""Shell commands parsed, not prefix-matched.

A command line becomes every simple command it would run (nested ones in `$( )`,
backticks, `<( )`, subshells, loops and `bash -c '…'` included), every file
redirection, and the constructs we refuse to judge. The permission policy then
judges each part on its own: `ls; rm -rf ~` is two commands, not one that starts
with `ls`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

# A word we cannot know before the shell runs (a variable, a command's output).
DYNAMIC = "\x00"

# Assignments known to be harmless; any other (PATH, LD_PRELOAD, LESSOPEN, GIT_*, a tool's
# config path...) can change what a command runs, so it is not stripped away.
SAFE_VARIABLES = frozenset({"LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR", "FORCE_COLOR", "CLICOLOR",
                            "COLUMNS", "LINES", "CI", "DEBUG", "NODE_ENV", "RUST_BACKTRACE",
                            "RUST_LOG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "VERBOSE"})


def has_option(words: tuple[str, ...], *options: str) -> bool:
    """Is any of these options present: exact, long with =value, an unambiguous prefix of
    a long one (GNU tools take `--sp` for `--split-string`), or a short one clustered
    with others (`-iS` holds `-S`)?"""
    for word in words:
        if word == "--":
            return False
        given = word.split("=", 1)[0]
        for option in options:
            if word == option or (option.startswith("--") and word.startswith(option + "=")):
                return True
            if option.startswith("--") and given.startswith("--") and len(given) > 2 \
                    and option.startswith(given):
                return True
            if (len(option) == 2 and option[0] == "-" and word.startswith("-")
                    and not word.startswith("--") and option[1] in word[1:]):
                return True
    return False


def risky_variable(name: str) -> bool:
    return name not in SAFE_VARIABLES and not name.startswith("LC_")


# Wrapper options that run code or change where a command runs or writes.
RISKY_WRAPPER_OPTIONS = {"env": ("-S", "--split-string", "-C", "--chdir"), "time": ("-o", "--output"),
                         "xargs": ("-a", "--arg-file")}

SHELLS = {"bash", "sh", "dash", "zsh", "ksh"}
DECLARATIONS = {"export", "declare", "typeset", "local", "readonly", "unset", "unsetenv"}
# Wrappers that run their argument as a command without changing what it may do.
# value: the options that take a value.
WRAPPERS: dict[str, set[str]] = {
    "env": {"-u", "--unset", "-C", "--chdir", "-S", "--split-string"},
    "nice": {"-n", "--adjustment"},
    "nohup": set(),
    "time": {"-f", "--format", "-o", "--output"},
    "timeout": {"-s", "--signal", "-k", "--kill-after"},
    "stdbuf": {"-i", "-o", "-e"},
    "command": set(),
    "builtin": set(),
    "exec": {"-a"},
    # -i, -l and -e take their optional value attached (-i{}), never as the next word
    "xargs": {"-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L",
              "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars"},
}


@dataclass(frozen=True)
class SimpleCommand:
    """One program the line would run, its words with quotes removed. A word that is
    only known at run time is DYNAMIC."""

    words: tuple[str, ...]
    assignments: tuple[str, ...] = ()
    text: str = ""  # as written
    wrapped_by: tuple[str, ...] = ()  # e.g. ("timeout 5",) for `timeout 5 make`

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""

    @property
    def normalized(self) -> str:
        """The words joined by single spaces, as rules are matched."""
        return " ".join("$?" if w == DYNAMIC else w for w in self.words)


@dataclass(frozen=True)
class Redirect:
    op: str  # > >> &> &>> >| < <> etc.
    target: str  # DYNAMIC when computed
    writes: bool


@dataclass
class Script:
    commands: list[SimpleCommand] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # `cd DIR` as it appears, in order, so later relative paths can be resolved
    order: list[SimpleCommand | Redirect] = field(default_factory=list)


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter
    import tree_sitter_bash

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))


def parse(command: str) -> Script:
    script = Script()
    _parse_into(command, script, depth=0)
    return script


def _parse_into(command: str, script: Script, depth: int) -> None:
    if depth > 4:
        script.problems.append("shell commands nested too deeply to check")
        return
    source = command.encode()
    root = _parser().parse(source).root_node
    walker = _Walker(script, depth, root, source)
    walker.visit(root)
    if root.has_error and not walker.saw_error:  # a backstop: the walk should have met it
        script.problems.append("cannot parse the command")


# Node types the walker knows. Statements hold other statements (and words); word parts
# are searched for the commands they run and for arithmetic that reads a variable. A named
# node of any other type makes the command ask: the walk is total, not a list of known
# dangers.
STATEMENTS = frozenset({
    "program", "list", "pipeline", "subshell", "compound_statement", "redirected_statement",
    "if_statement", "elif_clause", "else_clause", "while_statement", "do_group", "negated_command",
    "case_statement", "case_item", "for_statement", "c_style_for_statement", "test_command",
    "variable_assignments", "comment",
})
WORD_PARTS = frozenset({
    "word", "string", "string_content", "raw_string", "ansi_c_string", "translated_string",
    "concatenation", "simple_expansion", "expansion", "variable_name", "special_variable_name",
    "number", "array", "brace_expression", "extglob_pattern", "regex", "test_operator",
    "file_descriptor", "binary_expression", "unary_expression", "ternary_expression",
    "parenthesized_expression", "postfix_expression", "subscript", "arithmetic_expansion",
    "heredoc_start", "heredoc_body", "heredoc_content", "heredoc_end", "command_name",
    "variable_assignment",
})
REDIRECTS = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
SUBSTITUTIONS = frozenset({"command_substitution", "process_substitution"})
# Leaves whose text the shell takes literally: nothing in them runs.
LITERAL_LEAVES = frozenset({"raw_string", "ansi_c_string", "comment", "heredoc_start", "heredoc_end",
                            "file_descriptor", "test_operator"})
ARITHMETIC_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
QUOTED = frozenset({"raw_string", "ansi_c_string", "string", "translated_string"})
# Variables the shell sets itself from text a script handles ($_ is the last argument,
# BASH_REMATCH what a [[ =~ ]] matched): as untrusted as a loop variable.
IMPLICIT = frozenset({"_", "BASH_REMATCH", "REPLY", "MAPFILE", "OPTARG", "COPROC", "BASH_COMMAND",
                      "BASH_ARGV", "READLINE_LINE"})
# Text the shell would expand into a command, where the parser saw a plain word (it reads
# `${x:-`cmd`}` and backticks in here-documents as text).
_HIDDEN_CODE = re.compile(r"`|\$[(\[{]|[<>]\(")
_NUMBER = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|\d+(#\w+)?)")


def _tainted(root: Any) -> frozenset[str]:
    """Variables this script sets to something other than a number: a `for` loop's variable
    (`for f in *` takes file names), an assignment. Arithmetic evaluates a variable's value
    as an expression, and `a[$(cmd)]` in that value runs cmd, so such a variable read by
    arithmetic makes the command ask. Variables from the environment are the user's own."""
    names: set[str] = set(IMPLICIT)
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "expansion" and any(c.type in ("=", ":=") for c in node.children):
            names.update(_text(c) for c in node.children if c.type == "variable_name")  # ${x:=v}
        if node.type == "for_statement":
            name = node.child_by_field_name("variable")
            values = node.children_by_field_name("value")
            if name is not None and not (values and all(_NUMBER.fullmatch(_text(v)) for v in values)):
                names.add(_text(name))
        elif node.type == "variable_assignment":
            name, value = node.child_by_field_name("name"), node.child_by_field_name("value")
            if name is not None and not (value is not None and _NUMBER.fullmatch(_text(value))):
                names.add(_text(name).split("[", 1)[0])
    return frozenset(names)


class _Walker:
    def __init__(self, script: Script, depth: int, root: Any, source: bytes) -> None:
        self.script = script
        self.depth = depth
        self.root = root
        self.source = source
        self.saw_error = False

    @cached_property
    def tainted(self) -> frozenset[str]:
        """Found once, and only for a script whose arithmetic reads a variable."""
        return _tainted(self.root)

    def problem(self, text: str) -> None:
        if text not in self.script.problems:
            self.script.problems.append(text)

    # --- statements ----------------------------------------------------------------------

    def visit(self, node: Any) -> None:
        kind = node.type
        if kind == "ERROR" or node.is_missing:
            self._error(node)
        elif not node.is_named:
            return  # an operator or a keyword
        elif kind == "comment":
            before = self.source[node.start_byte - 1:node.start_byte]
            if before and before not in b" \t\n;&|()":
                self.problem(f"cannot parse {_text(node)[:40]!r}: bash reads a # there as text")
        elif kind == "function_definition":
            self.problem("defines a shell function")
        elif kind == "command":
            self._command(node)
        elif kind in ("declaration_command", "unset_command"):  # export, declare, local, unset
            for child in node.children:
                self.part(child)
            words = tuple(c.type if c.type in DECLARATIONS else _word(c)
                          for c in node.children if c.is_named or c.type in DECLARATIONS)
            self._add(SimpleCommand(words, (), _text(node)))
        elif kind == "variable_assignment":  # a standalone X=1
            name = _text(node.child_by_field_name("name") or node).split("=")[0]
            if risky_variable(name.split("[", 1)[0]):
                self.problem(f"sets {name}, which changes what later commands run")
            self.part(node)
        elif kind in REDIRECTS:
            self._redirect(node)
        elif kind in STATEMENTS:
            self._statement(node)
        elif kind in WORD_PARTS or kind in SUBSTITUTIONS:
            self.part(node)
        else:
            self.problem(f"cannot check a {kind.replace('_', ' ')}")

    def _statement(self, node: Any) -> None:
        kind = node.type
        if kind == "test_command" and re.search(r"(^|\s)-v\s", _text(node)):
            self.problem("[[ -v ]] evaluates array subscripts, which can run commands")
        if kind == "test_command" and node.children and node.children[0].type == "[" \
                and _has_token(node, {"<", ">", ">>", "<=", ">=", "<<", "&>", ">&", ">|"}):
            self.problem("[ … ] with < or >: bash redirects to a file there, not compares")
        first = node.children[0].type if node.children else ""
        # (( … )) and for (( … )) evaluate arithmetic; their bodies are statements
        arithmetic = kind == "c_style_for_statement" or (kind == "compound_statement" and first == "((")
        for child in node.children:
            if arithmetic and child.type != "do_group":
                self.part(child, arithmetic=True)
            else:
                self.visit(child)

    def _error(self, node: Any) -> None:
        self.saw_error = True
        self.problem(f"cannot parse {_text(node)[:40]!r}")

    # --- words ---------------------------------------------------------------------------

    def part(self, node: Any, *, arithmetic: bool = False, quoted: bool = False) -> None:
        """A word or a part of one: the commands it runs ($( ), backticks, <( )), and
        what it evaluates. quoted: inside double quotes or an unquoted here-document,
        where ' and $' are plain characters, so '$(cmd)' runs cmd."""
        kind = node.type
        if kind == "ERROR" or node.is_missing:
            self._error(node)
            return
        if not node.is_named:
            return
        if kind in SUBSTITUTIONS:
            for child in node.children:
                self.visit(child)
            return
        if kind not in WORD_PARTS:
            self.visit(node)  # a statement where a word was expected: judged as one
            return
        if arithmetic and kind in ("variable_name", "word", "special_variable_name") \
                and _text(node) in self.tainted:
            self.problem(f"evaluates ${_text(node)} as arithmetic, and its value could run commands")
        if arithmetic and kind in QUOTED:
            self.problem(f"evaluates the text {_text(node)[:40]} as arithmetic, which can run commands")
        literal = kind in LITERAL_LEAVES and not (quoted and kind in QUOTED)
        if not node.children:
            text = _text(node)  # \` is a nested command inside backticks: never stripped
            if not literal and (_HIDDEN_CODE.search(re.sub(r"\\.", "", text)) or "\\`" in text):
                self.problem(f"cannot check {_text(node)[:40]!r}: it may run a command")
            return
        quoted = quoted or kind in ("string", "translated_string", "heredoc_body")
        if kind == "expansion":
            self._expansion(node, arithmetic, quoted)
            return
        inner = arithmetic or kind == "arithmetic_expansion" or (
            kind == "binary_expression" and any(_text(c) in ARITHMETIC_TESTS for c in node.children
                                                if c.type == "test_operator"))
        for i, child in enumerate(node.children):
            # a[i]: the index is arithmetic (for an indexed array), the name is not
            self.part(child, arithmetic=inner or (kind == "subscript" and i > 0), quoted=quoted)

    def _expansion(self, node: Any, arithmetic: bool, quoted: bool) -> None:
        """${…}: `${!x}` takes x's value as a name, and a name such as `a[$(cmd)]` runs
        cmd; `${x@P}` expands x's value as a prompt, running what it holds; `${x:N:M}`
        evaluates N and M as arithmetic."""
        tokens = [c.type for c in node.children]
        text = _text(node)
        if tokens[1:2] == ["!"] and not re.search(r"(\*|@|\[[@*]\])}$", text):
            self.problem(f"{text[:40]} uses a variable's value as a name, which can run commands")
        if "@" in tokens and "P" in tokens[tokens.index("@"):]:
            self.problem(f"{text[:40]} expands a value as a prompt, which can run commands")
        inner = arithmetic
        for child in node.children:
            if child.type == ":":  # ${x:offset:length}
                inner = True
            self.part(child, arithmetic=inner, quoted=quoted)

    # --- redirections and commands ----------------------------------------------------------

    def _redirect(self, node: Any) -> None:
        op = ""
        target: Any = None
        quoted_heredoc = False
        for child in node.children:
            kind = child.type
            if kind in (">", ">>", "&>", "&>>", ">|", "<", "<>", ">&", "<&", "&>|"):
                op = kind
            elif kind == "ERROR" and op == "<" and _text(child) == ">":
                op = "<>"  # the grammar has no <>; read-write opens, creating the file
                self.saw_error = True  # accounted for
            elif kind == "heredoc_start":
                quoted_heredoc = bool(re.search(r"['\"\\]", _text(child)))
            elif kind == "heredoc_body" and quoted_heredoc:
                continue  # <<'EOF': the body is text, nothing in it is expanded
            elif node.type == "file_redirect" and child.is_named and op and target is None:
                target = child
                self.part(child)  # a computed target runs its commands
            else:
                self.visit(child)
        if node.type != "file_redirect":
            return
        if target is None:
            self.problem(f"cannot check the redirection {_text(node)[:40]!r}")
            return
        word = _word(target)
        if op in (">&", "<&") and (word.isdigit() or word == "-"):
            return  # 2>&1: a descriptor, not a file
        redirect = Redirect(op, word, writes=op not in ("<", "<&"))
        self.script.redirects.append(redirect)
        self.script.order.append(redirect)

    def _command(self, node: Any) -> None:
        assignments: list[str] = []
        words: list[str] = []
        end = -1  # where the last word ended: bash reads two words that touch as one
        for child in node.children:
            if child.type in REDIRECTS:
                self._redirect(child)
                continue
            if child.is_named and child.start_byte == end:
                self.problem(f"cannot parse {_text(node)[:40]!r}: the parser split a word bash reads whole")
            end = child.end_byte
            self.part(child)
            if child.type == "variable_assignment":
                assignments.append(_word(child))
            elif child.type == "command_name":
                words.append(_word(child.children[0] if child.children else child))
            elif child.is_named and child.type != "comment":
                words.append(_word(child))
        self._add(SimpleCommand(tuple(words), tuple(assignments), _text(node)))

    def _add(self, command: SimpleCommand) -> None:
        inner = unwrap(command)
        for assignment in inner.assignments:
            name = assignment.split("=", 1)[0]
            if risky_variable(name):
                self.problem(f"sets {name} for {inner.name or 'a command'}")
        for wrapper in (*inner.wrapped_by, " ".join(inner.words)):
            words = wrapper.split(" ")
            risky = RISKY_WRAPPER_OPTIONS.get(words[0], ())
            if risky and has_option(tuple(words[1:]), *risky):
                self.problem(f"{wrapper} runs code or changes files or directories")
        if inner.name in SHELLS and "-c" in inner.words[1:]:
            code = inner.words[inner.words.index("-c") + 1:inner.words.index("-c") + 2]
            if code and code[0] != DYNAMIC:
                _parse_into(code[0], self.script, self.depth + 1)
            else:
                self.problem(f"{inner.name} -c runs code only known at run time")
            return
        if inner.name == "eval":
            code = inner.words[1:]
            if code and DYNAMIC not in code:
                _parse_into(" ".join(code), self.script, self.depth + 1)
            else:
                self.problem("eval runs code only known at run time")
            return
        if inner.name == DYNAMIC:
            self.problem("the program to run is only known at run time")
        self.script.commands.append(inner)
        self.script.order.append(inner)
        for nested in _executed_by(inner):
            self._add(nested)


def _executed_by(command: SimpleCommand) -> list[SimpleCommand]:
    """Commands a find -exec or fd -x would run, each `{}` standing for unknown files."""
    if command.name not in ("find", "fd", "fdfind"):
        return []
    starts = ({"-exec", "-execdir", "-ok", "-okdir"} if command.name == "find"
              else {"-x", "--exec", "-X", "--exec-batch"})
    found: list[SimpleCommand] = []
    words = command.words
    for i, word in enumerate(words):
        if word in starts:
            end = next((j for j in range(i + 1, len(words)) if words[j] in (";", "+")), len(words))
            argv = tuple(DYNAMIC if "{}" in w else w for w in words[i + 1:end])
            if argv:
                found.append(SimpleCommand(argv, (), command.text, (f"{command.name} {word}",)))
    return found


def unwrap(command: SimpleCommand) -> SimpleCommand:
    """`timeout 5 nice make test` -> `make test`, remembering the wrappers."""
    words = list(command.words)
    wrapped: list[str] = []
    assignments = list(command.assignments)
    while words and words[0] in WRAPPERS:
        name = words[0]
        takes_value = WRAPPERS[name]
        i = 1
        while i < len(words):
            word = words[i]
            if name == "env" and "=" in word and not word.startswith("-"):
                assignments.append(word)  # env NAME=value
                i += 1
                continue
            if word == "--":
                i += 1
                break
            if not word.startswith("-") or word == "-":
                break
            i += 2 if word in takes_value else 1
        if name == "timeout" and i < len(words):
            i += 1  # the duration
        if name == "command" and i < len(words) and words[1:2] in (["-v"], ["-V"]):
            break  # `command -v x` looks a name up; it runs nothing
        if i >= len(words):
            break  # a bare `env` or `time` is a command in its own right
        wrapped.append(" ".join(words[:i]))
        words = words[i:]
        if name == "xargs":
            words.append(DYNAMIC)  # and whatever arguments arrive on stdin
    if not wrapped:
        return command
    return SimpleCommand(tuple(words), tuple(assignments), command.text,
                         command.wrapped_by + tuple(wrapped))


def _has_token(node: Any, tokens: set[str]) -> bool:
    """Does an operator among `tokens` stand anywhere under `node` (outside nested commands)?"""
    stack = list(node.children)
    while stack:
        child = stack.pop()
        if not child.is_named and child.type in tokens:
            return True
        if child.type not in SUBSTITUTIONS:
            stack.extend(child.children)
    return False


def _text(node: Any) -> str:
    return node.text.decode("utf-8", errors="replace")


def _word(node: Any) -> str:
    """The value of a word after quote removal, or DYNAMIC if the shell computes it."""
    kind = node.type
    if kind not in ("raw_string", "string") and re.search(r"\{.*(,|\.\.)", _text(node), re.S):
        return DYNAMIC  # brace expansion: {/etc/passwd,x} is two words
    if kind in ("word", "number", "variable_name", "command_name"):
        if node.type == "command_name" and node.children:
            return _word(node.children[0])
        return _unescape(_text(node))
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "ansi_c_string":  # $'...': escapes could spell anything; judged only when plain
        inner = _text(node)[2:-1]
        return DYNAMIC if "\\" in inner else inner
    if kind == "string":
        parts = []
        for child in node.children:
            if child.type == '"':
                continue
            if child.type == "string_content":
                parts.append(_text(child).replace('\\"', '"').replace("\\\\", "\\")
                             .replace("\\$", "$").replace("\\`", "`"))
            else:
                return DYNAMIC
        return "".join(parts)
    if kind == "concatenation":
        parts = [_word(child) for child in node.children]
        return DYNAMIC if DYNAMIC in parts else "".join(parts)
    if kind == "variable_assignment":
        value = node.child_by_field_name("value")
        name = _text(node.child_by_field_name("name") or node)
        return f"{name}={_word(value) if value is not None else ''}"
    return DYNAMIC


def _unescape(word: str) -> str:
    if "\\" not in word:
        return word
    try:
        parts = shlex.split(word)
    except ValueError:
        return word
    return parts[0] if len(parts) == 1 else word
