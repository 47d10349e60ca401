"""Front matter of Markdown files: the mapping, the body, and errors that name the line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nano_claude.extensions.frontmatter import FrontMatterError, parse


def test_splits_the_mapping_from_the_body() -> None:
    meta, body = parse("---\nname: code-reviewer\ntools: [Read, Grep]\n---\nYou review code.\n", "a.md")
    assert meta == {"name": "code-reviewer", "tools": ["Read", "Grep"]}
    assert body == "You review code.\n"


def test_without_front_matter_the_whole_text_is_the_body() -> None:
    text = "# Title\n\nname: not front matter\n"
    assert parse(text, "a.md") == ({}, text)


def test_a_later_horizontal_rule_stays_in_the_body() -> None:
    meta, body = parse("---\ndescription: x\n---\nabove\n---\nbelow\n", "a.md")
    assert meta == {"description": "x"}
    assert body == "above\n---\nbelow\n"


def test_crlf_line_endings_and_a_bom_are_tolerated() -> None:
    meta, body = parse("\ufeff---\r\nname: a\r\ndescription: b\r\n---\r\nline one\r\nline two\r\n", "a.md")
    assert meta == {"name": "a", "description": "b"}
    assert body == "line one\nline two\n"


def test_a_bom_before_a_file_without_front_matter_is_dropped() -> None:
    assert parse("\ufeffjust text", "a.md") == ({}, "just text")


def test_empty_front_matter_is_an_empty_mapping() -> None:
    assert parse("---\n---\nbody", "a.md") == ({}, "body")


def test_closing_line_at_the_end_of_the_file_without_a_newline() -> None:
    assert parse("---\nname: a\n---", "a.md") == ({"name": "a"}, "")


def test_bad_yaml_names_the_source_and_the_file_line() -> None:
    text = "---\nname: a\ntools: [Read, Grep\ndescription: b\n---\nbody\n"
    with pytest.raises(FrontMatterError) as info:
        parse(text, "agents/a.md")
    message = str(info.value)
    assert message.startswith("agents/a.md: the front matter is not valid YAML on line ")
    assert "\n" not in message
    # the flow list opened on file line 3 is found broken on a later line, never before line 3
    line = int(message.split(" on line ")[1].split(" ")[0])
    assert 3 <= line <= 5


def test_bad_yaml_line_number_counts_the_opening_fence() -> None:
    text = "---\nname: a\n  indented: wrong\ndescription: b\n---\n"
    with pytest.raises(FrontMatterError, match=r"^x\.md: .* on line 3 "):
        parse(text, "x.md")


def test_front_matter_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(FrontMatterError, match=r"^x\.md: the front matter is a list, not a mapping; "):
        parse("---\n- Read\n- Grep\n---\nbody\n", "x.md")
    with pytest.raises(FrontMatterError, match="plain text, not a mapping"):
        parse("---\njust words\n---\nbody\n", "x.md")


def test_an_unclosed_front_matter_is_an_error() -> None:
    never_closed = r"^x\.md: the front matter opened by --- on line 1 is never closed; add a line"
    with pytest.raises(FrontMatterError, match=never_closed):
        parse("---\nname: a\ndescription: b\n\nYou review code.\n", "x.md")


def test_one_line_values_claude_code_accepts_are_read_as_text() -> None:
    # Agent files Claude Code ships have unquoted ": " in descriptions; strict YAML refuses them.
    text = ('---\nname: analyzer\ndescription: Use this agent when: (1) a PR is open, '
            '(2) tests fail. Examples: <example>user: "hi"</example>\n'
            'argument-hint: @file #section\ntools: ["Read", "Grep"]\nmaxTurns: 5\n---\nbody\n')
    meta, body = parse(text, "x.md")
    assert meta["description"] == ('Use this agent when: (1) a PR is open, (2) tests fail. '
                                   'Examples: <example>user: "hi"</example>')
    assert meta["argument-hint"] == "@file #section"
    assert meta["tools"] == ["Read", "Grep"]  # lines YAML reads on their own keep their meaning
    assert meta["maxTurns"] == 5
    assert body == "body\n"


def test_a_broken_list_is_not_rescued_as_text() -> None:
    with pytest.raises(FrontMatterError, match="not valid YAML"):
        parse("---\ndescription: a: b\ntools: [Read, Grep\n---\n", "x.md")
    with pytest.raises(FrontMatterError, match="not valid YAML"):
        parse("---\nargument-hint: [file] [--strict]\n---\n", "x.md")


def test_importing_the_parsers_does_not_import_yaml() -> None:
    code = ("import sys, nano_claude.extensions.frontmatter, nano_claude.extensions.agents.types as t\n"
            "from pathlib import Path\n"
            "t.load_types(Path(sys.argv[1]), Path(sys.argv[1]))\n"
            "print('yaml' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, "/nonexistent-folder"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_description_running_on_over_unindented_example_lines_is_read_whole() -> None:
    # the shape of four agents Claude Code ships (plugin-dev's agent-creator, pr-review-toolkit's
    # code-simplifier...): examples with `Context:` and `user:` lines, unindented, inside the
    # description. Claude Code fails on them (anthropics/claude-code#91871: a placeholder
    # description, or no agent at all); read whole, the model gets the examples it routes by.
    text = (
        "---\n"
        "name: tidy-agent\n"
        "description: Use this agent after edits. Examples:\n"
        "\n"
        "<example>\n"
        "Context: The user changed a parser.\n"
        'user: "Clean this up"\n'
        'assistant: "I will use the tidy-agent: it keeps behaviour."\n'
        "</example>\n"
        "model: sonnet\n"
        'tools: ["Read", "Grep"]\n'
        "---\n"
        "You tidy code.\n")
    meta, body = parse(text, "tidy.md")
    assert meta["name"] == "tidy-agent" and meta["model"] == "sonnet"
    assert meta["tools"] == ["Read", "Grep"]
    assert meta["description"].startswith("Use this agent after edits. Examples:\n\n<example>\nContext:")
    assert 'assistant: "I will use the tidy-agent: it keeps behaviour."\n</example>' in meta["description"]
    assert body == "You tidy code.\n"


def test_run_on_lines_before_any_known_key_are_still_an_error() -> None:
    with pytest.raises(FrontMatterError, match="not valid YAML"):
        parse("---\nContext: a: b\n<example>\nuser: x\n---\nbody\n", "odd.md")
