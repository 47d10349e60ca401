"""Wire settings into a ready Agent: the one place the REPL and headless mode share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from nano_claude.config import Paths, Settings, user_home
from nano_claude.core.compaction import CompactionPolicy
from nano_claude.core.context import SystemPrompt, build_system_prompt
from nano_claude.core.loop import Agent, LoopOptions
from nano_claude.core.prompter import Prompter
from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet
from nano_claude.providers.catalog import PROVIDERS, ModelInfo
from nano_claude.providers.unconfigured import connect
from nano_claude.providers.window import with_server_window
from nano_claude.tools.base import ToolContext
from nano_claude.tools.registry import Registry, ToolProfile

if TYPE_CHECKING:
    from nano_claude.extensions.mcp.config import Found
    from nano_claude.extensions.mcp.manager import McpManager
    from nano_claude.extensions.plugins import Active, Loaded

# Providers whose models take images in tool results (Read of a PNG); for the others Read
# says so instead of sending bytes the model cannot see or a server would refuse.
IMAGE_PROVIDERS = frozenset({"anthropic", "openai", "gemini", "ollama"})
SMALL_WINDOW = 8192  # a local model served with at most this many tokens gets the compact profile


def tool_profile(setting: Literal["auto", "full", "compact"], info: ModelInfo) -> ToolProfile:
    """`full` or `compact` as set; `auto` picks compact for a local model (embedded or
    served) that runs with at most SMALL_WINDOW tokens, and for a small embedded model;
    full otherwise.

    Why: on a CPU a local model reads about 170 prompt tokens/s, so the full first request
    (about 3,600 tokens) costs 20 s before the first word, and a small window leaves little
    room after it; hosted models read fast and use every tool well. A local server's window
    is asked before the prompt is built (providers/window.py: the prompt must stay the same
    all session, for prefix caching); a server that cannot be asked leaves the catalog's
    guess of 8,192 tokens, so compact. An embedded model's window is fitted to the memory
    at start: a 4B model that gets 5,000 tokens cannot hold the full tools (about 5,000
    tokens) and a request, whatever its size says. `tool_profile: full` brings the whole
    tool set back, for every model or (in `model_overrides`) for one.
    """
    if setting == "full" or setting == "compact":
        return setting
    if info.tool_profile is not None:  # an embedded model: providers/embedded.py says what suits it
        return "compact" if info.context_window <= SMALL_WINDOW else info.tool_profile
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
    unconfigured_ok: bool = False,
    mcp_configs: tuple[str, ...] = (),
    strict_mcp_config: bool = False,
    accept_all_flag: bool = False,
    agents_json: str | None = None,
    plugin_dirs: tuple[Path, ...] = (),
) -> Agent:
    """`unconfigured_ok` (the REPL): a missing key gives an agent whose provider says how to
    set it (providers/unconfigured.py), so the user can fix it without leaving. What the
    user should know about the setup (an MCP entry skipped, say) is in `agent.notes`."""
    plugins = load_plugins(settings, paths, cwd, accept_all=accept_all_flag, extra=plugin_dirs,
                           interactive=unconfigured_ok, home=user_home(environ))
    # MCP servers first: with some configured, the SDK's import (about 0.7 s) starts now, beside
    # the rest of the setup, rather than when the first request needs it
    found = find_mcp(settings, paths, cwd, environ, flags=mcp_configs, strict=strict_mcp_config,
                     interactive=unconfigured_ok, plugins=plugins.active) if paths is not None else None
    info, provider = connect(model, settings, unconfigured_ok=unconfigured_ok)
    info = with_server_window(info, settings, environ)  # before the prompt: it picks the profile
    profile = tool_profile(settings.override_for(info.qualified).tool_profile or settings.tool_profile, info)
    memory, memory_notes = memory_index(paths, cwd) if profile == "full" else (None, [])

    def system_for(where: Path) -> SystemPrompt:
        return build_system_prompt(where, today or date.today(), home=user_home(environ),
                                   environ=tool_environment(environ),
                                   user_instructions=paths.home / "CLAUDE.md" if paths else None,
                                   override=system_prompt, append=append_system_prompt,
                                   compact=profile == "compact", memory=memory)

    prompt = system_for(cwd)
    options = LoopOptions(
        system=prompt.text,
        max_tokens=settings.max_tokens,
        max_turns=max_turns or settings.max_turns,
        thinking=settings.thinking,
        thinking_budget=settings.thinking_budget,
        reasoning_effort=settings.reasoning_effort,
        permission_mode=settings.permission_mode,
        compaction=CompactionPolicy.from_settings(settings),
        max_calls_without_progress=settings.max_calls_without_progress,
        wait_for_wakeups=not unconfigured_ok,  # the REPL gives the prompt back and wakes the model later
    )
    options.policy = Policy(settings.permission_mode, rules or RuleSet(), cwd, user_home(environ), cwd=cwd,
                            extra_dirs=tuple(add_dirs or ()),
                            save_to=paths.project_local if paths else None)
    ctx = ToolContext(cwd=cwd, environ=tool_environment(environ), project=cwd, prompter=prompter,
                      sandbox=settings.sandbox, images=info.provider in IMAGE_PROVIDERS)
    if paths is not None:
        ctx.output_dir = paths.home / "sessions" / "tool-output"
    from nano_claude.extensions.plugins import session_tools

    # the built-in tools, then the entry-point plugins' and the plugins' Python tools (pluggy)
    tools = session_tools(profile, plugins.active, plugins.notes, environ=environ)
    registry = Registry(tools, profile=profile)
    agent = Agent(provider, info, registry, ctx, prompter, options)
    agent.context_sources = prompt.sources  # what /context lists; the loop does not need them
    agent.notes.extend(memory_notes + plugins.notes)
    agent.plugins = plugins.active
    agent.system_for = lambda where: system_for(where).text  # a sub-agent working elsewhere (a worktree)
    if profile == "full":  # a small local model cannot use sub-agents well: compact leaves them out
        attach_agents(agent, settings, paths, cwd, environ, agents_json)
    attach_skills(agent, settings, paths, cwd, environ, for_model=profile == "full",
                  accept_all_flag=accept_all_flag)
    if paths is not None:
        attach_hooks(agent, settings, paths, cwd, environ, interactive=unconfigured_ok,
                     accept_all_flag=accept_all_flag)
        agent.mcp = attach_mcp(agent, settings, paths, cwd, environ, flags=mcp_configs,
                               strict=strict_mcp_config, interactive=unconfigured_ok, found=found,
                               accept_all_flag=accept_all_flag)
    return agent


def load_plugins(settings: Settings, paths: Paths | None, cwd: Path, *, accept_all: bool,
                 extra: tuple[Path, ...], interactive: bool, home: Path) -> Loaded:
    """The plugins this session uses (extensions/plugins): with none installed, two stats."""
    from nano_claude.extensions.plugins import Loaded, load

    if paths is None:
        return Loaded()
    return load(paths, cwd, settings, accept_all=accept_all, extra=extra, interactive=interactive,
                home=home)


def memory_index(paths: Paths | None, cwd: Path) -> tuple[str | None, list[str]]:
    """The memory part of the system prompt (extensions/memory) and what the user should hear
    about a memory folder that cannot be used. Full profile only: the compact one has no memory
    tools, and its small model pays for every token of the first request. A sub-agent in a
    worktree gets the same index: its memories are its parent's project's."""
    if paths is None:
        return None, []
    from nano_claude.extensions.memory import memory_prompt

    return memory_prompt(paths.home, cwd)


def attach_skills(agent: Agent, settings: Settings, paths: Paths | None, cwd: Path,
                  environ: Mapping[str, str], *, for_model: bool, accept_all_flag: bool = False) -> None:
    """Skills and custom commands (extensions/skills/): the user runs them as /NAME; with
    `for_model` (the full tool profile) the model runs them too, through the Skill and
    SkillList tools, and the system prompt ends with their names and descriptions. A
    project's skills use their allowed-tools once trusted (catalog.py): trusted before, or
    --accept-all, or setting trust_project_skills."""
    from nano_claude.extensions.skills.loader import load_skills

    found = load_skills(cwd, user_home(environ), plugins=agent.plugins)
    agent.notes.extend(found.errors)
    if not found.by_name:
        return
    from nano_claude.extensions.skills.catalog import ProjectTrust, Skills
    from nano_claude.extensions.skills.listing import UsageFile, listing

    usage = UsageFile(paths.home / "skills_usage.json") if paths is not None else None
    trust = ProjectTrust.of(found, paths, cwd, granted=settings.trust_project_skills or accept_all_flag)
    skills = Skills(found, settings, usage, trust)
    agent.extensions.append(skills)
    if not for_model:
        return
    from nano_claude.extensions.skills.tools import skill_tools

    for tool in skill_tools(skills, agent):
        agent.tools.register_tool(tool)
    section = listing(found.skills, agent.model.context_window, usage.counts() if usage else {})
    if section:
        agent.options.system = f"{agent.options.system}\n\n{section}"
        elsewhere = agent.system_for
        if elsewhere is not None:
            agent.system_for = lambda where: f"{elsewhere(where)}\n\n{section}"


def attach_agents(agent: Agent, settings: Settings, paths: Paths | None, cwd: Path,
                  environ: Mapping[str, str], agents_json: str | None) -> None:
    """Sub-agents: the types the files and `--agents` define, and the tools that start them."""
    from nano_claude.extensions.agents.runtime import Pool, Subagents
    from nano_claude.extensions.agents.tools import agent_tools
    from nano_claude.extensions.agents.types import load_types

    found = load_types(cwd, user_home(environ), agents_json=agents_json, plugins=agent.plugins)
    agent.notes.extend(found.errors)
    transcripts = None
    if paths is not None:
        from nano_claude.sessions.store import SessionStore

        transcripts = SessionStore.of(paths.home, settings).transcripts
    for tool in agent_tools():
        agent.tools.register_tool(tool)
    Subagents(agent, found, settings, Pool(settings.max_background_agents, transcripts),
              data_dir=paths.home if paths else None)


def attach_hooks(agent: Agent, settings: Settings, paths: Paths, cwd: Path, environ: Mapping[str, str], *,
                 interactive: bool, accept_all_flag: bool = False) -> None:
    """The hooks the settings files define, as `agent.hooks` (with none, it stays None and the
    runner is never imported). A project's own hooks run once the user trusts them: asked in
    the REPL before the first message; for a headless run, trusted before, or --accept-all, or
    setting trust_project_hooks."""
    from nano_claude.extensions.hooks import config as hooks_config

    found = hooks_config.load(paths, cwd, user_home(environ), read_claude=settings.read_claude_config,
                              plugins=agent.plugins)
    agent.notes.extend(found.errors)
    if not found.hooks:
        return
    from nano_claude.extensions.hooks import trust
    from nano_claude.extensions.hooks.runner import HookRunner
    from nano_claude.sessions.store import SessionStore

    decided = trust.decision(paths, cwd, found.digest) if found.project else "approved"
    if settings.trust_project_hooks or accept_all_flag:  # for this run: --accept-all is not saved
        decided = "approved"
    HookRunner(found, trust=decided, project=cwd, paths=paths,
               transcripts=SessionStore.of(paths.home, settings).transcripts).attach(agent)
    if decided == "pending" and not interactive:
        sources = sorted({hook.source for hook in found.project})
        agent.notes.append(
            f"{len(found.project)} hook(s) from this project's settings ({', '.join(sources)}) were not run: "
            "a project's hooks run only once you trust them (start nano_claude here and answer), or with "
            "--accept-all, or setting trust_project_hooks")


def find_mcp(settings: Settings, paths: Paths, cwd: Path, environ: Mapping[str, str], *,
             flags: tuple[str, ...], strict: bool, interactive: bool,
             plugins: Sequence[Active] = ()) -> Found:
    """The servers the files, plugins and flags name; with any, the SDK starts loading: in a
    thread for a headless run, here (the REPL's builder thread) for the REPL."""
    from nano_claude.extensions.mcp import config as mcp_config

    found = mcp_config.load(paths, cwd, user_home(environ), environ, flags=flags, strict=strict,
                            read_claude=settings.read_claude_config, plugins=plugins)
    if found.servers:
        from nano_claude.extensions.mcp.connection import preload

        preload(background=not interactive)
    return found


def attach_mcp(agent: Agent, settings: Settings, paths: Paths, cwd: Path, environ: Mapping[str, str], *,
               flags: tuple[str, ...], strict: bool, interactive: bool,
               found: Found | None = None, accept_all_flag: bool = False) -> McpManager | None:
    """The MCP servers the files and flags name (or `found`), as an extension of `agent`
    (None: there are none, and the SDK is never imported). Servers start once a loop runs
    (`start()`, or the first request)."""
    if found is None:
        found = find_mcp(settings, paths, cwd, environ, flags=flags, strict=strict, interactive=interactive,
                         plugins=agent.plugins)
    agent.notes.extend(found.errors + found.warnings)
    if not found.servers:
        return None
    from nano_claude.extensions.mcp.manager import McpManager, Options
    from nano_claude.extensions.mcp.tools import Limits

    options = Options(
        startup_wait=0.0 if interactive else settings.mcp_startup_timeout,
        connect_timeout=settings.mcp_connect_timeout, defer_share=settings.mcp_defer_share,
        trust_read_only=settings.mcp_trust_read_only,
        # --accept-all for this run, not a saved permission_mode: that would trust every clone
        trust_project=settings.trust_project_mcp or accept_all_flag,
        limits=Limits(settings.mcp_max_output_tokens, settings.mcp_tool_timeout),
        roots=agent.policy.extra_dirs)
    manager = McpManager(found, paths=paths, project=cwd, options=options, interactive=interactive)
    manager.rules = agent.policy.rules
    if not interactive:
        for server in manager.pending:
            agent.notes.append(
                f"MCP server {server.name!r} from {server.source} was not started: this project's servers "
                "run only once you approve them (start nano_claude here and answer, or /mcp), "
                "or with --accept-all, or setting trust_project_mcp")
    agent.extensions.append(manager)
    return manager
