"""/cloudsave through the command registry, on a real agent (the fake model server) and a
fake Gist API on 127.0.0.1 spoken to over real HTTP: setup, push, auto, list, load,
and each failure as the one line the user reads. The token never shows."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from nano_claude.core.messages import message_to_dict
from nano_claude.sessions.cloud import auto_upload
from nano_claude.sessions.session import RecordedSession
from nano_claude.ui.commands import find
from nano_claude.ui.commands.live import with_setting
from tests.conftest import Cli
from tests.fakes.gist_server import FakeGistServer
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer
from tests.unit.ui.test_commands import Repl, make_repl

TOKEN = "ghp_cloudTestToken0123456789abcdefXYZ"
LOGIN = "octocat"
OTHER_TOKEN, OTHER = "ghp_someoneElse000000000000000000000", "hubot"


@pytest.fixture
def gists() -> Iterator[FakeGistServer]:
    with FakeGistServer(tokens={TOKEN: LOGIN, OTHER_TOKEN: OTHER}).running() as server:
        yield server


def machine(model: FakeModelServer, gists: FakeGistServer, root: Path) -> Repl:
    """A REPL with its own home, its API URL pointing at the fake, in a recorded session
    as the real REPL is."""
    repl = make_repl(model, root)
    repl.state.settings = with_setting(repl.state.settings, "github_base_url", gists.url)
    repl.state.session = RecordedSession.new(repl.project)
    return repl


def assert_token_kept_private(repl: Repl) -> None:
    """Not in anything printed, and in no file of the user data folder but cloud.json."""
    printed = "\n".join(line for line, _ in repl.screen.lines)
    assert TOKEN not in printed and TOKEN[-8:] not in printed
    for path in repl.paths.home.rglob("*"):
        if path.is_file() and path.name != "cloud.json":
            assert TOKEN not in path.read_text(errors="replace"), path


@pytest.fixture
def repl(fake_server: FakeModelServer, gists: FakeGistServer, tmp_path: Path) -> Iterator[Repl]:
    repl = machine(fake_server, gists, tmp_path / "a")
    yield repl
    assert_token_kept_private(repl)


async def talk(repl: Repl) -> None:
    """A turn with a tool call and its result: the richest kind of history."""
    (repl.project / "notes.txt").write_text("remember the milk\n")
    await repl.turn("what is in notes.txt?", tool_call("Read", {"file_path": "notes.txt"}, id="toolu_1"),
                    text("It says: remember the milk."))


def stored(gists: FakeGistServer, gist_id: str) -> tuple[str, dict]:
    """The one file of a gist: its name and its JSON."""
    [(name, content)] = gists.gists[gist_id]["files"].items()
    return name, json.loads(content)


def dicts(repl: Repl) -> list[dict]:
    return [message_to_dict(m) for m in repl.state.session.messages]


def cloud_file(repl: Repl) -> dict:
    return json.loads((repl.paths.home / "cloud.json").read_text())


# --- setup ----------------------------------------------------------------------------------


async def test_setup_checks_the_token_with_github_and_keeps_it_readable_by_the_user_only(
        repl: Repl, gists: FakeGistServer) -> None:
    out = await repl.do(f"/cloudsave setup {TOKEN}")
    assert out == ("GitHub token for octocat saved in ~/.nano_claude/cloud.json (readable by you only). "
                   "/cloudsave uploads this session.")
    [asked] = gists.requests
    assert (asked.method, asked.path) == ("GET", "/user")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    path = repl.paths.home / "cloud.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cloud_file(repl)["token"] == TOKEN and cloud_file(repl)["login"] == LOGIN
    assert not repl.paths.user_config.exists()  # apart from the settings /config shows


async def test_setup_refuses_a_token_github_refuses_and_saves_nothing(repl: Repl) -> None:
    out = await repl.do("/cloudsave setup ghp_notARealToken999")
    assert out == ('GitHub refused this token (401): use a token with the "gist" scope (make one at '
                   "https://github.com/settings/tokens); nothing was saved")
    assert "ghp_notARealToken999" not in out
    assert repl.screen.lines[-1][1] == "red"
    assert not (repl.paths.home / "cloud.json").exists()


async def test_setup_refuses_a_token_without_the_gist_scope(repl: Repl, gists: FakeGistServer) -> None:
    gists.scopes = "repo, read:user"
    out = await repl.do(f"/cloudsave setup {TOKEN}")
    assert out == ('The token works for octocat but lacks the "gist" scope (it has: repo, read:user); add it '
                   "at https://github.com/settings/tokens; nothing was saved")
    assert not (repl.paths.home / "cloud.json").exists()
    gists.scopes = None  # a fine-grained token does not list its permissions: GitHub decides later
    assert "saved in" in await repl.do(f"/cloudsave setup {TOKEN}")


async def test_setup_without_a_token_says_what_token_to_make(repl: Repl) -> None:
    out = await repl.do("/cloudsave setup")
    assert out == ('Usage: /cloudsave setup TOKEN, with a token with the "gist" scope (make one at '
                   "https://github.com/settings/tokens)")


async def test_setup_takes_one_token_and_sends_nothing_else(repl: Repl, gists: FakeGistServer) -> None:
    for line in (f"/cloudsave setup {TOKEN} {TOKEN}", "/cloudsave setup ghp_tökén"):
        out = await repl.do(line)
        assert out == ('Expected one token after /cloudsave setup: a token with the "gist" scope (make one '
                       "at https://github.com/settings/tokens)")
    assert gists.requests == []


async def test_an_unknown_action_is_not_echoed_it_may_be_a_token(repl: Repl, gists: FakeGistServer) -> None:
    out = await repl.do(f"/cloudsave {TOKEN}")
    assert out == ("Unknown /cloudsave action. Usage: /cloudsave [setup TOKEN | push [DESC] | auto on|off "
                   "| list | load ID]")
    assert gists.requests == []


async def test_a_broken_cloud_file_is_reported_and_left_as_it_is(repl: Repl) -> None:
    path = repl.paths.home / "cloud.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"token": "ghp_x",\n oops}')
    await talk(repl)
    for line in ("/cloudsave", f"/cloudsave setup {TOKEN}"):
        out = await repl.do(line)
        assert out.startswith(f"{path} line 2 column 2: ") and out.endswith("(nothing was changed)")
    assert path.read_text() == '{"token": "ghp_x",\n oops}'


# --- push -----------------------------------------------------------------------------------


async def test_push_makes_a_secret_gist_then_updates_that_one(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    out = await repl.do("/cloudsave")
    [gist_id] = gists.gists
    assert out == f"Uploaded to a new secret gist {gist_id} (1 turn): {gists.url}/octocat/{gist_id}"
    [created] = gists.api_requests("POST")
    assert created.body["public"] is False
    assert created.body["description"] == "nano-claude session: what is in notes.txt?"
    session = repl.state.session
    name, data = stored(gists, gist_id)
    assert name == f"nano_claude_session_{session.id}.json"
    assert data["session_id"] == session.id and data["turn_count"] == 1 and data["message_count"] == 4
    assert data["messages"] == dicts(repl)

    await repl.turn("and then?", text("Buy bread too."))
    out = await repl.do("/cloudsave push groceries")
    assert out == f"Updated gist {gist_id} (2 turns): {gists.url}/octocat/{gist_id}"
    assert list(gists.gists) == [gist_id]
    assert gists.api_requests("PATCH")[0].path == f"/gists/{gist_id}"
    assert gists.gists[gist_id]["description"] == "nano-claude session: what is in notes.txt? - groceries"
    assert stored(gists, gist_id)[1]["messages"] == dicts(repl)
    await repl.do("/cloudsave push")  # the description given once is kept
    assert gists.gists[gist_id]["description"].endswith(" - groceries")


async def test_push_of_an_empty_conversation_sends_nothing(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    assert await repl.do("/cloudsave push") == "Nothing to upload yet: the conversation is empty."
    assert gists.api_requests("POST") == []


async def test_push_before_setup_says_to_set_up(repl: Repl, gists: FakeGistServer) -> None:
    await talk(repl)
    out = await repl.do("/cloudsave")
    assert out == ('No GitHub token yet: run /cloudsave setup TOKEN with a token with the "gist" scope (make '
                   "one at https://github.com/settings/tokens)")
    assert gists.requests == []


async def test_push_after_the_gist_was_deleted_on_github_makes_a_new_one(
        repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    await repl.do("/cloudsave")
    [old] = gists.gists
    del gists.gists[old]
    out = await repl.do("/cloudsave")
    [new] = gists.gists
    assert out.splitlines() == [f"Gist {old} is gone from your account: uploaded to a new one.",
                                f"Uploaded to a new secret gist {new} (1 turn): {gists.url}/octocat/{new}"]
    await repl.do("/cloudsave")
    assert list(gists.gists) == [new]  # updated from now on


async def test_a_token_github_no_longer_accepts(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    del gists.tokens[TOKEN]  # revoked on github.com
    for line in ("/cloudsave", "/cloudsave list", "/cloudsave load 0123abcd"):
        out = await repl.do(line)
        assert out == ("GitHub refused the saved token (401 Bad credentials): it may have expired or been "
                       'revoked; run /cloudsave setup TOKEN with a token with the "gist" scope (make one at '
                       "https://github.com/settings/tokens)")
        assert repl.screen.lines[-1][1] == "red"


async def test_rate_limits_say_when_to_try_again(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    reset = 1_775_000_000
    gists.rate_limited(reset)
    out = await repl.do("/cloudsave")
    at = datetime.fromtimestamp(reset).strftime("%H:%M:%S")
    assert out == (f"GitHub's rate limit is reached (API rate limit exceeded for user ID 1.); it resets at "
                   f"{at}; try again then")
    gists.fail_next(429, "You have exceeded a secondary rate limit.", {"retry-after": "60"})
    out = await repl.do("/cloudsave list")
    assert out == ("GitHub's rate limit is reached (You have exceeded a secondary rate limit.); "
                   "try again in 60 s")
    gists.fail_next(403, "Resource not accessible by personal access token")
    out = await repl.do("/cloudsave")
    assert out == ('GitHub refused the request (403 Resource not accessible by personal access token): the '
                   'token needs the "gist" scope; run /cloudsave setup TOKEN with one that has it')
    assert gists.gists == {}


async def test_an_api_that_cannot_be_reached(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    url = gists.url
    gists.stop()
    for line in ("/cloudsave", "/cloudsave list", "/cloudsave load 0123abcd", f"/cloudsave setup {TOKEN}"):
        out = await repl.do(line)
        assert out.startswith(f"Cannot reach {url} (")
        assert out.endswith("); check the network connection, or the github_base_url setting")


async def test_the_token_is_sent_only_to_the_api_it_was_checked_with(repl: Repl,
                                                                     gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    repl.state.settings = with_setting(repl.state.settings, "github_base_url", "https://ghe.example.com/api/v3")
    out = await repl.do("/cloudsave")
    assert out == (f"The GitHub token was set up for {gists.url}, not https://ghe.example.com/api/v3 (the "
                   "github_base_url setting): run /cloudsave setup TOKEN for this one")
    assert len(gists.requests) == 1  # the setup's


# --- auto -----------------------------------------------------------------------------------


async def test_auto_uploads_on_the_way_out_only_what_changed(repl: Repl, gists: FakeGistServer) -> None:
    assert auto_upload(repl.state) is None  # off by default
    out = await repl.do("/cloudsave auto on")
    assert out.startswith("No GitHub token yet")
    assert repl.state.settings.cloudsave_auto is False
    await repl.do(f"/cloudsave setup {TOKEN}")
    out = await repl.do("/cloudsave auto on")
    assert out == "Upload on exit: on (cloudsave_auto saved to ~/.nano_claude/config.json)"
    assert repl.config_file == {"cloudsave_auto": True} and repl.state.settings.cloudsave_auto is True
    assert await repl.do("/cloudsave auto") == "Upload on exit is on (/cloudsave auto on|off)"

    assert auto_upload(repl.state) is None  # nothing said yet
    await talk(repl)
    said = auto_upload(repl.state)
    [gist_id] = gists.gists
    assert said == f"Session uploaded to gist {gist_id}: {gists.url}/octocat/{gist_id}"
    sent = len(gists.requests)
    assert auto_upload(repl.state) is None and len(gists.requests) == sent  # unchanged: not sent again
    await repl.turn("more?", text("No more."))
    assert auto_upload(repl.state) == said and list(gists.gists) == [gist_id]
    assert stored(gists, gist_id)[1]["messages"] == dicts(repl)

    assert await repl.do("/cloudsave auto off") == ("Upload on exit: off (cloudsave_auto saved to "
                                                    "~/.nano_claude/config.json)")
    await repl.turn("bye", text("Bye."))
    assert auto_upload(repl.state) is None and repl.config_file == {"cloudsave_auto": False}
    assert await repl.do("/cloudsave auto maybe") == "Usage: /cloudsave auto on|off"


async def test_auto_upload_never_raises_it_says_what_failed(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await repl.do("/cloudsave auto on")
    await talk(repl)
    gists.fail_next(500, "Server Error")
    assert auto_upload(repl.state) == "Cloud upload failed: GitHub answered 500 to POST /gists: Server Error"
    url = gists.url
    gists.stop()
    said = auto_upload(repl.state)
    assert said is not None and said.startswith(f"Cloud upload failed: Cannot reach {url} (")


# --- list -----------------------------------------------------------------------------------


async def test_list_shows_session_gists_from_every_page_newest_first(repl: Repl,
                                                                     gists: FakeGistServer) -> None:
    gists.page_limit = 2  # GitHub gives at most 100 a page; here 2, so 3 pages are read
    await repl.do(f"/cloudsave setup {TOKEN}")
    old = gists.add_gist(LOGIN, {"nano_claude_session_x.json": "{}"}, "nano-claude session: old one")
    gists.add_gist(LOGIN, {"notes.md": "# not a session"}, "my notes")
    renamed = gists.add_gist(LOGIN, {"nano_claude_session_y.json": "{}"}, "description edited on the web")
    gists.add_gist(OTHER, {"nano_claude_session_z.json": "{}"}, "nano-claude session: not mine")
    await talk(repl)
    before = set(gists.gists)
    await repl.do("/cloudsave")
    [current] = set(gists.gists) - before
    gists.gists[old]["updated_at"] = "2026-05-01T12:00:00Z"  # changed last, on another machine

    out = await repl.do("/cloudsave list")

    def when(iso: str) -> str:
        return f"{datetime.fromisoformat(iso.replace('Z', '+00:00')).astimezone():%Y-%m-%d %H:%M}"

    assert out.splitlines() == [
        f"{old}  {when('2026-05-01T12:00:00Z')}  nano-claude session: old one",
        f"{current}  {when(gists.gists[current]['updated_at'])}  nano-claude session: what is in notes.txt?"
        "  (this session)",
        f"{renamed}  {when(gists.gists[renamed]['updated_at'])}  description edited on the web",
        "3 session gist(s); /cloudsave load ID restores one",
    ]
    pages = [r.query for r in gists.api_requests("GET") if r.path == "/gists"]
    assert pages == [{"per_page": "100"}, {"per_page": "2", "page": "2"}]


async def test_list_with_no_session_gists(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    gists.add_gist(LOGIN, {"notes.md": "# not a session"}, "my notes")
    out = await repl.do("/cloudsave list")
    assert out == "No nano-claude sessions in your gists yet: /cloudsave uploads this one."


# --- load -----------------------------------------------------------------------------------


async def test_push_then_load_on_another_machine_gives_the_same_conversation(
        repl: Repl, fake_server: FakeModelServer, gists: FakeGistServer, tmp_path: Path) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    await repl.do("/cloudsave push laptop")
    [gist_id] = gists.gists

    other = machine(fake_server, gists, tmp_path / "b")
    await other.do(f"/cloudsave setup {TOKEN}")
    out = await other.do(f"/cloudsave load {gist_id}")
    assert out.splitlines() == [
        f"Loaded gist {gist_id} as a new session: 1 turn, 4 messages (id: {other.state.session.id[:8]}). "
        "/history shows it.",
        f"A copy is kept in ~/.nano_claude/sessions/cloud_{gist_id}.json: /load cloud_{gist_id} brings it "
        "back without the network.",
    ]
    assert dicts(other) == dicts(repl)
    copy = other.paths.home / "sessions" / f"cloud_{gist_id}.json"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    # Continued there, the conversation goes back to the gist it came from, under its new id.
    await other.turn("anything else?", text("Nothing else."))
    assert await other.do("/cloudsave") == f"Updated gist {gist_id} (2 turns): {gists.url}/octocat/{gist_id}"
    name, data = stored(gists, gist_id)
    assert name == f"nano_claude_session_{other.state.session.id}.json"
    assert data["messages"] == dicts(other) and len(data["messages"]) == 6
    assert gists.gists[gist_id]["description"].endswith(" - laptop")
    assert_token_kept_private(other)


async def test_load_a_session_too_big_for_the_api_answer(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    await repl.do("/cloudsave")
    [gist_id] = gists.gists
    pushed = dicts(repl)
    gists.truncate_at = 300  # GitHub cuts a file's content at 1 MB and points at its raw_url
    await repl.do("/clear")
    out = await repl.do(f"/cloudsave load {gists.url}/octocat/{gist_id}")  # the gist's URL does too
    assert out.startswith(f"Loaded gist {gist_id} as a new session: 1 turn, 4 messages")
    assert dicts(repl) == pushed
    assert [r.path for r in gists.requests][-2:] == [f"/gists/{gist_id}", f"/raw/{gist_id}/" + stored(
        gists, gist_id)[0]]


async def test_load_someone_elses_gist_and_push_it_to_a_gist_of_ones_own(
        repl: Repl, fake_server: FakeModelServer, gists: FakeGistServer, tmp_path: Path) -> None:
    theirs = machine(fake_server, gists, tmp_path / "b")
    await theirs.do(f"/cloudsave setup {OTHER_TOKEN}")
    await talk(theirs)
    await theirs.do("/cloudsave")
    [shared] = gists.gists
    await repl.do(f"/cloudsave setup {TOKEN}")
    await repl.do(f"/cloudsave load {shared}")
    assert dicts(repl) == dicts(theirs)
    out = await repl.do("/cloudsave")
    assert out.startswith("Uploaded to a new secret gist")
    assert gists.api_requests("PATCH") == [] and len(gists.gists) == 2


async def test_load_what_is_not_a_session_changes_nothing(repl: Repl, gists: FakeGistServer) -> None:
    await repl.do(f"/cloudsave setup {TOKEN}")
    await talk(repl)
    before = repl.state.session
    notes = gists.add_gist(LOGIN, {"notes.md": "# hi", "todo.txt": "milk"}, "my notes")
    not_json = gists.add_gist(LOGIN, {"nano_claude_session_a.json": "{cut sho"}, "nano-claude session: a")
    no_messages = gists.add_gist(LOGIN, {"nano_claude_session_b.json": '{"session_id": "b"}'})
    cases = {
        notes: f"Gist {notes} holds no nano-claude session (its files: notes.md, todo.txt)",
        not_json: f"gist {not_json} (nano_claude_session_a.json) is not a session: not JSON (Expecting "
                  "property name enclosed in double quotes: line 1 column 2 (char 1)); nothing was loaded",
        no_messages: f"gist {no_messages} (nano_claude_session_b.json) is not a session: it has no "
                     '"messages" list; nothing was loaded',
        "0123456789abcdef": "No gist 0123456789abcdef, or not one you can read: /cloudsave list shows yours",
        "../user": "'../user' is not a gist id (like 3f9c1b2e4d5a...): /cloudsave list shows yours",
    }
    for ref, expected in cases.items():
        assert await repl.do(f"/cloudsave load {ref}") == expected
        assert repl.screen.lines[-1][1] == "red"
    assert await repl.do("/cloudsave load") == "Usage: /cloudsave load ID (/cloudsave list shows them)"
    assert repl.state.session is before
    assert not list((repl.paths.home / "sessions").glob("cloud_*"))


def test_cloudsave_completes_its_actions(repl: Repl) -> None:
    complete = find("cloudsave").complete
    assert complete(repl.state, "") == ["setup ", "push", "auto ", "list", "load "]
    assert complete(repl.state, "l") == ["list", "load "]
    assert complete(repl.state, "auto o") == ["auto on", "auto off"]
    assert complete(repl.state, "auto of") == ["auto off"]


# --- the real REPL ----------------------------------------------------------------------------


def test_cloudsave_in_the_repl_with_the_api_url_from_the_environment(
        cli: Cli, fake_server: FakeModelServer, gists: FakeGistServer) -> None:
    fake_server.script(text("Hello from the model."))
    env = {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": fake_server.url,
           "NANO_CLAUDE_GITHUB_BASE_URL": gists.url}
    lines = [f"/cloudsave setup {TOKEN}", "hello", "/cloudsave push first try", "/cloudsave list", "/exit"]
    run = cli.run("-m", "claude-sonnet-4-6", env=env, input="\n".join(lines) + "\n")
    assert run.returncode == 0, run.stderr
    [gist_id] = gists.gists
    assert "GitHub token for octocat saved in ~/.nano_claude/cloud.json" in run.stdout
    assert f"Uploaded to a new secret gist {gist_id} (1 turn)" in run.stdout
    assert f"{gist_id}  " in run.stdout and "nano-claude session: hello - first try" in run.stdout
    assert TOKEN not in run.stdout + run.stderr
    assert stat.S_IMODE((cli.home / "cloud.json").stat().st_mode) == 0o600
    written = [p for p in cli.home.rglob("*") if p.is_file() and p.name != "cloud.json"]
    assert any(p.suffix == ".jsonl" for p in written)  # the transcript: prompts, not commands
    assert not [p for p in written if TOKEN in p.read_text(errors="replace")]
    assert [m["role"] for m in stored(gists, gist_id)[1]["messages"]] == ["user", "assistant"]
