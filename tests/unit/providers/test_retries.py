from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from nano_claude.core.errors import AuthError, ContextTooLong, ProviderError, StreamBroken
from nano_claude.core.events import Notice, ProviderEvent, Response, TextDelta, TokenUsage
from nano_claude.core.messages import Message, TextBlock
from nano_claude.providers.http import Endpoint, RetryPolicy, status_error, with_retries

ENDPOINT = Endpoint("anthropic", "https://api.example", "sk-ant-secret-key", "ANTHROPIC_API_KEY")
DONE = Response(Message("assistant", (TextBlock("ok"),)), TokenUsage())


def attempts(*plans: list) -> tuple[list[int], callable]:
    """Each plan is a list of events, or an exception to raise at that point."""
    calls: list[int] = []

    def attempt() -> AsyncIterator[ProviderEvent]:
        plan = plans[len(calls)]
        calls.append(1)

        async def gen() -> AsyncIterator[ProviderEvent]:
            for item in plan:
                if isinstance(item, BaseException):
                    raise item
                yield item
        return gen()
    return calls, attempt


async def run(attempt, policy: RetryPolicy | None = None) -> tuple[list, list[float]]:
    policy = policy or RetryPolicy(3, 0.0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    events = [e async for e in with_retries(attempt, policy, ENDPOINT, sleep)]
    return events, slept


async def test_rate_limit_is_retried_honouring_retry_after() -> None:
    err = status_error(429, '{"error":{"message":"slow down"}}', httpx.Headers({"retry-after": "7"}),
                       ENDPOINT)
    calls, attempt = attempts([err], [DONE])
    events, slept = await run(attempt)
    assert slept == [7.0] and len(calls) == 2
    assert isinstance(events[0], Notice) and "rate limited" in events[0].text
    assert events[-1] is DONE


async def test_overloaded_529_and_5xx_are_retried_with_growing_backoff() -> None:
    e529 = status_error(529, '{"type":"error","error":{"type":"overloaded_error"}}', httpx.Headers(),
                        ENDPOINT)
    e503 = status_error(503, "unavailable", httpx.Headers(), ENDPOINT)
    calls, attempt = attempts([e529], [e503], [DONE])
    _, slept = await run(attempt, RetryPolicy(3, 1.0))
    assert len(calls) == 3 and 0.5 <= slept[0] <= 1.0 and 1.0 <= slept[1] <= 2.0


async def test_gives_up_after_the_configured_retries() -> None:
    err = status_error(500, "boom", httpx.Headers(), ENDPOINT)
    calls, attempt = attempts([err], [err], [err])
    with pytest.raises(ProviderError, match="gave up after 3 attempts"):
        await run(attempt, RetryPolicy(2, 0.0))
    assert len(calls) == 3


async def test_broken_stream_before_output_is_retried() -> None:
    calls, attempt = attempts([httpx.RemoteProtocolError("peer closed")], [TextDelta("hi"), DONE])
    events, _ = await run(attempt)
    assert len(calls) == 2 and events[-1] is DONE


async def test_broken_stream_after_output_is_not_retried() -> None:
    calls, attempt = attempts([TextDelta("half"), httpx.RemoteProtocolError("peer closed")])
    with pytest.raises(StreamBroken):
        await run(attempt)
    assert len(calls) == 1


async def test_auth_error_names_the_variable_and_hides_the_key() -> None:
    err = status_error(401, '{"error":{"message":"invalid x-api-key sk-ant-secret-key"}}',
                       httpx.Headers(), ENDPOINT)
    assert isinstance(err, AuthError) and not err.retryable
    assert "ANTHROPIC_API_KEY" in str(err) and "sk-ant-secret-key" not in str(err)
    assert "sk-ant-secret-key" not in err.body


@pytest.mark.parametrize("body", [
    '{"error":{"message":"prompt is too long: 210000 tokens > 200000 maximum"}}',
    '{"error":{"message":"This model\'s maximum context length is 128000 tokens",'
    '"code":"context_length_exceeded"}}',
    '{"error":{"message":"Input is too long for requested model."}}',
])
def test_context_too_long_is_recognised_in_each_providers_words(body: str) -> None:
    assert isinstance(status_error(400, body, httpx.Headers(), ENDPOINT), ContextTooLong)


async def test_connection_refused_on_a_local_server_fails_fast_with_a_hint() -> None:
    local = Endpoint("ollama", "http://127.0.0.1:1", local=True)
    calls: list[int] = []

    def attempt() -> AsyncIterator[ProviderEvent]:
        calls.append(1)

        async def gen() -> AsyncIterator[ProviderEvent]:
            raise httpx.ConnectError("connection refused")
            yield  # pragma: no cover
        return gen()

    with pytest.raises(ProviderError, match="Is the server running"):
        [e async for e in with_retries(attempt, RetryPolicy(3, 0.0), local)]
    assert len(calls) == 1


def failing_connects(error: httpx.ConnectError) -> tuple[list[int], Any]:
    calls: list[int] = []

    def attempt() -> AsyncIterator[ProviderEvent]:
        calls.append(1)

        async def gen() -> AsyncIterator[ProviderEvent]:
            raise error
            yield  # pragma: no cover
        return gen()
    return calls, attempt


async def test_a_refused_connection_to_a_hosted_api_elsewhere_is_still_retried() -> None:
    hosted = Endpoint("openai", "https://api.openai.com/v1", "sk-test", "OPENAI_API_KEY")
    calls, attempt = failing_connects(httpx.ConnectError("connection reset by peer"))
    with pytest.raises(ProviderError, match="gave up after 3 attempts"):
        [e async for e in with_retries(attempt, RetryPolicy(2, 0.0), hosted)]
    assert len(calls) == 3


async def test_a_name_that_does_not_resolve_is_not_retried_even_when_hosted() -> None:
    hosted = Endpoint("openai", "https://api.example.invalid/v1", "sk-test", "OPENAI_API_KEY")
    error = httpx.ConnectError("[Errno -2] Name or service not known")
    error.__cause__ = socket.gaierror(-2, "Name or service not known")
    calls, attempt = failing_connects(error)
    with pytest.raises(ProviderError) as info:
        [e async for e in with_retries(attempt, RetryPolicy(3, 0.0), hosted)]
    assert len(calls) == 1 and not info.value.retryable
    assert str(info.value) == (
        "cannot reach openai: the host name 'api.example.invalid' does not resolve (base URL "
        "https://api.example.invalid/v1); check the base URL (OPENAI_BASE_URL or "
        "`openai_base_url`) and your network connection")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "7"}, 7.0), ({"retry-after-ms": "1500"}, 1.5), ({"retry-after": "soon"}, None),
    ({}, None)])
def test_retry_after_forms(headers: dict, expected: float | None) -> None:
    from nano_claude.providers.http import parse_retry_after

    assert parse_retry_after(httpx.Headers(headers)) == expected


async def test_a_key_echoed_in_a_mid_stream_error_is_scrubbed() -> None:
    _, attempt = attempts([ProviderError("stream error: bad key sk-ant-secret-key",
                                             body='{"key": "sk-ant-secret-key"}')])
    with pytest.raises(ProviderError) as info:
        await run(attempt)
    assert "sk-ant-secret-key" not in str(info.value) and "sk-ant-secret-key" not in info.value.body


def test_a_broken_connection_without_a_message_still_says_what_broke() -> None:
    from nano_claude.providers.http import transport_error

    endpoint = Endpoint("custom", "http://127.0.0.1:9/v1", {})
    error = transport_error(httpx.RemoteProtocolError(""), endpoint)
    assert str(error).endswith("broke: RemoteProtocolError")
    assert "cannot reach custom at http://127.0.0.1:9/v1: connection failed." in str(
        transport_error(httpx.ConnectError(""), endpoint))
