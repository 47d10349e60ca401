"""How the embedded model's prompt is laid out for the prefix cache: the tools and the
stable part of our system prompt come before what changes between sessions (the date,
git status), whatever the model's chat template does with the system message.

The prompts are our real system prompts (core/context.py) for a real git repository,
rendered through the curated models' own templates (tests/fakes/chat_templates)."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from pathlib import Path

import pytest

from nano_claude.core.context import build_system_prompt, split_volatile
from nano_claude.providers.base import Request
from nano_claude.providers.chat_format import FORMATS, ToolFormat, render_args
from nano_claude.providers.local import CHATML, _compile_template
from nano_claude.tools.registry import Registry, builtin_tools

TEMPLATES = Path(__file__).parents[2] / "fakes" / "chat_templates"
TEMPLATE_OF = {"hermes": "qwen2.5.jinja", "qwen3": "qwen3.jinja", "llama3": "llama3.2.jinja"}
TOOLS = Registry(builtin_tools("compact")).specs()
LAST_TOOL = TOOLS[-1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    (folder / "CLAUDE.md").write_text("Run the tests with `make check` before you say a change works.\n")
    commit(folder, "README.md", "First commit")
    return folder


def git(repo: Path, *args: str) -> None:
    env = {"HOME": str(repo.parent), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}
    subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, check=True)


def commit(repo: Path, name: str, subject: str) -> None:
    (repo / name).write_text(subject + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", subject)


def system_prompt(repo: Path, day: date) -> str:
    return build_system_prompt(repo, day, home=repo.parent, environ={"PATH": os.environ["PATH"]}).text


def render(fmt: ToolFormat, system: str, day: date) -> str:
    template = (TEMPLATES / TEMPLATE_OF[fmt.name]).read_text() if fmt.native else CHATML
    request = Request(model="m", system=system, messages=(), tools=TOOLS)
    return _compile_template(template).render(**render_args(fmt, request, day), add_generation_prompt=True,
                                              bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")


def test_the_date_and_git_sections_split_off_exactly(repo: Path) -> None:
    text = system_prompt(repo, date(2026, 5, 1))
    stable, volatile = split_volatile(text)
    assert volatile.startswith("# Environment\n- Working directory: ")
    assert "- Date: 2026-05-01" in volatile and "First commit" in volatile and "# Git" in volatile
    assert stable.startswith("You are nano-claude") and "make check" in stable
    assert "2026-05-01" not in stable and "First commit" not in stable
    # the same sections, only moved: the base, then the instructions that followed git
    base, instructions = stable.split("\n\n# Instructions from", 1)
    assert text == f"{base}\n\n{volatile}\n\n# Instructions from{instructions}"
    assert split_volatile("You are a pirate.") == ("You are a pirate.", "")


@pytest.mark.parametrize("name", ["hermes", "qwen3", "llama3", "json"])
def test_a_new_commit_and_a_new_day_keep_the_whole_tool_prefix(repo: Path, name: str) -> None:
    fmt = FORMATS[name]
    before = render(fmt, system_prompt(repo, date(2026, 5, 1)), date(2026, 5, 1))
    commit(repo, "notes.txt", "Second commit")
    (repo / "scratch.txt").write_text("untracked\n")
    after = render(fmt, system_prompt(repo, date(2026, 5, 2)), date(2026, 5, 2))
    assert "Second commit" in after and "Second commit" not in before
    shared = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
    # the tools (the last one's description) and the instructions lie wholly in the shared prefix
    assert 0 < after.index(LAST_TOOL.description.strip().split("\n")[0]) < shared
    assert after.index("make check") < shared
    assert after.index("# Environment") < shared < after.index("Second commit")  # where they differ
    if fmt.system_before_tools:  # Qwen: the changing part is a system message after the tools
        assert "</tools>" in after[:shared]
        assert "</tool_call><|im_end|>\n<|im_start|>system\n# Environment\n" in after
    if name == "llama3":
        assert "Today Date: May 2026\n" in before and "Today Date: May 2026\n" in after


def test_llamas_date_line_is_the_sessions_month_not_the_render_time() -> None:
    request = Request(model="m", system="Be brief.", messages=(), tools=TOOLS[:1])
    assert render_args(FORMATS["llama3"], request, date(2025, 12, 31))["date_string"] == "December 2025"
    assert "date_string" not in render_args(FORMATS["hermes"], request, date(2025, 12, 31))
