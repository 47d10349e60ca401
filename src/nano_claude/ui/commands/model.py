"""/model: show the model and the catalog; /model NAME switches at once, history kept."""

from __future__ import annotations

from nano_claude.core.errors import UnknownModelError, UsageError
from nano_claude.providers.catalog import MODELS, PROVIDERS, ModelInfo, model_info, models_of, resolve
from nano_claude.providers.factory import create_provider
from nano_claude.ui.commands import Command
from nano_claude.ui.state import ReplState
from nano_claude.ui.text import columns


def describe(info: ModelInfo) -> str:
    return f"{info.qualified} ({PROVIDERS[info.provider].label})"


async def run(state: ReplState, args: str) -> None:
    if args:
        await switch(state, args)
    else:
        show(state)


def show(state: ReplState) -> None:
    model = state.agent.model
    state.echo(f"Current model: {describe(model)}, context window {model.context_window:,} tokens", "bold")
    state.echo("Available models (/model NAME switches, keeping the conversation):")
    rows, dim = [], []
    for name, spec in PROVIDERS.items():
        listed = models_of(name)
        models = ", ".join(m.id for m in listed) if listed else f"any model it serves: /model {name}/NAME"
        missing = spec.key_required and not state.settings.api_key(name)
        if missing:
            models += f"\n(no key: set {spec.key_env} or /config {name}_api_key=...)"
        rows.append((name, models))
        dim.append(missing)
    for row, missing in zip(columns(rows, state.width), dim, strict=True):  # fits the terminal
        state.echo(row, "dim" if missing else None)


async def switch(state: ReplState, name: str) -> None:
    """The new provider is built before anything changes: a bad name or a missing key
    leaves the current model in place (the errors say what to fix)."""
    agent = state.agent
    try:
        info = model_info(name)
        if info.qualified == agent.model.qualified:
            state.echo(f"Already using {describe(agent.model)}.")
            return
        provider = create_provider(info, state.settings)
    except UsageError as exc:
        state.echo(str(exc), "red")
        state.echo(f"Still using {describe(agent.model)}.")
        return
    old = agent.provider
    agent.switch_model(provider, info)
    await old.aclose()
    kept = len(state.session.messages)
    state.echo(f"Model set to {describe(info)}; {kept} messages of history kept. "
               f"(/config model={info.qualified} makes it the default)", "green")
    if not info.known:
        state.echo(f"{info.qualified} is not in the catalog: assuming a {info.context_window:,}-token "
                   "window and no prices.", "dim")
    if state.settings.thinking and not info.can_think:
        state.echo(f"Thinking is on but has no effect for {info.qualified}.", "dim")


def complete(state: ReplState, text: str) -> list[str]:
    """Catalog names as provider/model; bare ids too while the user types a bare name
    that resolves to its provider by itself (gpt-4o, claude-…, o3)."""
    typed = text.strip().lower()
    found = [m.qualified for m in MODELS if m.qualified.lower().startswith(typed)]
    return found or [m.id for m in MODELS if m.id.lower().startswith(typed) and _bare_ok(m)]


def _bare_ok(info: ModelInfo) -> bool:
    try:
        return resolve(info.id)[0] == info.provider
    except UnknownModelError:
        return False


COMMAND = Command("model", "show the model and the ones available, or switch to another", run,
                  usage="/model [NAME]", complete=complete)
