"""sessions/cloud.py below the command: gist references, cloud.json, and what a new
setup keeps (the commands themselves: tests/integration/test_cloudsave.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_claude.config import Paths, load_settings
from nano_claude.core.errors import ConfigError
from nano_claude.core.messages import user_text
from nano_claude.sessions import cloud
from nano_claude.sessions.session import RecordedSession
from tests.fakes.gist_server import FakeGistServer

TOKEN, OTHER_TOKEN = "ghp_unitTestToken000000000000000000000", "ghp_unitOtherToken00000000000000000000"


@pytest.fixture
def gists() -> Iterator[FakeGistServer]:
    with FakeGistServer(tokens={TOKEN: "octocat", OTHER_TOKEN: "hubot"}).running() as server:
        yield server


def test_a_gist_is_named_by_its_id_or_its_url() -> None:
    assert cloud.gist_id_of(" aa5a315d61ae9438b18d ") == "aa5a315d61ae9438b18d"
    assert cloud.gist_id_of("https://gist.github.com/octocat/aa5a315d61ae9438b18d/") == "aa5a315d61ae9438b18d"
    for bad in ("../user", "aa5a/../../user", "", "id?x=1"):
        with pytest.raises(cloud.CloudError, match="is not a gist id"):
            cloud.gist_id_of(bad)


@pytest.mark.parametrize("content", ['["a list"]', '{"token": 5}', '{"uploads": {"s": "g"}}',
                                     '{"token": "t", "colour": "red"}'])
def test_a_cloud_file_of_another_shape_is_reported_and_kept(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cloud.json"
    path.write_text(content)
    with pytest.raises(cloud.UsageError, match=str(path)):
        cloud.Account.read(tmp_path)
    with pytest.raises(cloud.UsageError, match=str(path)):
        cloud.setup(tmp_path, "http://127.0.0.1:9", TOKEN)  # checked before any request
    assert path.read_text() == content


def test_setup_keeps_the_uploads_of_the_same_account_only(tmp_path: Path, gists: FakeGistServer) -> None:
    session = RecordedSession.new(tmp_path, messages=[user_text("hello")])
    cloud.setup(tmp_path, gists.url, TOKEN)
    pushed = cloud.push(tmp_path, gists.url, session, "anthropic/claude-sonnet-4-6")
    assert cloud.uploaded(tmp_path, session)

    cloud.setup(tmp_path, gists.url, TOKEN)  # the same account again (a new token for it)
    assert json.loads((tmp_path / "cloud.json").read_text())["uploads"][session.id]["gist"] == pushed.gist_id
    cloud.setup(tmp_path, gists.url, OTHER_TOKEN)  # another account: its gists are others
    assert json.loads((tmp_path / "cloud.json").read_text())["uploads"] == {}
    assert not cloud.uploaded(tmp_path, session)


def test_a_projects_settings_cannot_send_the_token_elsewhere(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "home", tmp_path / "project" / ".nano_claude")
    paths.project.mkdir(parents=True)
    paths.project_settings.write_text('{"github_base_url": "https://evil.example.com"}')
    with pytest.raises(ConfigError, match="cannot set github_base_url"):
        load_settings(paths, {})
    paths.project_settings.unlink()
    paths.home.mkdir()
    paths.user_config.write_text('{"github_base_url": "https://ghe.example.com/api/v3/"}')
    assert cloud.api_of(load_settings(paths, {})) == "https://ghe.example.com/api/v3"
