"""A provider that cannot be built yet: no API key for it, or no model available at all.

The REPL opens anyway with this one in the provider's place, says how to set the key
(`/config <provider>_api_key=…` or the environment variable) or pick another model
(`/model`), and both of those swap a real provider in (ui/commands/live.py, model.py).
A headless run has nobody to fix it, so it still fails at once (exit 2).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from nano_claude.config import Settings
from nano_claude.core.errors import MissingKeyError, ProviderError, UsageError
from nano_claude.core.events import ProviderEvent
from nano_claude.providers.base import Provider, Request
from nano_claude.providers.catalog import PROVIDERS, ModelInfo, model_info
from nano_claude.providers.embedded import NotDownloaded
from nano_claude.providers.factory import DEFAULT_MODELS, create_provider, default_model


class Unconfigured:
    """Stands in for the provider of `model` until it is configured; any request fails
    with `reason` (nothing reaches the network)."""

    def __init__(self, provider: str, reason: str) -> None:
        self.name = provider
        self.reason = reason

    @property
    def key_setting(self) -> str:
        """The /config key that would make this provider work."""
        return f"{self.name}_api_key"

    @property
    def key_env(self) -> str:
        return PROVIDERS[self.name].key_env

    def hint(self, user_config: Path) -> list[tuple[str, str]]:
        """What the REPL says (line, style): why nothing can be sent, and the ways on."""
        env = f", or leave and `export {self.key_env}=…`" if self.key_env else ""
        return [(self.reason, "yellow"),
                (f"To go on here: /config {self.key_setting}=YOUR_KEY sets the key (saved in {user_config}, "
                 f"readable only by you){env}; or /model NAME picks another model (/model lists them).",
                 "yellow")]

    async def stream(self, request: Request) -> AsyncIterator[ProviderEvent]:
        raise ProviderError(self.reason, provider=self.name)
        yield  # an async generator, as the protocol's callers expect

    async def aclose(self) -> None:
        return None


class NotPulled:
    """An embedded model on the Hub that is not downloaded yet (providers/embedded.py), in
    the REPL: before the first message is sent, the user is asked whether to pull it
    (ui/pull.py), which swaps the real provider in. Until then a request fails saying how."""

    name = "local"

    def __init__(self, missing: NotDownloaded) -> None:
        self.source = missing.source
        self.reason = str(missing)

    async def stream(self, request: Request) -> AsyncIterator[ProviderEvent]:
        raise ProviderError(self.reason, provider=self.name)
        yield  # an async generator, as the protocol's callers expect

    async def aclose(self) -> None:
        return None


def connect(model: str | None, settings: Settings, *, unconfigured_ok: bool) -> tuple[ModelInfo, Provider]:
    """The model to use and its provider. With `unconfigured_ok` (the REPL), a missing key,
    or no model available at all, gives an Unconfigured provider instead of an error, and
    an embedded model not downloaded yet a NotPulled one; an unknown model name is still
    an error."""
    try:
        name = model or default_model(settings)
    except UsageError as exc:  # no key, no local server, no embedded model
        if not unconfigured_ok:
            raise
        info = model_info("/".join(DEFAULT_MODELS[0]))
        return info, Unconfigured(info.provider, str(exc))
    info = model_info(name)
    try:
        return info, create_provider(info, settings)
    except MissingKeyError as exc:
        if not unconfigured_ok:
            raise
        return info, Unconfigured(info.provider, str(exc))
    except NotDownloaded as exc:
        if not unconfigured_ok:
            raise
        return info, NotPulled(exc)
