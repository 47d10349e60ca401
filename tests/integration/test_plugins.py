"""Plugins through the real CLI: a Claude Code-format plugin in a local git repository,
installed with `nano_claude plugin install`, whose skill, command, agent, hook and MCP server
(the real mcp-server-time) all work in a `-p` run against the fake model server; its code
waiting for the user's consent; scopes; enable, disable, update and uninstall; broken plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Cli, CliResult
from tests.fakes.script import mentions, text, tool_call
from tests.fakes.server import FakeModelServer
from tests.integration.agents_support import (
    conversation,
    every_result,
    git,
    last_text,
    run,
    system,
    tool_names,
)

TIME = str(Path(sys.executable).with_name("mcp-server-time"))
HOOK_LOG = "prompts.log"


def claude_plugin(folder: Path, *, version: str = "1.0.0", greeting: str = "Say hello to",
                  mcp: bool = True) -> Path:
    """A plugin in Claude Code's layout, with one of everything (`mcp`: its MCP server too, which
    each run then starts: a second or two)."""
    write(folder / ".claude-plugin" / "plugin.json", json.dumps({
        "name": "fmt", "version": version, "description": "Formatting helpers",
        "author": {"name": "Ann", "email": "ann@example.com"}, "keywords": ["format"], "unknownField": 1}))
    write(folder / "skills" / "greet" / "SKILL.md",
          f"---\ndescription: Greets someone\n---\n{greeting} $ARGUMENTS. "
          "Templates: ${CLAUDE_PLUGIN_ROOT}/t\n")
    write(folder / "commands" / "check.md",
          "---\ndescription: Check the formatting\n---\nCHECK-FORMAT of $0\n")
    write(folder / "agents" / "reviewer.md",
          "---\nname: reviewer\ndescription: Reviews formatting\npermissionMode: bypassPermissions\n---\n"
          "You review formatting. Rules are in ${CLAUDE_PLUGIN_ROOT}/rules.md\n")
    write(folder / "hooks" / "hooks.json", json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [
        {"type": "command",
         "command": f'echo "$CLAUDE_PLUGIN_ROOT" >> "${{CLAUDE_PLUGIN_DATA}}/{HOOK_LOG}"'}]}]}}))
    if mcp:
        write(folder / ".mcp.json", json.dumps({"mcpServers": {"clock": {"command": TIME, "env": {
            "FROM_PLUGIN": "${CLAUDE_PLUGIN_ROOT}"}}}}))
    return folder


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def commit_all(repo: Path, message: str) -> str:
    if not (repo / ".git").exists():
        git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def plugin(cli: Cli, *args: str, stdin: str | None = None) -> CliResult:
    return cli.run("plugin", *args, input=stdin)


def test_a_claude_code_plugin_from_git_brings_its_skill_command_agent_hook_and_mcp_server(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    repo = claude_plugin(tmp_path / "fmt-repo")
    commit_all(repo, "first")
    installed = plugin(cli, "install", f"fmt@file://{repo}", "--yes")
    assert installed.returncode == 0, installed.stderr
    assert "Installed fmt 1.0.0 (user scope)" in installed.stdout
    assert "/fmt:greet" in installed.stdout and "fmt:reviewer" in installed.stdout
    root = cli.home / "plugins" / "fmt"
    assert (root / "skills" / "greet" / "SKILL.md").is_file() and not (root / ".git").exists()

    # the skill, typed as /PLUGIN:NAME: its body is sent, ${CLAUDE_PLUGIN_ROOT} filled in
    fake_server.script(text("Hello Bob."))
    out = run(cli, fake_server, "/fmt:greet Bob", "--accept-all")
    assert out.returncode == 0, out.stderr
    sent = last_text(fake_server.model_requests[0].body)
    assert f"Say hello to Bob. Templates: {root}/t" in sent
    # the hook ran for that prompt, with the plugin's variables exported
    log = cli.home / "plugins" / "data" / "fmt" / HOOK_LOG
    assert log.read_text().split() == [str(root)]

    # a command, by its bare name too (nothing else is called /check)
    fake_server.script(text("ok"))
    assert run(cli, fake_server, "/check src/a.py", "--accept-all").returncode == 0
    assert "CHECK-FORMAT of src/a.py" in last_text(fake_server.model_requests[-1].body)

    # the agent runs as fmt:reviewer, its body filled in; the MCP server's tools are offered by the
    # plugin's name and answer
    fake_server.script(
        tool_call("Agent", {"prompt": "REVIEW-TASK", "subagent_type": "fmt:reviewer",
                            "description": "review"}, when=mentions("USE-PLUGIN")),
        text("reviewed", when=mentions("REVIEW-TASK")),
        tool_call("mcp__plugin_fmt_clock__convert_time", {"source_timezone": "UTC", "time": "12:00",
                                                           "target_timezone": "Asia/Tokyo"},
                  when=mentions("USE-PLUGIN")),
        text("done", when=mentions("USE-PLUGIN")))
    out = run(cli, fake_server, "USE-PLUGIN", "--accept-all")
    assert out.returncode == 0, out.stderr
    child = conversation(fake_server, "REVIEW-TASK")[0].body
    assert f"Rules are in {root}/rules.md" in system(child)
    first = fake_server.model_requests[-4].body
    assert "mcp__plugin_fmt_clock__convert_time" in tool_names(first)
    converted = every_result(fake_server)[-1]
    assert not converted[1] and "Asia/Tokyo" in converted[0]


def test_without_consent_the_plugins_code_stays_off_and_enable_allows_it(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    source = claude_plugin(tmp_path / "fmt")
    installed = plugin(cli, "install", str(source), stdin="")  # nobody at a terminal, no --yes
    assert installed.returncode == 0, installed.stderr
    assert "nobody is at a terminal" in installed.stdout
    assert "stay off until you allow them: nano_claude plugin enable fmt" in installed.stdout
    assert "not allowed yet" in plugin(cli, "list").stdout

    fake_server.script(text("Hello."))
    out = run(cli, fake_server, "/fmt:greet Ann", "--output-format", "text")
    assert out.returncode == 0, out.stderr
    assert "Say hello to Ann" in last_text(fake_server.model_requests[0].body)  # skills need no consent
    assert not (cli.home / "plugins" / "data" / "fmt" / HOOK_LOG).exists()  # the hook did not run
    assert not any(n.startswith("mcp__plugin_fmt") for n in tool_names(fake_server.model_requests[0].body))
    assert "its hooks and MCP servers were not loaded" in out.stderr

    enabled = plugin(cli, "enable", "fmt", "--yes")
    assert enabled.returncode == 0, enabled.stderr
    fake_server.script(text("Hello again."))
    assert run(cli, fake_server, "/fmt:greet Ann").returncode == 0
    assert (cli.home / "plugins" / "data" / "fmt" / HOOK_LOG).read_text().strip() == str(
        cli.home / "plugins" / "fmt")
    assert "✔ fmt 1.0.0 (user) · enabled" in plugin(cli, "list").stdout


def test_disable_enable_update_and_uninstall(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    repo = claude_plugin(tmp_path / "repo", mcp=False)
    first = commit_all(repo, "v1")
    assert plugin(cli, "install", f"file://{repo}", "--yes").returncode == 0

    assert plugin(cli, "disable", "fmt").returncode == 0
    assert json.loads((cli.home / "config.json").read_text())["enabled_plugins"] == {"fmt": False}
    fake_server.script(text("?"))
    out = run(cli, fake_server, "/fmt:greet Ann", "--output-format", "text")
    assert out.returncode == 0, out.stderr
    assert last_text(fake_server.model_requests[-1].body) == "/fmt:greet Ann"  # no such skill: sent as typed
    assert "⊘ fmt 1.0.0 (user) · disabled" in plugin(cli, "list").stdout
    assert plugin(cli, "enable", "fmt", "--yes").returncode == 0

    # a new commit: update takes it; the hook is unchanged, so nothing is asked again
    claude_plugin(repo, version="1.1.0", greeting="Greet warmly", mcp=False)
    second = commit_all(repo, "v2")
    updated = plugin(cli, "update", "fmt", stdin="")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "fmt: updated 1.0.0 → 1.1.0" in updated.stdout
    record = json.loads((cli.home / "plugins" / "installed.json").read_text())["plugins"]["fmt"]
    assert record["commit"] == second != first
    assert "already up to date" in plugin(cli, "update").stdout

    # an update whose hook changed waits for consent; refused, the installed version stays
    hooks = repo / "hooks" / "hooks.json"
    hooks.write_text(hooks.read_text().replace("echo", "printf '%s\\n'"))
    commit_all(repo, "v3")
    refused = plugin(cli, "update", "fmt", stdin="")
    assert refused.returncode == 1
    assert "✘ fmt: the update changes its code and you did not allow it (the installed version was kept)" in (
        refused.stdout)
    assert "echo" in (cli.home / "plugins" / "fmt" / "hooks" / "hooks.json").read_text()

    # a source that is gone: the update fails and keeps what is installed
    git(repo, "tag", "keep")
    moved = repo.rename(tmp_path / "moved")
    failed = plugin(cli, "update", "fmt", "--yes")
    assert failed.returncode == 1 and "installed version was kept" in failed.stdout
    assert (cli.home / "plugins" / "fmt" / "skills" / "greet" / "SKILL.md").read_text().startswith("---")
    assert moved.exists()

    data = cli.home / "plugins" / "data" / "fmt"
    assert data.is_dir()
    removed = plugin(cli, "uninstall", "fmt")
    assert removed.returncode == 0 and "Uninstalled fmt (user scope)" in removed.stdout
    assert not (cli.home / "plugins" / "fmt").exists() and not data.exists()
    assert "fmt" not in json.loads((cli.home / "config.json").read_text()).get("enabled_plugins", {})
    assert "No plugins installed" in plugin(cli, "list").stdout


def test_project_scope_is_allowed_per_project_and_wins_over_the_users(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    source = claude_plugin(tmp_path / "fmt", mcp=False)
    assert plugin(cli, "install", str(source), "--yes").returncode == 0
    local = claude_plugin(tmp_path / "fmt-local", greeting="PROJECT hello to")
    project = plugin(cli, "install", str(local), "--scope", "project", "--yes")
    assert project.returncode == 0, project.stderr
    assert (cli.project / ".nano_claude" / "plugins" / "fmt" / ".claude-plugin" / "plugin.json").is_file()
    listed = plugin(cli, "list").stdout
    assert "fmt 1.0.0 (project) · enabled" in listed and "hidden by the project scope's fmt" in listed
    fake_server.script(text("hi"))
    assert run(cli, fake_server, "/fmt:greet Ann").returncode == 0
    assert "PROJECT hello to Ann" in last_text(fake_server.model_requests[-1].body)
    removed = cli.run("mcp", "remove", "plugin_fmt_clock")  # not a file nano_claude edits: says what to do
    assert removed.returncode == 1
    assert "comes with a plugin" in removed.stderr and "plugin disable" in removed.stderr

    # another user of the same repository has not allowed the project's plugin: its code stays off
    trust = cli.home / "plugins" / "trust.json"
    allowed: dict[str, Any] = json.loads(trust.read_text())
    assert allowed[str(cli.project)] == {"fmt": allowed[str(cli.project)]["fmt"]}
    trust.write_text(json.dumps({"user": allowed["user"]}))
    fake_server.script(text("hi"))
    out = run(cli, fake_server, "/fmt:greet Ann", "--output-format", "text")
    assert "plugin fmt (project): its hooks and MCP servers were not loaded" in out.stderr


def test_broken_plugins_are_reported_and_the_rest_still_load(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    good = claude_plugin(tmp_path / "fmt", mcp=False)
    assert plugin(cli, "install", str(good), "--yes").returncode == 0
    bad = write(tmp_path / "bad" / ".claude-plugin" / "plugin.json", '{"name": "bad",').parent.parent
    refused = plugin(cli, "install", str(bad), "--yes")
    assert refused.returncode == 1
    assert "plugin.json line 1" in refused.stdout and "fix the JSON" in refused.stdout
    assert not (cli.home / "plugins" / "bad").exists()
    assert not any(p.name.startswith(".staging") for p in (cli.home / "plugins").iterdir())

    # broken after install (edited by hand): reported, the other plugin still works
    write(cli.home / "plugins" / "broken" / ".claude-plugin" / "plugin.json", "[1, 2]")
    (cli.home / "plugins" / "fmt" / "hooks" / "hooks.json").write_text("{not json")
    fake_server.script(text("hi"))
    out = run(cli, fake_server, "/fmt:greet Ann", "--output-format", "text")
    assert out.returncode == 0, out.stderr
    assert "Say hello to Ann" in last_text(fake_server.model_requests[-1].body)
    assert "plugin broken (user):" in out.stderr and "expected an object of plugin fields" in out.stderr
    assert "hooks.json line 1" in out.stderr
    assert "✘ broken (user) · cannot be read" in plugin(cli, "list").stdout


def test_validate_reports_each_part_that_would_not_load(cli: Cli, tmp_path: Path) -> None:
    folder = claude_plugin(tmp_path / "fmt")
    ok = plugin(cli, "validate", str(folder))
    assert ok.returncode == 0 and "✔ valid" in ok.stdout and "MCP servers: clock" in ok.stdout
    write(folder / "agents" / "nameless.md", "---\nname: x y\ndescription: d\n---\nbody\n")
    write(folder / ".mcp.json", json.dumps({"mcpServers": {"web": {"url": "https://x.example/mcp"}}}))
    write(folder / ".claude-plugin" / "plugin.json", json.dumps({"name": "fmt", "commands": "../outside"}))
    bad = plugin(cli, "validate", str(folder))
    assert bad.returncode == 1
    assert "holds a colon, slash or space" in bad.stdout
    assert "has a url but no type" in bad.stdout
    assert "leads out of the plugin's folder" in bad.stdout


def marketplace_repo(folder: Path, fmt_repo: Path) -> Path:
    """A team's marketplace: one plugin in a subfolder, one in its own repository (a url source)."""
    claude_plugin(folder / "plugins" / "fmt", mcp=False)
    write(folder / "plugins" / "lint" / "commands" / "lint.md", "---\ndescription: Lint\n---\nLINT-ALL\n")
    write(folder / ".claude-plugin" / "marketplace.json", json.dumps({
        "name": "team-tools", "owner": {"name": "Team"},
        "plugins": [
            {"name": "lint", "source": "./plugins/lint", "description": "Lint everything", "version": "0.1.0",
             "strict": False},
            {"name": "fmt", "source": "./plugins/fmt", "description": "Formatting helpers"},
            {"name": "solo", "source": {"source": "url", "url": f"file://{fmt_repo}"}}]}))
    commit_all(folder, "marketplace")
    return folder


def test_a_marketplace_from_git_lists_installs_updates_and_is_removed(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    manifest = write(tmp_path / "solo" / ".claude-plugin" / "plugin.json", json.dumps({"name": "solo"}))
    solo = manifest.parent.parent
    write(solo / "commands" / "hi.md", "SOLO-HI\n")
    commit_all(solo, "solo")
    repo = marketplace_repo(tmp_path / "market", solo)

    added = plugin(cli, "marketplace", "add", f"file://{repo}")
    assert added.returncode == 0, added.stdout + added.stderr
    assert "Added marketplace team-tools (3 plugins)" in added.stdout
    listed = plugin(cli, "marketplace", "list").stdout
    assert "team-tools" in listed and "lint 0.1.0 · Lint everything" in listed

    for spec in ("lint@team-tools", "fmt@team-tools", "solo"):  # a bare name is looked up in the marketplaces
        done = plugin(cli, "install", spec, "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((cli.home / "plugins" / "installed.json").read_text())["plugins"]
    assert record["fmt"]["marketplace"] == "team-tools"
    assert record["fmt"]["source"] == {"kind": "git", "location": f"file://{repo}", "subdir": "plugins/fmt"}
    # strict: false — the entry is the plugin's manifest
    assert json.loads((cli.home / "plugins" / "lint" / ".claude-plugin" / "plugin.json").read_text())[
        "description"] == "Lint everything"

    fake_server.script(text("ok"), text("ok"))
    assert run(cli, fake_server, "/lint:lint").returncode == 0
    assert run(cli, fake_server, "/solo:hi").returncode == 0
    sent = [last_text(r.body) for r in fake_server.model_requests]
    assert sent[0].endswith("\n\nLINT-ALL") and sent[1].endswith("\n\nSOLO-HI")

    # the marketplace moves on: update follows it
    write(repo / "plugins" / "lint" / "commands" / "lint.md", "LINT-ALL-V2\n")
    commit_all(repo, "v2")
    updated = plugin(cli, "update", "lint")
    assert updated.returncode == 0, updated.stdout
    assert "lint: updated" in updated.stdout
    assert (cli.home / "plugins" / "lint" / "commands" / "lint.md").read_text() == "LINT-ALL-V2\n"

    wrong = plugin(cli, "install", "nothere@team-tools")
    assert wrong.returncode != 0 and "nothere" in wrong.stdout
    removed = plugin(cli, "marketplace", "remove", "team-tools")
    assert removed.returncode == 0 and "Removed marketplace team-tools" in removed.stdout
    assert "No marketplaces" in plugin(cli, "marketplace", "list").stdout
    assert (cli.home / "plugins" / "lint").is_dir()  # installed plugins stay, and update from their source
    after = plugin(cli, "update", "lint")
    assert after.returncode == 0, after.stdout
    assert "marketplace team-tools is no longer added" in after.stdout
    assert "lint: already up to date" in after.stdout


def test_recommend_reads_the_project_and_keywords_and_says_how_to_install(cli: Cli) -> None:
    (cli.project / "Dockerfile").write_text("FROM python:3.12\n")
    (cli.project / "schema.sql").write_text("create table t (id int);\n")
    found = plugin(cli, "recommend")
    assert found.returncode == 0, found.stderr
    assert "Dockerfile in the project" in found.stdout and "nano_claude plugin install" in found.stdout
    assert "nano_claude plugin marketplace add" in found.stdout
    keyword = plugin(cli, "recommend", "scraping")
    assert "matches 'scraping'" in keyword.stdout or "matches 'scrap" in keyword.stdout
    nothing = plugin(cli, "recommend", "zzzquantumzzz")
    assert "Nothing in the catalog matches" in nothing.stdout


def test_a_projects_recommendations_are_offered_never_installed_unasked(cli: Cli, tmp_path: Path) -> None:
    solo = write(tmp_path / "solo" / ".claude-plugin" / "plugin.json", json.dumps({"name": "solo"})).parent
    commit_all(solo.parent, "solo")
    repo = marketplace_repo(tmp_path / "market", solo.parent)
    write(cli.project / ".nano_claude" / "settings.json", json.dumps({
        "plugin_marketplaces": {"team-tools": f"file://{repo}"}, "recommended_plugins": ["lint@team-tools"]}))
    # Claude Code's own project settings name one more
    write(cli.project / ".claude" / "settings.json", json.dumps({"enabledPlugins": {"fmt@team-tools": True}}))

    shown = plugin(cli, "recommend").stdout
    assert "marketplace team-tools: nano_claude plugin marketplace add" in shown
    assert "lint@team-tools: nano_claude plugin install lint@team-tools" in shown
    assert "fmt@team-tools" in shown
    repl = cli.run(input="/exit\n", env={"ANTHROPIC_API_KEY": "sk-test"})
    assert "this project recommends plugins you do not have: lint@team-tools, fmt@team-tools" in (
        repl.stdout + repl.stderr)

    refused = plugin(cli, "install", "--recommended")  # nobody at a terminal: every question is a no
    assert refused.returncode == 0
    assert "Add the marketplace team-tools" in refused.stdout
    assert not (cli.home / "plugins" / "marketplaces.json").exists()
    assert not (cli.home / "plugins" / "lint").exists()

    accepted = plugin(cli, "install", "--recommended", "--yes")
    assert accepted.returncode == 0, accepted.stdout
    assert (cli.home / "plugins" / "lint").is_dir() and (cli.home / "plugins" / "fmt").is_dir()
    assert "recommends nothing that is not installed" in plugin(cli, "install", "--recommended").stdout


def test_a_skill_that_runs_commands_is_code_and_waits_for_consent(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    marker = cli.project / "ran"
    source = tmp_path / "sneaky"
    write(source / "skills" / "setup" / "SKILL.md",
          f"---\ndescription: Set up\nallowed-tools: Bash(touch:*)\n---\nDone: !`touch {marker}`\n")
    installed = plugin(cli, "install", str(source))  # no terminal, no --yes: its code stays off
    assert installed.returncode == 0, installed.stdout
    assert "skills that run commands: /sneaky:setup" in installed.stdout
    assert "Allow sneaky's skills that run commands?" in installed.stdout

    fake_server.script(tool_call("Skill", {"skill": "sneaky:setup"}), text("ok"))
    assert run(cli, fake_server, "set things up").returncode == 0
    said, is_error = every_result(fake_server)[-1]
    assert is_error and "you have not allowed the plugin sneaky's code" in said
    assert not marker.exists()
    assert plugin(cli, "enable", "sneaky", "--yes").returncode == 0
    fake_server.script(tool_call("Skill", {"skill": "sneaky:setup"}), text("ok"))
    assert run(cli, fake_server, "set things up").returncode == 0
    assert marker.exists()

    # pip runs a package's build code: not before the user allowed the plugin
    deps = write(tmp_path / "deps" / "plugin.json", json.dumps({
        "name": "deps", "tools": ["tools"], "dependencies": [f"file://{tmp_path}/none.whl"]})).parent
    write(deps / "tools.py", "")
    assert plugin(cli, "install", str(deps)).returncode == 0  # refused: pip never ran (it would fail)
    assert not (cli.home / "plugins" / "deps" / ".deps").exists()
    enabled = plugin(cli, "enable", "deps", "--yes")  # allowing installs them first; they fail here
    assert enabled.returncode == 1 and "could not be installed" in enabled.stdout
    assert "deps (user) · on, but its Python tools and dependencies are not allowed yet" in plugin(
        cli, "list").stdout


def test_what_a_repository_commits_cannot_turn_on_or_change(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    source = claude_plugin(tmp_path / "fmt", mcp=False)
    assert plugin(cli, "install", str(source), "--yes").returncode == 0
    assert plugin(cli, "disable", "fmt").returncode == 0
    write(cli.project / ".nano_claude" / "settings.json", json.dumps({"enabled_plugins": {"fmt": True}}))
    assert "⊘ fmt 1.0.0 (user) · disabled" in plugin(cli, "list").stdout
    assert plugin(cli, "enable", "fmt").returncode == 0

    # a project plugin allowed once; then its hook's script changes (a git pull): its code is off again
    script = write(tmp_path / "team" / "scripts" / "check.sh", "#!/bin/sh\necho fine\n")
    write(tmp_path / "team" / ".claude-plugin" / "plugin.json", json.dumps({"name": "team"}))
    command = "sh ${CLAUDE_PLUGIN_ROOT}/scripts/check.sh >> ${CLAUDE_PLUGIN_DATA}/log"
    write(tmp_path / "team" / "hooks" / "hooks.json", json.dumps({"hooks": {"UserPromptSubmit": [{"hooks": [
        {"type": "command", "command": command}]}]}}))
    assert script.is_file()
    assert plugin(cli, "install", str(tmp_path / "team"), "--scope", "project", "--yes").returncode == 0
    fake_server.script(text("a"), text("b"))
    assert run(cli, fake_server, "hello").returncode == 0
    data = next((cli.home / "plugins" / "data").glob("team-project-*"))  # the project's own data folder
    assert (data / "log").read_text() == "fine\n"
    committed = cli.project / ".nano_claude" / "plugins" / "team" / "scripts" / "check.sh"
    committed.write_text("#!/bin/sh\necho EVIL\n")
    out = run(cli, fake_server, "hello", "--output-format", "text")
    assert "plugin team (project): its hooks were not loaded" in out.stderr
    assert (data / "log").read_text() == "fine\n"

    # uninstalling the project's copy keeps the user's data
    assert plugin(cli, "uninstall", "team").returncode == 0
    assert not data.exists() and (cli.home / "plugins" / "data" / "fmt").is_dir()


def test_mistakes_are_refused_with_what_to_do(cli: Cli, tmp_path: Path) -> None:
    repo = claude_plugin(tmp_path / "repo", mcp=False)
    commit_all(repo, "v1")
    bad_ref = plugin(cli, "install", f"fmt@file://{repo}#nosuchref", "--yes")
    assert bad_ref.returncode == 1 and "has no branch, tag or commit 'nosuchref'" in bad_ref.stdout

    claude_plugin(cli.project / "fmt", mcp=False)  # a folder named like the plugin: a bare name is no path
    bare = plugin(cli, "install", "fmt")
    assert bare.returncode != 0 and "write ./fmt" in bare.stdout
    assert plugin(cli, "install", "./fmt", "--yes").returncode == 0

    here = plugin(cli, "install", ".", "--scope", "project")
    assert here.returncode == 1 and "holds the folder it would be installed into" in here.stdout
    assert len(here.stdout) < 500

    clone = cli.home / "plugins" / "fmt-plugin"  # cloned by hand under another name
    clone.parent.mkdir(parents=True, exist_ok=True)
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    listed = plugin(cli, "list").stdout
    assert "✘ fmt-plugin (user) · cannot be read" in listed and "rename the folder to fmt" in listed

    piped = subprocess.run(f"{sys.executable} -m nano_claude plugin list | head -1", shell=True,
                           capture_output=True, text=True, cwd=cli.project, env=cli.env)
    assert piped.stdout.startswith("Installed plugins") and "Traceback" not in piped.stderr


def test_plugins_claude_code_installed_work_here_as_claude_code_enables_them(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    home = cli.home.parent  # the test's HOME, where Claude Code keeps ~/.claude
    cache = home / ".claude" / "plugins" / "cache" / "team-tools"
    claude_plugin(cache / "fmt" / "1.0.0", mcp=False)
    write(cache / "lint" / "0.1.0" / "commands" / "lint.md", "LINT-FROM-CLAUDE\n")
    write(cache / "other" / "1.0.0" / "commands" / "other.md", "ELSEWHERE\n")
    records = {
        "fmt@team-tools": [{"scope": "user", "installPath": str(cache / "fmt" / "1.0.0"),
                            "version": "1.0.0"}],
        "lint@team-tools": [{"scope": "project", "projectPath": str(cli.project),
                             "installPath": str(cache / "lint" / "0.1.0"), "version": "0.1.0"}],
        "other@team-tools": [{"scope": "project", "projectPath": str(tmp_path / "another"),
                              "installPath": str(cache / "other" / "1.0.0"), "version": "1.0.0"}]}
    write(home / ".claude" / "plugins" / "installed_plugins.json",
          json.dumps({"version": 2, "plugins": records}))
    write(home / ".claude" / "settings.json", json.dumps({"enabledPlugins": {"fmt@team-tools": True}}))
    write(cli.project / ".claude" / "settings.json", json.dumps({"enabledPlugins": {
        "lint@team-tools": True, "other@team-tools": True}}))

    fake_server.script(text("hi"), text("ok"), text("no"))
    assert run(cli, fake_server, "/fmt:greet Ann").returncode == 0
    assert "Say hello to Ann" in last_text(fake_server.model_requests[-1].body)
    # its hook ran, with Claude Code's data folder for it
    log = home / ".claude" / "plugins" / "data" / "fmt-team-tools" / HOOK_LOG
    assert log.read_text().split() == [str(cache / "fmt" / "1.0.0")]
    assert run(cli, fake_server, "/lint:lint").returncode == 0
    assert last_text(fake_server.model_requests[-1].body).endswith("LINT-FROM-CLAUDE")
    assert run(cli, fake_server, "/other:other").returncode == 0  # installed for another project
    assert last_text(fake_server.model_requests[-1].body) == "/other:other"
    repl = cli.run(input="/exit\n", env={"ANTHROPIC_API_KEY": "sk-test"})  # lint is there; other is not
    assert "recommends plugins you do not have: other@team-tools;" in repl.stdout + repl.stderr
    listed = plugin(cli, "list").stdout
    assert "Installed with Claude Code (2; managed with claude plugin …)" in listed
    assert "✔ fmt@team-tools 1.0.0 (user) · enabled" in listed
    assert "✔ lint@team-tools 0.1.0 (project)" in listed

    # the repository's settings cannot turn on what the user's turned off
    write(home / ".claude" / "settings.json", json.dumps({"enabledPlugins": {"fmt@team-tools": False}}))
    write(cli.project / ".claude" / "settings.json", json.dumps({"enabledPlugins": {"fmt@team-tools": True}}))
    fake_server.script(text("?"))
    assert run(cli, fake_server, "/fmt:greet Bo").returncode == 0
    assert last_text(fake_server.model_requests[-1].body) == "/fmt:greet Bo"
