"""A changed setting, made to take effect in the running session.

Shared by /config (which also saves it) and the toggles (/verbose, /thinking,
/permissions MODE, which do not). The settings object is replaced, never changed in
place: providers built from the old one keep what they were built with until we
reconnect them on purpose.
"""

from __future__ import annotations

from typing import Any

from nano_claude.config import Settings
from nano_claude.core.errors import NanoClaudeError
from nano_claude.providers.factory import create_provider
from nano_claude.ui.state import ReplState

# Settings the loop reads from its options on every request.
OPTIONS = ("max_tokens", "max_turns", "thinking", "thinking_budget", "reasoning_effort")
# Settings the renderer shows by: setting name -> the renderer's attribute.
RENDERER = {"verbose": "verbose", "thinking": "show_thinking"}
# Settings every provider's connection is built with (besides its own <provider>_*).
# Settings the provider reads: a change rebuilds the current model's connection.
TRANSPORT = ("max_retries", "retry_base_delay", "request_timeout", "model_overrides")


def with_setting(settings: Settings, key: str, value: Any) -> Settings:
    """A copy with one setting changed, validated (and coerced: "50" -> 50) by the model."""
    changed = settings.model_copy()
    setattr(changed, key, value)  # validate_assignment: raises ValidationError
    return changed


async def apply_setting(state: ReplState, key: str, value: Any) -> str:
    """Change a setting for this session. Returns a note for the user when it cannot take
    effect at once ("" when it did)."""
    state.settings = with_setting(state.settings, key, value)
    value = getattr(state.settings, key)
    agent = state.agent
    if key in OPTIONS:
        setattr(agent.options, key, value)
    if key in RENDERER and hasattr(state.output, RENDERER[key]):
        setattr(state.output, RENDERER[key], value)
    if key == "permission_mode":
        agent.options.permission_mode = value
        agent.policy.mode = value
    elif key == "sandbox":
        agent.ctx.sandbox = value
    elif key == "model":
        return "it becomes the default for new sessions; /model NAME switches this one"
    elif key.startswith(agent.model.provider + "_") or key in TRANSPORT:
        return await _reconnect(state)
    return ""


async def _reconnect(state: ReplState) -> str:
    """Rebuild the current model's connection with the new settings (a new key or URL)."""
    agent = state.agent
    try:
        provider = create_provider(agent.model, state.settings)
    except NanoClaudeError as exc:
        return f"the current model keeps its old connection: {exc}"
    old = agent.provider
    agent.switch_model(provider, agent.model)
    await old.aclose()
    return ""
