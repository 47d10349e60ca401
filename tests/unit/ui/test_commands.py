"""Slash commands, run through the registry on a real agent against the fake model server."""

from __future__ import annotations

import io
import json
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nano_claude.assemble import build_agent
from nano_claude.config import Paths, Settings
from nano_claude.core.events import Event, Usage
from nano_claude.core.loop import Session
from nano_claude.core.messages import user_text
from nano_claude.core.prompter import HeadlessPrompter
from nano_claude.permissions.rules import RuleSet
from nano_claude.providers.catalog import MODELS
from nano_claude.ui.commands import commands, dispatch, find
from nano_claude.ui.state import PlainEcho, ReplState
from tests.fakes.script import Call, Step, text, tool_call, tool_calls
from tests.fakes.script import Usage as Tokens
from tests.fakes.server import FakeModelServer

ANTHROPIC_KEY = "sk-ant-test-secret-9876"
OPENAI_KEY = "sk-openai-test-secret-5432"
SONNET = "anthropic/claude-sonnet-4-6"
RULES_FILE = "/etc/team/settings.json"


class Screen:
    """What the REPL's renderer offers commands: styled lines, two toggles, Markdown."""

    def __init__(self, width: int = 80) -> None:
        self.lines: list[tuple[str, str | None]] = []
        self.markdown_blocks: list[str] = []
        self.verbose = False
        self.show_thinking = False
        self.width = width

    def echo(self, text: str = "", style: str | None = None) -> None:
        self.lines.append((text, style))

    def markdown(self, text: str) -> None:
        self.markdown_blocks.append(text)


@dataclass
class Repl:
    state: ReplState
    screen: Any  # a Screen, unless a test passes its own output
    server: FakeModelServer
    project: Path
    paths: Paths
    seen: int = 0

    async def do(self, line: str) -> str:
        """Run a command line; returns what it printed."""
        assert await dispatch(self.state, line), f"{line!r} was not taken as a command"
        return self.printed()

    def printed(self) -> str:
        new, self.seen = self.screen.lines[self.seen:], len(self.screen.lines)
        return "\n".join(line for line, _ in new)

    async def turn(self, prompt: str, *steps: Step) -> list[Event]:
        """One user turn, as the REPL runs it: usage counted toward the turn."""
        self.server.script(*steps)
        self.state.start_turn()
        events = []
        async for event in self.state.agent.run(self.state.session, user_text(prompt)):
            events.append(event)
            if isinstance(event, Usage):
                self.state.record(event)
        return events

    @property
    def config_file(self) -> dict[str, Any]:
        return json.loads(self.paths.user_config.read_text())


def make_repl(server: FakeModelServer, tmp_path: Path, model: str = SONNET,
              output: Any = None) -> Repl:
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir(parents=True, exist_ok=True)
    paths = Paths(home / ".nano_claude", project / ".nano_claude")
    environ = {"HOME": str(home)}
    settings = Settings(anthropic_api_key=ANTHROPIC_KEY, anthropic_base_url=server.url,
                        openai_api_key=OPENAI_KEY, openai_base_url=server.url + "/v1", max_retries=0)
    rules = RuleSet()
    rules.add(["Bash(git push:*)"], "deny", RULES_FILE)
    agent = build_agent(settings, model=model, cwd=project, environ=environ,
                        prompter=HeadlessPrompter(), rules=rules, paths=paths)
    screen = output or Screen()
    state = ReplState(agent, Session(), settings, paths, environ, screen)
    return Repl(state, screen, server, project, paths)


@pytest.fixture
def repl(fake_server: FakeModelServer, tmp_path: Path) -> Repl:
    return make_repl(fake_server, tmp_path)


# --- the registry ---------------------------------------------------------------------


async def test_unknown_command_suggests_the_nearest(repl: Repl) -> None:
    assert await repl.do("/modle") == "Unknown command /modle. Did you mean /model? (/help lists commands)"
    assert await repl.do("/xyzzy") == "Unknown command /xyzzy. (/help lists commands)"
    assert repl.screen.lines[-1][1] == "red"


async def test_prompts_and_paths_are_not_commands(repl: Repl) -> None:
    assert not await dispatch(repl.state, "explain /model please")
    assert not await dispatch(repl.state, "/etc/hosts: what is in it?")
    assert repl.screen.lines == []


def test_registry_is_sorted_and_finds_aliases() -> None:
    names = [c.name for c in commands()]
    assert names == sorted(names)
    assert {"help", "clear", "model", "config", "cost", "doctor", "context", "verbose", "thinking",
            "permissions", "cwd", "history", "exit", "compact"} <= set(names)
    assert find("quit") is find("exit") is not None
    assert find("MODEL") is find("model")
    assert find("nonesuch") is None


async def test_help_lists_every_command_and_the_keys(repl: Repl) -> None:
    out = " ".join((await repl.do("/help")).split())  # as read: lines wrap to fit the terminal
    for command in commands():
        assert command.usage in out and command.help in out
    assert "(also /quit)" in out
    for key in ("Alt+Enter", "Ctrl+R", "Tab", "@path", "!cmd", "Esc or Ctrl+C", "Ctrl+D"):
        assert key in out


def description_column(lines: list[str]) -> int:
    """Where the descriptions of a two-column table start (the column after the widest gap)."""
    starts = {m.end() for line in lines if (m := re.match(r"  \S.*?\S {2,}", line))}
    return min(starts)


@pytest.mark.parametrize("width", [80, 50])
async def test_help_and_model_fit_the_terminal_width(fake_server: FakeModelServer, tmp_path: Path,
                                                     width: int) -> None:
    repl = make_repl(fake_server, tmp_path, output=Screen(width))
    for command in ("/help", "/model"):
        out = await repl.do(command)
        assert all(len(line) <= width for line in out.splitlines() if line.startswith(" ")), out
        tables = [t.splitlines() for t in re.split(r"^\S.*$", out, flags=re.M) if t.strip()]
        assert len(tables) == (2 if command == "/help" else 1), out
        for table in tables:
            table = [line for line in table if line]
            column = description_column(table)
            assert column <= width // 2 + 2, out  # room left for the descriptions
            # A wrapped description continues under itself, never at column 0 or under the
            # names; a name too long for its column continues indented by two more.
            for line in table:
                indent = len(line) - len(line.lstrip())
                assert indent in (2, 4, column), f"{line!r} in\n{out}"
    help_text = " ".join((await repl.do("/help")).split())
    assert "cloudsave" in help_text and "(also /quit)" in help_text


async def test_exit_and_quit_leave(repl: Repl) -> None:
    await repl.do("/quit")
    assert repl.state.running is False
    other = make_repl(repl.server, repl.project.parent / "other")
    await other.do("/exit")
    assert other.state.running is False


# --- /model ---------------------------------------------------------------------------


async def test_model_switch_keeps_the_history_and_the_next_turn_goes_to_the_new_model(repl: Repl) -> None:
    await repl.turn("hello there", text("Hi from Claude", path_contains="/v1/messages"))
    out = await repl.do("/model openai/gpt-4o")
    assert "Model set to openai/gpt-4o (OpenAI)" in out and "2 messages of history kept" in out

    def carries_history(body: dict) -> None:
        said = [(m["role"], m["content"]) for m in body["messages"] if m["role"] != "system"]
        assert said[0][0] == "user" and "hello there" in json.dumps(said[0][1])
        assert said[1] == ("assistant", "Hi from Claude")
        assert "and now?" in json.dumps(said[2][1])

    await repl.turn("and now?", text("Hi from GPT", path_contains="/chat/completions",
                                     expect=carries_history))
    second = repl.server.model_requests[1]
    assert second.body is not None and second.body["model"] == "gpt-4o"
    assert second.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert repl.state.session.messages[-1].text == "Hi from GPT"


async def test_model_bad_name_or_missing_key_keeps_the_old_model(repl: Repl) -> None:
    out = await repl.do("/model nosuchmodel")
    assert "unknown model 'nosuchmodel'" in out and "Still using anthropic/claude-sonnet-4-6" in out
    out = await repl.do("/model gemini/gemini-2.5-pro")
    assert "GEMINI_API_KEY" in out and "Still using anthropic/claude-sonnet-4-6" in out
    assert repl.state.agent.model.qualified == SONNET
    await repl.turn("still there?", text("yes", path_contains="/v1/messages"))
    assert repl.server.model_requests[0].body["model"] == "claude-sonnet-4-6"


async def test_model_shows_the_current_one_and_the_catalog_by_provider(repl: Repl) -> None:
    out = await repl.do("/model")
    assert "Current model: anthropic/claude-sonnet-4-6 (Anthropic), context window 200,000 tokens" in out
    rows = re.split(r"\n(?=  \S)", out)  # a row of the table, with its wrapped lines
    openai = next(row for row in rows if row.strip().startswith("openai "))
    assert "gpt-4o" in openai and "o3" in openai
    assert "(no key: set GEMINI_API_KEY or /config gemini_api_key=...)" in out
    assert "ollama/NAME" in out
    assert ANTHROPIC_KEY not in out


def test_model_completes_catalog_names(repl: Repl) -> None:
    complete = find("model").complete
    assert complete(repl.state, "openai/gpt-4o") == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert complete(repl.state, "gpt-4o") == ["gpt-4o", "gpt-4o-mini"]
    assert complete(repl.state, "smol") == []  # a bare name that would not resolve
    assert complete(repl.state, "anthropic/claude-haiku") == ["anthropic/claude-haiku-4-5"]
    assert complete(repl.state, "") == [m.qualified for m in MODELS]
    assert complete(repl.state, "zzz") == []


# --- /config --------------------------------------------------------------------------


async def test_config_shows_settings_with_keys_masked(repl: Repl) -> None:
    out = await repl.do("/config")
    assert ANTHROPIC_KEY not in out and OPENAI_KEY not in out
    assert "anthropic_api_key" in out and "****9876" in out
    gemini = next(line for line in out.splitlines() if "gemini_api_key" in line)
    assert gemini.split(maxsplit=1) == ["gemini_api_key", "(not set)"]
    assert any(line.split() == ["permission_mode", "auto"] for line in out.splitlines())
    assert await repl.do("/config verbose") == "verbose = false"


async def test_config_saves_a_key_privately_without_echoing_it(repl: Repl) -> None:
    out = await repl.do("/config gemini_api_key=AIza-new-secret-0000")
    assert "AIza-new-secret-0000" not in out and "0000" not in out
    assert f"Set gemini_api_key (saved to {repl.paths.user_config})" in out
    assert repl.config_file == {"gemini_api_key": "AIza-new-secret-0000"}
    assert stat.S_IMODE(repl.paths.user_config.stat().st_mode) == 0o600
    assert repl.state.settings.gemini_api_key == "AIza-new-secret-0000"
    # The key is in use at once: the Gemini model that lacked it can be chosen now.
    assert "Model set to gemini/gemini-2.5-pro" in await repl.do("/model gemini/gemini-2.5-pro")


async def test_config_values_are_typed_saved_and_applied_now(repl: Repl) -> None:
    await repl.do("/config verbose=true")
    await repl.do("/config max_turns=7")
    out = await repl.do("/config permission_mode=plan")
    assert "Set permission_mode = plan" in out
    assert repl.config_file == {"verbose": True, "max_turns": 7, "permission_mode": "plan"}
    assert repl.screen.verbose is True and repl.state.settings.verbose is True
    assert repl.state.agent.options.max_turns == 7
    assert repl.state.agent.policy.mode == "plan"
    out = await repl.do("/config model=openai/gpt-4o")
    assert "/model NAME switches this one" in out and repl.state.agent.model.qualified == SONNET
    out = await repl.do("/config max_turns=")  # unset: the default applies again
    assert out == f"Unset max_turns (removed from {repl.paths.user_config}); default now: 100"
    assert "max_turns" not in repl.config_file and repl.state.settings.max_turns == 100


async def test_config_new_key_is_used_by_the_current_model_at_once(repl: Repl) -> None:
    await repl.do("/config anthropic_api_key=sk-ant-rotated-1111")
    await repl.turn("hi", text("hello"))
    assert repl.server.model_requests[0].headers["x-api-key"] == "sk-ant-rotated-1111"


async def test_config_takes_model_overrides_as_json_and_applies_them(repl: Repl) -> None:
    out = await repl.do('/config model_overrides={"anthropic/*": {"tool_profile": "compact"}}')
    assert out == ('Set model_overrides = {"anthropic/*": {"tool_profile": "compact"}} '
                   f"(saved to {repl.paths.user_config})")
    assert repl.config_file == {"model_overrides": {"anthropic/*": {"tool_profile": "compact"}}}
    assert repl.state.settings.override_for(SONNET).tool_profile == "compact"
    out = await repl.do('/config model_overrides={"anthropic/*": {"tool_calls": "smoke"}}')
    assert out.startswith("Bad value for model_overrides: Input should be 'auto' or 'text'")
    out = await repl.do("/config model_overrides={oops")
    assert out.startswith("Bad value for model_overrides: expected a JSON object (")
    out = await repl.do("/config model_overrides=")
    assert out == f"Unset model_overrides (removed from {repl.paths.user_config}); default now: {{}}"
    assert repl.config_file == {}


async def test_config_rejects_unknown_keys_and_bad_values(repl: Repl) -> None:
    assert await repl.do("/config modle=gpt-4o") == "Unknown setting 'modle'; did you mean model?"
    out = await repl.do("/config max_turns=-3")
    assert out == "Bad value for max_turns: Input should be greater than 0 (got '-3'). Nothing changed."
    out = await repl.do("/config permission_mode=yolo")
    assert out.startswith("Bad value for permission_mode: Input should be 'auto', 'accept-all'")
    out = await repl.do("/config model=nosuchmodel")
    assert "unknown model 'nosuchmodel'" in out and "Nothing changed" in out
    out = await repl.do("/config anthropic_api_key=")
    assert out.splitlines() == [
        f"Unset anthropic_api_key (removed from {repl.paths.user_config}); default now: (not set)",
        "Note: the current model keeps its old connection: Anthropic needs an API key: set ANTHROPIC_API_KEY "
        "(export ANTHROPIC_API_KEY=...) or `anthropic_api_key` in ~/.nano_claude/config.json",
    ]
    assert repl.state.settings.max_turns == 100 and repl.state.settings.permission_mode == "auto"
    assert repl.config_file == {}


async def test_config_leaves_a_broken_file_untouched(repl: Repl) -> None:
    broken = '{\n  "model": "gpt-4o",,\n}\n'
    repl.paths.user_config.parent.mkdir(parents=True)
    repl.paths.user_config.write_text(broken)
    out = await repl.do("/config verbose=true")
    assert out.startswith("Not saved, nothing changed:") and "line 2" in out
    assert str(repl.paths.user_config) in out
    assert repl.paths.user_config.read_text() == broken
    assert repl.state.settings.verbose is False and repl.screen.verbose is False


def test_config_completes_keys_then_values(repl: Repl) -> None:
    complete = find("config").complete
    assert complete(repl.state, "perm") == ["permission_mode="]
    assert complete(repl.state, "permission_mode=a") == ["permission_mode=auto", "permission_mode=accept-all"]
    assert complete(repl.state, "verbose=") == ["verbose=true", "verbose=false"]
    assert "model=openai/gpt-4o" in complete(repl.state, "model=openai/")
    assert complete(repl.state, "nope=x") == []


# --- /cost and /context -----------------------------------------------------------------


async def test_cost_per_turn_totals_and_cache_hits(repl: Repl) -> None:
    assert await repl.do("/cost") == "No model requests yet in this conversation."
    await repl.turn("one", text("ok", usage=Tokens(input=1000, output=200, cache_read=3000, cache_write=500)))
    (repl.project / "a.py").write_text("x = 1\n")
    await repl.turn("two", tool_call("Glob", {"pattern": "*.py"}, usage=Tokens(input=100, output=10)),
                    text("found a.py", usage=Tokens(input=50, output=20, cache_read=4000)))
    rows = [line.split() for line in (await repl.do("/cost")).splitlines()]
    assert rows[0] == ["turn", "input", "cache", "read", "cache", "write", "output", "requests", "USD"]
    # Sonnet 4.6: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million tokens.
    assert rows[1] == ["1", "1,000", "3,000", "500", "200", "1", "$0.0088"]
    assert rows[2] == ["2", "150", "4,000", "0", "30", "2", "$0.0021"]
    assert rows[3] == ["total", "1,150", "7,000", "500", "230", "3", "$0.0109"]
    assert " ".join(rows[4]) == "Cache hits: 81% of prompt tokens read from the cache (7,000 of 8,650)"
    assert " ".join(rows[5]).startswith("Cost: $0.0109")


async def test_cost_of_a_model_without_prices(repl: Repl) -> None:
    out = await repl.do("/model openai/gpt-future-1")
    assert "not in the catalog" in out and "no prices" in out
    await repl.turn("hi", text("hello", usage=Tokens(input=500, output=50)))
    assert "Cost: $0 (no prices for this model)" in await repl.do("/cost")


async def test_context_estimates_then_uses_reported_tokens(repl: Repl) -> None:
    out = (await repl.do("/context")).splitlines()
    assert out[0] == "Context: 0 messages with anthropic/claude-sonnet-4-6"
    assert out[1].endswith("/ 200,000 tokens (estimated)")  # the system prompt and tool schemas
    await repl.turn("hi", text("hello", usage=Tokens(input=50_000, output=2_300)))
    out = (await repl.do("/context")).splitlines()
    assert out[:2] == ["Context: 2 messages with anthropic/claude-sonnet-4-6",
                       "[████░░░░░░░░░░░░] 26% 52,300 / 200,000 tokens"]
    await repl.do("/clear")
    assert "(estimated)" in await repl.do("/context")


async def test_context_lists_the_system_prompts_sources(fake_server: FakeModelServer, tmp_path: Path) -> None:
    user = tmp_path / "home" / ".nano_claude" / "CLAUDE.md"
    user.parent.mkdir(parents=True)
    user.write_text("Always use tabs.")
    project = tmp_path / "project" / "CLAUDE.md"
    project.parent.mkdir()
    project.write_text("Run make test. " + "x" * 99_985)
    repl = make_repl(fake_server, tmp_path)
    system = repl.state.agent.options.system

    out = (await repl.do("/context")).splitlines()

    assert out[2] == f"System prompt: ~{len(system) // 4:,} tokens"
    rows = [line.split(maxsplit=1) for line in out[3:-1]]
    assert [what for _, what in rows] == [
        "built-in instructions",
        f"environment: {repl.project}",
        f"user instructions: {user}",
        f"project instructions: {project} (cut to the first 40,000 characters of 100,000 bytes)",
    ]
    assert int(rows[2][0].strip("~")) < 100 and rows[3][0].startswith("~10,0")
    assert sum(int(tokens.strip("~").replace(",", "")) for tokens, _ in rows) <= len(system) // 4
    count = len(repl.state.agent.tools.specs())
    assert out[-1].startswith(f"Tool definitions: {count} tools, ~") and out[-1].endswith(" tokens")

    def instructed(body: dict) -> None:
        text = json.dumps(body["system"])
        assert "Always use tabs." in text and "Run make test." in text
        assert text.index("Always use tabs.") < text.index("Run make test.")

    await repl.turn("hi", text("hello", expect=instructed))


# --- /permissions and /cwd ----------------------------------------------------------------


async def test_permissions_show_mode_and_rules_with_sources(repl: Repl) -> None:
    out = await repl.do("/permissions")
    assert out.splitlines()[0].startswith("Permission mode: auto")
    assert f"deny   Bash(git push:*)  ({RULES_FILE})" in out


async def test_permissions_why_gives_decision_reason_and_rule(repl: Repl) -> None:
    out = await repl.do("/permissions why git push --force origin main")
    assert out.startswith("deny:") and f"rule: Bash(git push:*) from {RULES_FILE}" in out
    assert (await repl.do("/permissions why ls")).startswith("allow:")
    assert (await repl.do("/permissions why touch new.txt")).startswith("ask:")
    assert "Usage: /permissions why CMD" in await repl.do("/permissions why")


async def test_permissions_mode_changes_for_the_session(repl: Repl) -> None:
    out = await repl.do("/permissions plan")
    assert out.startswith("Permission mode: plan for this session")
    assert repl.state.agent.policy.mode == "plan"
    assert (await repl.do("/permissions why touch new.txt")).startswith("deny:")
    out = await repl.do("/permissions yolo")
    assert "Unknown permission mode 'yolo'" in out and repl.state.agent.policy.mode == "plan"
    assert not repl.paths.user_config.exists()  # a session change, not saved
    complete = find("permissions").complete
    assert complete(repl.state, "a") == ["auto", "accept-all"]
    assert complete(repl.state, "w") == ["why "]


async def test_cwd_moves_where_tools_run_and_keeps_the_project_root(repl: Repl) -> None:
    sub = repl.project / "sub"
    sub.mkdir()
    (repl.project / "notes.txt").write_text("x")
    assert await repl.do("/cwd") == f"Working directory: {repl.project} (project root: {repl.project})"
    missing = await repl.do("/cwd nowhere")
    assert missing == (f"No such directory: {repl.project / 'nowhere'}. "
                       f"The working directory stays {repl.project}.")
    assert (await repl.do("/cwd notes.txt")).startswith("Not a directory")
    assert await repl.do("/cwd sub") == f"Working directory: {sub} (project root stays {repl.project})"
    ctx = repl.state.agent.ctx
    assert ctx.cwd == sub and ctx.root == repl.project and repl.state.agent.policy.cwd == sub

    def pwd_ran_in_sub(body: dict) -> None:
        result = body["messages"][-1]["content"][0]
        assert result["type"] == "tool_result" and str(sub) in json.dumps(result["content"])

    await repl.turn("where?", tool_call("Bash", {"command": "pwd"}), text("in sub", expect=pwd_ran_in_sub))


def test_cwd_completes_directories(repl: Repl) -> None:
    for name in ("src", "scripts", ".hidden"):
        (repl.project / name).mkdir()
    (repl.project / "setup.py").write_text("")
    (repl.project / "src" / "pkg").mkdir()
    complete = find("cwd").complete
    assert complete(repl.state, "s") == ["scripts/", "src/"]
    assert complete(repl.state, "src/") == ["src/pkg/"]
    assert complete(repl.state, ".h") == [".hidden/"]
    assert complete(repl.state, "nowhere/x") == []


# --- /clear, /history ---------------------------------------------------------------------


async def test_clear_starts_an_empty_conversation(repl: Repl) -> None:
    await repl.turn("remember 42", text("ok", usage=Tokens(input=900, output=10)))
    assert await repl.do("/clear") == "Started a new conversation (2 messages cleared)."
    assert repl.state.session.messages == [] and repl.state.turns == [] and repl.state.context_tokens == 0
    assert await repl.do("/cost") == "No model requests yet in this conversation."

    def alone(body: dict) -> None:
        assert len(body["messages"]) == 1 and "what number?" in json.dumps(body["messages"])

    await repl.turn("what number?", text("none given", expect=alone))


async def test_history_shows_prompts_answers_tool_calls_and_results(repl: Repl) -> None:
    assert await repl.do("/history") == "No conversation yet."
    (repl.project / "a.py").write_text("")
    await repl.turn("find python files", tool_calls(Call("Glob", {"pattern": "*.py"}, "g1"),
                                                    Call("Read", {"file_path": "missing.txt"}, "r1")),
                    text("There is **a.py**."))
    out = await repl.do("/history")
    lines = out.splitlines()
    assert lines[0] == "❯ find python files"
    assert "⚙ Glob(*.py)" in lines and "⚙ Read(missing.txt)" in lines
    assert "  ⎿ a.py" in lines
    errors = [text for text, style in repl.screen.lines if style == "red"]
    assert len(errors) == 1 and errors[0].startswith("  ⎿ ")
    assert repl.screen.markdown_blocks == ["There is **a.py**."]


async def test_history_in_plain_output(fake_server: FakeModelServer, tmp_path: Path) -> None:
    out = io.StringIO()
    plain = make_repl(fake_server, tmp_path, output=PlainEcho(out))
    await plain.turn("hi", text("Hello *you*"))
    await dispatch(plain.state, "/history")
    assert out.getvalue() == "❯ hi\n\nHello *you*\n\n"


# --- toggles, /doctor -----------------------------------------------------------------------


async def test_verbose_toggles(repl: Repl) -> None:
    assert (await repl.do("/verbose")).startswith("Verbose output on for this session")
    assert repl.screen.verbose is True and repl.state.settings.verbose is True
    assert (await repl.do("/verbose")).startswith("Verbose output off")
    assert repl.screen.verbose is False
    assert not repl.paths.user_config.exists()


async def test_thinking_toggles_and_the_next_request_thinks(repl: Repl) -> None:
    out = await repl.do("/thinking")
    assert out.startswith("Thinking on for this session") and "no effect" not in out
    assert repl.screen.show_thinking is True and repl.state.agent.options.thinking is True

    def thinks(body: dict) -> None:
        assert body["thinking"]["type"] == "enabled"

    await repl.turn("think", text("done", thinking="hmm", expect=thinks))
    assert (await repl.do("/thinking")).startswith("Thinking off")
    assert repl.state.agent.options.thinking is False and repl.screen.show_thinking is False


async def test_thinking_says_when_the_model_cannot_think(repl: Repl) -> None:
    await repl.do("/model anthropic/claude-3-5-haiku-latest")
    assert "no effect for anthropic/claude-3-5-haiku-latest" in await repl.do("/thinking")
    await repl.do("/thinking")
    await repl.do("/model openai/o3")
    assert "no effect for openai/o3: the model always reasons" in await repl.do("/thinking")


async def test_doctor_checks_the_configured_providers(repl: Repl) -> None:
    repl.server.route("GET", "/v1/models", {"data": [{"id": "claude-sonnet-4-6"}, {"id": "gpt-4.1"}]})
    out = await repl.do("/doctor")
    assert f"✓ reachable at {repl.server.url}" in out and f"✓ reachable at {repl.server.url}/v1" in out
    assert "model claude-sonnet-4-6 is in the catalog" in out and "model gpt-4.1 is in the catalog" in out
    assert ANTHROPIC_KEY not in out and OPENAI_KEY not in out
    listings = [r for r in repl.server.requests if r.path == "/v1/models"]
    assert {r.headers.get("x-api-key") for r in listings} >= {ANTHROPIC_KEY}
