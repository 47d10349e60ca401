"""/model: show the model and the catalog; /model NAME switches at once, history kept."""

from __future__ import annotations

from nano_claude.core.errors import UnknownModelError, UsageError
from nano_claude.providers.catalog import MODELS, PROVIDERS, ModelInfo, model_info, models_of, resolve
from nano_claude.providers.factory import create_provider, embedded_info
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
    leaves the current model in place (the errors say what to fix). An embedded model is
    fitted to this machine as at a start (`-m local/NAME`): its context, its tool profile."""
    agent = state.agent
    try:
        info = model_info(name)
        if info.qualified == agent.model.qualified:
            state.echo(f"Already using {describe(agent.model)}.")
            return
        if PROVIDERS[info.provider].protocol == "local":
            info = embedded_info(info, state.settings)
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
    if PROVIDERS[info.provider].protocol == "local":
        _note_embedded(state, info)
    elif not info.known:
        state.echo(f"{info.qualified} is not in the catalog: assuming a {info.context_window:,}-token "
                   "window and no prices.", "dim")
    if state.settings.thinking and not info.can_think:
        state.echo(f"Thinking is on but has no effect for {info.qualified}.", "dim")


def _note_embedded(state: ReplState, info: ModelInfo) -> None:
    """The window this machine gives it, and whether the session's tools suit it: they were
    chosen at the start, for the model of then, and stay for the session (its prompt and
    history are built on them)."""
    from nano_claude.assemble import tool_profile
    from nano_claude.providers.embedded import user_n_ctx

    asked = user_n_ctx(state.settings) is not None
    why = "as local_n_ctx says" if asked else "fitted to this machine's memory"
    state.echo(f"Context window: {info.context_window:,} tokens, {why}.", "dim")
    setting = state.settings.override_for(info.qualified).tool_profile or state.settings.tool_profile
    suits, has = tool_profile(setting, info), state.agent.tools.profile
    if suits != has:
        state.echo(f"{info.qualified} suits the {suits} tool profile; this session keeps its {has} tools. "
                   f"`nano_claude -m {info.qualified}` starts a session with the {suits} ones.", "yellow")


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
