"""Transcription for /voice against a fake OpenAI-compatible server on 127.0.0.1: the speech
goes as a WAV with the fields OpenAI's API takes, the key only to OpenAI's API, and each
failure (a refused key, a server error, a server that is down, an answer with no text) says
what failed and how to fix it, without the key."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_claude.config import Settings
from nano_claude.extensions.voice import VoiceError
from nano_claude.extensions.voice.transcribe import (
    MODEL_ENV,
    OPENAI,
    SERVER,
    Ready,
    Transcriber,
    prepare,
    transcribe,
)
from tests.fakes import microphone
from tests.fakes.transcribe_server import FakeTranscriptionServer

KEY = "sk-live-abcdef0123456789"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if microphone.MISSING:
        pytest.skip(microphone.WHY_MISSING)
    return microphone.padded(microphone.speech("run the tests", tmp_path_factory.mktemp("speech")), 0.3, 0.3)


@pytest.fixture
def server() -> Iterator[FakeTranscriptionServer]:
    with FakeTranscriptionServer(text=" Run the tests. ").running() as running:
        yield running


def run_server(settings: Settings, speech: bytes, prompt: str = "") -> str:
    async def both() -> str:
        ready = await prepare(settings, {}, lambda said: None)
        assert ready.by.name == SERVER
        return (await transcribe(speech, settings, ready, prompt)).text

    return asyncio.run(both())


def run_openai(settings: Settings, speech: bytes, url: str) -> str:
    ready = Ready(Transcriber(OPENAI, True, ""))
    return asyncio.run(transcribe(speech, settings, ready, "", openai_url=url)).text


def test_speech_goes_to_the_server_as_a_wav_with_model_language_and_keyterms(
        server: FakeTranscriptionServer, speech: bytes) -> None:
    settings = Settings(voice_base_url=server.base_url, voice_language="de", voice_model="whisper-large-v3",
                        openai_api_key=KEY)
    text = run_server(settings, speech, prompt="parsnip-server, feature/oauth, tokenizer.py")
    assert text == "Run the tests."
    [sent] = server.requests
    assert sent.path == "/v1/audio/transcriptions"
    assert sent.fields == {"model": "whisper-large-v3", "response_format": "json", "language": "de",
                           "prompt": "parsnip-server, feature/oauth, tokenizer.py"}
    assert abs(sent.seconds - len(speech) / 32000) < 0.01 and sent.level_db > -35
    assert "authorization" not in sent.headers  # the OpenAI key stays with OpenAI


def test_auto_language_and_no_keyterms_leave_those_fields_out(server: FakeTranscriptionServer,
                                                              speech: bytes) -> None:
    run_server(Settings(voice_base_url=server.base_url + "/"), speech)
    assert server.requests[0].fields == {"model": "whisper-1", "response_format": "json"}


def test_openais_api_gets_the_key(speech: bytes) -> None:
    with FakeTranscriptionServer(key=KEY).running() as openai:
        assert run_openai(Settings(openai_api_key=KEY), speech, openai.base_url) == "run the tests"
        assert openai.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_refused_key_says_which_variable_to_check_and_never_shows_the_key(speech: bytes) -> None:
    wrong = "sk-wrong-9876543210"
    with FakeTranscriptionServer(key=KEY).running() as openai, pytest.raises(VoiceError) as caught:
        url = openai.base_url
        run_openai(Settings(openai_api_key=wrong), speech, url)
    said = str(caught.value)
    assert said == (f"The transcription server at {url}/audio/transcriptions refused the request "
                    "(HTTP 401: Incorrect API key provided: ****.): check OPENAI_API_KEY (or /config "
                    "openai_api_key=...).")
    assert wrong not in said


def test_a_server_at_voice_base_url_that_wants_a_key_gets_voice_api_key_never_the_openai_key(
        speech: bytes) -> None:
    with FakeTranscriptionServer(key=KEY).running() as guarded, pytest.raises(VoiceError) as caught:
        run_server(Settings(voice_base_url=guarded.base_url, openai_api_key=KEY), speech)
    assert "refused the request (HTTP 401" in str(caught.value)
    said = str(caught.value)
    assert "/voice sends voice_base_url no key unless you set one: /config voice_api_key=" in said
    assert "authorization" not in guarded.requests[0].headers
    with FakeTranscriptionServer(key="gsk-voice-1").running() as hosted:
        assert run_server(Settings(voice_base_url=hosted.base_url, voice_api_key="gsk-voice-1",
                                   openai_api_key=KEY), speech) == "run the tests"
        assert hosted.requests[0].headers["authorization"] == "Bearer gsk-voice-1"


def test_a_server_error_shows_the_servers_message(server: FakeTranscriptionServer, speech: bytes) -> None:
    server.fail_next(500, {"error": {"message": "CUDA out of memory", "type": "server_error"}})
    server.fail_next(502, "Bad Gateway from the proxy")
    settings = Settings(voice_base_url=server.base_url)
    with pytest.raises(VoiceError) as first:
        run_server(settings, speech)
    endpoint = f"{server.base_url}/audio/transcriptions"
    assert str(first.value) == f"The transcription server at {endpoint} answered HTTP 500: CUDA out of memory"
    with pytest.raises(VoiceError, match=r"answered HTTP 502: Bad Gateway from the proxy$"):
        run_server(settings, speech)
    server.fail_next(200, {"segments": []})
    with pytest.raises(VoiceError, match=r'answered without a transcript \(expected JSON with "text"\)'):
        run_server(settings, speech)


def test_a_server_that_is_down_says_it_could_not_be_reached(speech: bytes) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(VoiceError) as caught:
        run_server(Settings(voice_base_url=url), speech)
    said = str(caught.value)
    assert said.startswith(f"Could not reach the transcription server at {url}/audio/transcriptions (")
    assert said.endswith("): is it running? voice_base_url says where /voice sends speech.")


def test_a_whisper_model_that_cannot_be_used_says_why_before_anything_is_recorded(tmp_path: Path) -> None:
    """Through the real faster-whisper: a folder with no model in it, a name it does not know."""
    pytest.importorskip("faster_whisper", reason="faster-whisper is not installed (pip install '.[voice]')")
    with pytest.raises(VoiceError) as empty:
        asyncio.run(prepare(Settings(), {MODEL_ENV: str(tmp_path)}, lambda said: None))
    assert str(empty.value).startswith(f"faster-whisper could not load the model in {tmp_path}: ")
    assert "model.bin" in str(empty.value)
    with pytest.raises(VoiceError) as unknown:
        asyncio.run(prepare(Settings(), {MODEL_ENV: "gigantic", "HF_HUB_OFFLINE": "1"}, lambda said: None))
    assert str(unknown.value).startswith(
        "NANO_CLAUDE_WHISPER_MODEL='gigantic' is no whisper model faster-whisper knows: use one of tiny.en, ")
