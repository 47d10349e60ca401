"""One error tree: what the user fixes, what the provider did, and loop signals."""

from __future__ import annotations


class NanoClaudeError(Exception):
    """Root of every error this program raises on purpose."""


class UsageError(NanoClaudeError):
    """Bad command-line usage or a bad setting: the user fixes it (exit code 2)."""


class ConfigError(UsageError):
    """A config file or setting is wrong; the message names the file and the fix."""


class UnknownModelError(UsageError):
    """A model or provider name that resolves to nothing we know."""


class MissingKeyError(UsageError):
    """A provider needs an API key and none is set."""


class ProviderError(NanoClaudeError):
    """A model server failed. `retryable` says whether the same request may succeed later."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = None,
        body: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.body = body
        self.retryable = retryable
        self.retry_after = retry_after


class AuthError(ProviderError):
    """401/403: the key is missing, wrong or lacks access."""


class StreamBroken(ProviderError):
    """The connection dropped or the stream ended before the response was complete."""


class ContextTooLong(ProviderError):
    """The request did not fit in the model's context window."""
