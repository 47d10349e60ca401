"""The embedded model: a GGUF run in-process by llama.cpp, no key, no network.

Which GGUF, and the context this machine gives it, comes from providers/embedded.py (the
shipped SmolLM2-135M, a curated model pulled from the Hub, or any file); how it sees the
conversation and writes a call, from providers/chat_format.py.

One llama.cpp context per provider, kept for the whole session and never reset:
every request of a session extends the previous prompt, and llama.cpp keeps the
longest common token prefix in its KV cache, so a follow-up only evaluates what
was added since. The prompt is rendered with the GGUF's own chat template.

Generation is blocking C code: it runs in a worker thread that hands each piece
of text to the event loop, and checks a stop flag between tokens, and between chunks
of the prompt while it is evaluated, so a cancelled turn ends the thread within a
token or a chunk. Tool calls are held to the request's schemas by a GBNF grammar
(providers/grammar.py).
"""

from __future__ import annotations

import asyncio
import codecs
import ctypes
import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from nano_claude.config import Settings
from nano_claude.core.errors import (
    ContextTooLong,
    NanoClaudeError,
    ProviderError,
    StreamBroken,
    UsageError,
)
from nano_claude.core.events import ProviderEvent, Response, TextDelta, TokenUsage
from nano_claude.core.messages import Block, Message, TextBlock, user_text
from nano_claude.providers.base import Request
from nano_claude.providers.chat_format import FORMATS, ToolFormat, call_block, detect, render_args
from nano_claude.providers.embedded import (
    SHIPPED,
    check_room,
    context_for,
    install_hint,
    model_path,
    source_of,
    user_n_ctx,
)
from nano_claude.providers.grammar import ROOT
from nano_claude.providers.prefix_cache import ModelIdentity, common_prefix, user_cache

if TYPE_CHECKING:
    from llama_cpp import Llama, LlamaGrammar

DEFAULT_TEMPERATURE = 0.2  # SmolLM2's model card suggests low temperatures
TOP_P = 0.9
REPEAT_PENALTY = 1.1  # 1.0 let SmolLM2 repeat one sentence until max_tokens
SEED = 1234  # fixed (0 would mean random to llama-cpp-python): same conversation, same answer
MIN_PREFIX = 32  # tokens: a shorter fixed prefix is not worth a file
# Prompt tokens evaluated between two looks at the stop flag: a smaller chunk answers a stop
# sooner. SmolLM2 evaluated 2,048 tokens as fast in chunks of 128 as in llama.cpp's own
# batches of 512 (55-66 tokens/s either way, on a busy two-core machine).
EVAL_CHUNK = 128
GRAMMARS_KEPT = 8  # compiled grammars kept: the tools' own, and the rests of calls after text
# ChatML, for a GGUF that carries no chat template of its own.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)

Item = ProviderEvent | BaseException  # what the worker hands to the event loop


class LocalProvider:
    name = "local"

    def __init__(self, settings: Settings, model: str = SHIPPED, window: int | None = None) -> None:
        """`window`: the context size factory.embedded_info fitted to this machine for the
        session's ModelInfo, so the two agree; None fits it here the same way."""
        self._settings = settings
        self._source = source_of(model, settings)
        if importlib.util.find_spec("llama_cpp") is None:
            raise UsageError(f"the embedded model needs llama-cpp-python: {install_hint()}")
        self.path = model_path(self._source)
        self.window = window or context_for(self.path, settings)  # tokens (embedded.py)
        check_room(self._source.model, self.path, self.window, settings)
        self._format: ToolFormat | None = None
        self._llm: Llama | None = None
        self._template: Any = None  # the compiled jinja2 chat template
        self._grammars: dict[str, LlamaGrammar] = {}  # by their source
        self._lock = threading.Lock()  # one generation at a time on the one context
        self._running: set[threading.Event] = set()  # stop flags of live generations
        self._cache = user_cache(settings.local_prefix_cache_mb)
        self._started = date.today()  # a template's date stays the session's (chat_format.py)

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

    def generation_speed(self, prompt: str, tokens: int = 64) -> tuple[float, int, float]:
        """Answer `prompt` (a chat turn, no tools), for `doctor`: (seconds to the first
        token, tokens generated after it, seconds they took)."""
        request = Request(model=self._source.model, system="", messages=(user_text(prompt),),
                          max_tokens=tokens)
        with self._lock:
            llm = self._load()
            prompt_tokens = llm.tokenize(self._render(llm, request).encode("utf-8"), add_bos=False,
                                         special=True)
            llm.reset()
            start = time.perf_counter()
            first, count = 0.0, 0
            for token in llm.generate(prompt_tokens, temp=0.0, top_k=1, repeat_penalty=REPEAT_PENALTY):
                count += 1
                if count == 1:
                    first = time.perf_counter() - start
                if count > tokens or llama_eog(llm, token):
                    break
            return first, count - 1, time.perf_counter() - start - first

    async def aclose(self) -> None:
        for stop in list(self._running):
            stop.set()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        with self._lock:
            llm, self._llm, self._template = self._llm, None, None
            self._grammars.clear()
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
            why = "local_n_ctx" if user_n_ctx(self._settings) is not None else \
                "fitted to the memory available when it started"
            raise ContextTooLong(
                f"the conversation needs {len(tokens)} tokens but the embedded model's context "
                f"window is {window} ({why}); start a new session or compact it",
                provider=self.name)
        written = self._warm(llm, request, tokens, stop)
        reused = _cached_prefix(llm, tokens)  # before evaluating: that moves the cache on
        if written is None or not _evaluate(llm, tokens[:-1], stop):  # generating evaluates the last
            return None
        fmt = self.tool_format(llm)
        tools = request.tools
        grammar = self._compiled(llm, fmt.grammar(tools)) if tools else None
        calls = fmt if grammar is not None else None

        def rest(written: str) -> LlamaGrammar | None:
            source = fmt.rest_grammar(tools, written)
            return self._compiled(llm, source) if source is not None else None

        temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
        sampled = _Sampler(llm, tokens, grammar, {"temp": temperature, "top_p": TOP_P, "top_k": 40})
        budget = min(request.max_tokens, window - len(tokens))
        with closing(sampled):
            out = _decode(llm, sampled, budget, stop, emit, calls=calls, rest=rest)
        if out is None:
            return None
        usage = TokenUsage(input_tokens=len(tokens) - reused, output_tokens=out.tokens,
                           cache_read_tokens=reused - written, cache_write_tokens=written)
        blocks, stop_reason = self._blocks(fmt, out, request)
        meta = {"provider": self.name, "model": request.model, "stop_reason": stop_reason}
        return Response(Message("assistant", blocks, meta), usage, stop_reason)

    @staticmethod
    def _blocks(fmt: ToolFormat, out: _Output, request: Request) -> tuple[tuple[Block, ...], str]:
        """The answer's text, then its call; a call that turns out to be none is text too."""
        text = (TextBlock(out.text),) if out.text else ()  # no empty blocks
        if out.call is None:
            return text, out.stop_reason
        call, stop_reason = call_block(fmt, out.call, request, out.stop_reason)
        if isinstance(call, TextBlock) and out.text:
            return (TextBlock(f"{out.text}\n{out.call}"),), stop_reason
        return (*text, call), stop_reason

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
            llm = Llama(model_path=str(self.path), n_ctx=self.window, seed=SEED,
                        n_threads=threads, n_threads_batch=threads, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise UsageError(f"cannot load the embedded model {self.path}: {exc}; {install_hint()}") from exc
        # llama.cpp logs through this logger to stderr; the terminal is ours.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 1)
        self._llm = llm
        return llm

    def _warm(self, llm: Llama, request: Request, tokens: list[int], stop: threading.Event) -> int | None:
        """Make the context hold the conversation's fixed prefix (the system message with
        the tools) before the request is evaluated: it is there already within a session;
        on a new start it comes from the disk cache, else it is evaluated and saved there.
        How many tokens were evaluated for the cache; None if stopped on the way."""
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

        identity = ModelIdentity.of(self.path, llm.n_ctx(), llama_cpp.__version__)
        entry = self._cache.find(identity, fixed, minimum=max(MIN_PREFIX, held + 1))
        if entry is not None and not _set_state(llm, entry.tokens, entry.state):
            self._cache.discard(entry.path)
        held = common_prefix(llm.input_ids[: llm.n_tokens], fixed)
        if held == len(fixed):
            return 0
        if not _evaluate(llm, fixed, stop):
            return None
        self._cache.save(identity, fixed, _get_state(llm))
        return len(fixed) - held

    def tool_format(self, llm: Llama) -> ToolFormat:
        """The curated list's format for its models; any other GGUF's from its template."""
        if self._format is None:
            curated = self._source.curated
            if curated is not None and self._source.kind != "path":
                self._format = FORMATS[curated.tool_format]
            else:
                self._format = detect(llm.metadata.get("tokenizer.chat_template"))
        return self._format

    def _render(self, llm: Llama, request: Request, *, system_only: bool = False) -> str:
        if self._template is None:
            self._template = _compile_template(llm.metadata.get("tokenizer.chat_template") or CHATML)
        bos, eos = llm.token_bos(), llm.token_eos()
        fmt = self.tool_format(llm)
        args = render_args(fmt, request, self._started)
        if system_only:
            args["messages"] = args["messages"][:1]
        try:
            return self._template.render(
                **args, add_generation_prompt=not system_only,
                bos_token=_token_text(llm, bos), eos_token=_token_text(llm, eos),
            )
        except Exception as exc:  # a template may raise_exception() on a shape it rejects
            if fmt.system_before_tools and not system_only:
                # one that takes a single system message (a GGUF outside the curated list):
                # the date and git status go back into it
                self._format = replace(fmt, system_before_tools=False)
                return self._render(llm, request)
            raise ProviderError(f"the embedded model's chat template failed: {exc}",
                                provider=self.name) from exc

    def _compiled(self, llm: Llama, source: str) -> LlamaGrammar:
        """A grammar, checked by llama.cpp's own parser first: one it rejects would otherwise
        reach the sampler chain as a null pointer. Kept for the next request (the tools
        rarely change), a few at most."""
        import llama_cpp

        if source not in self._grammars:
            sampler = llama_cpp.llama_sampler_init_grammar(_vocab(llm), source.encode("utf-8"), ROOT.encode())
            if not sampler:
                raise ProviderError("llama.cpp rejected the tool-call grammar built from the tools' "
                                    "input schemas", provider=self.name)
            llama_cpp.llama_sampler_free(sampler)
            if len(self._grammars) >= GRAMMARS_KEPT:
                self._grammars.clear()
            self._grammars[source] = llama_cpp.LlamaGrammar.from_string(source, verbose=False)
        return self._grammars[source]


class _Sampler:
    """The answer's tokens, under the grammar _decode asks for as the answer takes shape.

    The tools' grammar decides between text and a call at the first token (a call starts
    with the format's `call_start`, text never does). Text admits anything after its first
    character, and applying a grammar to the whole vocabulary costs ~45% more per token, so
    text goes on without one (`free`), with a repetition penalty that keeps a small model
    out of loops; a call does not get that penalty, since JSON repeats its punctuation by
    design. A call that follows text, or a special token, is held to the rest of a call
    (`hold`). Each change starts llama.cpp's generator again on the prompt and the tokens
    so far: it keeps them in its cache and evaluates only the last one again."""

    def __init__(self, llm: Llama, prompt: list[int], grammar: LlamaGrammar | None,
                 params: dict[str, Any]) -> None:
        self._llm, self._prompt, self._params = llm, prompt, params
        self._tokens: list[int] = []
        self._generated = self._start(grammar)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        token = next(self._generated)
        self._tokens.append(token)
        return token

    def free(self) -> None:
        self._generated.close()
        self._generated = self._start(None)

    def hold(self, grammar: LlamaGrammar) -> None:
        self._generated.close()
        self._generated = self._start(grammar)

    def close(self) -> None:
        self._generated.close()

    def _start(self, grammar: LlamaGrammar | None) -> Iterator[int]:
        context = [*self._prompt, *self._tokens]
        if grammar is None:
            return self._llm.generate(context, **self._params, repeat_penalty=REPEAT_PENALTY)
        return self._llm.generate(context, grammar=grammar, **self._params)


class _Tokens(Protocol):
    """What _decode reads tokens from: a _Sampler, or tokens written out in a test."""

    def __next__(self) -> int: ...

    def __iter__(self) -> Iterator[int]: ...

    def free(self) -> None: ...

    def hold(self, grammar: LlamaGrammar) -> None: ...


@dataclass(frozen=True)
class _Output:
    text: str  # what was shown
    call: str | None  # what the model wrote from a call's start, special tokens included
    tokens: int
    stop_reason: str  # end_turn | max_tokens


def _decode(llm: Llama, sampled: _Tokens, budget: int, stop: threading.Event, emit: Callable[[Item], None],
            *, calls: ToolFormat | None, rest: Callable[[str], LlamaGrammar | None] | None = None
            ) -> _Output | None:
    """Turn tokens into text and a call until end of turn, the budget or a stop (None).

    Text streams as it comes, without special tokens (`<|im_start|>` is no answer). A call
    (in format `calls`; None: no tools, no calls) is held back, special tokens included
    (they may be its markers): raw JSON is no answer either. It starts at the first token
    (which decides, under the tools' grammar), or after text at the format's marker; from
    there `rest` gives the grammar that holds what is left of it to a call."""
    import llama_cpp

    vocab = _vocab(llm)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    marker = calls.marker if calls is not None else ""
    text = _Text(emit, marker)
    call: list[str] | None = None
    deciding = calls is not None
    count, stop_reason = 0, "end_turn"

    def follow(written: str) -> None:  # a call has begun: hold what is left of it to a call
        grammar = rest(written) if rest is not None else None
        if grammar is not None:
            sampled.hold(grammar)

    for token in sampled:
        if stop.is_set():
            return None
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        count += 1
        raw = _piece(llm, token)
        if deciding and raw and calls is not None:
            deciding = False
            if not calls.starts_call(raw):
                sampled.free()
            else:
                call = []
                if calls.call_prefix and raw.strip() == calls.call_prefix.encode():
                    follow("")
        if call is not None:
            call.append(decoder.decode(raw))
        else:
            special_marker = bool(marker) and raw.strip() == marker.encode()  # shown it would be ""
            shown = raw if special_marker else llm.detokenize([token], special=False)
            begun = text.add(decoder.decode(shown))
            if begun is not None:
                call = [begun]
                follow(begun[len(marker):])
        if count >= budget:
            stop_reason = "max_tokens"
            break
    if call is None:
        text.add(decoder.decode(b"", final=True))
        text.flush()
        return _Output(text.shown, None, count, stop_reason)
    call.append(decoder.decode(b"", final=True))
    return _Output(text.shown, "".join(call), count, stop_reason)


class _Text:
    """An answer's text as it streams, held back where it may be turning into a call's
    marker, and white space before such a place: a template writes its own line break
    before a call, and the text shown is the text kept."""

    def __init__(self, emit: Callable[[Item], None], marker: str) -> None:
        self._emit, self._marker = emit, marker
        self._shown: list[str] = []
        self._tail = ""  # not shown yet

    @property
    def shown(self) -> str:
        return "".join(self._shown)

    def add(self, piece: str) -> str | None:
        """Take the next piece; once a marker is whole, what was written from it on (the
        text before it is all shown then, and the rest held back is dropped)."""
        tail = self._tail + piece
        if not self._marker:
            self._tail = tail
            self.flush()
            return None
        found = tail.find(self._marker)
        if found >= 0:
            self._tail = tail[:found].rstrip()
            self.flush()
            return tail[found:]
        end = len(tail) - _partial(tail, self._marker)
        while end > 0 and tail[end - 1].isspace():
            end -= 1
        self._tail = tail[:end]
        self.flush()
        self._tail = tail[end:]
        return None

    def flush(self) -> None:
        if self._tail:
            self._emit(TextDelta(self._tail))
            self._shown.append(self._tail)
            self._tail = ""


def _partial(text: str, marker: str) -> int:
    """How many of `text`'s last characters are the start of `marker` (not all of it)."""
    return next((n for n in range(min(len(marker) - 1, len(text)), 0, -1) if text.endswith(marker[:n])), 0)


def _evaluate(llm: Llama, tokens: Sequence[int], stop: threading.Event) -> bool:
    """Make the context hold `tokens`: what it holds of them already is kept, the rest is
    evaluated EVAL_CHUNK tokens at a time with `stop` checked between chunks, so a stopped
    turn does not wait out a prompt of thousands of tokens (minutes for a 4B model on a
    CPU). False if stopped; the context then holds a prefix of them, which the next
    request reuses like any other."""
    held = common_prefix(llm.input_ids[: llm.n_tokens], tokens)
    llm.n_tokens = held  # eval() drops the cache past this point first
    for start in range(held, len(tokens), EVAL_CHUNK):
        if stop.is_set():
            return False
        llm.eval(tokens[start:start + EVAL_CHUNK])
    return True


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


def llama_eog(llm: Llama, token: int) -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(_vocab(llm), token))


def _vocab(llm: Llama) -> Any:
    import llama_cpp

    return llama_cpp.llama_model_get_vocab(llm.model)


def _piece(llm: Llama, token: int) -> bytes:
    """A token's text, special tokens included, to recognise a call by: Qwen's
    `<tool_call>` is one token, and a call must be seen as a call whether the GGUF marks
    it special or not. Text shown to the user leaves special tokens out (_decode)."""
    return llm.detokenize([token], special=True)


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
