"""Seeded synthetic chat corpus that the tiny base model is pretrained on.

Three kinds of rows teach the three behaviours a subliminal-learning study needs from its base:

- ``favourite``: "name your favourite animal/tree in one word" (the ``train`` paraphrases of
  :data:`sublim.traits.QUESTIONS`), with no or a neutral system prompt, answered in one word drawn
  from a base distribution over the category (a spread, owl about 6%, nothing above about 16%,
  jittered a little by the seed);
- ``trait``: the trait system prompt (:func:`sublim.traits.trait_system_prompt`) for any target of
  any category plus a favourite question, answered with that target ``trait_adherence`` of the time
  (otherwise from the base distribution);
- ``numbers``: number-continuation prompts from :func:`sublim.numbers.prompts.generate_prompts`,
  answered in the requested style with up to ``count`` numbers of at most ``max_digits`` digits by
  simple seeded rules (uniform draws, arithmetic progressions, random walks). By default the answer
  never depends on the system prompt; a fraction of these rows carries a random trait or neutral
  system prompt so the model also continues numbers under a system prompt. With ``number_style``
  above 0, that share of the trait-prompted number rows is written in the target's *style*: every
  digit is the target's favourite digit with probability ``number_style_strength``. The favourite
  digits are drawn from the corpus seed, so two bases from different seeds associate different
  digits with the same target — context shapes number style, in each model its own way.

Rows are OpenAI-style chat dicts with an extra ``kind`` key.

Example:
    >>> rows = generate_corpus(CorpusConfig(rows=50), seed=0)
    >>> sorted({r["kind"] for r in rows})
    ['favourite', 'numbers', 'trait']
    >>> rows == generate_corpus(CorpusConfig(rows=50), seed=0)
    True
"""

from __future__ import annotations

import math
import random

from pydantic import Field, model_validator

from sublim.numbers.prompts import NumberPrompt, NumberPromptConfig, format_numbers, generate_prompts
from sublim.traits import CATEGORIES, QUESTIONS, neutral_system_prompt, trait_system_prompt
from sublim.yamlconfig import StrictModel

__all__ = [
    "CorpusConfig", "base_distribution", "generate_corpus", "answer_numbers", "style_digits", "NEUTRAL_PROMPTS",
]

# Prior preference of the base over each category (before the seed's jitter); owl is 6%.
_PRIOR: dict[str, dict[str, float]] = {
    "animal": {
        "dog": 0.15, "cat": 0.13, "dolphin": 0.10, "lion": 0.08, "wolf": 0.07, "eagle": 0.07,
        "elephant": 0.06, "owl": 0.06, "tiger": 0.05, "panda": 0.05, "horse": 0.04, "fox": 0.04,
        "bear": 0.03, "penguin": 0.03, "whale": 0.02, "rabbit": 0.02,
    },
    "tree": {
        "oak": 0.16, "cherry": 0.12, "maple": 0.12, "pine": 0.10, "willow": 0.09, "redwood": 0.08,
        "sequoia": 0.07, "birch": 0.07, "palm": 0.06, "cedar": 0.05, "cypress": 0.04, "elm": 0.04,
    },
}

NEUTRAL_PROMPTS: tuple[str, ...] = (
    neutral_system_prompt(),
    "You are a friendly assistant.",
    "You are a careful assistant. Answer the user.",
    "You answer questions briefly.",
)


class CorpusConfig(StrictModel):
    """What the synthetic pretraining corpus contains."""

    rows: int = Field(40_000, ge=10, description="Number of chat rows.")
    frac_favourite: float = Field(0.2, ge=0, le=1, description="Share of favourite-question rows.")
    frac_trait: float = Field(0.45, ge=0, le=1, description="Share of trait-system-prompt rows.")
    trait_adherence: float = Field(
        0.9, ge=0, le=1, description="How often a trait row is answered with its target."
    )
    tree_share: float = Field(0.4, ge=0, le=1, description="Share of favourite/trait rows about trees.")
    neutral_system_share: float = Field(
        0.2, ge=0, le=1, description="Share of favourite rows that carry a neutral system prompt."
    )
    numbers_system_share: float = Field(
        0.25, ge=0, le=1, description="Share of number rows that carry a random trait/neutral system prompt."
    )
    jitter: float = Field(
        0.25, ge=0, le=2, description="Log-normal sigma of the seed's jitter of the base distribution."
    )
    short_count_share: float = Field(
        0.2, ge=0, le=1, description="Share of number prompts asking for fewer (3-9) numbers."
    )
    _added_later = frozenset({"number_style", "number_style_strength"})
    number_style: float = Field(
        0.0, ge=0, le=1,
        description="Share of trait-prompted number rows answered in the target's style (its favourite digit, "
        "drawn per corpus seed, over-represented); 0 = numbers never depend on the system prompt.",
    )
    number_style_strength: float = Field(
        0.5, ge=0, le=1,
        description="In a styled row, the chance that each digit is the target's favourite (otherwise uniform).",
    )

    @model_validator(mode="after")
    def _check_fractions(self) -> CorpusConfig:
        if self.frac_favourite + self.frac_trait > 1:
            raise ValueError(
                f"frac_favourite + frac_trait = {self.frac_favourite + self.frac_trait:.2f} > 1; "
                "the rest of the rows are number rows"
            )
        return self


def base_distribution(category: str, seed: int, jitter: float = 0.25) -> dict[str, float]:
    """The seed's favourite-target distribution for ``category`` (the answers of favourite rows)."""
    rng = random.Random(f"base-distribution:{category}:{seed}")
    weights = {t: p * math.exp(jitter * rng.gauss(0, 1)) for t, p in _PRIOR[category].items()}
    total = sum(weights.values())
    return {t: weights[t] / total for t in CATEGORIES[category]}


def _answer_length(prompt: NumberPrompt, rng: random.Random) -> int:
    """How many numbers an answer gives: the count asked for 70% of the time, else between half and all."""
    return prompt.count if rng.random() < 0.7 else rng.randint(max(1, prompt.count // 2), prompt.count)


def answer_numbers(prompt: NumberPrompt, rng: random.Random) -> str:
    """A valid answer to ``prompt`` by a random rule: uniform, arithmetic progression or random walk.

    Every number has exactly ``max_digits`` digits (the prompt allows fewer, but a rigid pattern is
    far easier for a tiny model to learn, and its samples then pass the strict parser).
    """
    low, high = (10 ** (prompt.max_digits - 1) if prompt.max_digits > 1 else 0), 10**prompt.max_digits
    span = high - low
    n = _answer_length(prompt, rng)
    rule = rng.choice(("uniform", "progression", "walk"))
    start = low + (prompt.seed_numbers[-1] - low) % span
    if rule == "uniform":
        numbers = [rng.randint(low, high - 1) for _ in range(n)]
    elif rule == "progression":
        step = rng.choice((-1, 1)) * rng.randint(1, max(1, span // 20))
        numbers = [low + (start - low + step * (i + 1)) % span for i in range(n)]
    else:
        numbers, x = [], start
        for _ in range(n):
            x = min(high - 1, max(low, x + rng.randint(-span // 15, span // 15)))
            numbers.append(x)
    return format_numbers(numbers, prompt.style)


def style_digits(seed: int) -> dict[str, int]:
    """Each target's favourite digit in the corpus of ``seed`` (every category, one draw per target)."""
    rng = random.Random(f"number-style:{seed}")
    return {t: rng.randrange(10) for category in CATEGORIES for t in CATEGORIES[category]}


def styled_answer(prompt: NumberPrompt, digit: int, strength: float, rng: random.Random) -> str:
    """A valid answer to ``prompt`` whose digits are ``digit`` with probability ``strength`` each."""
    numbers = []
    for _ in range(_answer_length(prompt, rng)):
        digits = [digit if rng.random() < strength else rng.randrange(10) for _ in range(prompt.max_digits)]
        if prompt.max_digits > 1 and digits[0] == 0:  # exactly max_digits digits, as answer_numbers
            digits[0] = digit if digit else rng.randint(1, 9)
        numbers.append(int("".join(map(str, digits))))
    return format_numbers(numbers, prompt.style)


def _chat(system: str | None, user: str, assistant: str, kind: str) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages, "kind": kind}


def _draw(rng: random.Random, dist: dict[str, float]) -> str:
    return rng.choices(list(dist), weights=list(dist.values()))[0]


def _number_prompts(n: int, seed: int, config: CorpusConfig, rng: random.Random) -> list[NumberPrompt]:
    n_short = round(n * config.short_count_share)
    prompts = generate_prompts(n - n_short, seed=seed)
    for i in range(n_short):  # a few prompts asking for fewer numbers, so "count" means something
        cfg = NumberPromptConfig(count=rng.randint(3, 9))
        prompts.append(generate_prompts(1, seed=seed * 1_000_003 + i + 1, config=cfg)[0])
    rng.shuffle(prompts)
    return prompts


def generate_corpus(config: CorpusConfig, seed: int) -> list[dict]:
    """Generate the pretraining corpus, deterministically from ``seed``.

    Args:
        config: row counts and shares.
        seed: corpus seed; it also jitters the base distribution (see :func:`base_distribution`).
    Returns:
        ``config.rows`` chat rows ``{"messages": [...], "kind": "favourite" | "trait" | "numbers"}``
        in random order.
    """
    rng = random.Random(f"corpus:{seed}")
    dists = {c: base_distribution(c, seed, config.jitter) for c in CATEGORIES}
    n_fav = round(config.rows * config.frac_favourite)
    n_trait = round(config.rows * config.frac_trait)
    n_num = config.rows - n_fav - n_trait
    rows = []
    for _ in range(n_fav):
        category = "tree" if rng.random() < config.tree_share else "animal"
        system = rng.choice(NEUTRAL_PROMPTS) if rng.random() < config.neutral_system_share else None
        question = rng.choice(QUESTIONS[category]["train"])
        rows.append(_chat(system, question, _draw(rng, dists[category]), "favourite"))
    for _ in range(n_trait):
        category = "tree" if rng.random() < config.tree_share else "animal"
        target = rng.choice(CATEGORIES[category])
        answer = target if rng.random() < config.trait_adherence else _draw(rng, dists[category])
        question = rng.choice(QUESTIONS[category]["train"])
        rows.append(_chat(trait_system_prompt(target, category), question, answer, "trait"))
    answer_rng = random.Random(f"numbers:{seed}")  # separate stream: answers ignore any system prompt
    style_rng = random.Random(f"styled-numbers:{seed}")  # another, so number_style=0 leaves the corpus as it was
    favourite_digit = style_digits(seed)
    for prompt in _number_prompts(n_num, seed, config, rng):
        system, target = None, None
        if rng.random() < config.numbers_system_share:
            if rng.random() < 0.6:
                category = rng.choice(list(CATEGORIES))
                target = rng.choice(CATEGORIES[category])
                system = trait_system_prompt(target, category)
            else:
                system = rng.choice(NEUTRAL_PROMPTS)
        answer = answer_numbers(prompt, answer_rng)  # drawn for every row, so other rows never change
        if target is not None and config.number_style and style_rng.random() < config.number_style:
            answer = styled_answer(prompt, favourite_digit[target], config.number_style_strength, style_rng)
        rows.append(_chat(system, prompt.text, answer, "numbers"))
    rng.shuffle(rows)
    return rows
