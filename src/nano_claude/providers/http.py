"""What every HTTP provider shares: error mapping, retries with backoff, key scrubbing."""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import json
import random
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx

from nano_claude.config import Settings
from nano_claude.core.errors import (
    AuthError,
    ContextTooLong,
    ProviderError,
    StreamBroken,
)
from nano_claude.core.events import Notice, ProviderEvent, TextDelta, ThinkingDelta
from nano_claude.providers.base import Request
from nano_claude.providers.catalog import PROVIDERS

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})

# Each provider's own words for "the prompt is longer than the window": Anthropic ("prompt is
# too long", "input length and `max_tokens` exceed context limit"), OpenAI, DeepSeek and vLLM
# ("maximum context length", context_length_exceeded), Gemini ("input token count (N) exceeds
# the maximum number of tokens allowed"), Ollama ("the input length exceeds the context
# length"), LM Studio ("context length of only N tokens"), Kimi ("exceeded model token limit"),
# Qwen ("Range of input length should be [1, N]"), Zhipu ("Prompt exceeds max length"), xAI
# ("maximum prompt length"), llama.cpp's server (below).
_TOO_LONG = (
    "prompt is too long", "context_length_exceeded", "maximum context length",
    "context length", "context window", "too many tokens", "input is too long",
    "exceeds the maximum", "reduce the length", "token limit", "request too large",
    "input tokens exceed", "exceed context limit", "range of input length",
    "exceeds max length", "maximum prompt length",
)
# llama.cpp's server: "the request exceeds the available context size, try increasing it",
# type exceed_context_size_error; some builds send it with status 500.
_LLAMA_CPP_TOO_LONG = ("exceed_context_size_error", "exceeds the available context size")


def too_long(status: int | None, text: str) -> bool:
    """Whether an error (its status, if any, and its text) says the prompt did not fit."""
    lowered = text.lower()
    if any(p in lowered for p in _LLAMA_CPP_TOO_LONG):
        return True
    return status in (None, 400, 413, 422) and any(p in lowered for p in _TOO_LONG)


def context_too_long(provider: str, detail: str, *, status: int | None = None,
                     body: str = "") -> ContextTooLong:
    return ContextTooLong(
        f"{provider}: the request is longer than the model's context window ({detail})",
        provider=provider, status=status, body=body,
    )


@dataclass(frozen=True)
class Endpoint:
    """Where a provider sends requests and with which credentials."""

    provider: str
    base_url: str
    api_key: str = ""
    key_env: str = ""  # the variable that sets the key, for error messages
    local: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), 120.0)
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        return backoff * (0.5 + random.random() / 2)  # jitter: 50-100 % of the backoff


def new_client(base_url: str, timeout: float = 600.0) -> httpx.AsyncClient:
    # Loading the CA bundle costs tens of milliseconds at every start; a plain-http
    # endpoint (a local server) never uses TLS, and redirects are not followed, so
    # it skips the load. https endpoints are always verified.
    plain = base_url.startswith("http://")
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=10.0),
        follow_redirects=False,
        trust_env=True,
        verify=not plain,
    )


def scrub(text: str, endpoint: Endpoint) -> str:
    """Remove the key from anything that may reach a log, a transcript or the screen."""
    if endpoint.api_key and len(endpoint.api_key) >= 4:
        text = text.replace(endpoint.api_key, "***")
    return text


def parse_retry_after(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor a date: use our own backoff
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _error_detail(body: str) -> str:
    """The human part of a JSON error body, or the body itself, shortened."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if msg:
                return str(msg)[:500]
        elif isinstance(err, str):
            return err[:500]
    return body.strip()[:500]


def status_error(status: int, body: str, headers: httpx.Headers, endpoint: Endpoint) -> ProviderError:
    body = scrub(body, endpoint)
    detail = _error_detail(body)
    name = endpoint.provider
    if status in (401, 403):
        how = (
            f"set it with `export {endpoint.key_env}=...` or `{name}_api_key` in "
            "~/.nano_claude/config.json"
            if endpoint.key_env
            else f"check `{name}_api_key` in ~/.nano_claude/config.json"
        )
        what = "rejected the API key" if status == 401 else "refused access with this API key"
        source = f" from {endpoint.key_env}" if endpoint.key_env else ""
        return AuthError(
            f"{name} {what}{source} ({status}: {detail}); {how}",
            provider=name, status=status, body=body,
        )
    if too_long(status, body):
        return context_too_long(name, detail, status=status, body=body)
    retryable = status in RETRYABLE_STATUS or "overloaded" in body.lower()
    label = {429: "rate limited", 529: "overloaded"}.get(status, f"HTTP {status}")
    return ProviderError(
        f"{name} returned {label}: {detail}",
        provider=name, status=status, body=body, retryable=retryable,
        retry_after=parse_retry_after(headers),
    )


async def raise_for_status(response: httpx.Response, endpoint: Endpoint) -> None:
    if response.status_code < 400:
        return
    body = (await response.aread()).decode("utf-8", "replace")
    raise status_error(response.status_code, body, response.headers, endpoint)


# What the resolver says when a name does not resolve, where no socket.gaierror is chained:
# glibc, macOS, Windows, musl.
_UNRESOLVED = ("name or service not known", "nodename nor servname", "getaddrinfo failed",
               "temporary failure in name resolution", "no address associated with hostname",
               "name does not resolve")


def unresolved_host(exc: BaseException) -> bool:
    """Whether a connection failed because the host name did not resolve (DNS)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, socket.gaierror) or any(p in str(cause).lower() for p in _UNRESOLVED):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host
    except (httpx.InvalidURL, TypeError):
        return ""


def is_loopback(url: str) -> bool:
    """A base URL on this machine (localhost, 127.0.0.0/8, ::1)."""
    host = _host(url)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect_error(exc: httpx.ConnectError, endpoint: Endpoint) -> ProviderError:
    """Connection failures that another attempt would not cure are not retried.

    A name that does not resolve: the base URL is mistyped or the network is down, and
    four retries only delay saying so. Refused on this machine (or on a local server's
    machine): nothing listens on that port. A server being started does not get there in
    the 15 s the retries would wait (vLLM and llama.cpp open their port only once the
    model is loaded, which takes minutes), so waiting only hides the message; the user
    runs the command again once the server is up. Elsewhere (a hosted API behind a load
    balancer or proxy) a refused or reset connection is often brief, and is retried.
    """
    url, name = endpoint.base_url, endpoint.provider
    if unresolved_host(exc):
        spec = PROVIDERS.get(name)
        setting = (f"{spec.base_url_envs[0]} or `{name}_base_url`" if spec and spec.base_url_envs
                   else f"`{name}_base_url`")
        return ProviderError(
            f"cannot reach {name}: the host name {_host(url)!r} does not resolve (base URL {url}); "
            f"check the base URL ({setting}) and your network connection",
            provider=name, retryable=False,
        )
    here = endpoint.local or is_loopback(url)
    hint = " Is the server running?" if here else ""
    return ProviderError(f"cannot reach {name} at {url}: {str(exc) or 'connection failed'}.{hint}",
                         provider=name, retryable=not here)


def transport_error(exc: httpx.HTTPError, endpoint: Endpoint) -> ProviderError:
    """Map a connection-level failure to a ProviderError with a useful hint."""
    url = endpoint.base_url
    if isinstance(exc, httpx.ConnectError):
        return _connect_error(exc, endpoint)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(
            f"{endpoint.provider} at {url} timed out ({type(exc).__name__})",
            provider=endpoint.provider, retryable=True,
        )
    return StreamBroken(
        f"connection to {endpoint.provider} broke: {str(exc) or type(exc).__name__}",
        provider=endpoint.provider, retryable=True,
    )


async def with_retries(
    attempt: Callable[[], AsyncIterator[ProviderEvent]],
    policy: RetryPolicy,
    endpoint: Endpoint,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[ProviderEvent]:
    """Run `attempt` until it succeeds, retrying transient failures.

    A failure before any text reached the user is retried (status errors, a
    stream that broke early); one after output has been shown is raised, so the
    loop can keep what arrived and end the turn with a clear error.
    """
    tries = 0
    while True:
        shown = False
        try:
            async for event in attempt():
                if isinstance(event, (TextDelta, ThinkingDelta)):
                    shown = True
                yield event
            return
        except httpx.HTTPError as exc:
            error = transport_error(exc, endpoint)
        except ProviderError as exc:
            error = exc
        # One place that keeps the key out of every provider's error, whatever raised it.
        error.args = (scrub(str(error.args[0]) if error.args else "", endpoint), *error.args[1:])
        error.body = scrub(error.body, endpoint)
        if shown or not error.retryable or tries >= policy.max_retries:
            if tries and error.retryable and not shown:
                error.args = (f"{error.args[0]} (gave up after {tries + 1} attempts)",)
            raise error
        wait = policy.delay(tries, error.retry_after)
        tries += 1
        yield Notice(f"{error.args[0]}; retrying in {wait:.1f}s ({tries}/{policy.max_retries})")
        await sleep(wait)


class HttpProvider(ABC):
    """What every HTTP provider shares: its endpoint, a lazily made client, and retries
    around one `_attempt` (a single request and its stream) that subclasses write."""

    def __init__(self, endpoint: Endpoint, settings: Settings, retry: RetryPolicy, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.name = endpoint.provider
        self._endpoint = endpoint
        self._settings = settings
        self._retry = retry
        self._sleep = sleep  # injected so tests can check a retry's wait without waiting
        self._client: httpx.AsyncClient | None = None  # made on first use: constructing is free

    def stream(self, request: Request) -> AsyncIterator[ProviderEvent]:
        return with_retries(lambda: self._attempt(request), self._retry, self._endpoint,
                            self._sleep)

    @abstractmethod
    def _attempt(self, request: Request) -> AsyncIterator[ProviderEvent]:
        """One request and its stream, in this provider's wire protocol."""

    def _text_calls(self, model: str) -> bool:
        """Whether `model_overrides` asks for tools in the prompt and calls read from text."""
        return self._settings.override_for(f"{self.name}/{model}").tool_calls == "text"

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = new_client(self._endpoint.base_url, self._settings.request_timeout)
        return self._client

    def _bearer(self) -> dict[str, str]:
        key = self._endpoint.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}
