"""Compaction through the real loop and providers, against the fake model server.

The fake model counts tokens its own way (three characters of the request's JSON
per token: denser than the agent's characters / 4, as real tokenizers are on
code and JSON) and reports that count as its usage, as a real server does. It
answers a summary request whenever one comes, so a script only says what the
model does in the conversation itself.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from nano_claude.config import Paths, Settings
from nano_claude.core.compaction import CLEARED, RECAP_HEAD, SUMMARY_SYSTEM, CompactionPolicy
from nano_claude.core.events import Error, Event, Notice, TurnDone
from nano_claude.core.loop import Agent, LoopOptions, Session
from nano_claude.core.messages import Message, TextBlock, ToolUseBlock, tool_result, user_text
from nano_claude.core.prompter import HeadlessPrompter
from nano_claude.providers.catalog import model_info
from nano_claude.providers.factory import create_provider
from nano_claude.tools.base import ToolContext
from nano_claude.tools.read import ReadTool
from nano_claude.tools.registry import Registry
from nano_claude.ui.commands import dispatch
from nano_claude.ui.state import ReplState
from tests.fakes.script import Call, Step, error, text, tool_calls
from tests.fakes.script import Usage as Tokens
from tests.fakes.server import FakeModelServer

WINDOW = 6000
MAX_OUTPUT = 600
SONNET = "anthropic/claude-sonnet-4-6"


def tokens(body: dict[str, Any]) -> int:
    return len(json.dumps(body)) // 3


def is_summary(body: dict[str, Any]) -> bool:
    return SUMMARY_SYSTEM in json.dumps(body)


def check_anthropic_messages(messages: list[dict[str, Any]]) -> None:
    """What the Messages API requires: user first, roles alternating, no empty content,
    every tool_use answered in the next message and every tool_result answering the last."""
    assert messages and messages[0]["role"] == "user", "the first message must be the user's"
    for before, after in itertools.pairwise(messages):
        assert before["role"] != after["role"], "roles must alternate"
    for i, message in enumerate(messages):
        assert message["content"], "empty content"
        uses = {b["id"] for b in message["content"] if b["type"] == "tool_use"}
        results = {b["tool_use_id"] for b in message["content"] if b["type"] == "tool_result"}
        if uses:
            answers = messages[i + 1]["content"] if i + 1 < len(messages) else []
            assert uses == {b["tool_use_id"] for b in answers if b["type"] == "tool_result"}, \
                f"tool_use without its result in message {i}"
        if results:
            previous = messages[i - 1]["content"] if i else []
            assert results <= {b["id"] for b in previous if b["type"] == "tool_use"}, \
                f"tool_result without its tool_use in message {i}"


@dataclass
class FakeModel:
    """Checks every request, reports its size as usage, and answers summary requests with
    a recap (the scripted step waits for the next request)."""

    server: FakeModelServer
    window: int
    check: Callable[[dict[str, Any]], None] = check_anthropic_messages
    count: Callable[[dict[str, Any]], int] = tokens
    recap: Callable[[int], str] = lambda n: f"Recap {n}: the user asked for files to be read; all were."
    peak: int = 0
    requests: int = 0
    summaries: list[dict[str, Any]] = field(default_factory=list)
    over: list[str] = field(default_factory=list)

    def step(self, step: Step) -> Step:
        def expect(body: dict[str, Any]) -> None:
            size = self.count(body)
            wanted = size + body.get("max_tokens", 0)
            self.requests += 1
            self.peak = max(self.peak, wanted)
            if wanted > self.window:  # refused, as a real server would; the step waits
                self.over.append(f"request {self.requests}: {size} + {body.get('max_tokens')} tokens")
                self.server.steps.insert(0, self.step(replace(step, expect=None)))
                step.kind, step.status = "error", 400
                step.body = f"prompt is too long: {wanted} tokens > {self.window} maximum"
                return
            if is_summary(body):
                assert "tools" not in body, "a summary request carries no tools"
                self.summaries.append(body)
                self.server.steps.insert(0, self.step(replace(step, expect=None)))
                step.kind, step.calls = "reply", ()
                step.text = self.recap(len(self.summaries))
            else:
                self.check(body.get("messages", []))
            step.usage = Tokens(input=size, output=max(1, len(step.text) // 3 + 20 * len(step.calls)))
        step.expect = expect
        return step

    def script(self, *steps: Step) -> None:
        self.server.script(*(self.step(s) for s in steps))


def make_agent(server: FakeModelServer, cwd: Path, *, window: int = WINDOW, auto: bool = True,
               threshold: float = 0.7, turns: int = 3, max_output: int = MAX_OUTPUT) -> Agent:
    settings = Settings(anthropic_api_key="sk-test", anthropic_base_url=server.url, max_retries=0)
    info = replace(model_info(SONNET), context_window=window, max_output=max_output)
    prompter = HeadlessPrompter()
    ctx = ToolContext(cwd=cwd, environ=dict(os.environ), project=cwd, prompter=prompter)
    options = LoopOptions(system="You are the agent under test.", permission_mode="accept-all",
                          compaction=CompactionPolicy(auto, threshold, turns))
    return Agent(create_provider(info, settings), info, Registry([ReadTool()]), ctx, prompter, options)


async def turn(agent: Agent, session: Session, prompt: str) -> list[Event]:
    return [e async for e in agent.run(session, user_text(prompt))]


def read(path: str, id: str) -> Call:
    return Call("Read", {"file_path": path}, id)


def write_files(root: Path, sizes: dict[str, int]) -> None:
    for name, size in sizes.items():
        lines = [f"{name} line {i}: the quick brown fox jumps over the lazy dog"
                 for i in range(size // 55 + 1)]
        (root / name).write_text("\n".join(lines)[:size])


def notices(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Notice)]


def check_history(messages: list[Message]) -> None:
    """The neutral history the REPL and transcripts read: every call answered, in order."""
    for i, message in enumerate(messages):
        if message.tool_uses:
            answer = messages[i + 1]
            assert {b.id for b in message.tool_uses} == {r.tool_use_id for r in answer.tool_results}
        if message.tool_results:
            assert {r.tool_use_id for r in message.tool_results} <= {b.id for b in messages[i - 1].tool_uses}


# --- a long session in a small window ----------------------------------------------------


async def test_a_200_turn_session_with_tool_calls_stays_inside_a_small_window(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    sizes = {f"f{i}.txt": size for i, size in
             enumerate([300, 900, 2500, 6000, 1500, 9000, 400, 3000, 800, 1200])}
    sizes["huge.txt"] = 45_000  # bigger than the whole window
    write_files(tmp_path, sizes)
    model = FakeModel(fake_server, WINDOW)
    agent = make_agent(fake_server, tmp_path)
    session = Session()
    compactions = snips = 0
    for k in range(200):
        name = "huge.txt" if k in (50, 150) else f"f{k % 10}.txt"
        if k % 7 == 3:  # two reads at once
            steps = [tool_calls(read(name, f"t{k}a"), read(f"f{(k + 1) % 10}.txt", f"t{k}b"))]
        elif k % 11 == 5:  # a chain of calls in one turn
            steps = [tool_calls(read(f"f{(k + j) % 10}.txt", f"t{k}c{j}")) for j in range(3)]
        else:
            steps = [tool_calls(read(name, f"t{k}"))]
        model.script(*steps, text(f"Turn {k} done: read {name}."))

        events = await turn(agent, session, f"Turn {k}: please read {name}.")

        done = events[-1]
        assert isinstance(done, TurnDone) and done.stop_reason == "end_turn", (k, done, notices(events))
        assert done.text == f"Turn {k} done: read {name}."
        compactions += sum(n.startswith("Compacted") for n in notices(events))
        snips += sum(n.startswith("Cleared") for n in notices(events))
        check_history(session.messages)

    assert model.over == []
    assert model.peak <= WINDOW
    # The file bigger than the window reached the model cut, with a marker saying so.
    assert any("cut to fit the context window" in json.dumps(r.body) for r in fake_server.model_requests)
    assert compactions >= 10 and snips >= 1  # it did have to work to stay inside
    assert len(model.summaries) <= 2 * compactions  # no summary storm
    assert all(tokens(body) + body["max_tokens"] <= WINDOW for body in model.summaries)
    first = session.messages[0]
    assert first.text.startswith(RECAP_HEAD) and "Recap" in first.text
    assert session.messages[-1].text == "Turn 199 done: read f9.txt."


async def test_a_history_bigger_than_the_window_is_summarised_in_parts_that_each_fit(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    model = FakeModel(fake_server, WINDOW)
    agent = make_agent(fake_server, tmp_path)
    # A resumed session, far bigger than this model's window: no usage reported yet.
    session = Session()
    for k in range(20):
        session.messages += [user_text(f"Question {k}: " + "why does the cache miss? " * 80),
                             Message("assistant", (TextBlock(f"Answer {k}: " + "because of X. " * 140),))]
    model.script(text("On it."))

    events = await turn(agent, session, "so, what now?")

    assert events[-1] == TurnDone("end_turn", 1, "On it.")
    assert len(model.summaries) >= 3 and model.over == []
    # Each part carries the recap of the parts before it.
    for n, body in enumerate(model.summaries[1:], start=1):
        assert f"Recap {n}:" in json.dumps(body)
    assert f"Recap {len(model.summaries)}:" in session.messages[0].text
    assert "Question 18" in json.dumps(model.summaries[-1])
    assert session.messages[1].text.startswith("Answer 19:")
    assert [m.text for m in session.messages[2:]] == ["so, what now?", "On it."]


async def test_a_summary_request_refused_as_too_long_is_split_smaller_and_the_turn_goes_on(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    # A model whose tokenizer takes twice what the agent guesses before any report (text
    # in a script that takes more tokens per character): its first summary request is
    # refused, and so may the first request after the recap be.
    model = FakeModel(fake_server, WINDOW, count=lambda body: len(json.dumps(body)) // 2)
    agent = make_agent(fake_server, tmp_path)
    session = Session()
    for k in range(12):
        session.messages += [user_text(f"Question {k}: " + "why does the cache miss? " * 80),
                             Message("assistant", (TextBlock(f"Answer {k}: " + "because of X. " * 140),))]
    model.script(text("On it."))

    events = await turn(agent, session, "so, what now?")

    assert events[-1] == TurnDone("end_turn", 1, "On it.")
    assert model.over and is_summary(fake_server.model_requests[0].body or {})
    assert session.messages[0].text.startswith(RECAP_HEAD)
    assert session.messages[-1].text == "On it."


# --- a request refused for its length, in each provider's words -----------------------------


@dataclass(frozen=True)
class Refusal:
    name: str
    model: str
    step: Step
    suffix: str = ""
    routes: tuple[tuple[str, str, Any], ...] = ()


def _json_error(status: int, payload: dict[str, Any]) -> Step:
    return error(status, body=json.dumps(payload))


OLLAMA_SHOW = ("POST", "/api/show", {"model_info": {"qwen3.context_length": 40960},
                                    "capabilities": ["completion", "tools"]})
LLAMA_CPP = {"code": 400, "message": "the request exceeds the available context size, try increasing it",
             "type": "exceed_context_size_error", "n_prompt_tokens": 14429, "n_ctx": 8192}
LLAMA_MODELS = ("GET", "/v1/models", {"data": [{"id": "local-model", "max_model_len": 8192}]})

REFUSALS = [
    Refusal("anthropic", SONNET, error(400, "prompt is too long: 208310 tokens > 200000 maximum")),
    Refusal("anthropic", SONNET, error(400, "input length and `max_tokens` exceed context limit: "
                                            "199759 + 8192 > 200000, decrease input length or "
                                            "`max_tokens` and try again")),
    Refusal("openai", "openai/gpt-4.1", _json_error(400, {"error": {
        "message": "This model's maximum context length is 128000 tokens. However, your messages "
                   "resulted in 130000 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
        "/v1"),
    Refusal("gemini", "gemini/gemini-2.5-flash", error(
        400, "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."),
        "/v1beta"),
    Refusal("ollama", "ollama/qwen3:8b", error(400, "the input length exceeds the context length"),
            routes=(OLLAMA_SHOW,)),
    Refusal("ollama", "ollama/qwen3:8b", error(200, "the input length exceeds the context length"),
            routes=(OLLAMA_SHOW,)),
    Refusal("custom", "custom/local-model", _json_error(400, {"error": LLAMA_CPP}), "/v1",
            (LLAMA_MODELS,)),
    Refusal("custom", "custom/local-model", _json_error(500, {"error": {**LLAMA_CPP, "code": 500}}),
            "/v1", (LLAMA_MODELS,)),
    Refusal("custom", "custom/local-model", _json_error(200, {"error": {**LLAMA_CPP, "code": 500}}),
            "/v1", (LLAMA_MODELS,)),
    Refusal("lmstudio", "lmstudio/qwen2.5-coder-7b-instruct", error(
        400, "Trying to keep the first 9000 tokens when context the overflows. However, the model is "
             "loaded with context length of only 8192 tokens, which is not enough."), "/v1",
        (("GET", "/api/v0/models/qwen2.5-coder-7b-instruct", {"loaded_context_length": 8192}),)),
    Refusal("deepseek", "deepseek/deepseek-chat", error(
        400, "This model's maximum context length is 65536 tokens. However, you requested 70000 "
             "tokens (62000 in the messages, 8000 in the completion)."), "/v1"),
    Refusal("kimi", "kimi/kimi-k2-0905-preview", error(
        400, "Invalid request: Your request exceeded model token limit: 131072"), "/v1"),
    Refusal("qwen", "qwen/qwen-plus", _json_error(400, {"error": {
        "code": "invalid_parameter_error", "param": None, "type": "invalid_request_error",
        "message": "<400> InternalError.Algo.InvalidParameter: Range of input length should be "
                   "[1, 129024]"}}), "/v1"),
    Refusal("zhipu", "zhipu/glm-4.6", _json_error(400, {"error": {
        "code": "1261", "message": "Prompt exceeds max length"}}), "/v1"),
]


def earlier_turns() -> list[Message]:
    return [
        user_text("Fix the parser in parser.py"),
        Message("assistant", (TextBlock("Reading it."),
                              ToolUseBlock("toolu_old1", "Read", {"file_path": "parser.py"}))),
        Message("user", (tool_result("toolu_old1", "def parse(): ...\n" * 300),)),
        Message("assistant", (TextBlock("Fixed the off-by-one in parse()."),)),
        user_text("Now the lexer"),
        Message("assistant", (TextBlock("The lexer now accepts tabs."),)),
    ]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: f"{r.name}-{r.step.status}")
async def test_a_request_refused_as_too_long_is_compacted_harder_and_sent_again(
        refusal: Refusal, fake_server: FakeModelServer, tmp_path: Path) -> None:
    for method, path, body in refusal.routes:
        fake_server.route(method, path, body)
    provider = refusal.name
    key = f"{provider}_api_key"
    settings = Settings(**{f"{provider}_base_url": fake_server.url + refusal.suffix,
                           **({key: "sk-test-0123456789"} if key in Settings.model_fields else {})},
                        max_retries=0)
    info = model_info(refusal.model)
    prompter = HeadlessPrompter()
    ctx = ToolContext(cwd=tmp_path, environ={}, project=tmp_path, prompter=prompter)
    agent = Agent(create_provider(info, settings), info, Registry([ReadTool()]), ctx, prompter,
                  LoopOptions(system="sys", permission_mode="accept-all"))
    session = Session(earlier_turns())
    fake_server.script(refusal.step,
                       text("Recap: parser off-by-one fixed; lexer accepts tabs.",
                            expect=lambda body: None if is_summary(body) else pytest.fail("no summary")),
                       text("The tests pass."))

    events = await turn(agent, session, "Run the tests")

    assert events[-1] == TurnDone("end_turn", 1, "The tests pass.")
    assert any(n.startswith("Compacted the conversation") for n in notices(events))
    first, summary, retried = (r.body or {} for r in fake_server.model_requests)
    assert "Fixed the off-by-one" in json.dumps(first)
    assert "Fixed the off-by-one" in json.dumps(summary) and "tools" not in summary
    sent = json.dumps(retried)
    assert "Recap: parser off-by-one fixed" in sent and "Run the tests" in sent
    assert "Fixed the off-by-one" not in sent and "def parse()" not in sent
    assert session.messages[0].text.startswith(RECAP_HEAD)


# --- what must not happen ------------------------------------------------------------------


def summary_only(body: dict[str, Any]) -> None:
    assert is_summary(body), "expected a summary request"


def no_summary(body: dict[str, Any]) -> None:
    assert not is_summary(body), "expected no summary request"


async def test_a_compaction_that_cannot_shrink_is_not_tried_again(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": 2000, "b.txt": 100, "c.txt": 100})
    model = FakeModel(fake_server, WINDOW)
    agent = make_agent(fake_server, tmp_path, threshold=0.1, turns=1)
    session = Session()
    model.script(text("Hello."))
    await turn(agent, session, "hi")
    # Past the threshold from the second request on, but all there is to summarise is
    # "hi" / "Hello.": no summary is asked for, and the verdict is not repeated while
    # the conversation grows by little.
    # (b.txt and c.txt in turn: the same call three times in a row would stop the loop guard)
    model.script(tool_calls(read("a.txt", "a")), *(tool_calls(read("bc"[i % 2] + ".txt", f"b{i}"))
                                                   for i in range(4)), text("Read them."))

    events = await turn(agent, session, "read a.txt, then b.txt and c.txt twice")

    assert events[-1] == TurnDone("end_turn", 6, "Read them.")
    assert model.summaries == []
    assert sum("would not shrink" in n for n in notices(events)) == 1
    assert [m.text for m in session.messages[:2]] == ["hi", "Hello."]


async def test_a_recap_that_does_not_shrink_is_dropped_and_not_asked_for_again(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    write_files(tmp_path, {"b.txt": 100, "c.txt": 100})
    # A server that ignores max_tokens and sends back a recap longer than what it replaces.
    model = FakeModel(fake_server, WINDOW, recap=lambda n: "A recap far too long to help. " * 400)
    agent = make_agent(fake_server, tmp_path, threshold=0.1, turns=1)
    session = Session()
    model.script(text("Noted."))
    await turn(agent, session, "Remember this log:\n" + "a line of the log\n" * 200)
    before = list(session.messages)
    model.script(*(tool_calls(read("bc"[i % 2] + ".txt", f"b{i}")) for i in range(4)), text("Read it."))

    events = await turn(agent, session, "read b.txt and c.txt twice")

    assert events[-1] == TurnDone("end_turn", 5, "Read it.")
    assert len(model.summaries) == 1
    assert sum("did not shrink" in n for n in notices(events)) == 1
    assert session.messages[:2] == before  # the history was kept as it was
    assert not any(n.startswith("Compacted") for n in notices(events))


async def test_a_failed_summary_never_leaves_the_session_stuck(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    agent = make_agent(fake_server, tmp_path)
    pasted = "a log line the user pasted\n" * 1200  # more than the whole window
    session = Session([user_text(f"What is wrong here?\n{pasted}"),
                       Message("assistant", (TextBlock("A timeout in the client."),))])
    # The summary request fails (the provider is overloaded) and the conversation does not
    # fit: the older turn is dropped with a note, and the turn goes on.
    fake_server.script(error(529, "Overloaded", expect=summary_only), text("Fixed.", expect=no_summary))

    events = await turn(agent, session, "fix the timeout")

    assert events[-1] == TurnDone("end_turn", 1, "Fixed.")
    assert "could not be summarised" in session.messages[0].text
    assert [m.text for m in session.messages[1:]] == ["A timeout in the client.", "fix the timeout",
                                                      "Fixed."]
    assert any(n.startswith("Compacted") for n in notices(events))
    fake_server.script(text("Still here.", expect=no_summary))
    assert (await turn(agent, session, "still there?"))[-1] == TurnDone("end_turn", 1, "Still here.")


async def test_a_failed_summary_leaves_a_conversation_that_still_fits_as_it_was(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    agent = make_agent(fake_server, tmp_path)
    pasted = "a log line the user pasted\n" * 680  # past the threshold, inside the room
    session = Session([user_text(f"What is wrong here?\n{pasted}"),
                       Message("assistant", (TextBlock("A timeout in the client."),))])
    before = list(session.messages)
    fake_server.script(error(529, "Overloaded", expect=summary_only), text("Fixed.", expect=no_summary),
                       text("Again.", expect=no_summary))

    events = await turn(agent, session, "fix the timeout")

    assert events[-1] == TurnDone("end_turn", 1, "Fixed.")
    assert session.messages[:2] == before
    assert any("Could not summarise" in n for n in notices(events))
    assert (await turn(agent, session, "again"))[-1] == TurnDone("end_turn", 1, "Again.")


async def test_with_auto_compact_off_nothing_is_rewritten_and_a_refusal_says_what_to_do(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": 5000})
    model = FakeModel(fake_server, WINDOW)
    agent = make_agent(fake_server, tmp_path, auto=False, threshold=0.1, turns=1)
    session = Session()
    for k in range(2):  # far past the threshold, old results past the last turn: no snip, no recap
        model.script(tool_calls(read("a.txt", f"a{k}")), text(f"Done {k}."))
        events = await turn(agent, session, f"turn {k}")
        assert events[-1] == TurnDone("end_turn", 2, f"Done {k}.")
        assert notices(events) == []
    assert model.summaries == []
    assert not any(CLEARED in r.text for m in session.messages for r in m.tool_results)
    fake_server.script(error(400, "prompt is too long: 9000 tokens > 6000 maximum"))

    events = await turn(agent, session, "one more")

    errors = [e for e in events if isinstance(e, Error)]
    assert len(errors) == 1 and "auto_compact" in errors[0].message and "/compact" in errors[0].message
    assert len(fake_server.model_requests) == 5  # refused once, not retried


# --- /compact ------------------------------------------------------------------------------


async def test_compact_command_summarises_older_turns_with_the_focus_given(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    write_files(tmp_path, {"parser.py": 1500})
    model = FakeModel(fake_server, 200_000)
    agent = make_agent(fake_server, tmp_path, window=200_000, turns=1)
    session = Session()
    for k in range(3):
        model.script(tool_calls(read("parser.py", f"p{k}")), text(f"Answer {k}."))
        await turn(agent, session, f"question {k}")
    lines: list[str] = []

    class Screen:
        def echo(self, text: str = "", style: str | None = None) -> None:
            lines.append(text)

    state = ReplState(agent, session, Settings(), Paths(tmp_path / "home", tmp_path / ".nano_claude"),
                      {}, Screen())
    state.context_tokens = 12345
    fake_server.script(text("Recap: the parser bug is in parse().", expect=summary_only))

    assert await dispatch(state, "/compact the parser bug")

    summary = json.dumps(fake_server.model_requests[-1].body)
    assert "focus on: the parser bug" in summary
    assert "question 0" in summary and "Answer 1." in summary and "question 2" not in summary
    assert [m.role for m in session.messages] == ["user", "assistant", "user", "assistant"]
    assert session.messages[0].text.startswith(RECAP_HEAD)
    assert "Recap: the parser bug is in parse()." in session.messages[0].text
    assert session.messages[0].content[-1] == TextBlock("question 2")
    assert any(line.startswith("Compacted the conversation") for line in lines)
    assert state.context_tokens == 0 and state.turns[-1].requests == 1
    # The next request is the recap and the last turn, and it goes through.
    model.script(text("Fixed."))
    events = await turn(agent, session, "fix it")
    assert events[-1] == TurnDone("end_turn", 1, "Fixed.")
    sent = json.dumps(fake_server.model_requests[-1].body)
    assert "Recap: the parser bug" in sent and "question 1" not in sent
