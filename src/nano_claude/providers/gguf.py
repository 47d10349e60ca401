"""Read a GGUF file's metadata without loading the model.

What the embedded model's context size is fitted to (the trained context and the KV
cache's bytes per token) is in the header, before the tensors. Reading it takes
milliseconds and imports nothing: the window must be known at start-up, before the
system prompt is built, and llama.cpp (0.1 s to import, seconds to load a 2 GB model)
is only needed for the first request.

The header is a list of typed key/value pairs (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
The model's shape comes first and the tokenizer last; `read_metadata` stops at the
first key with `stop_at` in front, so the vocabulary (150,000 strings for Qwen) is
never walked.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from nano_claude.core.errors import UsageError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


class _Reader:
    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        self.at = 0

    def unpack(self, fmt: str) -> Any:
        value = struct.unpack_from(fmt, self.data, self.at)[0]
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        size = self.unpack("<Q")
        text = bytes(self.data[self.at:self.at + size]).decode("utf-8", errors="replace")
        self.at += size
        return text

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            return [self.value(item) for _ in range(count)]
        raise ValueError(f"unknown GGUF value type {kind}")


def read_metadata(path: Path, *, stop_at: str | None = "tokenizer.") -> dict[str, Any]:
    """The header's key/value pairs, up to the first key starting with `stop_at`
    (None: all of them). A file that is not GGUF is a UsageError naming it."""
    try:
        with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] != MAGIC:
                raise UsageError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
            reader = _Reader(data)
            reader.at = 4
            version = reader.unpack("<I")
            if version < 2:
                raise UsageError(f"{path} is a GGUF version {version} file; llama.cpp reads "
                                 "version 2 and later")
            reader.unpack("<Q")  # tensor count
            count = reader.unpack("<Q")
            found: dict[str, Any] = {}
            for _ in range(count):
                key = reader.string()
                if stop_at is not None and key.startswith(stop_at):
                    break
                found[key] = reader.value(reader.unpack("<I"))
            return found
    except (OSError, ValueError, struct.error) as exc:
        raise UsageError(f"cannot read the GGUF header of {path}: {exc}") from exc
