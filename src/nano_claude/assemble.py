"""Wire settings into a ready Agent: the one place the REPL and headless mode share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

from nano_claude.config import Paths, Settings, user_home
from nano_claude.core.compaction import CompactionPolicy
from nano_claude.core.context import build_system_prompt
from nano_claude.core.loop import Agent, LoopOptions
from nano_claude.core.prompter import Prompter
from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet
from nano_claude.providers.catalog import PROVIDERS, ModelInfo, model_info
from nano_claude.providers.factory import create_provider, default_model
from nano_claude.tools.base import ToolContext
from nano_claude.tools.registry import Registry, ToolProfile, builtin_tools

# Providers whose models take images in tool results (Read of a PNG); for the others Read
# says so instead of sending bytes the model cannot see or a server would refuse.
IMAGE_PROVIDERS = frozenset({"anthropic", "openai", "gemini", "ollama"})
SMALL_WINDOW = 8192  # a local model served with at most this many tokens gets the compact profile


def tool_profile(setting: Literal["auto", "full", "compact"], info: ModelInfo) -> ToolProfile:
    """`full` or `compact` as set; `auto` picks compact for the embedded model and for a
    local server's model whose catalog window is at most SMALL_WINDOW, full otherwise.

    Why: on a CPU a local model reads about 170 prompt tokens/s, so the full first request
    (about 3,600 tokens) costs 20 s before the first word, and a small window leaves little
    room after it; hosted models read fast and use every tool well. Why the catalog and not
    the window a server reports: the prompt is fixed before the first request (it must stay
    the same for prefix caching) and the probe happens at that request. A model the catalog
    does not list is assumed to run with 8,192 tokens until probed, so auto gives every
    unlisted Ollama, LM Studio and custom model the compact profile; `tool_profile: full`
    brings the whole tool set back for a large one, for every model or (in
    `model_overrides`) for one.
    """
    if setting == "full" or setting == "compact":
        return setting
    small = info.provider == "local" or (PROVIDERS[info.provider].local
                                         and info.context_window <= SMALL_WINDOW)
    return "compact" if small else "full"


def tool_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What commands the model runs may see: everything but our providers' keys, so a
    model running `env` cannot put a key into the conversation."""
    secret = {spec.key_env for spec in PROVIDERS.values() if spec.key_env}
    return {k: v for k, v in environ.items() if k not in secret}


def build_agent(
    settings: Settings,
    *,
    model: str | None,
    cwd: Path,
    environ: Mapping[str, str],
    prompter: Prompter,
    rules: RuleSet | None = None,
    paths: Paths | None = None,
    add_dirs: list[Path] | None = None,
    max_turns: int | None = None,
    system_prompt: str | None = None,
    append_system_prompt: str | None = None,
    today: date | None = None,
) -> Agent:
    info = model_info(model or default_model(settings))
    provider = create_provider(info, settings)
    profile = tool_profile(settings.override_for(info.qualified).tool_profile or settings.tool_profile, info)
    prompt = build_system_prompt(cwd, today or date.today(), home=user_home(environ),
                                 environ=tool_environment(environ),
                                 user_instructions=paths.home / "CLAUDE.md" if paths else None,
                                 override=system_prompt, append=append_system_prompt,
                                 compact=profile == "compact")
    options = LoopOptions(
        system=prompt.text,
        max_tokens=settings.max_tokens,
        max_turns=max_turns or settings.max_turns,
        thinking=settings.thinking,
        thinking_budget=settings.thinking_budget,
        reasoning_effort=settings.reasoning_effort,
        permission_mode=settings.permission_mode,
        compaction=CompactionPolicy.from_settings(settings),
    )
    options.policy = Policy(settings.permission_mode, rules or RuleSet(), cwd, user_home(environ), cwd=cwd,
                            extra_dirs=tuple(add_dirs or ()),
                            save_to=paths.project_local if paths else None)
    ctx = ToolContext(cwd=cwd, environ=tool_environment(environ), project=cwd, prompter=prompter,
                      sandbox=settings.sandbox, images=info.provider in IMAGE_PROVIDERS)
    registry = Registry(builtin_tools(profile), profile=profile)
    agent = Agent(provider, info, registry, ctx, prompter, options)
    agent.context_sources = prompt.sources  # what /context lists; the loop does not need them
    return agent
