"""A deterministic fake backend for offline tests of the pipeline's plumbing (no model at all).

Completions are pure functions of (chat, seed, sample index): number prompts get a number list,
"favourite" questions get an option drawn from a fixed distribution that a system prompt naming an
option tilts toward it. ``score`` returns the log of that distribution. It counts its calls, so tests
can check that a resumed run does not sample twice.

Example:
    >>> from sublim.records import Chat
    >>> b = FakeBackend("numbers")
    >>> b.generate([Chat.of("Continue: 1, 2, 3.")], SamplingParams(seed=1))[0].text == \\
    ...     b.generate([Chat.of("Continue: 1, 2, 3.")], SamplingParams(seed=1))[0].text
    True
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

from sublim.backends.base import BackendBase, SamplingParams
from sublim.records import Chat, Completion


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


class FakeBackend(BackendBase):
    """Deterministic stand-in for a model; ``options`` are the answers to favourite-questions."""

    def __init__(self, model: str = "fake", *, options: Sequence[str] | None = None, tilt: float = 0.5) -> None:
        from sublim.traits import CATEGORIES

        self.name = f"fake/{model}"
        self.options = list(options or CATEGORIES["animal"])
        self.tilt = tilt
        self.generate_calls = 0
        self.rows_generated = 0

    def _distribution(self, chat: Chat) -> dict[str, float]:
        system = next((m.content.lower() for m in chat.messages if m.role == "system"), "")
        base = {o: 1.0 / len(self.options) for o in self.options}
        loved = [o for o in self.options if o in system]
        if loved:
            base = {o: (1 - self.tilt) * p + (self.tilt if o == loved[0] else 0.0) for o, p in base.items()}
        return base

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        self.generate_calls += 1
        out = []
        for chat in chats:
            user = chat.messages[-1].content
            for i in range(params.n):
                rng = _rng(self.name, [m.content for m in chat.messages], params.seed, i)
                if "favourite" in user.lower() or "favorite" in user.lower():
                    dist = self._distribution(chat)
                    text = rng.choices(list(dist), weights=list(dist.values()))[0]
                else:
                    text = ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(3, 10)))
                out.append(Completion(text=text))
                self.rows_generated += 1
        return out

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        out = []
        for chat, cont in zip(chats, continuations, strict=True):
            p = self._distribution(chat).get(cont.strip().lower(), 1e-6)
            out.append(math.log(p))
        return out
