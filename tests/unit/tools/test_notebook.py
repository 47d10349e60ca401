"""NotebookEdit through the real loop: each edit mode leaves a valid notebook that holds
exactly the change, and every mistake is an error the model can act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

from nano_claude.tools.base import ToolContext
from nano_claude.tools.bash import BashTool
from nano_claude.tools.notebook import NotebookEditInput, NotebookEditTool
from nano_claude.tools.read import ReadTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import call, drive

TOOLS = [ReadTool(), NotebookEditTool(), BashTool()]


def make_notebook(path: Path, minor: int = 5, indent: int = 1) -> None:
    nb: dict[str, Any] = {
        "nbformat": 4, "nbformat_minor": minor, "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Title"]},
            {"cell_type": "code", "id": "calc", "metadata": {"tags": ["keep"]}, "execution_count": 3,
             "source": ["1 + 1"], "outputs": [{"output_type": "execute_result", "execution_count": 3,
                                              "metadata": {}, "data": {"text/plain": ["2"]}}]},
        ],
    }
    if minor < 5:
        for cell in nb["cells"]:
            del cell["id"]
    path.write_text(json.dumps(nb, indent=indent, sort_keys=True) + "\n")  # as Jupyter would, but the indent


def cells(path: Path) -> list[Any]:
    """The notebook's cells, after checking that it is valid."""
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    return nb.cells


def read(path: str = "nb.ipynb") -> object:
    return call("Read", {"file_path": path})


def nb_edit(**args: object) -> object:
    return call("NotebookEdit", {"notebook_path": "nb.ipynb", **args})


async def test_replace_sets_the_source_and_clears_outputs(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, read(), nb_edit(cell_id="calc", new_source="2 + 2"),
                      tools=TOOLS)
    result = run.result(2)
    assert not result.is_error
    assert result.text == 'Replaced the source of cell 1 (id "calc") in nb.ipynb; its outputs were cleared.'
    assert run.finished[1].summary == result.text.rstrip(".")  # for people, one line
    assert "-1 + 1" in run.finished[1].display and "+2 + 2" in run.finished[1].display  # the cell's diff
    calc = cells(tmp_path / "nb.ipynb")[1]
    assert (calc.source, calc.outputs, calc.execution_count) == ("2 + 2", [], None)
    assert calc.metadata == {"tags": ["keep"]}


async def test_replace_can_change_the_cell_type_and_keeps_the_id(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, read(),
                      nb_edit(index=0, new_source="print('hi')", cell_type="code"), tools=TOOLS)
    assert "it is now a code cell" in run.result(2).text
    first = cells(tmp_path / "nb.ipynb")[0]
    assert (first.id, first.cell_type, first.source, first.outputs) == ("intro", "code", "print('hi')", [])


async def test_insert_goes_after_the_cell_at_the_index_or_at_the_start(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, read(),
                      nb_edit(edit_mode="insert", cell_id="intro", cell_type="code", new_source="after"),
                      nb_edit(edit_mode="insert", index=3, cell_type="markdown", new_source="end"),
                      nb_edit(edit_mode="insert", cell_type="markdown", new_source="start"), tools=TOOLS)
    assert all(not run.result(i).is_error for i in (2, 3, 4))
    found = cells(tmp_path / "nb.ipynb")
    assert [c.source for c in found] == ["start", "# Title", "after", "1 + 1", "end"]
    ids = [c.id for c in found]
    assert len(set(ids)) == 5 and all(ids)
    assert f'at index 1 (id "{found[2].id}")' in run.result(2).text


async def test_insert_into_a_notebook_without_ids_adds_none(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb", minor=4)
    run = await drive(fake_server, tmp_path, read(),
                      nb_edit(edit_mode="insert", index=1, cell_type="markdown", new_source="x"), tools=TOOLS)
    assert not run.result(2).is_error
    found = cells(tmp_path / "nb.ipynb")
    assert [c.source for c in found] == ["# Title", "x", "1 + 1"]
    assert not any("id" in c for c in found)


async def test_delete_removes_the_cell(fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, read(), nb_edit(edit_mode="delete", cell_id="intro"),
                      tools=TOOLS)
    assert run.result(2).text == 'Deleted markdown cell 0 (id "intro") from nb.ipynb; 1 cell left.'
    assert [c.id for c in cells(tmp_path / "nb.ipynb")] == ["calc"]


async def test_edits_keep_the_files_indent_so_its_diff_is_the_change(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb", indent=2)
    before = (tmp_path / "nb.ipynb").read_text().splitlines()
    await drive(fake_server, tmp_path, read(), nb_edit(cell_id="intro", new_source="# Better"), tools=TOOLS)
    after = (tmp_path / "nb.ipynb").read_text().splitlines()
    assert after[2] == '    {' and len(after) == len(before)
    assert [(old, new) for old, new in zip(before, after, strict=True) if old != new] == [
        ('        "# Title"', '        "# Better"')]


async def test_unknown_cells_list_what_exists(fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, read(), nb_edit(cell_id="nope", new_source="x"),
                      nb_edit(index=7, new_source="x"), nb_edit(new_source="x"),
                      nb_edit(edit_mode="insert", index=0, new_source="x"), tools=TOOLS)
    assert "No cell with id 'nope'" in run.result(2).text and "0:intro, 1:calc" in run.result(2).text
    assert "index 7 is out of range" in run.result(3).text and "0-1" in run.result(3).text
    assert "give cell_id or index" in run.result(4).text
    assert "insert needs cell_type" in run.result(5).text
    assert all(run.result(i).is_error for i in (2, 3, 4, 5))
    assert [c.source for c in cells(tmp_path / "nb.ipynb")] == ["# Title", "1 + 1"]


async def test_notebook_edit_needs_a_fresh_read(fake_server: FakeModelServer, tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    run = await drive(fake_server, tmp_path, nb_edit(cell_id="intro", new_source="x"), read(),
                      call("Bash", {"command": "touch -d '2001-01-01' nb.ipynb"}),
                      nb_edit(cell_id="intro", new_source="x"), tools=TOOLS)
    assert run.result(1).is_error and "has not been read" in run.result(1).text
    assert run.result(4).is_error and "changed on disk" in run.result(4).text
    assert cells(tmp_path / "nb.ipynb")[0].source == "# Title"


async def test_invalid_notebook_json_is_an_error(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text('{"cells": [')
    run = await drive(fake_server, tmp_path, read(), nb_edit(index=0, new_source="x"), tools=TOOLS)
    assert run.result(2).is_error and "is not a valid notebook" in run.result(2).text
    assert "Write" in run.result(2).text
    assert (tmp_path / "nb.ipynb").read_text() == '{"cells": ['


async def test_preview_shows_the_change_and_writes_nothing(tmp_path: Path) -> None:
    make_notebook(tmp_path / "nb.ipynb")
    before = (tmp_path / "nb.ipynb").read_bytes()
    ctx = ToolContext(cwd=tmp_path, environ={})
    ctx.stamp(tmp_path / "nb.ipynb")
    tool = NotebookEditTool()
    args = NotebookEditInput(notebook_path="nb.ipynb", cell_id="calc", new_source="1 + 2")
    preview = await tool.preview(args, ctx)
    assert preview.splitlines()[1:] == [
        "--- a/nb.ipynb cell 1", "+++ b/nb.ipynb cell 1", "@@ -1 +1 @@", "-1 + 1",
        "\\ No newline at end of file", "+1 + 2", "\\ No newline at end of file"]
    assert (tmp_path / "nb.ipynb").read_bytes() == before
    insert = NotebookEditInput(notebook_path="nb.ipynb", edit_mode="insert", cell_type="code", new_source="z")
    named = (await tool.preview(insert, ctx)).splitlines()[0]
    out = await tool.run(insert, ctx)
    assert out.content[0].text == named  # the preview names the id the cell really gets


def test_notebook_edit_is_an_edit_of_the_notebook_path() -> None:
    tool = NotebookEditTool()
    args = NotebookEditInput(notebook_path="a/nb.ipynb", index=2, new_source="")
    assert (tool.read_only, tool.concurrency_safe, tool.permission_kind) == (False, False, "edit")
    assert tool.permission_target(args) == "a/nb.ipynb"
    assert tool.summary(args) == "a/nb.ipynb (replace index 2)"
