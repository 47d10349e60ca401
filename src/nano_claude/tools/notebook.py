"""NotebookEdit: replace, insert or delete one cell of a Jupyter notebook, through nbformat,
so the notebook stays valid (validated before it is written) and opens in Jupyter."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.diff import unified_diff
from nano_claude.tools.files import Change, TextFile, check_fresh, load, shown

_INDENT = re.compile(r"\{\r?\n( +)\"")


class NotebookEditInput(BaseModel):
    notebook_path: str = Field(description="Path of the .ipynb file (absolute, or relative to the cwd)")
    cell_id: str | None = Field(None, description="Id of the cell, as Read shows it")
    index: int | None = Field(
        None, ge=0,
        description="0-based cell index, used when cell_id is not given; for insert, the new cell's position")
    new_source: str = Field("", description="The cell's new source (not needed for delete)")
    cell_type: Literal["code", "markdown"] | None = Field(
        None, description="Required for insert; for replace, changes the cell's type")
    edit_mode: Literal["replace", "insert", "delete"] = Field(
        "replace", description="replace (default), insert (after cell_id, or at index) or delete")


@dataclass(frozen=True)
class _Plan:
    change: Change
    message: str  # what happened, for the model and the UI
    old_source: str
    new_source: str
    label: str  # the cell, in the diff header


class NotebookEditTool:
    name: ClassVar[str] = "NotebookEdit"
    description: ClassVar[str] = (
        "Change one cell of a Jupyter notebook (.ipynb): replace its source, insert a new cell, "
        "or delete it. Pick the cell by cell_id (or index) as Read shows them; Read the notebook "
        "first. Insert goes after cell_id, or at index, or at the start when neither is given. "
        "Replacing a code cell clears its outputs."
    )
    input_model: ClassVar[type[BaseModel]] = NotebookEditInput
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False
    permission_kind: ClassVar[str] = "edit"

    def summary(self, args: NotebookEditInput) -> str:
        where = f"cell {args.cell_id}" if args.cell_id else (
            f"index {args.index}" if args.index is not None else "start")
        return f"{args.notebook_path} ({args.edit_mode} {where})"

    def permission_target(self, args: NotebookEditInput) -> str:
        return args.notebook_path

    async def preview(self, args: NotebookEditInput, ctx: ToolContext) -> str:
        plan = _plan(args, ctx)
        diff = unified_diff(plan.old_source, plan.new_source, plan.label)
        return f"{plan.message}\n{diff}" if diff else plan.message

    async def run(self, args: NotebookEditInput, ctx: ToolContext) -> ToolOutput:
        plan = _plan(args, ctx)
        plan.change.apply(ctx)
        diff = unified_diff(plan.old_source, plan.new_source, plan.label)  # the cell, not the JSON
        return ToolOutput.text(plan.message, display=diff, summary=plan.message.rstrip("."))


def _plan(args: NotebookEditInput, ctx: ToolContext) -> _Plan:
    """The edited notebook's text and what the edit does, checked but not written."""
    import nbformat

    path = ctx.resolve(args.notebook_path)
    name = shown(path, ctx)
    if path.suffix != ".ipynb":
        raise ToolError(f"{path} is not a notebook (.ipynb); change other files with Edit.")
    if not path.exists():
        raise ToolError(f"Notebook not found: {path}. Create one with Write (notebook JSON) first.")
    check_fresh(ctx, path, "NotebookEdit")
    file = load(path, "NotebookEdit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat warns about ids it fills in
        try:
            nb = nbformat.reads(file.text, as_version=4)
        except Exception as exc:  # NotJSONError, jsonschema's errors, KeyError on odd shapes
            raise ToolError(
                f"{path} is not a valid notebook ({_first_line(exc)}). Read it, then repair it "
                "with Write.") from None
        _validate(nbformat, nb, f"{path} is not a valid notebook already",
                  "Read it, then repair it with Write.")
        if args.edit_mode == "insert":
            message, old_source, new_source, index = _insert(nbformat, nb, args, name)
        elif args.edit_mode == "delete":
            message, old_source, new_source, index = _delete(nb, args, name)
        else:
            message, old_source, new_source, index = _replace(nbformat, nb, args, name)
        _validate(nbformat, nb, f"The edit would make {path} an invalid notebook",
                  "Nothing was written; change the call.")
    text = _dump(nbformat, nb, file)
    change = Change(path, name, file, text)
    return _Plan(change, message, old_source, new_source, f"{name} cell {index}")


def _find(cells: list[Any], args: NotebookEditInput, name: str) -> int:
    """The index of the cell the call names; errors list what the model could use instead."""
    if args.cell_id is not None:
        for index, cell in enumerate(cells):
            if cell.get("id") == args.cell_id:
                return index
        ids = [f"{i}:{c.get('id')}" for i, c in enumerate(cells) if c.get("id")]
        listing = f"Cell ids (index:id): {', '.join(ids[:30])}{' …' if len(ids) > 30 else ''}." \
            if ids else "Its cells have no ids; use index instead."
        raise ToolError(f"No cell with id {args.cell_id!r} in {name}. {listing}")
    if args.index is None:
        raise ToolError(f"{args.edit_mode} needs the cell: give cell_id or index.")
    if args.index >= len(cells):
        valid = f"0-{len(cells) - 1}" if cells else "none: it has no cells"
        raise ToolError(f"index {args.index} is out of range: {name} has {len(cells)} cells "
                        f"(valid indexes: {valid}).")
    return args.index


def _new_cell(nbformat: Any, nb: Any, cell_type: str, source: str) -> Any:
    """A new cell, with an id when the notebook's format has ids (4.5 and later)."""
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    cell = make(source)
    cell.pop("id", None)
    if (nb.nbformat, nb.nbformat_minor) >= (4, 5):
        cell["id"] = _fresh_id(nb, cell_type + source)
    return cell


def _fresh_id(nb: Any, seed: str) -> str:
    """An id no cell has yet, the same for the same notebook and call: the preview in the
    permission prompt names the id the cell will get."""
    taken = {c.get("id") for c in nb.cells}
    for attempt in itertools.count():
        digest = hashlib.sha1(f"{len(nb.cells)}:{attempt}:{seed}".encode()).hexdigest()[:8]
        if digest not in taken:
            return digest
    raise AssertionError("unreachable")


def _insert(nbformat: Any, nb: Any, args: NotebookEditInput, name: str) -> tuple[str, str, str, int]:
    if args.cell_type is None:
        raise ToolError("insert needs cell_type: code or markdown.")
    cells = nb.cells
    if args.cell_id is not None:
        position = _find(cells, args, name) + 1
    elif args.index is not None:
        if args.index > len(cells):
            raise ToolError(f"index {args.index} is out of range for insert: {name} has "
                            f"{len(cells)} cells (valid positions: 0-{len(cells)}).")
        position = args.index
    else:
        position = 0
    cell = _new_cell(nbformat, nb, args.cell_type, args.new_source)
    cells.insert(position, cell)
    message = f"Inserted a {args.cell_type} cell at index {position}{_ident(cell)} in {name}."
    return message, "", args.new_source, position


def _delete(nb: Any, args: NotebookEditInput, name: str) -> tuple[str, str, str, int]:
    index = _find(nb.cells, args, name)
    cell = nb.cells.pop(index)
    left = "1 cell" if len(nb.cells) == 1 else f"{len(nb.cells)} cells"
    message = f"Deleted {cell.cell_type} cell {index}{_ident(cell)} from {name}; {left} left."
    return message, _source(cell), "", index


def _replace(nbformat: Any, nb: Any, args: NotebookEditInput, name: str) -> tuple[str, str, str, int]:
    index = _find(nb.cells, args, name)
    cell = nb.cells[index]
    old_source = _source(cell)
    new_type = args.cell_type or cell.cell_type
    if new_type != cell.cell_type:
        fresh = _new_cell(nbformat, nb, new_type, args.new_source)
        fresh.metadata = cell.get("metadata", {})
        if "id" in cell:
            fresh["id"] = cell["id"]
        nb.cells[index] = fresh
        change = f"it is now a {new_type} cell"
    else:
        cell.source = args.new_source
        change = ""
        if cell.cell_type == "code":
            had = bool(cell.get("outputs")) or cell.get("execution_count") is not None
            cell.outputs = []
            cell.execution_count = None
            change = "its outputs were cleared" if had else ""
    message = f"Replaced the source of cell {index}{_ident(nb.cells[index])} in {name}"
    return (f"{message}; {change}." if change else f"{message}."), old_source, args.new_source, index


def _validate(nbformat: Any, nb: Any, problem: str, advice: str) -> None:
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise ToolError(f"{problem}: {_first_line(exc)}. {advice}") from None


def _dump(nbformat: Any, nb: Any, file: TextFile) -> str:
    """The notebook as nbformat writes it, in the file's own indent and line endings, so
    the file's diff shows the edit and nothing else."""
    text = nbformat.writes(nb)
    match = _INDENT.match(file.text)
    if match and len(match.group(1)) != 1:
        text = json.dumps(json.loads(text), indent=len(match.group(1)), ensure_ascii=False,
                          separators=(",", ": "))
    if file.text.endswith("\n") and not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", file.newline) if file.newline != "\n" else text


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _ident(cell: Any) -> str:
    return f' (id "{cell["id"]}")' if cell.get("id") else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]

