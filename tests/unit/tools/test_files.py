"""Write and Edit through the real loop (what the model gets back, what lands on disk),
and the diff helpers they share with the UI."""

from __future__ import annotations

import codecs
import os
import resource
import stat
from pathlib import Path
from typing import ClassVar

import pytest

from nano_claude.tools.base import ToolContext, ToolError, ToolOutput
from nano_claude.tools.bash import BashTool
from nano_claude.tools.diff import counts, unified_diff
from nano_claude.tools.files import EditInput, EditTool, WriteInput, WriteTool
from nano_claude.tools.read import ReadTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import call, drive

TOOLS = [ReadTool(), WriteTool(), EditTool(), BashTool()]


def read(path: str) -> object:
    return call("Read", {"file_path": path})


def edit(path: str, old: str, new: str, **kw: object) -> object:
    return call("Edit", {"file_path": path, "old_string": old, "new_string": new, **kw})


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- diff ----------------------------------------------------------------------


def test_unified_diff_is_git_style_with_three_lines_of_context() -> None:
    old = "".join(f"{i}\n" for i in range(1, 11))
    new = old.replace("5\n", "five\n")
    assert unified_diff(old, new, "src/n.txt") == (
        "--- a/src/n.txt\n+++ b/src/n.txt\n@@ -2,7 +2,7 @@\n"
        " 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
    )


def test_unified_diff_flags_a_missing_final_newline_and_new_files() -> None:
    diff = unified_diff("a", "a\n", "f")
    assert diff == "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n"
    created = unified_diff("", "x\ny\n", "f", created=True)
    assert created.startswith("--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n")
    assert unified_diff("same", "same", "f") == ""
    assert unified_diff("a\n", "b\n", "/abs/f").startswith("--- /abs/f\n+++ /abs/f\n")


def test_unified_diff_does_not_split_lines_at_form_feeds() -> None:
    diff = unified_diff("a\x0cb\n", "a\x0cc\n", "f")
    assert diff.split("\n")[3:] == ["-a\x0cb", "+a\x0cc", ""]


def test_counts_reads_hunks_so_removed_dashes_are_not_headers() -> None:
    diff = unified_diff("--- old\nkeep\n++ x\n", "keep\nnew\n", "f")
    assert counts(diff) == (1, 2)
    assert counts("") == (0, 0)


# --- Write -------------------------------------------------------------------


async def test_write_creates_a_file_and_its_folders(fake_server: FakeModelServer, tmp_path: Path) -> None:
    write = call("Write", {"file_path": "a/b/new.py", "content": "x = 1\ny = 2\n"})
    run = await drive(fake_server, tmp_path, write, tools=TOOLS)
    assert (tmp_path / "a/b/new.py").read_text() == "x = 1\ny = 2\n"
    assert not run.result().is_error and run.result().text == "Created a/b/new.py (2 lines)."
    assert run.finished[0].summary == "Created a/b/new.py (2 lines)" and run.finished[0].display == ""


async def test_write_refuses_to_overwrite_a_file_it_has_not_read(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious\n")
    run = await drive(fake_server, tmp_path, call("Write", {"file_path": "keep.txt", "content": "gone"}),
                      tools=TOOLS)
    assert run.result().is_error and "has not been read" in run.result().text
    assert (tmp_path / "keep.txt").read_text() == "precious\n"


async def test_write_refuses_a_file_changed_since_it_was_read(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("v1\n")
    run = await drive(fake_server, tmp_path, read("f.txt"),
                      call("Bash", {"command": "echo user-edit >> f.txt"}),
                      call("Write", {"file_path": "f.txt", "content": "v2\n"}), tools=TOOLS)
    assert run.result(3).is_error and "changed on disk since you last read it" in run.result(3).text
    assert (tmp_path / "f.txt").read_text() == "v1\nuser-edit\n"


async def test_write_after_read_replaces_the_file_and_shows_the_diff(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    target = tmp_path / "run.sh"
    target.write_text("echo one\necho two\n")
    target.chmod(0o750)
    run = await drive(fake_server, tmp_path, read("run.sh"),
                      call("Write", {"file_path": "run.sh", "content": "echo one\necho 2\n"}),
                      call("Write", {"file_path": "run.sh", "content": "echo 1\n"}), tools=TOOLS)
    assert run.result(2).text == "Wrote run.sh: 2 lines (+1 -1)."
    assert run.finished[1].display == (
        "--- a/run.sh\n+++ b/run.sh\n@@ -1,2 +1,2 @@\n echo one\n-echo two\n+echo 2\n")
    # its own write counts as read: a second Write needs no fresh Read
    assert not run.result(3).is_error
    assert target.read_text() == "echo 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert leftovers(tmp_path) == []


async def test_write_keeps_crlf_line_endings_and_bom_of_the_file_it_replaces(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_bytes(codecs.BOM_UTF8 + b"old\r\nlines\r\n")
    run = await drive(fake_server, tmp_path, read("w.txt"),
                      call("Write", {"file_path": "w.txt", "content": "new\nlines\n"}), tools=TOOLS)
    assert not run.result(2).is_error
    assert (tmp_path / "w.txt").read_bytes() == codecs.BOM_UTF8 + b"new\r\nlines\r\n"


async def test_write_through_a_symlink_replaces_the_target_and_keeps_the_link(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("a\n")
    (tmp_path / "link.txt").symlink_to("real.txt")
    await drive(fake_server, tmp_path, read("link.txt"),
                call("Write", {"file_path": "link.txt", "content": "b\n"}), tools=TOOLS)
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "b\n"


class FileSizeLimitedWrite:
    """Write, run with the process's file-size limit lowered: the temp file's write
    fails part way (EFBIG), as on a full disk."""

    name: ClassVar[str] = WriteTool.name
    description: ClassVar[str] = WriteTool.description
    input_model = WriteTool.input_model
    read_only: ClassVar[bool] = False
    concurrency_safe: ClassVar[bool] = False

    def summary(self, args: WriteInput) -> str:
        return args.file_path

    async def run(self, args: WriteInput, ctx: ToolContext) -> ToolOutput:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
        try:
            return await WriteTool().run(args, ctx)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


async def test_a_failed_write_leaves_the_original_intact_and_no_temp_file(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("original\n")
    run = await drive(fake_server, tmp_path, read("big.txt"),
                      call("Write", {"file_path": "big.txt", "content": "x" * 5000}),
                      tools=[ReadTool(), FileSizeLimitedWrite()])
    assert run.result(2).is_error and "Cannot write" in run.result(2).text
    assert "unchanged" in run.result(2).text
    assert (tmp_path / "big.txt").read_text() == "original\n"
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
async def test_write_into_a_read_only_folder_fails_cleanly(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "f.txt").write_text("original\n")
    folder.chmod(0o555)
    try:
        run = await drive(fake_server, tmp_path, read("ro/f.txt"),
                          call("Write", {"file_path": "ro/f.txt", "content": "new\n"}), tools=TOOLS)
    finally:
        folder.chmod(0o755)
    assert run.result(2).is_error and "Permission denied" in run.result(2).text
    assert (folder / "f.txt").read_text() == "original\n" and leftovers(folder) == []


async def test_write_preview_is_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    ctx = ToolContext(cwd=tmp_path, environ={})
    preview = await WriteTool().preview(WriteInput(file_path="n.txt", content="hi\n"), ctx)
    assert preview == "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hi\n"
    assert not (tmp_path / "n.txt").exists()


def test_writers_are_neither_read_only_nor_concurrency_safe() -> None:
    for tool in (WriteTool(), EditTool()):
        assert (tool.read_only, tool.concurrency_safe, tool.permission_kind) == (False, False, "edit")
    assert EditTool().permission_target(EditInput(file_path="../x", old_string="a", new_string="b")) == "../x"


# --- Edit --------------------------------------------------------------------


async def test_edit_replaces_the_unique_match_and_shows_the_result(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("".join(f"line{i}\n" for i in range(1, 21)))
    run = await drive(fake_server, tmp_path, read("m.py"), edit("m.py", "line10\n", "ten\nTEN\n"),
                      tools=TOOLS)
    result = run.result(2)
    assert not result.is_error
    assert result.text.splitlines() == [
        "Edited m.py: 1 replacement. Lines 7-14 now read:",
        " 7\tline7", " 8\tline8", " 9\tline9", "10\tten", "11\tTEN", "12\tline11", "13\tline12",
        "14\tline13",
    ]
    assert run.finished[1].display == (
        "--- a/m.py\n+++ b/m.py\n@@ -7,7 +7,8 @@\n line7\n line8\n line9\n-line10\n+ten\n+TEN\n"
        " line11\n line12\n line13\n")


async def test_edit_says_not_found_and_leaves_the_file(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("alpha\nbeta\n")
    run = await drive(fake_server, tmp_path, read("f.txt"), edit("f.txt", "gamma", "delta"), tools=TOOLS)
    assert run.result(2).is_error and "old_string was not found" in run.result(2).text
    assert (tmp_path / "f.txt").read_text() == "alpha\nbeta\n"


async def test_edit_not_found_points_at_a_match_that_differs_in_whitespace(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("x = 0\n\ndef f():\n\treturn 1\n")
    run = await drive(fake_server, tmp_path, read("f.py"),
                      edit("f.py", "def f():\n    return 1", "def f():\n    return 2"),
                      edit("f.py", "3\tdef f():", "def g():"), tools=TOOLS)
    assert "differs only in whitespace" in run.result(2).text and "line 3" in run.result(2).text
    assert "line numbers as Read shows them" in run.result(3).text


async def test_edit_refuses_an_ambiguous_match_with_the_count(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x = 1\ny = 2\nx = 1\nx = 1\n")
    run = await drive(fake_server, tmp_path, read("f.txt"), edit("f.txt", "x = 1", "x = 9"),
                      edit("f.txt", "x = 1", "x = 9", replace_all=True), tools=TOOLS)
    first = run.result(2)
    assert first.is_error and "occurs 3 times" in first.text and "lines 1, 3, 4" in first.text
    assert "replace_all" in first.text
    assert run.result(3).text.startswith("Edited f.txt: 3 replacements.")
    assert (tmp_path / "f.txt").read_text() == "x = 9\ny = 2\nx = 9\nx = 9\n"


async def test_edit_rejects_identical_strings(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("a\n")
    run = await drive(fake_server, tmp_path, read("f.txt"), edit("f.txt", "a", "a"), tools=TOOLS)
    assert run.result(2).is_error and "the same" in run.result(2).text


async def test_edit_needs_a_read_first_and_a_fresh_one_after_outside_changes(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("one\n")
    run = await drive(fake_server, tmp_path, edit("f.txt", "one", "two"), read("f.txt"),
                      call("Bash", {"command": "printf 'one\\nmore\\n' > f.txt"}),
                      edit("f.txt", "one", "two"), read("f.txt"), edit("f.txt", "one", "two"),
                      tools=TOOLS)
    assert run.result(1).is_error and "has not been read in this session" in run.result(1).text
    assert run.result(4).is_error and "changed on disk" in run.result(4).text
    assert not run.result(6).is_error
    assert (tmp_path / "f.txt").read_text() == "two\nmore\n"


async def test_edit_keeps_crlf_line_endings(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    run = await drive(fake_server, tmp_path, read("win.txt"), edit("win.txt", "one\ntwo\n", "1\n2\n2.5\n"),
                      tools=TOOLS)
    assert not run.result(2).is_error
    assert (tmp_path / "win.txt").read_bytes() == b"1\r\n2\r\n2.5\r\nthree\r\n"
    assert "\r" not in run.finished[1].display


async def test_edit_keeps_a_utf8_bom_and_utf16(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "bom.txt").write_bytes(codecs.BOM_UTF8 + "héllo\n".encode())
    (tmp_path / "u16.txt").write_bytes(codecs.BOM_UTF16_LE + "wörld\n".encode("utf-16-le"))
    run = await drive(fake_server, tmp_path, read("bom.txt"), read("u16.txt"),
                      edit("bom.txt", "héllo", "hällo"), edit("u16.txt", "wörld", "wörld!"), tools=TOOLS)
    assert not run.result(3).is_error and not run.result(4).is_error
    assert (tmp_path / "bom.txt").read_bytes() == codecs.BOM_UTF8 + "hällo\n".encode()
    assert (tmp_path / "u16.txt").read_bytes() == codecs.BOM_UTF16_LE + "wörld!\n".encode("utf-16-le")


async def test_edit_keeps_a_latin1_file_latin1(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_bytes(b"caf\xe9\nna\xefve\n")
    run = await drive(fake_server, tmp_path, read("old.txt"), edit("old.txt", "café", "bistro"),
                      edit("old.txt", "naïve", "→"), tools=TOOLS)
    assert not run.result(2).is_error
    assert run.result(3).is_error and "latin-1" in run.result(3).text
    assert (tmp_path / "old.txt").read_bytes() == b"bistro\nna\xefve\n"


async def test_edit_with_empty_old_string_creates_a_file_but_never_overwrites(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "full.txt").write_text("content\n")
    run = await drive(fake_server, tmp_path, edit("new/made.txt", "", "hello\n"), read("full.txt"),
                      edit("full.txt", "", "oops\n"), tools=TOOLS)
    assert run.result(1).text == "Created new/made.txt (1 line)."
    assert (tmp_path / "new/made.txt").read_text() == "hello\n"
    assert run.result(3).is_error and "already has content" in run.result(3).text
    assert (tmp_path / "full.txt").read_text() == "content\n"


async def test_edit_refuses_binary_files_notebooks_and_missing_files(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01abc")
    (tmp_path / "n.ipynb").write_text("{}")
    run = await drive(fake_server, tmp_path, read("n.ipynb"), edit("n.ipynb", "{}", "[]"),
                      edit("missing.txt", "a", "b"), tools=TOOLS)
    assert "NotebookEdit" in run.result(2).text
    assert "File not found" in run.result(3).text and "Write" in run.result(3).text
    ctx = ToolContext(cwd=tmp_path, environ={})
    ctx.stamp(tmp_path / "blob.bin")
    with pytest.raises(ToolError, match="binary data"):
        await EditTool().run(EditInput(file_path="blob.bin", old_string="abc", new_string="x"), ctx)
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01abc"


async def test_edit_preview_is_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("a\nb\n")
    ctx = ToolContext(cwd=tmp_path, environ={})
    ctx.stamp(tmp_path / "f.txt")
    preview = await EditTool().preview(EditInput(file_path="f.txt", old_string="b", new_string="c"), ctx)
    assert preview == "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    assert (tmp_path / "f.txt").read_text() == "a\nb\n"
