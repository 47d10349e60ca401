"""A copy of a GGUF with another chat template: the shipped SmolLM2 weights standing in
for a curated model that cannot be downloaded here, so the real provider loads a file
whose `tokenizer.chat_template` is that model's, and renders, samples and parses with it.

GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): a header, key/value
pairs, tensor descriptions whose data offsets count from the start of the aligned data
section, then the data. Replacing one value only moves what follows it in the header, so
the copy is: header with the new value, the tensor descriptions as they were, padding to
the alignment, and the data section byte for byte.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

TEMPLATE_KEY = "tokenizer.chat_template"
_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9


def _skip_value(data: bytes, at: int, kind: int) -> int:
    if kind in _SIZES:
        return at + _SIZES[kind]
    if kind == STRING:
        return at + 8 + struct.unpack_from("<Q", data, at)[0]
    if kind == ARRAY:
        item, count = struct.unpack_from("<IQ", data, at)
        at += 12
        if item in _SIZES:
            return at + _SIZES[item] * count
        for _ in range(count):
            at = _skip_value(data, at, item)
        return at
    raise ValueError(f"unknown GGUF type {kind}")


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def with_template(source: Path, target: Path, template: str) -> Path:
    """Write `source` with its chat template replaced (or added) to `target`."""
    with source.open("rb") as file:
        data = file.read()
    assert data[:4] == b"GGUF", f"{source} is not a GGUF file"
    version, tensors, count = struct.unpack_from("<IQQ", data, 4)
    at, pairs, alignment = 24, [], 32
    for _ in range(count):
        start = at
        size = struct.unpack_from("<Q", data, at)[0]
        key = data[at + 8: at + 8 + size].decode()
        at += 8 + size
        kind = struct.unpack_from("<I", data, at)[0]
        end = _skip_value(data, at + 4, kind)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", data, at + 4)[0]
        if key != TEMPLATE_KEY:
            pairs.append(data[start:end])
        at = end
    infos_start = at
    for _ in range(tensors):
        size = struct.unpack_from("<Q", data, at)[0]
        at += 8 + size
        dims = struct.unpack_from("<I", data, at)[0]
        at += 4 + 8 * dims + 4 + 8
    infos = data[infos_start:at]
    data_start = at + (-at % alignment)
    pairs.append(_string(TEMPLATE_KEY) + struct.pack("<I", STRING) + _string(template))
    header = b"GGUF" + struct.pack("<IQQ", version, tensors, len(pairs)) + b"".join(pairs) + infos
    header += b"\0" * (-len(header) % alignment)
    with target.open("wb") as out:
        out.write(header)
        out.write(memoryview(data)[data_start:])
    shutil.copystat(source, target)
    return target
