"""What a skill sets for one turn in the permission policy (its allowed and disallowed tools),
and the one reading of a `/name args` line that the REPL and headless runs share."""

from __future__ import annotations

from pathlib import Path

import pytest

from nano_claude.extensions.expand import split
from nano_claude.permissions.policy import Call, Policy
from nano_claude.permissions.rules import RuleSet, parse_rule


def policy(tmp_path: Path, deny: tuple[str, ...] = ()) -> Policy:
    rules = RuleSet()
    rules.add(list(deny), "deny", "settings.json")
    return Policy("auto", rules, tmp_path, tmp_path / "home")


def test_a_turn_allow_rule_lets_a_command_run_unasked_until_the_turn_ends(tmp_path: Path) -> None:
    judge = policy(tmp_path)
    assert judge.judge_command("touch a.txt").decision == "ask"
    judge.turn.rules.append(parse_rule("Bash(touch:*)", "allow", "allowed-tools of /mark"))
    ruling = judge.judge_command("touch a.txt")
    assert ruling.decision == "allow" and ruling.rule == "Bash(touch:*) from allowed-tools of /mark"
    judge.end_turn()
    assert judge.judge_command("touch a.txt").decision == "ask"


def test_a_turn_allow_rule_never_beats_a_deny_rule(tmp_path: Path) -> None:
    judge = policy(tmp_path, deny=("Bash(touch:*)",))
    judge.turn.rules.append(parse_rule("Bash", "allow", "allowed-tools of /mark"))
    assert judge.judge_command("touch a.txt").decision == "deny"
    assert judge.judge_command("mkdir out").decision == "allow"


def test_a_turn_deny_rule_refuses_a_tool_for_the_turn(tmp_path: Path) -> None:
    judge = policy(tmp_path)
    judge.turn.rules.append(parse_rule("WebFetch", "deny", "disallowed-tools of /offline"))
    ruling = judge.judge(Call("WebFetch", "fetch", "https://example.com", True))
    assert ruling.decision == "deny" and "disallowed-tools of /offline" in ruling.rule
    judge.end_turn()
    assert judge.judge(Call("WebFetch", "fetch", "https://example.com", True)).decision == "ask"


@pytest.mark.parametrize(("line", "expected"), [
    ("/deploy staging 2.1.0", ("deploy", "staging 2.1.0")),
    ("  /model   gpt-4o  ", ("model", "gpt-4o")),
    ("/deploy\nsecond line", ("deploy", "second line")),
    ("/", ("", "")),
    ("/etc/hosts what is this?", None),
    ("deploy now", None),
])
def test_split_reads_a_slash_line_once_for_every_caller(line: str, expected: tuple[str, str] | None) -> None:
    assert split(line) == expected


def test_the_builtins_grant_only_the_exact_read_only_commands_they_run(tmp_path: Path) -> None:
    from nano_claude.extensions.skills.loader import load_skills

    found = load_skills(tmp_path, tmp_path / "home")
    granted = {rule for name in ("commit", "review") for rule in found.get(name).allowed_tools}  # type: ignore[union-attr]
    assert not [rule for rule in granted if rule.startswith("Bash(git") and rule.endswith(":*)")], granted
