"""Speech to text: a server at voice_base_url when the user set one, else whisper on this
machine (faster-whisper, else openai-whisper), else OpenAI's API with the user's key.

A server the user named comes first: the [voice] extra installs faster-whisper along with
sounddevice, and someone who set up a server (a faster-whisper server on a GPU box) means it to
be used. Local whisper comes before OpenAI's API, so speech leaves the machine only when
nothing here can transcribe it. A local model is fetched once into the Hugging Face cache
(with a progress bar); when it cannot be, the message says the three ways to get one.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.extensions.voice import VoiceError
from nano_claude.extensions.voice.audio import to_wav

if TYPE_CHECKING:
    from nano_claude.config import Settings

OPENAI_URL = "https://api.openai.com/v1"
MODEL_ENV = "NANO_CLAUDE_WHISPER_MODEL"
DEFAULT_MODEL = "base"
SERVER, FASTER, OPENAI_WHISPER, OPENAI = "voice_base_url", "faster-whisper", "openai-whisper", "OpenAI API"
EXTRA = "pip install 'nano-claude-code[voice]'"
SIZES = {"tiny": "75 MB", "base": "145 MB", "small": "480 MB", "medium": "1.5 GB", "large-v3": "3 GB",
         "turbo": "1.6 GB"}
# What faster-whisper itself fetches of a model repository (faster_whisper/utils.py)
MODEL_FILES = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocabulary.*"]
TIMEOUT = 120.0  # seconds for a server to transcribe (a long recording on a slow server)
MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Transcriber:
    """One way to transcribe, and whether it can be used here: `detail` says with what, or
    what is missing and how to get it."""

    name: str
    usable: bool
    detail: str


@dataclass(frozen=True)
class Transcript:
    text: str
    by: str  # the transcriber's name


Say = Callable[[str], None]


def model_name(environ: Mapping[str, str]) -> str:
    return environ.get(MODEL_ENV, "").strip() or DEFAULT_MODEL


def survey(settings: Settings, environ: Mapping[str, str], openai_url: str = OPENAI_URL) -> list[Transcriber]:
    """Every way to transcribe, in the order they are tried. Imports faster-whisper to see that
    it works (a third of a second): call it off the event loop."""
    return [find(settings, environ, openai_url) for find in _FINDERS]


def choose(settings: Settings, environ: Mapping[str, str]) -> Transcriber:
    """The first usable transcriber (the ones after it are not looked at); an error naming
    the ways to get one when there is none."""
    found = next((t for find in _FINDERS if (t := find(settings, environ, OPENAI_URL)).usable), None)
    if found is None:
        raise VoiceError(f"No way to transcribe speech here: install faster-whisper ({EXTRA}; it runs on "
                         "this machine), set OPENAI_API_KEY to use OpenAI's API, or set voice_base_url to an "
                         "OpenAI-compatible transcription server. /voice status shows what is found.")
    return found


def _server_found(settings: Settings, environ: Mapping[str, str], openai_url: str) -> Transcriber:
    if settings.voice_base_url:
        return Transcriber(SERVER, True, f"{settings.voice_base_url} (model {settings.voice_model})")
    return Transcriber(SERVER, False, "not set: /config voice_base_url=URL of an OpenAI-compatible "
                       "transcription server (a local faster-whisper server, say)")


def _whisper_found(settings: Settings, environ: Mapping[str, str], openai_url: str) -> Transcriber:
    try:
        importlib.metadata.distribution("openai-whisper")  # importing it would import torch: seconds
    except importlib.metadata.PackageNotFoundError:
        return Transcriber(OPENAI_WHISPER, False, "not installed: pip install openai-whisper")
    return Transcriber(OPENAI_WHISPER, True, f"model {model_name(environ)}")


def _api_found(settings: Settings, environ: Mapping[str, str], openai_url: str) -> Transcriber:
    if settings.openai_api_key:
        return Transcriber(OPENAI, True, f"{openai_url} with your OpenAI key (model {settings.voice_model})")
    return Transcriber(OPENAI, False, "no key: set OPENAI_API_KEY or /config openai_api_key=...")


@dataclass(frozen=True)
class Ready:
    """A transcriber made ready before anyone speaks: a local model downloaded and loaded."""

    by: Transcriber
    model: Any = None  # the loaded local model


async def prepare(settings: Settings, environ: Mapping[str, str], say: Say) -> Ready:
    """Choose the transcriber and get its model: a local model is fetched (once) and loaded
    before the recording starts, so nobody speaks into a recorder whose words cannot be read."""
    chosen = await asyncio.to_thread(choose, settings, environ)
    name = model_name(environ)
    if chosen.name == FASTER:
        path = await _faster_model_path(name, environ, say)
        return Ready(chosen, await asyncio.to_thread(_faster_model, path))
    if chosen.name == OPENAI_WHISPER:
        return Ready(chosen, await asyncio.to_thread(_whisper_model, name))
    return Ready(chosen)


async def transcribe(pcm: bytes, settings: Settings, ready: Ready, prompt: str, *,
                     openai_url: str = OPENAI_URL) -> Transcript:
    """The text of the speech in `pcm`; `prompt` is whisper's initial prompt (the keyterms)."""
    language = None if settings.voice_language == "auto" else settings.voice_language
    by = ready.by.name
    if by == SERVER:
        assert settings.voice_base_url
        text = await post(settings.voice_base_url, pcm, key=settings.voice_api_key,
                          model=settings.voice_model, language=language, prompt=prompt,
                          key_name="voice_api_key")
    elif by == FASTER:
        text = await asyncio.to_thread(_faster_transcribe, ready.model, pcm, language, prompt)
    elif by == OPENAI_WHISPER:
        text = await asyncio.to_thread(_whisper_transcribe, ready.model, pcm, language, prompt)
    else:
        text = await post(openai_url, pcm, key=settings.openai_api_key, model=settings.voice_model,
                          language=language, prompt=prompt)
    return Transcript(text.strip(), by)


# --- an OpenAI-compatible server --------------------------------------------------------------

async def post(url: str, pcm: bytes, *, key: str | None, model: str, language: str | None,
               prompt: str, timeout: float = TIMEOUT, key_name: str = "openai_api_key") -> str:
    """POST {url}/audio/transcriptions, as OpenAI's API takes it: the WAV and the fields as
    multipart form data, the text back as JSON."""
    import httpx

    endpoint = url.rstrip("/") + "/audio/transcriptions"
    fields = {"model": model, "response_format": "json"}
    if language:
        fields["language"] = language
    if prompt:
        fields["prompt"] = prompt
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0)) as client:
            response = await client.post(endpoint, headers=headers, data=fields,
                                         files={"file": ("speech.wav", to_wav(pcm), "audio/wav")})
    except httpx.ConnectError as exc:
        raise VoiceError(f"Could not reach the transcription server at {endpoint} ({_reason(exc)}): is it "
                         "running? voice_base_url says where /voice sends speech.") from None
    except httpx.TimeoutException:
        raise VoiceError(f"The transcription server at {endpoint} did not answer within {timeout:g} s.") \
            from None
    except httpx.HTTPError as exc:
        raise VoiceError(f"Sending the speech to {endpoint} failed: {_reason(exc)}") from None
    said = _scrub(_server_message(response), key)
    if response.status_code in (401, 403):
        if key_name == "voice_api_key":
            fix = ("check voice_api_key (/config voice_api_key=...)" if key else
                   "/voice sends voice_base_url no key unless you set one: /config voice_api_key=... "
                   "(the OpenAI key is never sent there)")
        else:
            fix = "check OPENAI_API_KEY (or /config openai_api_key=...)"
        raise VoiceError(f"The transcription server at {endpoint} refused the request (HTTP "
                         f"{response.status_code}: {said}): {fix}.")
    if response.status_code >= 400:
        raise VoiceError(f"The transcription server at {endpoint} answered HTTP {response.status_code}: "
                         f"{said}")
    try:
        text = response.json()["text"]
        if not isinstance(text, str):
            raise TypeError(text)
    except (ValueError, KeyError, TypeError):
        raise VoiceError(f"The transcription server at {endpoint} answered without a transcript "
                         f'(expected JSON with "text"): {said}') from None
    return text


def _server_message(response: Any) -> str:
    """The server's own words: OpenAI's {"error": {"message"}}, FastAPI's {"detail"}, or the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error:
            return str(error)[:MESSAGE_CHARS]
    return (response.text.strip() or response.reason_phrase or "no message")[:MESSAGE_CHARS]


def _scrub(text: str, key: str | None) -> str:
    return text.replace(key, "****") if key else text


def _reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None and cause.__cause__ is not None and cause.__cause__ is not cause:
        cause = cause.__cause__
    return str(cause or exc) or type(exc).__name__


# --- faster-whisper ------------------------------------------------------------------------------

def _faster_found(settings: Settings, environ: Mapping[str, str], openai_url: str) -> Transcriber:
    model = model_name(environ)
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return Transcriber(FASTER, False, f"not installed: {EXTRA}")
    if Path(model).expanduser().is_dir():
        return Transcriber(FASTER, True, f"model {model} (a folder)")
    try:
        cached = _cached(model)
    except VoiceError as exc:  # chosen all the same: a model the user named wrong is reported, not skipped
        return Transcriber(FASTER, True, str(exc))
    if cached is not None:
        return Transcriber(FASTER, True, f"model {model} (downloaded)")
    if _offline(environ):
        return Transcriber(FASTER, True, f"model {model}: not downloaded, and HF_HUB_OFFLINE is set")
    size = f", about {SIZES[model]}" if model in SIZES else ""
    return Transcriber(FASTER, True, f"model {model} (downloaded on first use{size})")


def _cached(model: str) -> str | None:
    from faster_whisper.utils import download_model

    try:
        return download_model(model, local_files_only=True)
    except ValueError:
        raise VoiceError(_unknown_model(model)) from None
    except Exception:  # huggingface_hub's "not in the cache" errors; anything else shows when it downloads
        return None


def _offline(environ: Mapping[str, str]) -> bool:
    return environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


async def _faster_model_path(model: str, environ: Mapping[str, str], say: Say) -> str:
    folder = Path(model).expanduser()
    if folder.is_dir():
        return str(folder)
    cached = await asyncio.to_thread(_cached, model)
    if cached is not None:
        return cached
    if _offline(environ):
        raise VoiceError(_missing(model, "HF_HUB_OFFLINE is set, so nothing is downloaded"))
    size = f" (about {SIZES[model]})" if model in SIZES else ""
    say(f"Downloading the whisper model {model}{size} into the Hugging Face cache; this happens once.")
    return await asyncio.to_thread(_download, model)


def _download(model: str) -> str:
    import huggingface_hub
    from faster_whisper import utils

    known = getattr(utils, "_MODELS", {})  # name -> repository, as faster-whisper resolves it
    repo = model if "/" in model else known.get(model, f"Systran/faster-whisper-{model}")
    try:
        return huggingface_hub.snapshot_download(repo, allow_patterns=MODEL_FILES)  # with a progress bar
    except Exception as exc:  # the hub's errors have no common base short of Exception
        raise VoiceError(_missing(model, f"the download failed: {_reason(exc).splitlines()[0]}")) from None


def _missing(model: str, why: str) -> str:
    return (f"The whisper model {model!r} is not on this machine and cannot be fetched now ({why}). Run "
            f"/voice once with network access to download it, set {MODEL_ENV} to a folder holding a "
            "faster-whisper (CTranslate2) model, or set voice_base_url to a transcription server.")


def _unknown_model(model: str) -> str:
    from faster_whisper import available_models

    return (f"{MODEL_ENV}={model!r} is no whisper model faster-whisper knows: use one of "
            f"{', '.join(available_models())}, a Hugging Face id (Systran/faster-whisper-small), or a folder "
            "holding a CTranslate2 model.")


@functools.cache
def _faster_model(path: str) -> Any:
    """Loaded once a session: a second /voice starts transcribing at once."""
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(path, device="auto", compute_type="auto")
    except (RuntimeError, OSError, ValueError) as exc:  # CTranslate2's: a broken or partial model folder
        raise VoiceError(f"faster-whisper could not load the model in {path}: {_reason(exc)}. Point "
                         f"{MODEL_ENV} at a folder holding a whole faster-whisper model (model.bin, "
                         "config.json, tokenizer.json), or delete a damaged download from the Hugging Face "
                         "cache to fetch it again.") from None


def _faster_transcribe(model: Any, pcm: bytes, language: str | None, prompt: str) -> str:
    segments, _ = model.transcribe(_floats(pcm), language=language, initial_prompt=prompt or None,
                                   condition_on_previous_text=False)
    return " ".join(segment.text.strip() for segment in segments)


# --- openai-whisper ------------------------------------------------------------------------------

@functools.cache
def _whisper_model(name: str) -> Any:
    import whisper

    try:
        return whisper.load_model(name)  # fetched once into ~/.cache/whisper, with a progress bar
    except (OSError, RuntimeError) as exc:  # urllib's errors are OSErrors; a bad name is a RuntimeError
        raise VoiceError(
            f"openai-whisper could not load the model {name!r} ({_reason(exc).splitlines()[0]}). Run /voice "
            f"once with network access to download it, set {MODEL_ENV} to a model name "
            f"({', '.join(whisper.available_models())}) or a .pt file, or set voice_base_url to a "
            "transcription server.") from None


def _whisper_transcribe(model: Any, pcm: bytes, language: str | None, prompt: str) -> str:
    result = model.transcribe(_floats(pcm), language=language, initial_prompt=prompt or None, fp16=False)
    return str(result.get("text", ""))


def _floats(pcm: bytes) -> Any:
    """The samples as whisper takes them: float32 from -1 to 1 (numpy comes with either whisper)."""
    import numpy

    return numpy.frombuffer(pcm, dtype="<i2").astype(numpy.float32) / 32768


# Each says whether its way to transcribe is usable here; in the order they are tried.
_FINDERS: tuple[Callable[[Settings, Mapping[str, str], str], Transcriber], ...] = (
    _server_found, _faster_found, _whisper_found, _api_found)
