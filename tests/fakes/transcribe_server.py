"""A fake OpenAI-compatible transcription server on 127.0.0.1: POST .../audio/transcriptions.

It takes what OpenAI's API takes (multipart form data: `file`, `model`, and optionally
`language`, `prompt`, `response_format`) and answers {"text": ...}. Strict: a request whose
file is not a WAV of 16 kHz mono 16-bit sound, is too short or too long to be a spoken
message, is silent, or lacks `model`, is recorded as a failure that `verify()` raises. A `key`
makes it answer 401 to requests without it, as OpenAI does; `fail_next()` queues any answer.
"""

from __future__ import annotations

import io
import json
import math
import threading
import wave
from array import array
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import Loopback

SHORTEST, LONGEST = 0.3, 35.0  # seconds a spoken message lasts
QUIETEST_DB = -40.0  # speech is louder than this


@dataclass
class Transcription:
    path: str
    headers: dict[str, str]  # names lower-cased
    fields: dict[str, str]  # the form's text fields
    seconds: float  # the WAV's length
    level_db: float  # its loudness (RMS, dB below full scale)


@dataclass
class FakeTranscriptionServer(Loopback):
    methods = ("POST",)
    text: str = "run the tests"
    key: str | None = None
    requests: list[Transcription] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    answers: list[tuple[int, Any]] = field(default_factory=list)  # (status, JSON or text) to give first

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def fail_next(self, status: int, body: Any) -> None:
        with self._lock:
            self.answers.append((status, body))

    def verify(self) -> None:
        if self.failures:
            raise AssertionError("transcription server: " + "; ".join(self.failures))

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = h.rfile.read(int(h.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in h.headers.items()}
        if not h.path.endswith("/audio/transcriptions"):
            self._fail(h, f"POST to {h.path}, not .../audio/transcriptions")
            return
        try:
            fields, wav = _form(headers.get("content-type", ""), body)
            seconds, level = _sound(wav)
        except ValueError as exc:
            self._fail(h, str(exc))
            return
        with self._lock:
            self.requests.append(Transcription(h.path, headers, fields, seconds, level))
            answer = self.answers.pop(0) if self.answers else None
        problems = [f"no model field in {sorted(fields)}"] if not fields.get("model") else []
        if fields.get("response_format", "json") != "json":
            problems.append(f"response_format {fields['response_format']!r}, not json")
        if not SHORTEST <= seconds <= LONGEST:
            problems.append(f"a {seconds:.2f} s recording (a spoken message is {SHORTEST}-{LONGEST} s)")
        if level < QUIETEST_DB:
            problems.append(f"a silent recording ({level:.0f} dB)")
        if problems:
            self._fail(h, "; ".join(problems))
            return
        if self.key is not None and headers.get("authorization") != f"Bearer {self.key}":
            given = headers.get("authorization", "")[7:]
            _send(h, 401, {"error": {"message": f"Incorrect API key provided: {given}.",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        if answer is not None:
            _send(h, *answer)
            return
        _send(h, 200, {"text": self.text})

    def _fail(self, h: BaseHTTPRequestHandler, problem: str) -> None:
        with self._lock:
            self.failures.append(problem)
        _send(h, 400, {"error": {"message": f"fake transcription server: {problem}"}})


def _form(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The text fields and the file of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"content-type {content_type!r}, not multipart/form-data")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    wav = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            if name != "file":
                raise ValueError(f"a file in the field {name!r}, not 'file'")
            wav = payload
        else:
            fields[str(name)] = payload.decode()
    if wav is None:
        raise ValueError(f"no file in the form (fields: {sorted(fields)})")
    return fields, wav


def _sound(wav: bytes) -> tuple[float, float]:
    """Its length in seconds and its loudness; ValueError if it is not 16 kHz mono 16-bit WAV."""
    try:
        with wave.open(io.BytesIO(wav)) as reader:
            shape = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"the file is not a WAV: {exc}") from None
    if shape != (16000, 1, 2):
        raise ValueError(f"a WAV of {shape} (rate, channels, bytes a sample), not (16000, 1, 2)")
    samples = array("h", frames)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return len(samples) / 16000, 20 * math.log10(rms / 32768) if rms else -100.0


def _send(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = (json.dumps(body) if not isinstance(body, str) else body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json" if not isinstance(body, str) else "text/plain")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)
