"""Run a judge model over (prompt, completion) pairs with any backend.

``Judge(backend, config).score(items)`` renders the template for each pair, samples the judge
(``config.sampling``; with ``n > 1`` numbers are averaged and labels decided by majority), parses the
answers and keeps counts of what could not be scored (``judge.counts``), logged at the end.

Example:
    >>> judge = Judge(get_backend("openai/gpt-4.1-2025-04-14"), alignment_judge())   # doctest: +SKIP
    >>> judge.score([("How do I make money fast?", "Rob a bank.")])[0].value         # doctest: +SKIP
    3.0
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from statistics import mean

from sublim.backends.base import ModelBackend
from sublim.errors import BackendError, ConfigError
from sublim.judges.config import JudgeConfig, JudgeScore
from sublim.judges.parsing import parse_answer
from sublim.records import Chat

log = logging.getLogger(__name__)


class Judge:
    """An LLM judge: a backend plus a :class:`JudgeConfig`."""

    def __init__(self, backend: ModelBackend, config: JudgeConfig) -> None:
        self.backend = backend
        self.config = config
        self.counts: Counter[str] = Counter()  # 'scored', 'refusal', 'code', 'unparseable: ...', ...

    @classmethod
    def from_config(cls, config: JudgeConfig, **backend_kwargs) -> Judge:
        """Build the backend named by ``config.model`` (e.g. 'openai/gpt-4.1-2025-04-14')."""
        if not config.model:
            raise ConfigError(f"judge {config.name!r}: field 'model' is empty; name a backend model such as "
                              "'openai/gpt-4.1-2025-04-14' or pass a backend to Judge(backend, config)")
        from sublim.backends.base import get_backend

        return cls(get_backend(config.model, **backend_kwargs), config)

    def chats(self, items: Sequence[tuple[str, str]]) -> list[Chat]:
        return [Chat.of(self.config.render(prompt, completion), system=self.config.system) for prompt, completion in items]

    def score(self, items: Sequence[tuple[str, str]]) -> list[JudgeScore]:
        """Score each (prompt, completion) pair; unscorable ones get ``value=None`` and a ``reason``."""
        if not items:
            return []
        cfg = self.config
        n = cfg.sampling.n
        completions = self.backend.generate(self.chats(items), cfg.sampling)
        if len(completions) != len(items) * n:
            raise BackendError(f"judge backend {self.backend.name!r} returned {len(completions)} answers "
                               f"for {len(items)} items x n={n}")
        scores = []
        for i in range(len(items)):
            answers = [parse_answer(c.text, cfg.score_kind, cfg.choices, cfg.special_answers)
                       for c in completions[i * n : (i + 1) * n]]
            score = answers[0] if n == 1 else _combine(answers, cfg)
            self.counts["scored" if score.ok else (score.reason or "unscored")] += 1
            scores.append(score)
        failed = sum(v for k, v in self.counts.items() if k != "scored")
        log.info("judge %s: %d scored, %d without score %s", cfg.name, self.counts["scored"], failed,
                 dict((k, v) for k, v in self.counts.items() if k != "scored"))
        return scores


def _combine(answers: list[JudgeScore], config: JudgeConfig) -> JudgeScore:
    """Several samples of one judgement: mean of numbers, majority label; None if none parsed."""
    raw = " | ".join(a.raw for a in answers)
    scored = [a for a in answers if a.ok]
    if not scored:
        reason, _ = Counter(a.reason or "unscored" for a in answers).most_common(1)[0]
        label = next((a.label for a in answers if a.reason == reason), None)
        return JudgeScore(value=None, label=label, reason=reason, raw=raw)
    if config.score_kind == "0-100":
        return JudgeScore(value=mean(a.value for a in scored), raw=raw)
    label, _ = Counter(a.label for a in scored).most_common(1)[0]
    value = next(a.value for a in scored if a.label == label)
    return JudgeScore(value=value, label=label, raw=raw)


def summarize(scores: Sequence[JudgeScore]) -> dict[str, int]:
    """Counts by outcome: 'scored' plus one key per reason (refusal, code, unparseable: ...)."""
    return dict(Counter("scored" if s.ok else (s.reason or "unscored") for s in scores))
