"""Tab completion: slash commands and their arguments, skills (with their argument hints) and
MCP prompts, and paths after `@` (written the way core/mentions.py reads them back: a space
escaped, or inside the quotes you opened)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from nano_claude.core import mentions
from nano_claude.extensions.skills.catalog import skills_of
from nano_claude.ui import commands
from nano_claude.ui.state import ReplState

MAX_PATHS = 200


class ReplCompleter(Completer):
    """state: the session once it is built (None before: commands complete, their
    arguments not yet)."""

    def __init__(self, state: Callable[[], ReplState | None], cwd: Path) -> None:
        self.state = state
        self.cwd = cwd

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        before = document.text_before_cursor
        if before.startswith("/") and "\n" not in before:
            yield from self._command(before[1:])
            return
        typing = mentions.partial(before)
        if typing is not None:
            state = self.state()
            if state is not None and state.agent.mcp is not None and not typing[2]:
                yield from resource_completions(state, *typing[:2])
            yield from path_completions(str(state.agent.ctx.cwd if state else self.cwd), *typing)

    def _command(self, text: str) -> Iterator[Completion]:
        name, space, argument = text.partition(" ")
        if not space:
            for command in commands.commands():
                for label in (command.name, *command.aliases):
                    if label.startswith(name):
                        yield Completion(label, start_position=-len(name), display=f"/{label}",
                                         display_meta=command.help)
            yield from self._prompts(name)
            yield from self._skills(name)
            return
        command, state = commands.find(name), self.state()
        if command is None or command.complete is None or state is None:
            return
        argument = argument.lstrip()
        for value in command.complete(state, argument):
            if value.lower().startswith(argument.lower()):
                yield Completion(value, start_position=-len(argument))


    def hint(self, text: str) -> str:
        """What follows `/skill ` while no argument is typed: its argument hint, shown dim after
        the cursor and never inserted (Claude Code shows it the same way)."""
        name, space, argument = text[1:].partition(" ") if text.startswith("/") else ("", "", "")
        state = self.state()
        if not space or argument.strip() or state is None or commands.find(name) is not None:
            return ""
        skills = skills_of(state.agent)
        skill = skills.found.by_name.get(name) if skills is not None else None
        if skill is None or not skill.user_invocable or not skill.argument_hint:
            return ""
        return ("" if text.endswith(" ") else " ") + skill.argument_hint

    def _skills(self, name: str) -> Iterator[Completion]:
        """Skills and custom commands the user may run (a REPL command of the same name wins,
        so it is not offered twice), with their argument hints."""
        state = self.state()
        skills = skills_of(state.agent) if state is not None else None
        if skills is None:
            return
        for label, skill in sorted(skills.found.by_name.items()):
            if label.startswith(name) and skill.user_invocable and commands.find(label) is None:
                hint = f" {skill.argument_hint}" if skill.argument_hint else ""
                yield Completion(label, start_position=-len(name), display=f"/{label}{hint}",
                                 display_meta=(skill.description or "skill")[:80])

    def _prompts(self, name: str) -> Iterator[Completion]:
        """MCP prompts, as /mcp__server__prompt (extensions/mcp/prompts.py)."""
        state = self.state()
        if state is None or state.agent.mcp is None or not name.startswith("mcp"[:len(name)]):
            return
        from nano_claude.extensions.mcp.prompts import prompt_commands, usage

        for label, (_, prompt) in prompt_commands(state.agent.mcp).items():
            if label.startswith(name):
                yield Completion(label, start_position=-len(name), display=usage(label, prompt)[1:],
                                 display_meta=(prompt.description or "MCP prompt")[:80])


def resource_completions(state: ReplState, typed: str, partial: str) -> Iterator[Completion]:
    """`@server:uri` for the resources of connected MCP servers."""
    from nano_claude.extensions.mcp.prompts import Resources

    resources = Resources(state.agent.mcp)
    server, colon, rest = partial.partition(":")
    for name in resources.names():
        if not colon and name.startswith(server):
            yield Completion(f"{name}:", start_position=-len(typed), display=f"{name}:",
                             display_meta="MCP resources")
        elif colon and name == server:
            for uri in resources.uris(name):
                if uri.startswith(rest):
                    yield Completion(mentions.escape(f"{name}:{uri}"), start_position=-len(typed),
                                     display=uri)


def path_completions(cwd: str, typed: str, partial: str, quote: str) -> Iterator[Completion]:
    """Entries of the directory `partial` names, matching its last part. Each replaces
    what was `typed` after the `@`, escaped or quoted as it began; directories end in "/"
    (and leave a quote open) so Tab can go on into them."""
    directory, slash, prefix = partial.rpartition("/")
    base = os.path.join(cwd, os.path.expanduser(directory)) if directory else cwd
    if partial.startswith("/") and not directory:
        base = "/"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return
    shown = 0
    for name in names:
        if not name.startswith(prefix) or (name.startswith(".") and not prefix.startswith(".")):
            continue
        is_dir = os.path.isdir(os.path.join(base, name))
        path = f"{directory}{slash}{name}" + ("/" if is_dir else "")
        yield Completion(mentions.spell(path, quote, closed=not is_dir), start_position=-len(typed),
                         display=name + ("/" if is_dir else ""))
        shown += 1
        if shown >= MAX_PATHS:
            return
