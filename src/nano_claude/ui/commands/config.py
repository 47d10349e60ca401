"""/config: show the settings; /config KEY=VALUE validates one, saves it to the user
config file (0600, atomically) and applies it to the running session where it can."""

from __future__ import annotations

import difflib
import json
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import ValidationError

from nano_claude.config import SECRET_SUFFIX, Settings, mask, save_user_setting
from nano_claude.core.errors import ConfigError, UnknownModelError
from nano_claude.providers.catalog import MODELS, model_info
from nano_claude.ui.commands import Command
from nano_claude.ui.commands.live import apply_setting, with_setting
from nano_claude.ui.state import ReplState


def shown(key: str, value: Any) -> str:
    """A setting as the user reads it: JSON-style booleans, keys masked."""
    if value is None or value == "":
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # model_overrides: as it is written in the config file
        return json.dumps({k: v.model_dump(exclude_defaults=True) if hasattr(v, "model_dump") else v
                           for k, v in value.items()})
    return str(mask(key, value))


async def run(state: ReplState, args: str) -> None:
    if not args:
        show_all(state)
        return
    key, has_value, raw = (part.strip() for part in args.partition("="))
    if key not in Settings.model_fields:
        near = difflib.get_close_matches(key, list(Settings.model_fields), n=1)
        hint = f"; did you mean {near[0]}?" if near else "; /config lists them"
        state.echo(f"Unknown setting {key!r}{hint}", "red")
        return
    if not has_value:
        state.echo(f"{key} = {shown(key, getattr(state.settings, key))}")
        return
    await set_one(state, key, raw)


def show_all(state: ReplState) -> None:
    state.echo(f"Settings (in effect now; /config KEY=VALUE saves one to {state.paths.user_config})",
               "bold")
    width = max(len(key) for key in Settings.model_fields)
    for key in Settings.model_fields:
        state.echo(f"  {key:<{width}}  {shown(key, getattr(state.settings, key))}")


async def set_one(state: ReplState, key: str, raw: str) -> None:
    """`KEY=` (no value) removes the setting from the file: its default applies again."""
    secret = key.endswith(SECRET_SUFFIX)
    field = Settings.model_fields[key]
    default = field.get_default(call_default_factory=True)
    given: Any = raw
    if raw and get_origin(field.annotation) is dict:  # model_overrides={"custom/*": {...}}
        try:
            given = json.loads(raw)
        except json.JSONDecodeError as exc:
            state.echo(f"Bad value for {key}: expected a JSON object ({exc.msg} at column "
                       f"{exc.colno}). Nothing changed.", "red")
            return
    try:
        value = getattr(with_setting(state.settings, key, given), key) if raw else default
        if key == "model" and value:
            model_info(value)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        got = "" if secret else f" (got {raw!r})"
        state.echo(f"Bad value for {key}: {reason}{got}. Nothing changed.", "red")
        return
    except UnknownModelError as exc:
        state.echo(f"Bad value for model: {exc}. Nothing changed.", "red")
        return
    try:
        save_user_setting(state.paths, key, (given if isinstance(given, dict) else value) if raw else None)
    except (ConfigError, OSError) as exc:
        state.echo(f"Not saved, nothing changed: {exc}", "red")
        return
    note = await apply_setting(state, key, value)
    if not raw:
        state.echo(f"Unset {key} (removed from {state.paths.user_config}); "
                   f"default now: {shown(key, default)}", "green")
    else:
        what = key if secret else f"{key} = {shown(key, value)}"  # never echo a key
        state.echo(f"Set {what} (saved to {state.paths.user_config})", "green")
    if note:
        state.echo(f"Note: {note}", "dim")


def _choices(key: str) -> list[str]:
    annotation = Settings.model_fields[key].annotation
    union = get_origin(annotation) in (Union, types.UnionType)
    found: list[str] = []
    for option in get_args(annotation) if union else (annotation,):
        if option is bool:
            found += ["true", "false"]
        elif get_origin(option) is Literal:
            found += [str(v) for v in get_args(option)]
    if key == "model":
        found += [m.qualified for m in MODELS]
    return found


def complete(state: ReplState, text: str) -> list[str]:
    key, has_value, typed = text.partition("=")
    if not has_value:
        return [f"{k}=" for k in Settings.model_fields if k.startswith(key.strip())]
    if key not in Settings.model_fields:
        return []
    return [f"{key}={c}" for c in _choices(key) if c.startswith(typed)]


COMMAND = Command("config", "show settings, or set one and save it to ~/.nano_claude/config.json", run,
                  usage="/config [KEY=VALUE]", complete=complete,
                  secret=lambda args: args.partition("=")[0].strip().endswith(SECRET_SUFFIX))
