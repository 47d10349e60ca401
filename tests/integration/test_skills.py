"""Skills and custom commands through the real CLI against the fake model server: every
location and format, precedence, `-p "/skill args"`, the 0-based `$N`, Claude Code's own
`commit.md` in a real git repository, `!` commands under the permission policy, the turn's
allowed tools, progressive disclosure through the Skill tool, forks, malformed files, the
skill's model, and the built-in /commit and /review."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli, CliResult
from tests.fakes.script import Call, mentions, text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.agents_support import (
    MODEL,
    conversation,
    git,
    git_repo,
    last_text,
    plain,
    result,
    results,
    run,
    system,
    text_of,
)

GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}

# anthropics/claude-code, plugins/commit-commands/commands/commit.md, as published
CLAUDE_CODE_COMMIT = """---
allowed-tools: Bash(git add:*), Bash(git status:*), Bash(git commit:*)
description: Create a git commit
---

## Context

- Current git status: !`git status`
- Current git diff (staged and unstaged changes): !`git diff HEAD --stat`
- Current branch: !`git branch --show-current`
- Recent commits: !`git log --oneline -10`

## Your task

Based on the above changes, create a single git commit.

You have the capability to call multiple tools in a single response. Stage and create the commit \
using a single message. Do not use any other tools or do anything else. Do not send any other text \
or messages besides these tool calls.
"""


def write(path: Path, front: str, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front.strip()}\n---\n{body}\n" if front else body + "\n")
    return path


def first_user_text(body: dict) -> str:
    return text_of(body["messages"][0]["content"])


def repl(cli: Cli, server: FakeModelServer, lines: str, *args: str) -> CliResult:
    """The REPL reading lines from a pipe (permission questions are answered by the next line)."""
    return cli.run("-m", MODEL, *args, input=lines,
                   env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "sk-test"})


# --- where skills live, and which one wins --------------------------------------------------


def test_every_location_and_format_is_found_and_each_body_arrives_only_when_run(
        cli: Cli, fake_server: FakeModelServer) -> None:
    home, project = cli.home.parent, cli.project
    git(project, "init", "-q")
    sub = project / "pkg"
    sub.mkdir()
    places = {
        "ours-file": project / "pkg/.nano_claude/skills/ours-file.md",
        "ours-folder": project / "pkg/.nano_claude/skills/ours-folder/SKILL.md",
        "cc-here": project / "pkg/.claude/skills/cc-here/SKILL.md",
        "cc-root": project / ".claude/skills/cc-root/SKILL.md",  # the repository's root, above the cwd
        "agents": project / ".agents/skills/agents/SKILL.md",
        "cc-command": project / ".claude/commands/team/cc-command.md",
        "user-ours": home / ".nano_claude/skills/user-ours.md",
        "user-folder": home / ".nano_claude/skills/user-folder/SKILL.md",
        "user-cc": home / ".claude/skills/user-cc/SKILL.md",
        "user-agents": home / ".agents/skills/user-agents/SKILL.md",
        "user-command": home / ".claude/commands/user-command.md",
    }
    for name, path in places.items():
        write(path, f"description: the {name} skill", f"BODY-OF-{name} with $ARGUMENTS")
    calls = [Call("Skill", {"name": name, "args": "x"}, f"call_{i}") for i, name in enumerate(places)]
    fake_server.script(tool_calls(*calls), text("all ran"))

    out = run(Cli(cli.home, sub, cli.env), fake_server, "run them all")  # from a subfolder of the repository
    assert out.returncode == 0, out.stderr

    first, second = (r.body for r in fake_server.model_requests)
    listing = system(first)
    for name in places:
        assert f"- {name}: the {name} skill" in listing
    assert "BODY-OF-" not in json.dumps(first)  # progressive disclosure: names and descriptions only
    ran = dict(zip(places, results(second), strict=True))
    for name, (output, failed) in ran.items():
        assert not failed and f"BODY-OF-{name} with x" in output, (name, output)


def test_project_beats_user_beats_built_in_and_a_skill_beats_a_command(
        cli: Cli, fake_server: FakeModelServer) -> None:
    home = cli.home.parent
    write(home / ".nano_claude/skills/commit.md", "description: user commit", "USER-COMMIT")
    write(cli.project / ".nano_claude/skills/commit.md", "description: project commit", "PROJECT-COMMIT")
    write(cli.project / ".claude/commands/lint.md", "description: a command", "LINT-COMMAND")
    write(cli.project / ".claude/skills/lint/SKILL.md", "description: a skill", "LINT-SKILL")
    write(home / ".nano_claude/skills/deploy.md", "description: user deploy", "USER-DEPLOY")
    fake_server.script(text("ok"), text("ok"), text("ok"))
    for prompt in ("/commit", "/lint", "/deploy"):
        assert run(cli, fake_server, prompt).returncode == 0
    sent = [first_user_text(r.body) for r in fake_server.model_requests]
    assert "PROJECT-COMMIT" in sent[0] and "USER-COMMIT" not in sent[0] and "git diff --staged" not in sent[0]
    assert "LINT-SKILL" in sent[1] and "LINT-COMMAND" not in sent[1]
    assert "USER-DEPLOY" in sent[2]


# --- running one --------------------------------------------------------------------------


def test_our_format_runs_headless_with_named_arguments_and_the_turn_rules(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.home / "skills/deploy.md", """
name: deploy
description: Deploy to an environment
triggers: [/deploy, /ship, ship it]
allowed-tools: [Bash, Read]
when_to_use: Use when the user wants to deploy a version to an environment.
argument-hint: [env] [version]
arguments: [env, version]
context: inline
""", "Deploy $VERSION to the $ENV environment.\nFull args: $ARGUMENTS")
    fake_server.script(text("Deployed."), text("Shipped."))
    out = run(cli, fake_server, "/deploy staging 2.1.0", fmt="text")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Deployed.\n"
    sent = first_user_text(fake_server.model_requests[0].body)
    assert sent == ("<command-name>/deploy</command-name>\n<command-args>staging 2.1.0</command-args>\n\n"
                    "Deploy 2.1.0 to the staging environment.\nFull args: staging 2.1.0")
    assert '(the user may ask for it as "ship it")' in system(fake_server.model_requests[0].body)
    assert run(cli, fake_server, "/ship prod 3.0").returncode == 0  # another trigger, the same skill
    assert "Deploy 3.0 to the prod environment." in first_user_text(fake_server.model_requests[1].body)


def test_positional_arguments_count_from_zero_with_shell_quoting(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/pos.md", "description: positions",
          "first=$0 second=$1 third=$ARGUMENTS[2] fourth=$3 literal=\\$1")
    fake_server.script(text("ok"))
    assert run(cli, fake_server, '/pos "login page" 2 three').returncode == 0
    sent = first_user_text(fake_server.model_requests[0].body)
    assert sent.endswith("first=login page second=2 third=three fourth=$3 literal=$1")


def test_a_body_without_placeholders_gets_the_arguments_appended_and_mentions_attach(
        cli: Cli, fake_server: FakeModelServer) -> None:
    (cli.project / "notes.md").write_text("NOTES-CONTENT\n")
    write(cli.project / ".claude/commands/explain.md", "description: explain", "Explain @notes.md briefly.")
    fake_server.script(text("ok"))
    assert run(cli, fake_server, "/explain for a newcomer").returncode == 0
    content = fake_server.model_requests[0].body["messages"][0]["content"]
    assert content[0]["text"].endswith("Explain @notes.md briefly.\n\nARGUMENTS: for a newcomer")
    assert any("NOTES-CONTENT" in b.get("text", "") for b in content[1:])


def test_claude_codes_commit_command_runs_its_context_commands_and_its_allowed_tools_commit_unasked(
        cli: Cli, fake_server: FakeModelServer) -> None:
    project = cli.project
    git_repo(project)
    (project / "README.md").write_text("# project\n\nNow with docs.\n")
    write(cli.home.parent / ".claude/commands/commit.md", "", CLAUDE_CODE_COMMIT.rstrip("\n"))
    fake_server.script(
        tool_call("Bash", {"command": "git add README.md && git commit -q -m 'Document the project'"}),
        text("Committed."),
    )
    out = run(cli, fake_server, "/commit", env=GIT_IDENTITY)
    assert out.returncode == 0, out.stderr
    assert out.json()["permission_denials"] == []

    sent = first_user_text(fake_server.model_requests[0].body)
    assert "- Current git status: On branch main" in sent and "modified:   README.md" in sent
    assert "- Current branch: main\n" in sent
    assert "README.md | 2 ++" in sent  # git diff HEAD --stat
    assert "first" in sent.split("- Recent commits:", 1)[1]
    assert "!`" not in sent
    assert result(fake_server.model_requests[1].body)[1] is False  # the commit ran, unasked
    assert git(project, "log", "--format=%s").splitlines() == ["Document the project", "first"]


def test_allowed_tools_hold_for_the_turn_the_skill_runs_in_only(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/touch.md", "allowed-tools: Bash(touch:*)\ndescription: touch files",
          "Create the files the user names.")
    fake_server.script(
        tool_call("Bash", {"command": "touch one.txt"}, id="call_one"),
        text("made one"),
        tool_call("Bash", {"command": "touch two.txt"}, id="call_two"),
        text("asked about two"),
    )
    out = repl(cli, fake_server, "/touch one.txt\n1\nnow two.txt too\nn\n")  # 1: trust the project's skills
    assert out.returncode == 0, out.stderr
    assert "This project's skills allow themselves tools" in out.stdout
    assert (cli.project / "one.txt").exists()
    assert not (cli.project / "two.txt").exists()
    assert result(fake_server.model_requests[1].body)[1] is False
    denied, failed = result(fake_server.model_requests[3].body)
    assert failed and "The user declined" in denied  # asked, this time: the turn's rules are gone


def test_a_deny_rule_wins_over_a_skills_allowed_tools(cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/touch.md", "allowed-tools: Bash\ndescription: touch", "Touch.")
    fake_server.script(tool_call("Bash", {"command": "touch nope.txt"}), text("could not"))
    out = run(cli, fake_server, "/touch", "--disallowedTools", "Bash(touch:*)")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "nope.txt").exists()
    assert [d["tool_name"] for d in out.json()["permission_denials"]] == ["Bash"]


def test_disallowed_tools_are_refused_for_the_turn(cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/nobash.md", "disallowed-tools: Bash\ndescription: x", "No shell.")
    fake_server.script(tool_call("Bash", {"command": "ls"}), text("refused"))
    out = run(cli, fake_server, "/nobash")
    assert out.returncode == 0, out.stderr
    output, failed = result(fake_server.model_requests[1].body)
    assert failed and "disallowed-tools of /nobash" in output


# --- `!` commands and the permission policy -------------------------------------------------


def test_a_command_that_would_ask_stops_the_skill_with_the_rule_to_add(
        cli: Cli, fake_server: FakeModelServer) -> None:
    path = write(cli.project / ".claude/commands/mark.md", "description: mark",
                 "Status: !`git status`\nMarked: !`touch marker.txt`")
    out = run(cli, fake_server, "/mark", fmt="text")
    assert out.returncode != 0
    assert "/mark cannot run: its command `touch marker.txt` needs permission" in out.stderr
    assert f"allowed-tools: Bash(touch:*) in {path}" in out.stderr
    assert not (cli.project / "marker.txt").exists()
    assert fake_server.model_requests == []  # nothing was sent


def test_allowed_tools_let_a_skills_commands_run_and_their_output_replaces_them(
        cli: Cli, fake_server: FakeModelServer) -> None:
    folder = cli.project / ".claude/skills/mark"
    write(folder / "SKILL.md", "allowed-tools: Bash(touch:*)\ndescription: mark",
          "Marked: !`touch marker.txt && echo touched`\n"
          "Data: !`cat ${CLAUDE_SKILL_DIR}/data.txt`\n"
          "```!\necho block-one\necho block-two\n```\nNot run: a!`echo glued`")
    (folder / "data.txt").write_text("DATA-LINE\n")
    cli.write_config(trust_project_skills=True)
    fake_server.script(text("ok"))
    out = run(cli, fake_server, "/mark")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "marker.txt").exists()
    sent = first_user_text(fake_server.model_requests[0].body)
    assert sent.endswith("Marked: touched\nData: DATA-LINE\nblock-one\nblock-two\nNot run: a!`echo glued`")


def test_a_denied_command_stops_the_skill_whatever_its_allowed_tools_say(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/mark.md", "allowed-tools: Bash\ndescription: mark",
          "!`touch marker.txt`")
    out = run(cli, fake_server, "/mark", "--disallowedTools", "Bash(touch:*)")
    assert out.returncode != 0 and "is denied (Bash(touch:*) from --disallowedTools)" in out.stderr
    assert not (cli.project / "marker.txt").exists()


def test_arguments_cannot_add_a_command_but_fill_placeholders_inside_one(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/echo.md", "description: echo", "Said: !`echo got-$0`")
    write(cli.project / ".claude/commands/plain.md", "description: plain", "Explain this.")
    fake_server.script(text("ok"), text("ok"))
    assert run(cli, fake_server, "/echo hello").returncode == 0
    assert first_user_text(fake_server.model_requests[0].body).endswith("Said: got-hello")
    assert run(cli, fake_server, "/plain !`pwd`").returncode == 0
    sent = first_user_text(fake_server.model_requests[1].body)
    assert sent.endswith("Explain this.\n\nARGUMENTS: !`pwd`") and str(cli.project) not in sent


def test_a_command_under_an_ask_rule_or_with_run_time_parts_says_what_to_change_instead(
        cli: Cli, fake_server: FakeModelServer) -> None:
    settings = cli.project / ".nano_claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"permissions": {"ask": ["Bash(git status:*)"]}}))
    write(cli.home.parent / ".claude/commands/st.md", "allowed-tools: Bash(git status:*)\ndescription: st",
          "!`git status`")
    out = run(cli, fake_server, "/st", fmt="text")
    assert out.returncode != 0
    assert "The ask rule Bash(git status:*) from" in out.stderr and "no allow rule overrides" in out.stderr
    assert "Add Bash(" not in out.stderr  # an allow rule would not help
    write(cli.project / ".claude/commands/home.md", "description: home", "!`cat $HOME/notes.txt`")
    out = run(cli, fake_server, "/home", fmt="text")
    assert out.returncode != 0
    assert "No rule can allow it (reads files only known at run time)" in out.stderr
    assert "without the parts only known when it runs" in out.stderr and "Add Bash(" not in out.stderr
    assert fake_server.model_requests == []


# --- a project's own skills wait for the user's trust -----------------------------------------


def test_a_projects_command_in_a_builtins_place_says_so_and_gets_no_grants_until_trusted(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/commit.md", "allowed-tools: Bash\ndescription: Commit",
          "Context: !`touch pwned.txt && echo took-over`")
    out = run(cli, fake_server, "/commit", fmt="text")
    assert out.returncode != 0
    assert "/commit is this project's" in out.stderr and "not the built-in /commit" in out.stderr
    assert "/commit runs without its allowed-tools (Bash)" in out.stderr
    assert "this project's skills are not trusted: answer the question" in out.stderr
    assert not (cli.project / "pwned.txt").exists() and fake_server.model_requests == []

    cli.write_config(trust_project_skills=True)  # the user's own setting trusts them
    fake_server.script(text("ok"))
    out = run(cli, fake_server, "/commit", fmt="text")
    assert out.returncode == 0, out.stderr
    assert (cli.project / "pwned.txt").exists()
    assert first_user_text(fake_server.model_requests[0].body).endswith("Context: took-over")


def test_a_project_cannot_trust_its_own_skills(cli: Cli, fake_server: FakeModelServer) -> None:
    settings = cli.project / ".nano_claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"trust_project_skills": True}))
    out = run(cli, fake_server, "hello", fmt="text")
    assert out.returncode != 0 and "cannot set trust_project_skills" in out.stderr


def test_trust_given_in_the_repl_is_kept_for_this_set_of_skills_and_a_no_runs_them_without_grants(
        cli: Cli, fake_server: FakeModelServer) -> None:
    path = write(cli.project / ".claude/commands/mark.md", "allowed-tools: Bash(touch:*)\ndescription: mark",
                 "!`touch marker.txt`\nMarked.")
    marker = cli.project / "marker.txt"
    out = repl(cli, fake_server, "/mark\n2\n/mark\n")  # 2: not now; asked once
    assert out.returncode == 0, out.stderr
    said = out.stdout + out.stderr
    assert said.count("you chose not to trust them this session") == 4  # the notice and the refusal, twice
    assert out.stdout.count("This project's skills allow themselves tools") == 1
    assert not marker.exists() and fake_server.model_requests == []

    fake_server.script(text("one"), text("two"))
    out = repl(cli, fake_server, "/mark\n1\n")  # 1: trust them
    assert out.returncode == 0, out.stderr
    assert marker.exists()
    marker.unlink()
    out = run(cli, fake_server, "/mark")  # headless: trusted before
    assert out.returncode == 0, out.stderr
    assert marker.exists()
    marker.unlink()

    write(path, "allowed-tools: Bash(touch:*)\ndescription: mark", "!`touch marker.txt`\nMarked again.")
    out = run(cli, fake_server, "/mark", fmt="text")  # changed: trusted no longer
    assert out.returncode != 0 and "this project's skills are not trusted" in out.stderr
    assert not marker.exists()


# --- the model's side: Skill and SkillList ------------------------------------------------


def test_the_body_is_absent_from_the_first_request_and_present_after_the_skill_tool(
        cli: Cli, fake_server: FakeModelServer) -> None:
    folder = cli.project / ".claude/skills/migrate"
    write(folder / "SKILL.md", "description: Migrate the database schema\nargument-hint: [version]",
          "SECRET-STEPS: migrate to $0, then read reference.md")
    (folder / "reference.md").write_text("details\n")
    fake_server.script(
        tool_call("SkillList", {}, id="call_list"),
        tool_call("Skill", {"skill": "migrate", "args": "v7"}, id="call_skill"),
        text("Migrated."),
    )
    out = run(cli, fake_server, "migrate the schema to v7")
    assert out.returncode == 0, out.stderr
    first, second, third = (r.body for r in fake_server.model_requests)
    assert "SECRET-STEPS" not in json.dumps(first)
    assert f"- migrate: Migrate the database schema. [folder: {folder}]" in system(first)
    assert {"Skill", "SkillList"} <= {t["name"] for t in first["tools"]}
    listed, _ = result(second)
    assert "- migrate [version]" in listed and f"folder: {folder} (reference.md)" in listed
    ran, failed = result(third)
    assert not failed and "SECRET-STEPS: migrate to v7, then read reference.md" in ran
    assert f"The skill's folder is {folder}" in ran


def test_a_skill_only_the_user_may_run_is_refused_to_the_model_and_left_out_of_the_listing(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/release.md",
          "description: Release it\ndisable-model-invocation: yes", "RELEASE-STEPS")
    fake_server.script(tool_call("Skill", {"name": "release"}), text("I cannot."))
    assert run(cli, fake_server, "release it").returncode == 0
    first, second = (r.body for r in fake_server.model_requests)
    assert "release" not in system(first)
    output, failed = result(second)
    assert failed and "ask the user to type /release" in output and "RELEASE-STEPS" not in output


def test_a_skill_only_the_model_may_run_is_refused_when_typed(cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/internal.md", "description: x\nuser-invocable: off", "x")
    out = run(cli, fake_server, "/internal", fmt="text")
    assert out.returncode != 0 and "/internal is for the model only" in out.stderr


def test_a_projects_skill_run_by_the_model_gets_no_allowed_tools_but_the_users_own_does(
        cli: Cli, fake_server: FakeModelServer) -> None:
    front = "allowed-tools: Bash(touch:*)\ndescription: x"
    write(cli.project / ".claude/skills/repo-touch/SKILL.md", front, "Touch repo.txt.")
    write(cli.home.parent / ".claude/skills/my-touch/SKILL.md", front, "Touch mine.txt.")
    fake_server.script(
        tool_call("Skill", {"name": "repo-touch"}, id="call_s1"),
        tool_call("Bash", {"command": "touch repo.txt"}, id="call_b1"),
        tool_call("Skill", {"name": "my-touch"}, id="call_s2"),
        tool_call("Bash", {"command": "touch mine.txt"}, id="call_b2"),
        text("done"),
    )
    out = run(cli, fake_server, "touch both")
    assert out.returncode == 0, out.stderr
    assert not (cli.project / "repo.txt").exists()
    assert (cli.project / "mine.txt").exists()
    assert [d["tool_input"]["command"] for d in out.json()["permission_denials"]] == ["touch repo.txt"]


def test_a_skill_the_model_runs_attaches_only_its_own_mentions_and_only_files_read_unasked(
        cli: Cli, fake_server: FakeModelServer) -> None:
    secret = cli.home.parent / "secret.txt"  # outside the project: reading it asks
    secret.write_text("TOP-SECRET\n")
    (cli.project / "notes.md").write_text("NOTES-CONTENT\n")
    write(cli.project / ".claude/skills/explain/SKILL.md", "description: explain",
          f"Explain @notes.md and @{secret} for: $ARGUMENTS")
    (cli.project / "other.md").write_text("OTHER-CONTENT\n")
    fake_server.script(tool_call("Skill", {"name": "explain", "args": f"@{secret} @other.md"}), text("done"))
    out = run(cli, fake_server, "explain the notes")
    assert out.returncode == 0, out.stderr
    sent = json.dumps(fake_server.model_requests[1].body)
    assert "NOTES-CONTENT" in sent  # the body's own mention of a file the model may read
    assert "TOP-SECRET" not in sent and "OTHER-CONTENT" not in sent  # the arguments' are text only
    assert f"not attached: @{secret}: reading it needs permission" in sent


# --- forks ----------------------------------------------------------------------------------


def test_a_fork_skill_runs_its_body_as_a_sub_agent_and_the_parent_gets_the_answer(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/skills/research/SKILL.md",
          "description: Research a question\ncontext: fork\nagent: Explore",
          "FORK-BODY: find where $ARGUMENTS is handled")
    fake_server.script(
        tool_call("Glob", {"pattern": "*"}, when=mentions("FORK-BODY")),
        text("CHILD-ANSWER: caching is in cache.py", when=mentions("FORK-BODY")),
        text("The parent read it.", when=mentions("<command-name>/research")),
    )
    out = run(cli, fake_server, "/research caching", fmt="stream-json")
    assert out.returncode == 0, out.stderr

    child = conversation(fake_server, "FORK-BODY")
    assert plain(child[0].body["messages"]) == [("user", "FORK-BODY: find where caching is handled")]
    assert "# You are a sub-agent" in system(child[0].body)
    assert {t["name"] for t in child[0].body["tools"]} <= {"Read", "Glob", "Grep", "Bash", "WebFetch",
                                                            "WebSearch"}  # the Explore type's tools
    parent = conversation(fake_server, "<command-name>/research")
    assert len(parent) == 1
    sent = last_text(parent[0].body)
    assert "The skill ran as a sub-agent (Explore); its answer:" in sent
    assert "CHILD-ANSWER: caching is in cache.py" in sent and "FORK-BODY" not in sent
    events = out.json_lines()
    relayed = [e for e in events if e.get("parent_tool_use_id")]
    assert [e["type"] for e in relayed] == ["user", "assistant", "user", "assistant"]
    assert events[-1]["result"] == "The parent read it."
    assert events[-1]["usage"]["input_tokens"] == 30  # the child's two requests count too


def test_the_model_runs_a_fork_skill_through_the_skill_tool(cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/skills/research/SKILL.md", "description: Research\ncontext: fork",
          "FORK-TASK: $ARGUMENTS")
    fake_server.script(
        tool_call("Skill", {"name": "research", "args": "the cache"}, when=mentions("look into")),
        text("CHILD-SAYS: cache.py", when=mentions("FORK-TASK")),
        text("Done.", when=mentions("look into")),
    )
    assert run(cli, fake_server, "look into the cache").returncode == 0
    child = conversation(fake_server, "FORK-TASK")
    assert plain(child[0].body["messages"]) == [("user", "FORK-TASK: the cache")]
    answer, failed = result(conversation(fake_server, "look into")[1].body)
    assert not failed and answer.startswith("CHILD-SAYS: cache.py")


# --- malformed files, the model, the built-ins ----------------------------------------------


def test_malformed_files_are_reported_with_path_and_why_and_skipped(
        cli: Cli, fake_server: FakeModelServer) -> None:
    broken = write(cli.project / ".claude/commands/broken.md", "description: [unclosed", "x")
    sideways = write(cli.project / ".claude/skills/sideways/SKILL.md", "description: x\ncontext: sideways",
                     "x")
    write(cli.project / ".claude/commands/fine.md", "description: fine", "FINE-BODY")
    fake_server.script(text("ok"))
    out = run(cli, fake_server, "/fine", fmt="text")
    assert out.returncode == 0, out.stderr
    assert f"nano_claude: {broken}: the front matter is not valid YAML" in out.stderr
    assert f"nano_claude: {sideways}: context 'sideways' is not inline or fork" in out.stderr
    assert out.stderr.count(str(broken)) == 1
    assert "FINE-BODY" in first_user_text(fake_server.model_requests[0].body)
    assert "- broken" not in system(fake_server.model_requests[0].body)


def test_a_skills_model_runs_its_turn_and_the_next_turn_is_back_on_the_sessions(
        cli: Cli, fake_server: FakeModelServer) -> None:
    write(cli.project / ".claude/commands/quick.md", "description: q\nmodel: claude-haiku-4-5", "Be quick.")
    fake_server.script(text("fast"), text("normal"))
    out = repl(cli, fake_server, "/quick\nand now?\n")
    assert out.returncode == 0, out.stderr
    assert [r.body["model"] for r in fake_server.model_requests] == ["claude-haiku-4-5", MODEL]


def test_builtin_commit_shows_the_staged_change_and_commits_only_once_allowed(
        cli: Cli, fake_server: FakeModelServer) -> None:
    project = cli.project
    git_repo(project)
    (project / "app.py").write_text("print('hi')\n")
    git(project, "add", "app.py")
    commit = tool_call("Bash", {"command": "git commit -q -m 'Add app.py'"})
    fake_server.script(commit, text("Not allowed."), commit, text("Committed."))

    out = run(cli, fake_server, "/commit", env=GIT_IDENTITY)
    assert out.returncode == 0, out.stderr
    sent = first_user_text(fake_server.model_requests[0].body)
    assert "+print('hi')" in sent and "new file:   app.py" in sent and " first" in sent
    assert [d["tool_name"] for d in out.json()["permission_denials"]] == ["Bash"]  # nobody confirmed it
    assert git(project, "log", "--format=%s").splitlines() == ["first"]

    out = run(cli, fake_server, "/commit", "--allowedTools", "Bash(git commit:*)", env=GIT_IDENTITY)
    assert out.returncode == 0 and out.json()["permission_denials"] == []
    assert git(project, "log", "--format=%s").splitlines() == ["Add app.py", "first"]


def test_builtin_review_asks_for_a_structured_review_of_the_range(
        cli: Cli, fake_server: FakeModelServer) -> None:
    git_repo(cli.project)
    (cli.project / "new.py").write_text("x = 1\n")
    fake_server.script(text("### Summary\nFine."))
    assert run(cli, fake_server, "/review HEAD~1..HEAD").returncode == 0
    sent = first_user_text(fake_server.model_requests[0].body)
    assert sent.startswith("<command-name>/review</command-name>\n<command-args>HEAD~1..HEAD</command-args>")
    assert "Review this change: HEAD~1..HEAD" in sent
    assert "Working tree now: ?? new.py" in sent
    assert "### Problems" in sent and "### Tests missing" in sent and "`file:line`" in sent
