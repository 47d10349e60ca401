"""Rules for file, web and other tools; where rules come from; what a project may grant."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nano_claude.config import Paths
from nano_claude.core.errors import ConfigError
from nano_claude.permissions.policy import Call, Policy
from nano_claude.permissions.rules import RuleSet, load_rules, parse_rule, split_rules


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "project" / "src").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    return tmp_path / "project"


def make(project: Path, mode: str = "auto", **kinds: list[str]) -> Policy:
    rules = RuleSet()
    for kind, texts in kinds.items():
        rules.add(texts, kind, "test")  # type: ignore[arg-type]
    return Policy(mode, rules, project, project.parent / "home")


def read(path: str) -> Call:
    return Call("Read", "read", path, True)


def edit(path: str, tool: str = "Edit") -> Call:
    return Call(tool, "edit", path, False)


def test_reads_inside_the_project_run_and_outside_ask(project: Path) -> None:
    p = make(project)
    assert p.judge(read("src/a.py")).decision == "allow"
    outside = p.judge(read("/etc/hosts"))
    assert outside.decision == "ask" and "outside the project" in outside.reason
    assert outside.suggestions == ("Read(//etc/**)",)
    assert p.judge(read("~/notes.txt")).decision == "ask"
    assert p.judge(read("../elsewhere.txt")).decision == "ask"


def test_writes_ask_unless_an_edit_rule_allows(project: Path) -> None:
    p = make(project, allow=["Edit(src/**)"])
    assert p.judge(edit("src/a.py")).decision == "allow"
    assert p.judge(edit("src/deep/b.py", "Write")).decision == "allow"  # Edit covers Write
    assert p.judge(edit("notebook.ipynb", "NotebookEdit")).decision == "ask"
    assert p.judge(edit("README.md")).suggestions == ("Edit(README.md)",)


def test_a_bare_edit_rule_stays_inside_the_project(project: Path) -> None:
    p = make(project, allow=["Edit"])
    assert p.judge(edit("any/where.py")).decision == "allow"
    assert p.judge(edit("/etc/passwd")).decision == "ask"
    assert make(project, allow=["Edit(//tmp/scratch/**)"]).judge(edit("/tmp/scratch/x")).decision == "allow"


def test_deny_rules_cover_paths_at_any_depth_and_home(project: Path) -> None:
    p = make(project, allow=["Read", "Edit"], deny=["Read(*.env)", "Edit(~/.ssh/**)", "Read(/secrets/**)"])
    assert p.judge(read("config/prod.env")).decision == "deny"
    assert p.judge(read("secrets/key.pem")).decision == "deny"
    assert p.judge(read("src/secrets/key.pem")).decision == "allow"  # /secrets is anchored at the root
    assert p.judge(edit("~/.ssh/authorized_keys")).decision == "deny"
    glob_tool = Call("Grep", "read", ".env", True)
    assert make(project, deny=["Read(.env)"]).judge(glob_tool).decision == "deny"  # Read covers Grep


def test_plan_mode_denies_writes_and_allows_reads(project: Path) -> None:
    p = make(project, "plan")
    assert p.judge(read("src/a.py")).decision == "allow"
    ruling = p.judge(edit("src/a.py"))
    assert ruling.decision == "deny" and "plan mode" in ruling.reason
    assert p.judge(Call("WebSearch", "fetch", "query", True)).decision == "ask"


def test_web_fetch_asks_per_domain_and_domain_rules_match_subdomains(project: Path) -> None:
    p = make(project, allow=["WebFetch(domain:example.com)"], deny=["WebFetch(domain:evil.test)"])
    fetch = lambda url: Call("WebFetch", "fetch", url, True)  # noqa: E731
    assert p.judge(fetch("https://docs.example.com/x")).decision == "allow"
    assert p.judge(fetch("https://example.com.evil.test/")).decision == "deny"
    other = p.judge(fetch("https://python.org/"))
    assert other.decision == "ask" and other.suggestions == ("WebFetch(domain:python.org)",)


def test_mcp_rules_match_a_server_or_one_tool(project: Path) -> None:
    p = make(project, allow=["mcp__git"], deny=["mcp__time__*"])
    assert p.judge(Call("mcp__git__git_log", "other", None, False)).decision == "allow"
    assert p.judge(Call("mcp__time__now", "other", None, True)).decision == "deny"
    assert p.judge(Call("mcp__other__x", "other", None, False)).decision == "ask"


def test_an_allow_glob_covers_mcp_tools_only_below_a_server_it_names(project: Path) -> None:
    p = make(project, allow=["mcp__*", "mcp*", "mcp__gi*", "mcp__github__get_*"])
    assert p.judge(Call("mcp__github__get_issue", "other", None, False)).decision == "allow"
    assert p.judge(Call("mcp__github__delete_repo", "other", None, False)).decision == "ask"
    assert p.judge(Call("mcp__git__git_commit", "other", None, False)).decision == "ask"
    denied = make(project, deny=["mcp__*"])  # deny and ask globs still reach every server
    assert denied.judge(Call("mcp__git__git_log", "other", None, True)).decision == "deny"


def test_session_answers_are_remembered(project: Path) -> None:
    p = make(project)
    ruling = p.judge_command("npm run build")
    assert ruling.decision == "ask"
    p.remember(ruling.suggestions)
    assert p.judge_command("npm run build --prod").decision == "allow"
    assert p.judge_command("npm publish").decision == "ask"


def test_always_saves_the_rule_to_the_local_project_settings(project: Path) -> None:
    target = project / ".nano_claude" / "settings.local.json"
    p = make(project)
    p.save_to = target
    note = p.save(["Bash(npm run build:*)"])
    assert str(target) in note
    assert json.loads(target.read_text()) == {"permissions": {"allow": ["Bash(npm run build:*)"]}}
    target.write_text("{broken")
    assert "could not save" in p.save(["Bash(make:*)"]) and target.read_text() == "{broken"


def test_rule_syntax_errors_name_the_rule(project: Path) -> None:
    with pytest.raises(ConfigError, match="not a rule"):
        parse_rule("Bash(git", "allow", "settings.json")
    assert str(parse_rule(" Bash(npm test:*) ", "allow")) == "Bash(npm test:*)"
    assert parse_rule("Bash(*)", "allow").content is None
    assert split_rules("Bash(git diff:*),Edit(src/**) Read") == ["Bash(git diff:*)", "Edit(src/**)", "Read"]


def _paths(project: Path) -> Paths:
    return Paths(project.parent / "home" / ".nano_claude", project / ".nano_claude")


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_rules_from_every_file_merge_and_a_shared_project_file_cannot_grant(project: Path) -> None:
    paths = _paths(project)
    _write(paths.user_settings, {"permissions": {"allow": ["Bash(make:*)"], "deny": ["Read(~/.ssh/**)"]}})
    _write(paths.project_settings, {"permissions": {"allow": ["Bash"], "deny": ["Bash(curl:*)"]}})
    _write(paths.project_local, {"permissions": {"allow": ["Edit(src/**)"],
                                                 "additionalDirectories": ["../shared"]}})
    rules, warnings = load_rules(paths)
    shown = {(r.kind, str(r)) for r in rules.rules}
    assert shown == {("allow", "Bash(make:*)"), ("deny", "Read(~/.ssh/**)"), ("deny", "Bash(curl:*)"),
                     ("allow", "Edit(src/**)")}
    assert len(warnings) == 1 and "cannot grant" in warnings[0] and "settings.local.json" in warnings[0]
    merged = Policy("auto", rules, project, project.parent / "home")
    assert merged.judge(read("../shared/x")).decision == "allow"


def test_a_local_settings_file_committed_to_git_is_not_trusted(project: Path) -> None:
    paths = _paths(project)
    _write(paths.project_local, {"permissions": {"allow": ["Bash"]}})
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", ".nano_claude/settings.local.json"], cwd=project, check=True)
    rules, warnings = load_rules(paths)
    assert rules.rules == [] and warnings


def test_malformed_permissions_are_reported_with_the_file(project: Path) -> None:
    paths = _paths(project)
    _write(paths.user_settings, {"permissions": {"allow": "Bash"}})
    with pytest.raises(ConfigError, match=r"settings\.json.*list of rule strings"):
        load_rules(paths)
    _write(paths.user_settings, {"permissions": {"alow": []}})
    with pytest.raises(ConfigError, match=r"unknown key permissions\.alow"):
        load_rules(paths)


def test_a_write_at_the_root_suggests_a_rule_that_parses(project: Path) -> None:
    ruling = make(project).judge_command("touch /x")
    assert "Edit(//**)" in ruling.suggestions
    assert parse_rule("Edit(//**)", "allow", "test").content == "//**"


@pytest.mark.parametrize(("command", "offered"), [
    ("python -m pytest -q tests", "Bash(python -m pytest:*)"),
    ("python3 -m unittest discover", "Bash(python3 -m unittest:*)"),
    ("python manage.py test app", "Bash(python manage.py:*)"),
    ("node scripts/build.js --prod", "Bash(node scripts/build.js:*)"),
    ("./scripts/test.sh --fast", "Bash(./scripts/test.sh:*)"),
    ("pytest -q tests/test_a.py", "Bash(pytest:*)"),
    ("npm run build", "Bash(npm run build:*)"),
    # code given inline, or a gateway to anything: only the exact command
    ("python -c pass", "Bash(python -c pass)"),
    ("node -e 1", "Bash(node -e 1)"),
    ("python ../outside.py", "Bash(python ../outside.py)"),
    ("sudo make install", "Bash(sudo make install)"),
    ("python", "Bash(python)"),
])
def test_an_allow_answer_offers_a_prefix_where_one_is_safe(project: Path, command: str, offered: str) -> None:
    p = make(project)
    ruling = p.judge_command(command)
    assert ruling.decision == "ask" and ruling.suggestions == (offered,)
    p.remember(ruling.suggestions)
    assert p.judge_command(command).decision == "allow"


def test_always_keeps_the_local_settings_out_of_git(project: Path) -> None:
    target = project / ".nano_claude" / "settings.local.json"
    p = make(project)
    p.save_to = target
    p.save(["Bash(make:*)"])
    assert (target.parent / ".gitignore").read_text() == "settings.local.json\n"
    (target.parent / ".gitignore").write_text("# ours\ncache/")
    p.save(["Bash(pytest:*)"])
    assert (target.parent / ".gitignore").read_text() == "# ours\ncache/\nsettings.local.json\n"
    p.save(["Bash(ls:*)"])  # named once, however often rules are saved
    assert (target.parent / ".gitignore").read_text().count("settings.local.json") == 1


@pytest.mark.parametrize(("command", "offered"), [
    ("git -c color.ui=never log", "Bash(git -c color.ui=never log)"),
    ("uv run python -c 1", "Bash(uv run python -c 1)"),
    ("uv run python -m pytest -q", "Bash(uv run python -m pytest:*)"),
    ("uv run --with x python a.py", "Bash(uv run --with x python a.py)"),
    ("npx node -e 1", "Bash(npx node -e 1)"),
    ("npx jest --watch", "Bash(npx jest:*)"),
    ("awk -f prog.awk f", "Bash(awk -f prog.awk f)"),
    ("env LANG=C make", "Bash(env LANG=C make)"),
])
def test_no_prefix_is_offered_that_would_allow_anything(project: Path, command: str, offered: str) -> None:
    """An "always" for a harmless first use must not allow `git -c alias.x='!…' x`, an awk
    system() call or an interpreter's inline code later."""
    from nano_claude.permissions.policy import _suggest_command

    words = make(project).judge_command(command)
    assert words.decision == "ask"
    assert _suggest_command(" ".join(command.replace("'", "").split())) == offered


def test_a_scoped_tool_is_held_to_the_forms_named(tmp_path: Path) -> None:
    from nano_claude.extensions.agents.types import AgentType
    from nano_claude.permissions.policy import Call

    kind = AgentType("differ", "d", "", ("Read(src/**)", "Bash(git diff:*)", "Bash(git log:*)", "Grep",
                                         "Agent(Explore)"))
    groups = kind.scoped_rules()
    assert [[str(r) for r in group] for group in groups] == [["Read(src/**)"], ["Bash(git diff:*)",
                                                                                "Bash(git log:*)"]]
    policy = Policy("accept-all", RuleSet(), tmp_path, tmp_path / "home", scoped=groups)
    shell = lambda command: policy.judge(Call("Bash", "shell", command, False))  # noqa: E731
    assert shell("git diff HEAD").decision == "allow"
    assert shell("git log -1 && git diff").decision == "allow"
    refused = shell("git diff && rm -rf src")
    assert refused.decision == "deny" and "only as Bash(git diff:*), Bash(git log:*)" in refused.reason
    assert shell("git status").decision == "deny"
    assert shell("git diff $(cat x)").decision == "deny"  # what cannot be checked is not in the form
    assert policy.judge(Call("Read", "read", "src/a.py", True)).decision == "allow"
    assert policy.judge(Call("Read", "read", "README.md", True)).decision == "deny"
    assert policy.judge(Call("Grep", "read", "README.md", True)).decision == "allow"  # Grep is named bare
    assert shell("git diff > src/a.py").decision == "deny"  # a form writes no file by a redirect
    assert shell("git diff 2>/dev/null").decision == "allow"
    (tmp_path / "src").mkdir()
    (tmp_path / "secret.env").write_text("KEY=1")
    (tmp_path / "src" / "link").symlink_to(tmp_path / "secret.env")
    assert policy.judge(Call("Read", "read", "src/link", True)).decision == "deny"  # where it leads counts
    assert AgentType("all", "a", "", ("Bash", "Bash(git diff:*)")).scoped_rules() == ()
    aliased = AgentType("docs", "d", "", ("MultiEdit(docs/**)",)).scoped_rules()
    assert [[str(r) for r in group] for group in aliased] == [["Edit(docs/**)"]]  # our Edit
