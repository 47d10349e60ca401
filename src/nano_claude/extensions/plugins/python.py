"""Python plugins, through pluggy: a plugin folder's tool modules, and installed packages that
extend the agent through the `nano_claude.plugins` entry-point group.

Three hooks (`Specs`), each returning a list: `register_tools(profile)`, `register_commands()`,
`register_providers()`. The built-in tools, commands and providers register through the same
hooks (nano_claude/builtin_plugin.py), so a plugin's tool is one more implementation of a hook the
agent always calls. Each implementation is called on its own: one that raises, or returns what
is not a tool, becomes a note naming the plugin, the file and the fix, and the others still load.

A folder plugin's modules (`"tools": ["tools"]`: tools.py or tools/__init__.py) run only when
the user allowed its code (Active.code). Each is imported into a package of its own whose folder
is the plugin's, so `from . import helpers` finds the plugin's own helpers.py and two plugins'
modules never meet. The plugin's folder (for a plain `import helpers`, which two plugins can
share a name in: import relatively) and its `.deps` folder (the pip `dependencies` store.py
installed) go at the end of sys.path, so the packages the agent runs on, and those it has loaded,
stay the ones it uses.

Which packages have entry points is entry_points.py's (a cached scan); nothing is scanned at
import time. A session with no entry-point plugin and no plugin tool module never comes here:
extensions/plugins.session_tools calls the built-in implementation itself.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from nano_claude.extensions.plugins.entry_points import GROUP, cache_file, scan, search_path

if TYPE_CHECKING:
    from nano_claude.extensions.plugins import Active
    from nano_claude.providers.catalog import ProviderSpec
    from nano_claude.tools.base import Tool
    from nano_claude.tools.registry import ToolProfile
    from nano_claude.ui.commands import Command

PROJECT = "nano_claude"
BUILTIN = "builtin"  # the built-in plugin's name in every PluginManager
DEPS = ".deps"  # store.DEPS, kept apart so this module does not import the store
PROTOCOLS = ("anthropic", "openai", "ollama", "gemini")  # what a plugin's provider may speak
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what every provider's API accepts
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TOOL_PARTS = ("name", "description", "input_model", "read_only", "concurrency_safe", "run", "summary")
_UNSAFE = re.compile(r"\W")

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Specs:
    """The hooks a plugin may implement; any of them, each returning a list."""

    @hookspec
    def register_tools(self, profile: ToolProfile) -> list[Tool]:
        """Tools for the model. `profile`: "full", or "compact" for a small local model that
        does best with few tools (a plugin may return fewer then)."""

    @hookspec
    def register_commands(self) -> list[Command]:
        """Slash commands for the REPL (nano_claude.plugin.Command)."""

    @hookspec
    def register_providers(self) -> list[ProviderSpec]:
        """Model providers: a name (its models are then NAME/MODEL), the wire protocol it speaks
        (one of PROTOCOLS), its key's variable and its base URL."""


def manager(notes: list[str], environ: Mapping[str, str] | None = None) -> pluggy.PluginManager:
    """The built-in plugin, then the installed packages' entry-point plugins."""
    from nano_claude import builtin_plugin

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(Specs)
    pm.register(builtin_plugin, BUILTIN)
    found, problems = _entry_point_plugins(cache_file(os.environ if environ is None else environ),
                                           tuple(search_path()))
    notes.extend(problems)
    for label, plugin in found:
        _register(pm, plugin, label, notes, hooks="register_tools, register_commands or register_providers")
    return pm


def results(pm: pluggy.PluginManager, hook: str, notes: list[str], **kwargs: Any) -> list[tuple[str, Any]]:
    """(plugin, item) for what each implementation of `hook` returns, built-in first, then in
    the order plugins were registered. Called one by one, so a failure stays that plugin's."""
    out: list[tuple[str, Any]] = []
    for impl in getattr(pm.hook, hook).get_hookimpls():
        who = impl.plugin_name
        try:
            returned = impl.function(*(kwargs[name] for name in impl.argnames))
        except Exception as exc:
            if who == BUILTIN:
                raise  # our own bug: it surfaces as it would without plugins
            notes.append(f"{who}: {hook} failed: {_last_line(exc)}{_where(exc)}; fix it or remove the plugin "
                         "(the rest of nano_claude works without it)")
            continue
        items = returned if isinstance(returned, (list, tuple)) else [] if returned is None else [returned]
        out.extend((who, item) for item in items)
    return out


def tools_for(profile: ToolProfile, active: list[Active], notes: list[str], *,
              environ: Mapping[str, str] | None = None) -> list[Tool]:
    """The tools of a session: the built-in ones, the entry-point plugins', then each active
    plugin's tool modules (those whose code the user allowed), all through `register_tools`.
    What could not be loaded is a line in `notes`."""
    pm = manager(notes, environ)
    for plugin in active:
        if plugin.code:
            for module in plugin.plugin.tools:
                add_module(pm, plugin, module, notes)
    tools: list[Tool] = []
    owner: dict[str, str] = {}
    reserved: set[str] | None = None
    for who, tool in results(pm, "register_tools", notes, profile=profile):
        problem = tool_problem(tool)
        if problem:
            notes.append(f"{who}: {problem}; it was not loaded")
            continue
        if who != BUILTIN:
            reserved = reserved if reserved is not None else _builtin_names()
            taken = "a built-in tool" if tool.name in reserved else owner.get(tool.name)
            if taken:
                notes.append(f"{who}: the tool {tool.name!r} has the name of {taken}; it was not loaded "
                             "(give it another name)")
                continue
        owner[tool.name] = who
        tools.append(tool)
    return tools


def plugin_providers(notes: list[str], environ: Mapping[str, str] | None = None) -> list[ProviderSpec]:
    """The providers the entry-point plugins register (not the built-in ones)."""
    from nano_claude.providers.catalog import BUILTIN_PROVIDERS, ProviderSpec

    out: list[ProviderSpec] = []
    for who, spec in results(manager(notes, environ), "register_providers", notes):
        if who == BUILTIN:
            continue
        if not isinstance(spec, ProviderSpec):
            problem = (f"returned {_shown(spec)}, not a ProviderSpec "
                       "(from nano_claude.plugin import ProviderSpec)")
        elif not isinstance(spec.name, str) or not PROVIDER_NAME.match(spec.name):
            problem = (f"the provider name {spec.name!r} must be lowercase letters, digits, - or _ "
                       "(at most 32)")
        elif spec.name in BUILTIN_PROVIDERS or any(spec.name == s.name for s in out):
            problem = (f"the provider {spec.name!r} is taken (a built-in or another plugin's); "
                       "give another name")
        elif spec.protocol not in PROTOCOLS:
            problem = (f"the provider {spec.name!r} speaks {spec.protocol!r}; "
                       f"use one of {', '.join(PROTOCOLS)}")
        else:
            out.append(spec)
            continue
        notes.append(f"{who}: {problem}; it was not loaded")
    return out


# --- a plugin folder's tool modules ------------------------------------------------------------


def add_module(pm: pluggy.PluginManager, active: Active, module: str, notes: list[str]) -> None:
    """Import one of a plugin's tool modules and register it, or say in `notes` why not."""
    plugin = active.plugin
    path = module_file(plugin.root, module)
    where = plugin.manifest.name if plugin.manifest else "plugin.json"
    if path is None:
        stem = module.replace(".", "/")
        notes.append(f"plugin {plugin.name}: its tool module {module!r} is neither {stem}.py nor "
                     f"{stem}/__init__.py in {plugin.root}; fix \"tools\" in {where}")
        return
    label = f"plugin {plugin.name} ({path.relative_to(plugin.root)})"
    for folder in (plugin.root, plugin.root / DEPS):  # at the end: what the agent runs on comes first
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        loaded = _in_package(plugin.root, _module_name(plugin.name, plugin.root, path), module, path)
    except ModuleNotFoundError as exc:
        missing = (exc.name or str(exc)).split(".")[0]
        never = plugin.dependencies and not (plugin.root / DEPS).is_dir()
        unset = (f"; its dependencies were never installed into {plugin.root / DEPS}: install the plugin "
                 "with nano_claude plugin install" if never else
                 f", then reinstall the plugin (nano_claude plugin update {plugin.name})")
        notes.append(f"{label}: needs the module {missing!r}, which is not installed: list its package in "
                     f"\"dependencies\" in {where}{unset}; its tools were not loaded")
        return
    except (Exception, SystemExit) as exc:
        notes.append(f"{label} failed on import: {_last_line(exc)}{_where(exc, plugin.root)}; fix the "
                     f"module (or disable the plugin: nano_claude plugin disable {plugin.name}); "
                     "its tools were not loaded")
        return
    _register(pm, loaded, label, notes, hooks="register_tools", needed="register_tools")


def _in_package(root: Path, name: str, module: str, path: Path) -> ModuleType:
    """Import a tool module as `module` of a package of its own whose folder is the plugin's, so
    its `from . import helpers` (at import or later, inside a function) finds the plugin's own
    helpers.py and never another plugin's."""
    if name not in sys.modules:
        package = ModuleType(name)
        package.__path__ = [str(root)]
        sys.modules[name] = package
    return _import(f"{name}.{module}", path)


def module_file(root: Path, module: str) -> Path | None:
    """tools -> tools.py or tools/__init__.py inside the plugin's folder."""
    base = root.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_name(plugin: str, root: Path, path: Path) -> str:
    """The name of the package a plugin's tool modules are imported into: no other plugin's; a
    new one when the file changed (a plugin updated while the process runs is imported afresh)."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    tag = hashlib.sha256(f"{root}\0{stamp}".encode()).hexdigest()[:8]
    return f"nano_claude_plugin_{_UNSAFE.sub('_', plugin)}_{tag}"


def _import(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    package = [str(path.parent)] if path.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=package)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: a package's own modules import it by this name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _register(pm: pluggy.PluginManager, plugin: object, label: str, notes: list[str], *, hooks: str,
              needed: str = "") -> None:
    try:
        pm.register(plugin, label)
    except (ValueError, pluggy.PluginValidationError) as exc:
        why = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        notes.append(f"{label}: cannot be used: {why}; fix its hook functions (the hooks are {hooks})")
        return
    callers = {caller.name for caller in pm.get_hookcallers(plugin) or []}
    if not callers or (needed and needed not in callers):
        pm.unregister(plugin)
        example = ("`@hookimpl def register_tools(profile): return [MyTool()]`" if needed
                   else f"one of {hooks}")
        notes.append(f"{label}: defines no hook; add {example} (from nano_claude.plugin import hookimpl); "
                     "it was not loaded")


# --- what a tool must be -----------------------------------------------------------------------


def tool_problem(tool: object) -> str:
    """Why `tool` cannot be one of the model's tools ("" when it can)."""
    from pydantic import BaseModel

    if inspect.isclass(tool):
        return f"returned the class {tool.__name__}, not a tool: return an instance, {tool.__name__}()"
    missing = [part for part in TOOL_PARTS if not hasattr(tool, part)]
    if missing:
        return (f"returned {_shown(tool)}, which is not a tool: it has no {', '.join(missing)} "
                "(a tool is written like nano_claude's own; see the README's Python plugin example)")
    name = getattr(tool, "name", None)
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        return f"the tool name {name!r} must be 1-64 letters, digits, _ or -"
    model = getattr(tool, "input_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return f"the tool {name!r} has input_model {model!r}; it must be a pydantic BaseModel class"
    if not inspect.iscoroutinefunction(getattr(tool, "run", None)):
        return f"the tool {name!r} has a run that is not `async def run(self, args, ctx)`"
    return ""


def _builtin_names() -> set[str]:
    """Every built-in tool's name, whatever the profile: a plugin's tool never takes one."""
    from nano_claude.tools.registry import builtin_tools

    return {tool.name for tool in builtin_tools("full")}


# --- entry points ------------------------------------------------------------------------------


@cache
def _entry_point_plugins(cache_file: Path, path: tuple[str, ...]) -> tuple[tuple[tuple[str, object], ...],
                                                                          tuple[str, ...]]:
    """The loaded entry-point plugins as (label, object), and why others could not be loaded;
    once a process (an import is once a process anyway)."""
    from importlib.metadata import EntryPoint

    loaded: list[tuple[str, object]] = []
    problems: list[str] = []
    for name, value, dist in scan(path, cache_file):
        label = f"Python plugin {name} (package {dist})"
        try:
            loaded.append((label, EntryPoint(name, value, GROUP).load()))
        except (Exception, SystemExit) as exc:
            problems.append(f"{label}: could not be loaded ({value}): {_last_line(exc)}{_where(exc)}; fix or "
                            f"uninstall the package (pip uninstall {dist})")
    return tuple(loaded), tuple(problems)


# --- messages ----------------------------------------------------------------------------------


def _last_line(exc: BaseException) -> str:
    """The traceback's last line: `ValueError: bad value`."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _where(exc: BaseException, inside: Path | None = None) -> str:
    """ at FILE line N: the deepest frame (inside `inside`, when given) the exception went through."""
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename:  # the file that would not compile: not in the traceback
        frames.append(traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>"))
    if inside is not None:
        frames = [f for f in frames if Path(f.filename).resolve().is_relative_to(inside)]
    if not frames:
        return ""
    last = frames[-1]
    shown = Path(last.filename).relative_to(inside) if inside is not None else last.filename
    return f" (at {shown} line {last.lineno})"


def _shown(value: object) -> str:
    text = repr(value)
    return f"{text[:60]}{'...' if len(text) > 60 else ''} (a {type(value).__name__})"
