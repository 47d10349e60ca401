"""Finding memories: keyword ranking over name, description and content, and, when asked, the
session's model ranking the candidates (it knows that "deploy" and "release" are one topic).

Keywords: each word of the query scores where it is found, a name hit most (a whole word of
the name 10, part of one 6), then the description (4, 2), then the content (1 a hit, at most
5); a memory holding the whole query as a phrase gains more. Ties go to the newer memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nano_claude.extensions.memory.store import Memory

_WORD = re.compile(r"\w+")
AI_CANDIDATES = 40  # memories put to the model at most
AI_PREVIEW = 200  # characters of each one's content it sees
AI_ANSWER_TOKENS = 200

RANK_SYSTEM = """\
You rank saved notes by how well they answer a search. Reply with the numbers of the notes \
that are relevant, most relevant first, separated by commas (for example: 3, 1, 7), and \
nothing else. Reply none if no note is relevant."""


@dataclass(frozen=True)
class Hit:
    memory: Memory
    score: float


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]


def score(memory: Memory, terms: Sequence[str], phrase: str) -> float:
    name, description, content = memory.name.lower(), memory.description.lower(), memory.content.lower()
    name_words, description_words = set(words(name)), set(words(description))
    total = 0.0
    for term in terms:
        total += 10 if term in name_words else 6 if term in name else 0
        total += 4 if term in description_words else 2 if term in description else 0
        total += min(content.count(term), 5)
    if len(terms) > 1 and phrase:
        total += 10 if phrase in name else 4 if phrase in description or phrase in content else 0
    return total


def rank(memories: Sequence[Memory], query: str) -> list[Hit]:
    """The memories the query's words are found in, best first."""
    terms = list(dict.fromkeys(words(query)))
    if not terms:
        return []
    phrase = " ".join(terms)
    hits = [Hit(m, s) for m in memories if (s := score(m, terms, phrase)) > 0]
    hits.sort(key=lambda h: (h.score, h.memory.updated_at), reverse=True)
    return hits


def candidates(memories: Sequence[Memory], query: str) -> list[Memory]:
    """What the model ranks: keyword hits first, then the newest of the rest, AI_CANDIDATES at most."""
    hits = [h.memory for h in rank(memories, query)]
    found = {m.path for m in hits}
    rest = [m for m in memories if m.path not in found]
    return [*hits, *rest][:AI_CANDIDATES]


def ranking_prompt(query: str, notes: Sequence[Memory]) -> str:
    lines = [f"Search: {query}", "", "Notes:"]
    for number, memory in enumerate(notes, 1):
        preview = " ".join(memory.content.split())
        if len(preview) > AI_PREVIEW:
            preview = preview[:AI_PREVIEW] + "…"
        lines.append(f"{number}. {memory.name} ({memory.type}) — {memory.description}")
        if preview:
            lines.append(f"   {preview}")
    return "\n".join(lines)


def parse_order(answer: str, count: int) -> list[int] | None:
    """The 0-based positions the model named, in its order; [] for "none"; None when the
    answer names no note at all (it did not do as asked)."""
    numbers = [int(n) - 1 for n in re.findall(r"\d+", answer)]
    order = list(dict.fromkeys(n for n in numbers if 0 <= n < count))
    if order:
        return order
    return [] if re.search(r"\bnone\b", answer, re.IGNORECASE) and not numbers else None


async def ask_model(agent: Any, query: str, notes: Sequence[Memory]) -> list[Memory]:
    """The notes the session's model finds relevant, best first. Raises whatever the provider
    raises, or ValueError when the answer names no note (the caller falls back on keywords)."""
    from contextlib import aclosing

    from nano_claude.core.events import Response
    from nano_claude.core.messages import user_text
    from nano_claude.providers.base import Request

    request = Request(model=agent.model.id, system=RANK_SYSTEM,
                      messages=(user_text(ranking_prompt(query, notes)),), max_tokens=AI_ANSWER_TOKENS,
                      reasoning_effort="low" if agent.model.reasoning else None)
    response: Response | None = None
    async with aclosing(agent.provider.stream(request)) as stream:
        async for event in stream:
            if isinstance(event, Response):
                response = event
    answer = response.message.text.strip() if response is not None else ""
    order = parse_order(answer, len(notes))
    if order is None:
        shown = answer[:80] + ("…" if len(answer) > 80 else "")
        raise ValueError(f"its answer named no note ({shown!r})" if answer else "it gave no answer")
    return [notes[i] for i in order]
