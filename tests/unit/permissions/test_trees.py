"""A recursive read (grep -r, rg, diff -r, the Grep and Glob tools) must not reach a file a
Read deny or ask rule protects, however the command is written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet, parse_rule
from nano_claude.permissions.trees import Reach, literal_prefix, reach
from nano_claude.tools.search import GlobTool, GrepTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import call, drive


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / ".env").write_text("TOKEN=secret\n")
    (root / "src" / "deep" / ".env").write_text("TOKEN=secret\n")
    (root / "src" / "app.py").write_text("TOKEN = load()\n")
    (root / "docs" / "guide.md").write_text("set TOKEN first\n")
    (tmp_path / "home").mkdir()
    return root


def policy(project: Path, mode: str = "auto", **kinds: list[str]) -> Policy:
    rules = RuleSet()
    for kind, texts in kinds.items():
        rules.add(texts, kind, "settings.json")  # type: ignore[arg-type]
    return Policy(mode, rules, project, project.parent / "home")  # type: ignore[arg-type]


@pytest.mark.parametrize("command", [
    "grep -r TOKEN .",
    "grep -r TOKEN",  # no file: grep -r searches the cwd
    "grep -rn TOKEN src",
    "grep -R TOKEN src",
    "grep --recursive TOKEN .",
    "grep --recur TOKEN .",  # an abbreviated long option
    "grep -d recurse TOKEN .",
    "grep --directories=recurse TOKEN .",
    "egrep -ri token .",
    "cd src && grep -r TOKEN",
    "rg --hidden TOKEN",
    "rg -uu TOKEN src",
    "rg --hidden TOKEN s*",  # a glob that expands to the directory
    "ag --hidden TOKEN",
    "diff -r src docs",
    "timeout 5 grep -r TOKEN .",
    "grep -r TOKEN . | head -3",
])
def test_recursive_reads_that_reach_a_denied_file_are_denied(project: Path, command: str) -> None:
    ruling = policy(project, deny=["Read(.env)"]).judge_command(command)
    assert ruling.decision == "deny", command
    assert ".env" in ruling.reason and "Grep tool" in ruling.reason
    assert ruling.rule == "Read(.env) from settings.json"


@pytest.mark.parametrize("command", [
    "rg TOKEN",  # rg skips dot-names unless told: .env is never read
    "rg TOKEN src",
    "ag TOKEN",
    "grep TOKEN src/app.py",
    "grep -r TOKEN docs",  # nothing protected under docs
    "ls -R",  # names, not contents
    "find . -name '*.py'",
    "tree",
    "du -sh .",
])
def test_reads_that_do_not_reach_a_denied_file_still_run(project: Path, command: str) -> None:
    assert policy(project, deny=["Read(.env)"]).judge_command(command).decision == "allow", command


def test_a_denied_directory_blocks_every_search_that_enters_it(project: Path) -> None:
    (project / "secrets").mkdir()
    (project / "secrets" / "key.pem").write_text("KEY\n")
    p = policy(project, deny=["Read(secrets/**)"])
    for command in ("rg KEY", "grep -r KEY .", "ag KEY"):
        ruling = p.judge_command(command)
        assert ruling.decision == "deny" and "secrets" in ruling.reason, command
    assert p.judge_command("grep -r KEY src").decision == "allow"


def test_an_ask_rule_makes_a_recursive_read_ask(project: Path) -> None:
    ruling = policy(project, ask=["Read(.env)"]).judge_command("grep -r TOKEN .")
    assert ruling.decision == "ask" and "asks before reading" in ruling.reason


def test_a_deny_rule_outweighs_an_allow_rule_for_the_command(project: Path) -> None:
    p = policy(project, deny=["Read(.env)"], allow=["Bash(grep:*)"])
    assert p.judge_command("grep -r TOKEN .").decision == "deny"


def test_grep_R_follows_links_into_what_a_rule_protects(project: Path, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    (vault / "inner").mkdir(parents=True)
    (vault / "inner" / "key").write_text("KEY\n")
    (project / "docs" / "linked").symlink_to(vault)
    p = policy(project, deny=[f"Read(/{vault}/inner/**)"])
    assert p.judge_command("grep -R KEY docs").decision == "deny"
    assert p.judge_command("rg -L KEY docs").decision == "deny"
    # grep -r and rg do not follow links they meet on the way: the vault is not read
    assert p.judge_command("grep -r KEY docs").decision == "allow"
    assert p.judge_command("rg KEY docs").decision == "allow"


def test_a_link_loop_ends_the_walk(project: Path) -> None:
    (project / "docs" / "loop").symlink_to(project / "docs")
    p = policy(project, deny=["Read(.env)"])
    assert p.judge_command("grep -R TOKEN docs").decision == "allow"


def test_a_tree_too_big_to_check_asks_and_names_a_way_out(project: Path) -> None:
    rules = [parse_rule("Read(*.pem)", "deny", "x")]
    home = project.parent / "home"
    assert reach(project, rules, project, home, limit=3).too_big
    assert reach(project, rules, project, home) == Reach()
    p = policy(project, deny=["Read(*.pem)"])
    assert p.judge_command("grep -r TOKEN .").decision == "allow"
    p.walk_limit = 3
    ruling = p.judge_command("grep -r TOKEN .")
    assert ruling.decision == "ask" and "too many to check" in ruling.reason
    assert "Grep tool" in ruling.reason


def test_directories_no_rule_can_reach_are_not_entered(project: Path) -> None:
    rules = [parse_rule("Read(//etc/shadow)", "deny", "x")]
    # limit 0 would report "too big" at the first directory read: nothing was read at all
    assert not reach(project, rules, project, project.parent / "home", limit=0).too_big
    rules = [parse_rule("Read(docs/private/**)", "deny", "x")]
    found = reach(project, rules, project, project.parent / "home", limit=4)
    assert not found.too_big and found.path is None  # only the root and docs were listed


def test_literal_prefix_stops_at_the_first_wildcard() -> None:
    assert literal_prefix("/p/**/.env") == "/p/"
    assert literal_prefix("/p/secrets/*.pem") == "/p/secrets/"
    assert literal_prefix("/etc/shadow") == "/etc/shadow"


# --- the Grep and Glob tools leave protected files out ------------------------------


async def test_grep_and_glob_leave_out_what_the_rules_protect(
        fake_server: FakeModelServer, project: Path) -> None:
    p = policy(project, deny=["Read(.env)"])
    run = await drive(fake_server, project,
                      call("Grep", {"pattern": "TOKEN", "output_mode": "content"}),
                      call("Glob", {"pattern": "**/*"}),
                      call("Grep", {"pattern": "secret", "path": "src"}),
                      tools=[GrepTool(), GlobTool()], policy=p)
    grep, glob, nothing = run.result(1).text, run.result(2).text, run.result(3).text
    assert "secret" not in grep and "src/app.py:1:TOKEN = load()" in grep
    assert "docs/guide.md" in grep
    assert "[2 files left out: the permission rules keep them from being read]" in grep
    assert ".env" not in glob and "src/app.py" in glob and "2 files left out" in glob
    assert nothing.startswith("No matches found") and "1 file left out" in nothing


async def test_grep_without_rg_leaves_out_the_same_files(fake_server: FakeModelServer, project: Path) -> None:
    p = policy(project, deny=["Read(**/.env)"])
    run = await drive(fake_server, project, call("Grep", {"pattern": "TOKEN"}),
                      tools=[GrepTool(rg=None)], policy=p)
    lines = run.result(1).text.splitlines()
    assert lines[0] == "Found 2 files" and ".env" not in run.result(1).text
    assert lines[-1].startswith("[2 files left out")


async def test_a_grep_naming_a_denied_file_is_refused(fake_server: FakeModelServer, project: Path) -> None:
    p = policy(project, deny=["Read(.env)"])
    run = await drive(fake_server, project, call("Grep", {"pattern": "TOKEN", "path": ".env"}),
                      tools=[GrepTool()], policy=p)
    assert run.result(1).is_error and "denied" in run.result(1).text


def test_without_read_rules_nothing_is_walked_or_left_out(project: Path) -> None:
    p = policy(project, deny=["Bash(curl:*)"])
    assert not p.protects(project / ".env")
    assert p.judge_command("grep -r TOKEN .").decision == "allow"
    assert os.path.exists(project / ".env")
