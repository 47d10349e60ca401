"""Read: what the model gets back for text in any encoding, images, notebooks and files
it cannot read, through the real loop and on the wire."""

from __future__ import annotations

import base64
import codecs
import json
import os
import struct
import zlib
from pathlib import Path

import pytest

from nano_claude.tools.base import ToolContext, ToolError
from nano_claude.tools.read import MAX_CHARS, MAX_IMAGE_BYTES, ReadInput, ReadTool
from tests.fakes.server import FakeModelServer
from tests.toolkit import call, drive


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(cwd=tmp_path, environ=dict(os.environ))


async def read_text(ctx: ToolContext, path: str, **kw: int) -> str:
    out = await ReadTool().run(ReadInput(file_path=path, **kw), ctx)
    return out.content[0].text


def png() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


# --- text --------------------------------------------------------------------


async def test_read_returns_numbered_lines_through_the_loop_and_remembers_the_file(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "f.txt", "offset": 3, "limit": 2}),
                      tools=[ReadTool()])
    assert not run.result().is_error
    assert run.result().text.splitlines() == [
        "3\tline 3", "4\tline 4", "[lines 3-4 of 10; read on with offset=5]"]
    stamp = run.ctx.read_files[(tmp_path / "f.txt").resolve()]
    assert stamp.size == (tmp_path / "f.txt").stat().st_size


async def test_read_stops_at_the_default_limit_and_says_how_to_read_on(ctx: ToolContext) -> None:
    (ctx.cwd / "long.txt").write_text("".join(f"{i}\n" for i in range(1, 2501)))
    lines = (await read_text(ctx, "long.txt")).splitlines()
    assert lines[0] == "   1\t1" and lines[1999] == "2000\t2000"
    assert lines[-1] == "[lines 1-2000 of 2500; read on with offset=2001]"
    rest = (await read_text(ctx, "long.txt", offset=2001)).splitlines()
    assert rest[0] == "2001\t2001" and rest[-1] == "2500\t2500"


async def test_read_keeps_within_a_character_budget(ctx: ToolContext) -> None:
    (ctx.cwd / "wide.txt").write_text(("y" * 1500 + "\n") * 500)
    text = await read_text(ctx, "wide.txt")
    assert len(text) <= MAX_CHARS + 100
    assert text.splitlines()[-1].startswith("[lines 1-") and "read on with offset=" in text


async def test_read_cuts_very_long_lines(ctx: ToolContext) -> None:
    (ctx.cwd / "long.txt").write_text("x" * 5000)
    assert "3000 more characters" in await read_text(ctx, "long.txt")


async def test_read_numbers_lines_like_an_editor(ctx: ToolContext) -> None:
    # a form feed or U+2028 inside a line does not start a new one; CRLF shows no \r
    (ctx.cwd / "f.py").write_bytes("a\x0cb\r\nc\u2028d\r\n".encode())
    assert await read_text(ctx, "f.py") == "1\ta\x0cb\n2\tc\u2028d"


async def test_read_decodes_boms_and_falls_back_to_latin1(ctx: ToolContext) -> None:
    (ctx.cwd / "bom.txt").write_bytes(codecs.BOM_UTF8 + "héllo\n".encode())
    (ctx.cwd / "u16.txt").write_bytes(codecs.BOM_UTF16_BE + "wörld\n".encode("utf-16-be"))
    (ctx.cwd / "l1.txt").write_bytes(b"caf\xe9\n")
    assert await read_text(ctx, "bom.txt") == "1\théllo"
    assert await read_text(ctx, "u16.txt") == "1\twörld"
    latin = await read_text(ctx, "l1.txt")
    assert latin.startswith("1\tcafé\n") and "latin-1" in latin


async def test_read_refuses_binary_files_with_a_reason(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"abc\x00\x01\x02")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nstream text only\n")
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "b.bin"}),
                      call("Read", {"file_path": "doc.pdf"}), tools=[ReadTool()])
    assert run.result(1).is_error and "NUL byte at offset 3" in run.result(1).text
    assert run.result(2).is_error and "a PDF document" in run.result(2).text
    assert run.ctx.read_files == {}


async def test_read_explains_missing_empty_and_out_of_range(ctx: ToolContext) -> None:
    (ctx.cwd / "empty.txt").write_text("")
    (ctx.cwd / "short.txt").write_text("a\nb\n")
    with pytest.raises(ToolError, match="File not found"):
        await read_text(ctx, "nope.txt")
    with pytest.raises(ToolError, match="is a directory"):
        await read_text(ctx, ".")
    with pytest.raises(ToolError, match=r"offset 5 is past the end: .* has 2 lines"):
        await read_text(ctx, "short.txt", offset=5)
    assert await read_text(ctx, "empty.txt") == "empty.txt exists and is empty."


def test_read_is_a_read_only_concurrency_safe_read() -> None:
    tool = ReadTool()
    assert (tool.read_only, tool.concurrency_safe, tool.permission_kind) == (True, True, "read")
    assert tool.permission_target(ReadInput(file_path="~/x.txt")) == "~/x.txt"


# --- images ------------------------------------------------------------------


async def test_read_sends_an_image_as_an_anthropic_image_block(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    data = png()
    (tmp_path / "shot.png").write_bytes(data)
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "shot.png"}), tools=[ReadTool()])
    result = run.result()
    assert not result.is_error
    assert result.images == [{"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()}}]
    assert (tmp_path / "shot.png").resolve() in run.ctx.read_files


async def test_read_refuses_images_for_a_model_without_vision(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "shot.png").write_bytes(png())
    ctx = ToolContext(cwd=tmp_path, environ={}, images=False)
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "shot.png"}), tools=[ReadTool()],
                      ctx=ctx)
    assert run.result().is_error and "does not accept images" in run.result().text
    assert run.result().images == []


async def test_read_refuses_images_over_the_size_cap(ctx: ToolContext) -> None:
    (ctx.cwd / "huge.gif").write_bytes(b"GIF89a" + b"\x01" * MAX_IMAGE_BYTES)
    with pytest.raises(ToolError, match=r"GIF image of 3\.6 MB"):
        await read_text(ctx, "huge.gif")


# --- notebooks ---------------------------------------------------------------


def notebook() -> dict:
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Title\n", "text"]},
            {"cell_type": "code", "id": "calc", "metadata": {}, "execution_count": 2,
             "source": "print('x' * 5000)\n1/0",
             "outputs": [
                 {"output_type": "stream", "name": "stdout", "text": ["x" * 5000 + "\n"]},
                 {"output_type": "execute_result", "execution_count": 2, "metadata": {},
                  "data": {"text/plain": ["42"], "image/png": "iVBOR"}},
                 {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
                  "traceback": ["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]},
             ]},
        ],
    }


async def test_read_renders_a_notebook_cell_by_cell(fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook()))
    run = await drive(fake_server, tmp_path, call("Read", {"file_path": "nb.ipynb"}), tools=[ReadTool()])
    text = run.result().text
    assert text.startswith("[Jupyter notebook, nbformat 4.5, 2 cells, language python;")
    assert '<cell index=0 id="intro" type=markdown>\n# Title\ntext\n</cell>' in text
    assert '<cell index=1 id="calc" type=code execution_count=2>\nprint(\'x\' * 5000)\n1/0\n' in text
    assert "<output stream=stdout>\n" + "x" * 2000 + "\n… [3000 more characters of output]\n</output>" in text
    assert "<output execute_result>\n42\n[image/png not shown]\n</output>" in text
    assert "ZeroDivisionError: division by zero\nZeroDivisionError: division by zero" in text
    assert "\x1b" not in text
    assert (tmp_path / "nb.ipynb").resolve() in run.ctx.read_files


async def test_read_shows_a_broken_notebook_as_text(ctx: ToolContext) -> None:
    (ctx.cwd / "bad.ipynb").write_text('{"cells": [\n')
    text = await read_text(ctx, "bad.ipynb")
    assert text.startswith('1\t{"cells": [\n') and "not a valid notebook" in text
