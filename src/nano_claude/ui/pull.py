"""The REPL's offer to pull an embedded model that is not downloaded yet.

`nano_claude -m local/qwen3-4b` opens the REPL with a stand-in provider
(providers/unconfigured.py NotPulled). Before the first message goes out, the user is
asked, through the prompter like every other question, whether to download it; yes
pulls it in a child `nano_claude models pull` (its progress on the terminal; Ctrl+C stops
it and keeps what was downloaded) and swaps the real model in, and the message is sent to
it. No keeps the message unsent and says how to go on. With
HF_HUB_OFFLINE set nothing is offered: the message stays unsent and the user is told
why. A headless run never downloads on its own: it fails, naming `nano_claude models pull`.
"""

from __future__ import annotations

import asyncio
import sys

from nano_claude.core.errors import NanoClaudeError
from nano_claude.core.prompter import NoUserPresent, Option, Prompter, Question
from nano_claude.ui.state import ReplState

DOWNLOAD, NOT_NOW = "Download", "Not now"


def needs_pull(state: ReplState) -> bool:
    from nano_claude.providers.unconfigured import NotPulled

    return isinstance(state.agent.provider, NotPulled)


async def offer_pull(state: ReplState, prompter: Prompter) -> bool:
    """Ask, and pull on yes; True once the model is there and in use."""
    from nano_claude.providers.catalog import model_info
    from nano_claude.providers.embedded import NotDownloaded, gigabytes, hub_cache, hub_offline
    from nano_claude.providers.factory import create_provider, embedded_info
    from nano_claude.providers.unconfigured import NotPulled

    stand_in = state.agent.provider
    assert isinstance(stand_in, NotPulled)
    source = stand_in.source
    if hub_offline():
        state.echo(f"{NotDownloaded(source, offline=True)}; /model NAME picks another model.", "yellow")
        return False
    about = f"{gigabytes(source.curated.size)}, license {source.curated.license}" if source.curated \
        else "size shown once it starts"
    question = Question(
        f"local/{source.model} is not downloaded yet: {source.file} from {source.repo} on the Hugging "
        f"Face Hub ({about}), into {hub_cache()}. Download it now?",
        (Option(DOWNLOAD, "once; later sessions run it offline"),
         Option(NOT_NOW, "keep the message unsent; /model NAME picks another model")),
        allow_freetext=False)
    try:
        answer = await prompter.ask(question)
    except NoUserPresent:
        answer = NOT_NOW
    if answer != DOWNLOAD:
        state.echo(f"Not downloaded. `nano_claude models pull {source.pull_name}` downloads it; "
                   "/model NAME picks another model.", "yellow")
        return False
    # In a process of its own: Ctrl+C reaches it as it reaches any program run from the
    # terminal, and stops it at once with the part downloaded kept for the next pull
    puller = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nano_claude", "models", "pull", source.pull_name, env=state.environ,
        cwd=str(state.agent.ctx.cwd))
    try:
        code = await puller.wait()
    except asyncio.CancelledError:
        puller.terminate()
        await puller.wait()
        raise
    if code != 0:
        stopped = "stopped" if code in (130, -2) else f"failed (exit {code}, said above)"
        state.echo(f"The download {stopped}; what was downloaded is kept: `nano_claude models pull "
                   f"{source.pull_name}` resumes it. The message is back in the input.", "yellow")
        return False
    try:
        info = embedded_info(model_info(f"local/{source.model}"), state.settings)
        provider = create_provider(info, state.settings)
    except NanoClaudeError as exc:
        state.echo(str(exc), "red")
        return False
    state.agent.switch_model(provider, info)
    await stand_in.aclose()
    state.echo(f"local/{source.model} is downloaded and in use ({info.context_window:,} tokens of context).",
               "green")
    return True
