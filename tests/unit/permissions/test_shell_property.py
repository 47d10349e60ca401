"""A property, beside the table: a fragment that creates a file, planted anywhere the shell
grammar allows it in a command that is otherwise read-only, never runs unasked.

The oracle is bash itself. Whatever the policy allows in auto mode is run for real in an
empty project, and no file may appear; whatever it asks about is not run. So a position
the parser misreads (a backtick inside `${x:-…}`, `<>` that the grammar lacks) fails here
even if nobody thought to list it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash runs the allowed commands")

# Word-level fragments: each creates PWNED when the shell expands it.
SUBSTITUTIONS = ["$(touch PWNED)", "`touch PWNED`", "$(: >PWNED)", "$(echo hi >>PWNED)",
                 "<(touch PWNED)", ">(touch PWNED)", "$(cat <>PWNED)", '"$(touch PWNED)"',
                 "$(cd . && touch PWNED)", "${v:-$(touch PWNED)}", "$((`touch PWNED`))"]
# Redirections that create PWNED, in every form the grammar has.
REDIRECTIONS = [">PWNED", ">>PWNED", ">|PWNED", "<>PWNED", "&>PWNED", "&>>PWNED", ">&PWNED",
                "1>PWNED", "2>PWNED", "2>>PWNED", "3>PWNED", "3<>PWNED", "0<>PWNED", "9>>PWNED",
                ">PWNED 2>&1", "2>&1 >PWNED", "> PWNED", "1<>PWNED", "2>|PWNED"]
# Commands that run code fed on standard input.
FED = ["bash <<< 'touch PWNED'", "sh <<EOF\ntouch PWNED\nEOF\n", "bash <<'EOF'\ntouch PWNED\nEOF\n",
       "python3 <<< 'open(\"PWNED\", \"w\")'", "echo 'touch PWNED' | bash", "bash < script.sh",
       "cat script.sh | sh", "sh -s < script.sh"]

# Where a word can stand. `{}` is the word; every template with a plain word is read-only.
WORD_POSITIONS = [
    "echo {}", "echo a{}b", "echo --opt={}", "echo \"a {} b\"", "echo '' {}", "printf '%s\\n' {}",
    "echo ${{v:-{}}}", "echo ${{v-{}}}", "echo ${{v:={}}}", "echo ${{v={}}}", "echo ${{v:?{}}}",
    "echo ${{v:+{}}}", "echo ${{HOME:+{}}}", "echo ${{HOME+{}}}", "echo ${{HOME/{}/y}}",
    "echo ${{HOME//h/{}}}", "echo ${{HOME#{}}}", "echo ${{HOME##{}}}", "echo ${{HOME%{}}}",
    "echo ${{HOME%%{}}}", "echo ${{HOME^{}}}", "echo ${{HOME,,{}}}", "echo ${{HOME:{}}}",
    "echo ${{HOME:0:{}}}", "echo \"${{v:-{}}}\"", "echo \"${{HOME/{}/y}}\"", "echo ${{a[{}]}}",
    "echo \"${{a[{}]}}\"", "echo ${{#a[{}]}}", "echo ${{a[{}]:-x}}", "echo $(({}))", "echo $((1+{}))",
    "echo $[{}]", "(( {} ))", "for ((i={}; i<1; i++)); do echo; done", "[[ {} ]]", "[[ a == {} ]]",
    "[[ {} == a ]]", "[[ a =~ {} ]]", "[[ -n {} ]]", "[[ {} -eq 0 ]]", "[ {} ]", "test -n {}",
    "cat <<< {}", "cat <<< \"{}\"", "cat <<EOF\n{}\nEOF\n", "cat <<EOF\na {} b\nEOF\n",
    "LANG={} ls", "TZ=\"{}\" date", "LANG={}", "case {} in a) echo;; esac",
    "case a in {}) echo;; esac", "case a in {}|b) echo;; esac", "case a in a) echo {};; esac",
    "for v in {}; do echo; done", "for v in a; do echo {}; done", "if true; then echo {}; fi",
    "if echo {}; then :; fi", "while echo {}; false; do :; done", "until echo {}; do :; done",
    "(echo {})", "{{ echo {}; }}", "echo {} | cat", "ls && echo {}", "false || echo {}", "! echo {}",
    "echo $(echo {})", "echo \"$(echo \"{}\")\"", "echo `echo {}`", "cat < {}", "ls {} 2>/dev/null",
    "echo {{a,{}}}", "diff <(echo {}) a.py", "f() {{ echo {}; }}", "echo {} # comment",
    "cat a.py | grep {}", "bash -c \"echo {}\"", "timeout 5 echo {}", "env LANG=C echo {}",
    "echo x; echo {}", "select v in {}; do break; done </dev/null",
]
# Where a statement can stand (a redirection is added to it, or it is a fed interpreter).
STATEMENT_POSITIONS = [
    "{}", "echo hi; {}", "{}; echo hi", "ls && {}", "false || {}", "{} | cat", "echo hi | {}",
    "(cd . && {})", "{{ {}; }}", "if true; then {}; fi", "if {}; then :; fi", "for v in a; do {}; done",
    "while {}; false; do :; done", "echo $({})", "echo \"$({})\"", "cat <({})", "case a in a) {};; esac",
    "bash -c '{}'", "sh -c \"{}\"", "! {}", "timeout 5 {}", "time {}",
]
BASE_COMMANDS = ["echo hi", "ls", "cat a.py", "wc -l a.py", "true", "printf x", "{ echo a; }", "(ls)",
                 "for v in a; do echo $v; done", "if true; then echo; fi", "cat <<< hi", "head -1 a.py"]


def _policy(project: Path) -> Policy:
    return Policy("auto", RuleSet(), project, project.parent / "home")


def _place(template: str, piece: str) -> str:
    """str.format's reading of the template, left to right: `{}` is the slot, `{{` and
    `}}` are braces."""
    out, i = [], 0
    while i < len(template):
        pair = template[i:i + 2]
        if pair in ("{}", "{{", "}}"):
            out.append(piece if pair == "{}" else pair[0])
            i += 2
        else:
            out.append(template[i])
            i += 1
    return "".join(out)


def _runs_unasked(project: Path, command: str) -> bool:
    """Judge the command; if it would run unasked, run it and report whether a file appeared.
    capture_output waits until every process holding its output ends: a `>(…)` included."""
    if _policy(project).judge_command(command).decision != "allow":
        return False
    before = set(project.iterdir())
    subprocess.run([BASH, "-c", command], cwd=project, capture_output=True, timeout=10,
                   stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": str(project.parent)})
    created = set(project.iterdir()) - before
    for path in created:
        path.unlink()
    return bool(created)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted") / "project"
    root.mkdir()
    (root / "a.py").write_text("x = 1\n")
    (root / "script.sh").write_text("touch PWNED\n")
    return root


fragments = st.sampled_from(SUBSTITUTIONS)
words = st.recursive(fragments, lambda inner: st.builds(_place, st.sampled_from(WORD_POSITIONS), inner),
                     max_leaves=3)
redirected = st.builds(lambda base, op, before: f"{op} {base}" if before else f"{base} {op}",
                       st.sampled_from(BASE_COMMANDS), st.sampled_from(REDIRECTIONS), st.booleans())
statements = st.recursive(st.one_of(redirected, st.sampled_from(FED)),
                          lambda inner: st.builds(_place, st.sampled_from(STATEMENT_POSITIONS), inner),
                          max_leaves=3)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.one_of(st.builds(_place, st.sampled_from(WORD_POSITIONS), words), statements))
def test_a_planted_fragment_never_runs_unasked(project: Path, command: str) -> None:
    assert not _runs_unasked(project, command), f"ran unasked and created a file: {command!r}"


@pytest.mark.parametrize("template", WORD_POSITIONS)
@pytest.mark.parametrize("fragment", SUBSTITUTIONS)
def test_every_word_position_with_every_substitution(project: Path, template: str, fragment: str) -> None:
    command = _place(template, fragment)
    assert not _runs_unasked(project, command), f"ran unasked and created a file: {command!r}"


@pytest.mark.parametrize("position", STATEMENT_POSITIONS)
@pytest.mark.parametrize("statement", [*(f"echo hi {r}" for r in REDIRECTIONS), *FED])
def test_every_statement_position_with_every_redirection(project: Path, position: str,
                                                        statement: str) -> None:
    command = _place(position, statement)
    assert not _runs_unasked(project, command), f"ran unasked and created a file: {command!r}"


def test_the_positions_are_read_only_without_the_fragment(project: Path) -> None:
    """The planted commands are worth testing only if, with a plain word or a plain
    statement in the slot, most of them run unasked."""
    policy = _policy(project)
    plain = [_place(t, "x") for t in WORD_POSITIONS] + [_place(t, "echo hi") for t in STATEMENT_POSITIONS]
    allowed = [c for c in plain if policy.judge_command(c).decision == "allow"]
    assert len(allowed) >= 0.9 * len(plain), sorted(set(plain) - set(allowed))


# A value the shell evaluates as code: file names are the model's to choose in a cloned
# repository, and `for f in *` hands them to the script.
EVALUATED = ["for f in *; do echo $((f)); done", "for f in *; do (( f )); done",
             "for f in *; do [[ $f -eq 0 ]]; done", "for f in *; do echo ${!f}; done",
             "for f in *; do echo ${a[$f]}; done", "for f in *; do echo ${HOME:f:1}; done",
             "for f in *; do echo ${f@P}; done", "for f in *; do echo $[f]; done"]


@pytest.mark.parametrize("command", EVALUATED)
def test_a_file_name_evaluated_as_code_never_runs_unasked(tmp_path: Path, command: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    name = "$(touch PWNED)" if "@P" in command else "a[$(touch PWNED)]"
    (project / name).write_text("")
    subprocess.run([BASH, "-c", command], cwd=project, capture_output=True, timeout=10)
    assert (project / "PWNED").exists(), "the planted name does not run in bash: the test proves nothing"
    (project / "PWNED").unlink()
    assert not _runs_unasked(project, command)
    assert _policy(project).judge_command(command).decision == "ask"


# What agents run every day stays unasked: the total walk asks about what it cannot
# know, not about ordinary loops, tests and expansions.
EVERYDAY = ["for i in $(seq 1 3); do echo $i; done", "for i in {1..5}; do echo $i; done",
            "echo ${PWD##*/}", "echo \"${#PATH}\"", "echo $((60*60))", "echo \"$(date +%Y-%m-%d)\"",
            "if [[ -n \"$VIRTUAL_ENV\" ]]; then echo venv; fi", "[ -f setup.py ] && echo yes || echo no",
            "case \"$SHELL\" in */bash) echo bash;; *) echo other;; esac",
            "cat <<'EOF'\nhello $(world) `x`\nEOF\n", "for ((i=0; i<3; i++)); do echo $i; done",
            "echo ${!PATH*} ${HOME@Q} ${HOME:0:3}", "git log --format='%h %an %s' -5 | cat",
            "printf '%s\\n' \"${PATH//:/ }\" | head", "ls 2>&1 | head", "cat < a.py | wc -l",
            "for i in 1 2 3; do echo $((i * 2)); done", "echo \"price: \\$5\""]


@pytest.mark.parametrize("command", EVERYDAY)
def test_everyday_commands_stay_unasked(project: Path, command: str) -> None:
    ruling = _policy(project).judge_command(command)
    assert ruling.decision == "allow", ruling.reason


# Found by review, each checked in bash first: places the parser reads differently from
# bash. Every one must ask, and none may make a file.
MISREAD = [
    "echo keep > victim; [ x > PWNED ]", "[ x >> PWNED ]", "if [ a > PWNED ]; then :; fi",
    "[ ]#;touch PWNED", "ls && [ 1 ]#||touch PWNED", "{ ls; }#; touch PWNED; }",
    "echo \"${HOME:+'$(touch PWNED)'}\"", "echo \"${NOPE-'`touch PWNED`'}\"",
    "echo \"${HOME:+$'$(touch PWNED)'}\"", "cat <<EOF\n${HOME:+'$(touch PWNED)'}\nEOF\n",
    "(( 'a[$(touch PWNED)]' ))", "echo $(( '$(touch PWNED)' ))", "echo $[ 'a[$(touch PWNED)]' ]",
    "[[ 1 -ne 'a[$(touch PWNED)]' ]]", "[[ a -eq $'a[\\x24(touch PWNED)]' ]]", "echo ${a['$(touch PWNED)']}",
    "echo 'a[$(touch PWNED)]'; (( _ ))", "[[ 'a[$(touch PWNED)]' =~ .* ]]; (( BASH_REMATCH ))",
    ": ${x:='a[$(touch PWNED)]'}; [[ $x -eq 1 ]]", "env -iS'touch PWNED' ls", "env --sp='touch PWNED' ls",
    "env --s='touch PWNED' ls", "time -ao PWNED ls", "\\time --ou=PWNED ls", "echo x > /dev/nullPWNED",
    "echo `echo \\`touch PWNED\\``",
]


@pytest.mark.parametrize("command", MISREAD)
def test_what_bash_reads_differently_from_the_parser_asks(project: Path, command: str) -> None:
    assert _policy(project).judge_command(command).decision != "allow"
    assert not _runs_unasked(project, command)


def test_reads_the_parser_would_miss_are_judged(tmp_path: Path) -> None:
    """A brace expansion with a quoted brace, and options that read a list of files."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text("API_KEY=sk-secret\n")
    rules = RuleSet()
    rules.add(["Read(.env)"], "deny", "test")
    policy = Policy("auto", rules, project, tmp_path / "home")
    for command in ['cat {"}",.env}', "cat {\\},~/.ssh/id_rsa}", "wc --files0-from=.env",
                    "du --files0-from=.env", "xargs --arg=/etc/hostname echo",
                    "rg --hostname-bin=./mk.sh --hyperlink-format=default x f"]:
        assert policy.judge_command(command).decision != "allow", command
