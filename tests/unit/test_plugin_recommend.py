"""/plugin recommend: the curated catalog ranked by keywords and by real project folders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nano_claude.extensions.plugins.recommend import (
    MAX_ENTRIES,
    categories,
    lines,
    load_catalog,
    recommend,
    scan,
    stem,
)
from nano_claude.extensions.plugins.sources import parse

REQUIRED = ("git", "python", "docker", "sql", "tests", "diagrams", "aws", "web scraping")


def make(root: Path, *files: str) -> Path:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not rel.endswith("/"):
            path.write_text("x\n")
    return root


def names(recs: list) -> list[str]:
    return [rec.entry.name for rec in recs]


@pytest.fixture
def python_project(tmp_path: Path) -> Path:
    return make(tmp_path / "py", "pyproject.toml", "src/app/__init__.py", "src/app/main.py", "README.md")


@pytest.fixture
def docker_project(tmp_path: Path) -> Path:
    return make(tmp_path / "docker", "Dockerfile", "docker-compose.yml", "app/server.go")


@pytest.fixture
def sql_project(tmp_path: Path) -> Path:
    return make(tmp_path / "sql", "db/schema.sql", "db/seed.sql", "migrations/001_init.sql", "README.md")


@pytest.fixture
def node_project(tmp_path: Path) -> Path:
    return make(tmp_path / "node", "package.json", "tsconfig.json", "src/index.ts", "src/util.ts")


def test_catalog_covers_every_asked_category_with_installable_sources() -> None:
    catalog = load_catalog()
    assert len({entry.name for entry in catalog}) == len(catalog)
    assert set(REQUIRED) <= set(categories(catalog))
    assert any("lint" in entry.tags for entry in catalog if entry.category == "python")
    for entry in catalog:
        assert entry.verified and entry.tags and entry.description, entry.name
        if entry.marketplace:
            plugin, _, market = entry.source.partition("@")
            assert plugin == entry.name and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", market), entry.source
            assert entry.marketplace in entry.verified, entry.name
            assert parse(entry.marketplace, Path("/nonexistent")).location == \
                f"https://github.com/{entry.marketplace}.git"
        else:
            assert parse(entry.source, Path("/nonexistent")).kind == "git", entry.source


def test_install_lines_add_the_marketplace_first_or_name_the_git_url() -> None:
    catalog = {entry.name: entry for entry in load_catalog()}
    assert catalog["commit-commands"].install == [
        "nano_claude plugin marketplace add anthropics/claude-code",
        "nano_claude plugin install commit-commands@claude-code-plugins",
    ]
    assert catalog["firecrawl"].install == [
        "nano_claude plugin install https://github.com/firecrawl/firecrawl-claude-plugin.git"]


def test_python_project_gets_python_plugins_first(python_project: Path) -> None:
    found = recommend(python_project)
    assert set(names(found)[:2]) == {"python-lint", "python-development"}
    assert "pyproject.toml in the project" in found[0].reasons
    assert not {"docker-master", "database-design", "typescript-lint"} & set(names(found))


def test_docker_project_gets_docker_plugins_first(docker_project: Path) -> None:
    found = recommend(docker_project)
    assert names(found)[:2] == ["docker-master", "docker-skills"]
    assert found[0].reasons == ["Dockerfile in the project", "docker-compose.yml in the project"]
    assert found[0].install[-1] == "nano_claude plugin install docker-master@claude-plugin-marketplace"


def test_sql_project_gets_database_plugins_first(sql_project: Path) -> None:
    found = recommend(sql_project)
    assert names(found)[:2] == ["database-migrations", "database-design"]  # migrations/ is evidence too
    assert "3 *.sql files in the project" in found[1].reasons


def test_node_project_gets_javascript_plugins_and_no_python_ones(node_project: Path) -> None:
    found = recommend(node_project)
    assert set(names(found)[:2]) == {"typescript-lint", "javascript-typescript"}
    assert not {"python-lint", "python-development"} & set(names(found))


def test_empty_project_without_keywords_gets_nothing(tmp_path: Path) -> None:
    assert recommend(make(tmp_path / "empty", "notes/")) == []


def test_keywords_no_catalog_entry_knows_give_nothing(docker_project: Path) -> None:
    assert recommend(docker_project, "quantum knitting") == []


def test_docker_database_lists_both_and_the_project_decides_the_order(tmp_path: Path, docker_project: Path,
                                                                      sql_project: Path) -> None:
    plain = names(recommend(make(tmp_path / "empty"), "docker database"))
    assert {"docker-master", "docker-skills", "database-design", "database-migrations"} <= set(plain[:5])
    assert not {"python-lint", "commit-commands"} & set(plain)
    assert names(recommend(docker_project, "docker database"))[:2] == ["docker-master", "docker-skills"]
    assert names(recommend(sql_project, "docker database"))[:2] == ["database-migrations", "database-design"]


def test_lint_python_wins_over_the_project_files(node_project: Path) -> None:
    found = recommend(node_project, "lint python")
    assert names(found)[0] == "python-lint"
    assert found[0].reasons == ["matches 'lint'", "matches 'python'"]
    assert names(found).index("python-development") < names(found).index("typescript-lint")


def test_stemming_matches_word_forms() -> None:
    assert stem("dockerfile") == stem("docker") == stem("Dockers")
    assert stem("tests") == stem("testing") == stem("test")
    assert stem("aws") == "aws" and stem("class") == "class"
    assert names(recommend(Path("/nonexistent"), "Dockerfile"))[:2] == ["docker-master", "docker-skills"]
    assert "unit-testing" in names(recommend(Path("/nonexistent"), "testing"))[:3]
    assert names(recommend(Path("/nonexistent"), "web scraping"))[:2] == ["firecrawl", "brightdata-plugin"]
    assert names(recommend(Path("/nonexistent"), "diagrams"))[0] == "mermaid-diagrams"
    assert names(recommend(Path("/nonexistent"), "aws"))[0] == "deploy-on-aws"


def test_installed_plugins_are_marked_and_come_last(docker_project: Path) -> None:
    found = recommend(docker_project, installed={"docker-master"})
    assert names(found)[0] == "docker-skills"
    mine = found[names(found).index("docker-master")]
    assert mine.installed and mine.install == [] and found[-1] is mine
    assert ("docker-master (installed) — Dockerfile in the project; docker-compose.yml in the project"
            in lines(found))


def test_lines_show_name_reasons_description_and_install_commands(docker_project: Path) -> None:
    text = lines(recommend(docker_project, "docker", limit=2))
    assert text[0] == ("docker-master — matches 'docker'; Dockerfile in the project; "
                       "docker-compose.yml in the project")
    assert text[1].startswith("    A Docker expert")
    assert text[2:4] == ["    nano_claude plugin marketplace add JosiahSiegel/claude-plugin-marketplace",
                         "    nano_claude plugin install docker-master@claude-plugin-marketplace"]
    assert text[4] == "" and text[5].startswith("docker-skills — ")


def test_limit_caps_the_list(python_project: Path) -> None:
    assert len(recommend(python_project, "python lint tests docker sql", limit=3)) == 3


def test_the_walk_never_enters_node_modules_or_virtualenvs(tmp_path: Path) -> None:
    deep = "node_modules/" + "/".join(f"pkg{i}" for i in range(12))
    project = make(tmp_path / "web", "package.json", f"{deep}/Dockerfile", "node_modules/orm/schema.sql",
                   ".venv/lib/python3.12/site-packages/x.py", ".git/hooks/pre-commit.sql")
    found = names(recommend(project))
    assert "typescript-lint" in found
    assert not {"docker-master", "database-design", "python-lint"} & set(found)
    assert all(not rel.startswith(("node_modules", ".venv", ".git")) for rel, _ in scan(project))


def test_the_walk_stops_after_its_budget_but_always_sees_the_top(tmp_path: Path) -> None:
    project = make(tmp_path / "big", "Dockerfile", "zz/db/schema.sql")
    data = project / "data"
    data.mkdir()
    for i in range(MAX_ENTRIES):
        (data / f"f{i:05}.csv").touch()
    seen = scan(project)
    assert len(seen) == MAX_ENTRIES and ("Dockerfile", False) in seen
    found = names(recommend(project))
    assert found[:2] == ["docker-master", "docker-skills"]
    assert "database-design" not in found  # zz/db/schema.sql lies past the budget
