"""Marketplaces in Claude Code's format, built as real git repositories, folders and an HTTP
server on 127.0.0.1. GitHub addresses reach local repositories through git's own
`url.<base>.insteadOf` (a global config of the test's own): real git, no network."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nano_claude.config import Settings
from nano_claude.extensions.plugins.declared import declared
from nano_claude.extensions.plugins.marketplace import MarketplaceError, Marketplaces, read_marketplace
from nano_claude.extensions.plugins.sources import Source, fetch
from nano_claude.paths import Paths


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder standing in for github.com: https://github.com/OWNER/REPO.git is OWNER/REPO.git in it."""
    root = tmp_path / "github"
    root.mkdir()
    config = tmp_path / "gitconfig"
    config.write_text(f'[user]\n\tname = Test\n\temail = test@example.test\n[init]\n\tdefaultBranch = main\n'
                      f'[url "{root.as_uri()}/"]\n\tinsteadOf = https://github.com/\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return root


@pytest.fixture
def markets(tmp_path: Path, github: Path) -> Marketplaces:
    return Marketplaces(Paths(tmp_path / "home", tmp_path / "project" / ".nano_claude"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write(root: Path, files: dict[str, Any]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))


def repo(root: Path, files: dict[str, Any]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    commit(root, files, "first")
    return root


def commit(root: Path, files: dict[str, Any], message: str = "change") -> str:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def plugin(name: str, version: str = "1.0.0", under: str = "") -> dict[str, Any]:
    prefix = f"{under}/" if under else ""
    return {f"{prefix}.claude-plugin/plugin.json": {"name": name, "version": version},
            f"{prefix}commands/hi.md": f"Say hi from {name}.\n"}


def catalog(name: str, plugins: list[Any], **more: Any) -> dict[str, Any]:
    owner = {"name": "Acme", "email": "dev@acme.test"}
    return {".claude-plugin/marketplace.json": {"name": name, "owner": owner, "plugins": plugins, **more}}


def fetched_version(source: Source | None, dest: Path) -> str:
    assert source is not None
    fetch(source, dest)
    return json.loads((dest / ".claude-plugin" / "plugin.json").read_text())["version"]


def test_git_marketplace_resolves_each_source_kind_to_one_git_can_fetch(
        tmp_path: Path, github: Path, markets: Marketplaces) -> None:
    lint = repo(tmp_path / "lint", plugin("lint", "2.0.0"))
    git(lint, "tag", "v2")
    commit(lint, plugin("lint", "3.0.0-dev"))
    mono = repo(tmp_path / "mono", plugin("sub", "0.3.0", under="packages/sub"))
    gh = repo(github / "acme" / "gh-plugin.git", plugin("gh", "1.0.0"))
    pinned = git(gh, "rev-parse", "HEAD")
    commit(gh, plugin("gh", "9.9.9"))
    market = repo(tmp_path / "market", {
        **catalog("team-tools", [
            {"name": "fmt", "source": "./plugins/fmt", "version": "1.0.0", "tags": ["format"],
             "keywords": ["style"], "category": "development", "description": "Formats code"},
            {"name": "lint", "source": {"source": "url", "url": lint.as_uri(), "ref": "v2"}},
            {"name": "sub", "source": {"source": "git-subdir", "url": mono.as_uri(), "path": "packages/sub"}},
            {"name": "gh", "source": {"source": "github", "repo": "acme/gh-plugin", "sha": pinned}},
            {"name": "inline", "source": "./plugins/inline", "strict": False, "description": "No manifest",
             "commands": ["./commands/go.md"]},
            {"name": "from-npm", "source": {"source": "npm", "package": "@acme/x"}},
            {"name": "packed", "source": {"source": "archive", "url": "https://example.test/p.tgz"}},
        ]),
        **plugin("fmt", "1.0.0", under="plugins/fmt"),
        "plugins/inline/commands/go.md": "Go.\n",
    })

    added = markets.add(market.as_uri(), tmp_path)

    assert (added.name, added.owner) == ("team-tools", "Acme <dev@acme.test>")
    entries = {e.name: e for e in added.entries}
    assert list(entries) == ["fmt", "lint", "sub", "gh", "inline", "from-npm", "packed"]
    fmt = entries["fmt"]
    assert (fmt.description, fmt.version, fmt.tags, fmt.category, fmt.marketplace) == (
        "Formats code", "1.0.0", ("format", "style"), "development", "team-tools")
    assert fmt.source == Source("git", market.as_uri(), "", subdir="plugins/fmt")
    out = tmp_path / "out"
    assert fetched_version(fmt.source, out / "fmt") == "1.0.0"
    assert fetched_version(entries["lint"].source, out / "lint") == "2.0.0"  # the tag, not the newer commit
    assert fetched_version(entries["sub"].source, out / "sub") == "0.3.0"
    assert entries["gh"].source == Source("git", "https://github.com/acme/gh-plugin.git", pinned)
    assert fetched_version(entries["gh"].source, out / "gh") == "1.0.0"  # the pinned sha
    inline = entries["inline"]
    assert inline.manifest == {"name": "inline", "description": "No manifest",
                               "commands": ["./commands/go.md"]}
    assert fmt.manifest is None
    fetch(inline.source, out / "inline")  # type: ignore[arg-type]
    assert (out / "inline" / "commands" / "go.md").read_text() == "Go.\n"
    for name, kind in (("from-npm", "npm"), ("packed", "archive")):
        assert entries[name].source is None
        assert entries[name].problem.startswith(f"its {kind} source is not supported")
    assert all(not e.problem for n, e in entries.items() if n not in ("from-npm", "packed"))
    copy = markets.folder / "team-tools" / ".claude-plugin" / "marketplace.json"
    assert json.loads(copy.read_text())["name"] == "team-tools"


def test_plugin_root_and_bad_entries_in_a_folder_marketplace(tmp_path: Path, markets: Marketplaces) -> None:
    shelf = tmp_path / "shelf"
    write(shelf, {
        **catalog("shelf", [
            {"name": "fmt", "source": "fmt"},
            {"name": "top", "source": "./top"},
            {"name": "out", "source": "../elsewhere"},
            {"name": "fmt", "source": "./top"},
            {"source": "./top"},
            {"name": "bad name!", "source": "./top"},
            {"name": "nosource"},
        ], metadata={"pluginRoot": "./plugins", "description": "Shelf of tools", "version": "4"}),
        **plugin("fmt", under="plugins/fmt"), **plugin("top", under="top"),
    })

    market = markets.add(str(shelf), tmp_path)

    assert (market.description, market.version) == ("Shelf of tools", "4")
    entries = {e.name: e for e in market.entries}
    assert entries["fmt"].source == Source("path", str((shelf / "plugins" / "fmt").resolve()))
    assert entries["top"].source == Source("path", str((shelf / "top").resolve()))
    assert "leads out of the marketplace" in entries["out"].problem
    assert "not a usable plugin name" in entries["bad name!"].problem
    assert "has no \"source\"" in entries["nosource"].problem
    assert market.errors == ["shelf: the plugin 'fmt' is listed twice; the first was kept",
                             "shelf: plugin entry 5 has no \"name\"; it was skipped"]
    with pytest.raises(MarketplaceError, match=r"out@shelf cannot be installed: its source '\.\./elsewhere' "
                                               "leads out of the marketplace"):
        markets.find("out")
    assert [e.source for e in read_marketplace(shelf).entries] == [e.source for e in market.entries]


def test_folder_marketplace_is_read_where_it_is(tmp_path: Path, markets: Marketplaces) -> None:
    shelf = tmp_path / "shelf"
    write(shelf, {**catalog("shelf", [{"name": "fmt", "source": "./fmt"}]), **plugin("fmt", under="fmt")})
    markets.add(str(shelf), tmp_path)
    write(shelf, catalog("shelf", [{"name": "fmt", "source": "./fmt"}, {"name": "new", "source": "./new"}]))

    assert [e.name for e in markets.get("shelf").entries] == ["fmt", "new"]
    assert not (markets.folder / "shelf").exists()
    assert markets.update() == [("shelf", "a folder, read where it is (2 plugins)")]


def test_add_list_update_and_remove_a_git_marketplace(tmp_path: Path, markets: Marketplaces) -> None:
    market = repo(tmp_path / "market", {**catalog("team-tools", [{"name": "fmt", "source": "./fmt",
                                                                  "version": "1.0.0"}]),
                                        **plugin("fmt", under="fmt")})
    first = git(market, "rev-parse", "HEAD")
    markets.add(market.as_uri(), tmp_path)
    assert [(m.name, [e.name for e in m.entries]) for m in markets.list()] == [("team-tools", ["fmt"])]

    second = commit(market, {**catalog("team-tools", [{"name": "fmt", "source": "./fmt", "version": "1.1.0"},
                                                      {"name": "lint", "source": "./lint"}]),
                             **plugin("lint", under="lint")})
    assert [e.name for e in markets.get("team-tools").entries] == ["fmt"]  # the copy, until updated
    assert markets.update() == [("team-tools", f"{first[:7]} → {second[:7]}; new: lint; fmt 1.0.0 → 1.1.0")]
    assert [e.name for e in markets.get("team-tools").entries] == ["fmt", "lint"]
    assert markets.update("team-tools") == [("team-tools", "up to date")]
    record = json.loads(markets.file.read_text())["marketplaces"]["team-tools"]
    assert record["source"] == {"kind": "git", "location": market.as_uri()}
    assert record["commit"] == second

    assert markets.remove("team-tools") == Source("git", market.as_uri())
    assert markets.list() == []
    assert not (markets.folder / "team-tools").exists()
    assert json.loads(markets.file.read_text()) == {"marketplaces": {}}
    with pytest.raises(MarketplaceError, match="no marketplace named 'team-tools' is added"):
        markets.update("team-tools")


def test_a_failed_update_keeps_the_previous_copy(tmp_path: Path, markets: Marketplaces) -> None:
    market = repo(tmp_path / "market", {**catalog("team-tools", [{"name": "fmt", "source": "./fmt"}]),
                                        **plugin("fmt", under="fmt")})
    markets.add(market.as_uri(), tmp_path)

    commit(market, {".claude-plugin/marketplace.json": '{"name": "team-tools",\n  "plugins": [}'})
    [(name, message)] = markets.update()
    assert name == "team-tools"
    assert message.startswith("error: ")
    assert "marketplace.json line 2 column" in message and message.endswith("the previous copy was kept")
    assert [e.name for e in markets.get("team-tools").entries] == ["fmt"]

    market.rename(tmp_path / "moved")
    [(_, message)] = markets.update("team-tools")
    assert "git could not clone" in message and message.endswith("the previous copy was kept")
    assert [e.name for e in markets.get("team-tools").entries] == ["fmt"]
    assert sorted(p.name for p in markets.folder.iterdir()) == ["team-tools"]  # no staging left behind


def test_a_name_already_added_from_elsewhere_is_refused_and_the_same_source_refreshes(
        tmp_path: Path, markets: Marketplaces) -> None:
    ours = repo(tmp_path / "ours", catalog("team-tools", [{"name": "fmt", "source": "./fmt"}]))
    theirs = repo(tmp_path / "theirs", catalog("team-tools", [{"name": "evil", "source": "./evil"}]))
    markets.add(ours.as_uri(), tmp_path)

    with pytest.raises(MarketplaceError, match=r"'team-tools' is already added from file://.*/ours; remove"):
        markets.add(theirs.as_uri(), tmp_path)
    assert [e.name for e in markets.get("team-tools").entries] == ["fmt"]

    commit(ours, catalog("team-tools", [{"name": "fmt", "source": "./fmt"}, {"name": "lint", "source": "x"}]))
    again = markets.add(ours.as_uri(), tmp_path)
    assert [e.name for e in again.entries] == ["fmt", "lint"]
    with pytest.raises(MarketplaceError, match="is the marketplace 'team-tools', not 'team'"):
        markets.add(ours.as_uri(), tmp_path, name="team")


def test_reserved_names_only_from_anthropics_own_repositories(
        tmp_path: Path, github: Path, markets: Marketplaces) -> None:
    official = [{"name": "commit-commands", "source": "./plugins/commit-commands"}]
    repo(github / "anthropics" / "claude-code.git",
         {**catalog("claude-code-plugins", official), **plugin("commit-commands", "1.2.0",
                                                              under="plugins/commit-commands")})
    repo(github / "mallory" / "claude-code.git", catalog("claude-code-plugins", official))
    repo(github / "anthropics" / "other.git", catalog("claude-plugins-official", []))
    local = repo(tmp_path / "local", catalog("anthropic-tools", []))

    with pytest.raises(MarketplaceError, match=r"'claude-code-plugins', a name reserved for "
                                               r"github\.com/anthropics/claude-code;"):
        markets.add("mallory/claude-code", tmp_path)
    with pytest.raises(MarketplaceError, match=r"reserved for github\.com/anthropics/claude-plugins-"):
        markets.add("anthropics/other", tmp_path)
    with pytest.raises(MarketplaceError, match="'anthropic-tools', a name reserved"):
        markets.add(local.as_uri(), tmp_path)
    assert markets.list() == []

    added = markets.add("anthropics/claude-code", tmp_path)
    [entry] = added.entries
    assert entry.source == Source("git", "https://github.com/anthropics/claude-code.git", "",
                                  subdir="plugins/commit-commands")
    assert fetched_version(entry.source, tmp_path / "out") == "1.2.0"
    assert [m.name for m in markets.list()] == ["claude-code-plugins"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[Path, str, ThreadingHTTPServer]]:
    served = tmp_path / "www"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_marketplace_json_over_http(tmp_path: Path, markets: Marketplaces,
                                      web: tuple[Path, str, ThreadingHTTPServer]) -> None:
    served, base, server = web
    lint = repo(tmp_path / "lint", plugin("lint", "2.0.0"))
    listing = [{"name": "lint", "source": {"source": "url", "url": lint.as_uri()}},
               {"name": "local", "source": "./plugins/local"}]
    write(served, {"catalog/marketplace.json": {"name": "web-tools", "owner": "Web", "plugins": listing}})
    url = f"{base}/catalog/marketplace.json"

    market = markets.add(url, tmp_path)

    entries = {e.name: e for e in market.entries}
    assert fetched_version(entries["lint"].source, tmp_path / "out") == "2.0.0"
    assert entries["local"].source is None
    assert entries["local"].problem.startswith("relative paths need a git or folder marketplace")
    assert json.loads(markets.file.read_text())["marketplaces"]["web-tools"]["source"] == {
        "kind": "url", "location": url}

    write(served, {"catalog/marketplace.json": {"name": "web-tools", "owner": {"name": "Web"},
                                                "plugins": [*listing, {"name": "fresh", "source": "./x"}]}})
    assert markets.update("web-tools") == [("web-tools", "new: fresh")]
    with pytest.raises(MarketplaceError, match="answered 404"):
        markets.add(f"{base}/missing/marketplace.json", tmp_path)

    server.shutdown()
    server.server_close()
    [(_, message)] = markets.update("web-tools")
    assert message.startswith(f"error: could not download {url}")
    assert message.endswith("the previous copy was kept")
    assert [e.name for e in markets.get("web-tools").entries] == ["lint", "local", "fresh"]


def test_find_names_the_choices_and_close_matches(tmp_path: Path, markets: Marketplaces) -> None:
    with pytest.raises(MarketplaceError, match="no marketplace is added"):
        markets.find("fmt")
    for name, plugins in (("alpha", ["fmt", "lint-python"]), ("beta", ["fmt"])):
        write(tmp_path / name, catalog(name, [{"name": p, "source": f"./{p}"} for p in plugins]))
        markets.add(str(tmp_path / name), tmp_path)

    with pytest.raises(MarketplaceError, match=r"'fmt' is in several marketplaces: fmt@alpha, fmt@beta;"):
        markets.find("fmt")
    assert markets.find("fmt", "beta").marketplace == "beta"
    assert markets.find("lint-python").full_name == "lint-python@alpha"
    with pytest.raises(MarketplaceError, match=r"no plugin named 'lint-pyton' in any added marketplace; "
                                               r"did you mean lint-python@alpha\?"):
        markets.find("lint-pyton")
    with pytest.raises(MarketplaceError, match=r"no marketplace named 'gamma' .*Added: alpha, beta\."):
        markets.find("fmt", "gamma")


def test_a_broken_marketplaces_file_is_never_overwritten(tmp_path: Path, markets: Marketplaces) -> None:
    write(tmp_path / "shelf", catalog("shelf", []))
    markets.file.parent.mkdir(parents=True)
    markets.file.write_text('{"marketplaces": {\n')

    with pytest.raises(MarketplaceError, match=r"marketplaces.json line 2 column 1: .*nothing was changed"):
        markets.add(str(tmp_path / "shelf"), tmp_path)
    with pytest.raises(MarketplaceError, match=r"marketplaces\.json line 2"):
        markets.list()
    assert markets.file.read_text() == '{"marketplaces": {\n'


@pytest.mark.parametrize(("content", "error"), [
    (None, r"has no \.claude-plugin/marketplace\.json; a marketplace lists its plugins there"),
    ('{"name": "x",\n "plugins": [,]}', r"marketplace\.json line 2 column 14: .*; fix the JSON"),
    ('{"name": "Team Tools", "plugins": []}', r"the marketplace name 'Team Tools' is not kebab-case"),
    ('{"name": "team", "plugins": {"fmt": "./fmt"}}', r"\"plugins\" must be a list of plugin entries"),
    ('["team"]', r"must hold an object with name, owner and plugins, not list"),
])
def test_a_marketplace_that_cannot_be_read_is_not_added(tmp_path: Path, markets: Marketplaces,
                                                        content: str | None, error: str) -> None:
    folder = tmp_path / "shelf"
    folder.mkdir()
    if content is not None:
        write(folder, {".claude-plugin/marketplace.json": content})
    with pytest.raises(MarketplaceError, match=error):
        markets.add(str(folder), tmp_path)
    assert not markets.file.exists()


def test_declared_offers_what_the_project_names_and_the_user_lacks(
        tmp_path: Path, markets: Marketplaces) -> None:
    project = tmp_path / "project"
    for name in ("here", "clash"):
        write(tmp_path / name, catalog(name, []))
        markets.add(str(tmp_path / name), tmp_path)
    write(project, {".claude/settings.json": {
        "extraKnownMarketplaces": {
            "team": {"source": {"source": "git", "url": "https://git.acme.test/plugins.git",
                                "ref": "stable"}},
            "shelf": {"source": {"source": "directory", "path": "./tools/shelf"}},
            "weird": {"source": {"source": "settings", "plugins": []}}},
        "enabledPlugins": {"fmt@team": True, "off@team": False, "lint@shelf": True}}})
    settings = Settings(
        plugin_marketplaces={"acme": "acme/plugins@v2",
                             "docs": {"source": {"source": "github", "repo": "acme/docs"}},
                             "here": str(tmp_path / "here"), "clash": "acme/clash"},
        recommended_plugins=["review@acme", "lint@shelf", "bare-name", "fmt@here"])

    found = declared(project, settings, {"lint", "fmt@here"}, markets)

    assert found.marketplaces == {
        "acme": Source("git", "https://github.com/acme/plugins.git", "v2"),
        "docs": Source("git", "https://github.com/acme/docs.git"),
        "team": Source("git", "https://git.acme.test/plugins.git", "stable"),
        "shelf": Source("path", str((project / "tools" / "shelf").resolve())),
    }
    assert found.plugins == (("review", "acme"), ("fmt", "team"))
    assert len(found.problems) == 3
    assert found.problems[0].startswith("the project's marketplace 'clash' comes from "
                                        "https://github.com/acme/clash.git, but your clash comes from")
    assert found.problems[1].startswith("marketplace weird: the source {\"source\": \"settings\"")
    assert found.problems[2] == ("recommended plugin 'bare-name' should be written NAME@MARKETPLACE; "
                                 "it was skipped")
