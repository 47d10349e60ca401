"""The system prompt's list of skills: names and descriptions within a budget, the least-used
descriptions cut first, names always kept; and the usage counts behind that order."""

from __future__ import annotations

import json
from pathlib import Path

from nano_claude.extensions.skills.listing import MAX_BUDGET, MIN_BUDGET, UsageFile, budget, listing
from nano_claude.extensions.skills.loader import Skill


def skill(name: str, description: str = "", **kw: object) -> Skill:
    return Skill(name=name, description=description, body="BODY-" + name, source=f"/s/{name}.md",
                 level="user", kind="skill", folder=Path("/s"), commands=(name,), **kw)  # type: ignore[arg-type]


def test_budget_is_one_percent_of_the_window_in_characters_within_bounds() -> None:
    assert budget(8_192) == MIN_BUDGET == 2_000
    assert budget(128_000) == 5_120
    assert budget(1_000_000) == MAX_BUDGET == 8_000


def test_names_descriptions_and_when_to_use_but_never_bodies() -> None:
    text = listing([skill("deploy", "Deploy it", when_to_use="on release", triggers=("ship it",)),
                    skill("lint", "Lint the code.")], 200_000)
    assert "- deploy: Deploy it. When to use: on release (the user may ask for it as \"ship it\")" in text
    assert "- lint: Lint the code." in text
    assert "BODY-" not in text and "Skill tool" in text


def test_nothing_without_a_skill_the_model_may_run() -> None:
    assert listing([], 200_000) == ""
    assert listing([skill("mine", "only me", disable_model_invocation=True)], 200_000) == ""


def test_past_the_budget_the_least_used_lose_their_descriptions_first_and_names_stay() -> None:
    skills = [skill(f"s{i:02}", f"description number {i} " + "x" * 400) for i in range(30)]
    counts = {"s05": 9, "s06": 3}
    text = listing(skills, 8_192, counts)
    entries = text.split("\n\n", 1)[1].splitlines()
    assert len(entries) == 30 and len("\n".join(entries)) <= 2_000
    assert entries[5].startswith("- s05: description number 5")  # the most used keeps its description
    assert entries[6].startswith("- s06: description number 6")
    assert entries[0] == "- s00"  # unused: name only
    assert all(f"- s{i:02}" in text for i in range(30))


def test_a_skill_with_supporting_files_names_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "deploy"
    folder.mkdir()
    (folder / "SKILL.md").write_text("x")
    (folder / "reference.md").write_text("x")
    with_files = Skill(name="deploy", description="Deploy", body="", source=str(folder / "SKILL.md"),
                       level="project", kind="skill", folder=folder, commands=("deploy",), own_folder=True)
    assert f"- deploy: Deploy. [folder: {folder}]" in listing([with_files], 200_000)
    assert with_files.supporting_files() == ["reference.md"]


def test_usage_counts_are_kept_in_a_file_and_a_broken_one_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "skills_usage.json"
    usage = UsageFile(path)
    usage.record("deploy")
    usage.record("deploy")
    usage.record("lint")
    assert json.loads(path.read_text()) == {"deploy": 2, "lint": 1}
    path.write_text("{not json")
    assert usage.counts() == {}
    usage.record("lint")
    assert usage.counts() == {"lint": 1}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    UsageFile(tmp_path / "missing" / "x" / "skills_usage.json").counts()  # absent: no error
