"""How big a local server's context window really is: asked once, remembered on disk.

The catalog lists no model of a local server (Ollama, LM Studio, vLLM, llama.cpp or
any OpenAI-compatible `custom` server) and assumes 8,192 tokens for them, which picks
the compact tool profile and compacts early: a 32B coder served with 32k tokens would
lose half its tools. The server knows better, and says so in its own terms:

- vLLM: `GET /v1/models` lists `max_model_len` for each model;
- llama.cpp's server: `GET /props` has `default_generation_settings.n_ctx`, the window
  it runs with (its model listing's `meta.n_ctx_train` is only the trained size);
- LM Studio: `GET /api/v0/models/<id>` has `loaded_context_length` once the model is
  loaded, `max_context_length` always;
- Ollama: `POST /api/show` gives the trained window (`model_info["<arch>.context_length"]`);
  we send `num_ctx` = min(that, `ollama_max_ctx`) with every request (providers/ollama.py),
  so that is the window.

The window must be known before the system prompt is built: the prompt and the tool set
stay the same for the whole session (prefix caching). So `with_server_window` asks at
start-up, and keeps the answer in one JSON file in the user's cache folder, per server
URL and model, so later starts ask nothing. A start never waits long: each request has a
short timeout, the first connection failure ends the asking (a server that is down will
say so at the real request), and the whole probe has a deadline after which the
catalog's guess stands. `nano_claude doctor` asks again and updates the file, for a
server restarted with another window.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from nano_claude.config import Settings
from nano_claude.core.errors import UsageError
from nano_claude.providers.catalog import PROVIDERS, ModelInfo
from nano_claude.providers.http import Endpoint
from nano_claude.providers.prefix_cache import cache_root

START_TIMEOUT = 1.0  # seconds per probe request at start-up: a local server answers in ms
START_DEADLINE = 2.0  # seconds for all of a start's probes together
SILENT_TTL = 24 * 3600.0  # a server that answered but named no window is asked again a day later
FORMAT = 1
# Keys a model listing may use for the window the server runs a model with.
LISTING_KEYS = ("max_model_len", "loaded_context_length", "context_length", "max_context_length")


_UNREACHABLE = (httpx.HTTPError, httpx.InvalidURL)


class _Inconclusive(Exception):
    """The server could not be asked (down, slow, refusing the key, model not pulled):
    nothing is learned and nothing remembered."""


@dataclass(frozen=True)
class Learned:
    """What a server said about a model's window: `window` None when it did not say."""

    window: int | None
    at: float  # time.time() when it was asked


def serves_locally(info: ModelInfo) -> bool:
    """A model on a server the user runs (or chose): its window is asked, not assumed."""
    spec = PROVIDERS[info.provider]
    return spec.local and spec.protocol != "local"


def with_server_window(info: ModelInfo, settings: Settings, environ: Mapping[str, str], *,
                       deadline: float = START_DEADLINE) -> ModelInfo:
    """`info` with the window its server runs it with, from the cache or a quick probe
    (then remembered); unchanged for other models. Either way a local server's model is
    marked as asked: once per start is enough, and a server that did not answer in time
    (down, busy) is not waited for again at the first request."""
    from nano_claude.providers.factory import embedded_info, endpoint_for

    if PROVIDERS[info.provider].protocol == "local":  # in-process: its context is fitted, not asked
        return embedded_info(info, settings)
    if not serves_locally(info):
        return info
    try:
        endpoint = endpoint_for(info.provider, settings)
    except UsageError:  # no base URL: the provider has said so already
        return info
    asked = replace(info, window_asked=True)
    cache = WindowCache(cache_file(environ))
    learned = cache.get(endpoint, info.id)
    if learned is None:
        learned = _probe_within(endpoint, info.id, deadline)
        if learned is None:
            return asked
        cache.put(endpoint, info.id, learned)
    window = effective_window(endpoint.provider, learned.window, settings)
    return asked.with_window(window) if window else asked


def refresh(endpoint: Endpoint, model: str, settings: Settings, environ: Mapping[str, str],
            *, timeout: float = 5.0) -> int | None:
    """Ask the server now, remember the answer, and return the window (for doctor)."""
    try:
        with client_for(endpoint, timeout) as client:
            found = probe(endpoint, model, client)
    except _Inconclusive:
        return None
    WindowCache(cache_file(environ)).put(endpoint, model, Learned(found, time.time()))
    return effective_window(endpoint.provider, found, settings)


def ask(endpoint: Endpoint, model: str, *, timeout: float = 5.0) -> int | None:
    """The window the server reports for `model`, asked now; None when it will not say.
    Blocking: a provider calls it in a worker thread."""
    try:
        with client_for(endpoint, timeout) as client:
            return probe(endpoint, model, client)
    except _Inconclusive:
        return None


def effective_window(provider: str, reported: int | None, settings: Settings) -> int | None:
    """The window requests really get. Ollama runs with the num_ctx we send, which is the
    trained window capped by `ollama_max_ctx` (the cap alone when /api/show named none)."""
    if PROVIDERS[provider].protocol == "ollama":
        return min(reported, settings.ollama_max_ctx) if reported else settings.ollama_max_ctx
    return reported


def _probe_within(endpoint: Endpoint, model: str, deadline: float) -> Learned | None:
    """Probe in a worker thread and wait at most `deadline` seconds: name resolution is
    not bound by httpx's timeouts, and a start must not hang on it. A probe still running
    then is left behind (a daemon thread; it writes nothing)."""
    found: list[Learned] = []

    def work() -> None:
        with contextlib.suppress(_Inconclusive), client_for(endpoint, START_TIMEOUT) as client:
            found.append(Learned(probe(endpoint, model, client), time.time()))

    worker = threading.Thread(target=work, name="nano-claude-window-probe", daemon=True)
    worker.start()
    worker.join(deadline)
    return found[0] if found else None


def client_for(endpoint: Endpoint, timeout: float) -> httpx.Client:
    """A blocking client set up as the providers' own (http.new_client): proxies from the
    environment, TLS verified for https, redirects not followed."""
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=True,
                        verify=not endpoint.base_url.startswith("http://"),
                        headers={"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key
                        else None)


# --- asking a server ----------------------------------------------------------------


def probe(endpoint: Endpoint, model: str, client: httpx.Client) -> int | None:
    """The window the server runs `model` with, or None when it answered without saying.
    Raises _Inconclusive when it could not be asked."""
    if PROVIDERS[endpoint.provider].protocol == "ollama":
        return _ollama_window(endpoint, model, client)
    lmstudio = endpoint.provider == "lmstudio"
    if lmstudio and (found := _lmstudio_window(endpoint, model, client)):
        return found
    entry = _listing_entry(endpoint, model, client)
    if found := first_int(entry, LISTING_KEYS):
        return found
    if found := _llamacpp_window(endpoint, client):
        return found
    if not lmstudio and (found := _lmstudio_window(endpoint, model, client)):
        return found
    return first_int(entry.get("meta") if entry else None, ("n_ctx_train",))


def _get_json(client: httpx.Client, method: str, url: str, body: Any = None) -> Any:
    """The JSON answer, or None when this server does not have this endpoint."""
    try:
        response = client.request(method, url, json=body)
    except _UNREACHABLE as exc:  # down, slow, unresolvable, a malformed URL: stop asking
        raise _Inconclusive(str(exc)) from exc
    if response.status_code in (401, 403):  # a key to fix first; the answer may change then
        raise _Inconclusive(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _root(endpoint: Endpoint) -> str:
    """The server's root: llama.cpp's /props and LM Studio's /api/v0 are not under /v1."""
    base = endpoint.base_url.rstrip("/")
    return base.removesuffix("/v1")


def _listing_entry(endpoint: Endpoint, model: str, client: httpx.Client) -> dict[str, Any] | None:
    """The model's entry in /models: vLLM lists max_model_len, llama.cpp meta.n_ctx_train,
    others context_length. A listing of one model is that model, whatever its name."""
    data = _get_json(client, "GET", f"{endpoint.base_url}/models")
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    entries = [e for e in entries if isinstance(e, dict)]
    matching = [e for e in entries if e.get("id") == model]
    if matching:
        return matching[0]
    return entries[0] if len(entries) == 1 else None


def _lmstudio_window(endpoint: Endpoint, model: str, client: httpx.Client) -> int | None:
    data = _get_json(client, "GET", f"{_root(endpoint)}/api/v0/models/{model}")
    return first_int(data, ("loaded_context_length", "max_context_length"))


def _llamacpp_window(endpoint: Endpoint, client: httpx.Client) -> int | None:
    data = _get_json(client, "GET", f"{_root(endpoint)}/props")
    if not isinstance(data, dict):
        return None
    return first_int(data.get("default_generation_settings"), ("n_ctx",)) or first_int(
        data, ("n_ctx",))


def _ollama_window(endpoint: Endpoint, model: str, client: httpx.Client) -> int | None:
    from nano_claude.providers.ollama import facts_from_show

    try:
        response = client.post(f"{endpoint.base_url}/api/show", json={"model": model})
    except _UNREACHABLE as exc:
        raise _Inconclusive(str(exc)) from exc
    if response.status_code == 404:  # not pulled yet: ask again once it may have been
        raise _Inconclusive("model not found")
    if response.status_code >= 400:
        raise _Inconclusive(f"HTTP {response.status_code}")
    try:
        return facts_from_show(response.json()).window
    except ValueError:
        return None


def first_int(data: Any, keys: tuple[str, ...]) -> int | None:
    """The first of `keys` in `data` holding a positive integer."""
    if not isinstance(data, dict):
        return None
    for key in keys:
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


# --- remembering ----------------------------------------------------------------------


def cache_file(environ: Mapping[str, str]) -> Path:
    """One small JSON file beside the prefix cache: $XDG_CACHE_HOME/nano_claude/windows.json."""
    return cache_root(environ) / "windows.json"


class WindowCache:
    """Windows by server URL and model. Written whole to a temporary file and renamed,
    so a reader sees the old file or the new one; an unreadable file is treated as empty
    and replaced at the next write. Two starts writing at once may lose one entry, which
    only costs a probe."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    @staticmethod
    def key(endpoint: Endpoint, model: str) -> str:
        return f"{endpoint.provider} {endpoint.base_url.rstrip('/')} {model}"

    def get(self, endpoint: Endpoint, model: str) -> Learned | None:
        """The remembered answer; None when there is none, or it is a day-old "did not say"."""
        entry = self._entries().get(self.key(endpoint, model))
        if not isinstance(entry, dict) or not isinstance(entry.get("at"), (int, float)):
            return None
        window = first_int(entry, ("window",))
        if window is None and (entry.get("window") is not None
                               or self._clock() - entry["at"] > SILENT_TTL):
            return None
        return Learned(window, float(entry["at"]))

    def put(self, endpoint: Endpoint, model: str, learned: Learned) -> None:
        """Remember an answer; failing to write (a read-only home) only costs a probe."""
        entries = self._entries()
        entries[self.key(endpoint, model)] = {"window": learned.window, "at": learned.at}
        data = json.dumps({"format": FORMAT, "windows": entries}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data + "\n")
            os.replace(temp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        entries = data.get("windows")
        return dict(entries) if isinstance(entries, dict) else {}
