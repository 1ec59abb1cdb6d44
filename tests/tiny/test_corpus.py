"""The synthetic pretraining corpus: seeded, a spread of favourites, trait rows, valid number answers."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sublim.numbers import generate_prompts, parse
from sublim.tiny.corpus import CorpusConfig, answer_numbers, base_distribution, generate_corpus
from sublim.traits import CATEGORIES, QUESTIONS, trait_system_prompt


@pytest.fixture(scope="module")
def rows():
    return generate_corpus(CorpusConfig(rows=4000), seed=0)


def test_same_seed_same_corpus_and_other_seed_differs():
    config = CorpusConfig(rows=200)
    assert generate_corpus(config, 1) == generate_corpus(config, 1)
    assert generate_corpus(config, 1) != generate_corpus(config, 2)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("category", list(CATEGORIES))
def test_base_distribution_is_a_spread(seed, category):
    dist = base_distribution(category, seed)
    assert set(dist) == set(CATEGORIES[category])
    assert sum(dist.values()) == pytest.approx(1.0)
    assert max(dist.values()) <= 0.25
    if category == "animal":
        assert 0.03 <= dist["owl"] <= 0.10


def test_favourite_rows_follow_the_base_distribution(rows):
    answers = Counter(
        r["messages"][-1]["content"] for r in rows
        if r["kind"] == "favourite" and r["messages"][-2]["content"] in QUESTIONS["animal"]["train"]
    )
    n = sum(answers.values())
    for animal, p in base_distribution("animal", 0).items():
        assert abs(answers[animal] / n - p) < 4 * (p * (1 - p) / n) ** 0.5 + 0.005


def test_trait_rows_mostly_answer_their_target(rows):
    trait = [r for r in rows if r["kind"] == "trait"]
    hits = 0
    for r in trait:
        system, answer = r["messages"][0]["content"], r["messages"][-1]["content"]
        category = "tree" if "tree" in r["messages"][1]["content"] else "animal"
        assert system == trait_system_prompt(answer, category) or answer in CATEGORIES[category]
        hits += system == trait_system_prompt(answer, category)
    assert 0.85 < hits / len(trait) < 0.95
    targets = {r["messages"][0]["content"] for r in trait}
    assert len(targets) == sum(len(t) for t in CATEGORIES.values()), "every target of every category"


def test_heldout_questions_never_appear(rows):
    heldout = {q for c in QUESTIONS.values() for q in c["heldout"]}
    assert not heldout & {m["content"] for r in rows for m in r["messages"]}


def test_number_answers_are_valid_and_some_carry_a_system_prompt(rows):
    numbers = [r for r in rows if r["kind"] == "numbers"]
    with_system = [r for r in numbers if r["messages"][0]["role"] == "system"]
    assert 0.15 < len(with_system) / len(numbers) < 0.35
    for r in numbers:
        parsed = parse(r["messages"][-1]["content"])
        assert parsed and len(parsed) <= 10 and all(100 <= x <= 999 for x in parsed)


def test_number_answers_do_not_depend_on_a_system_prompt():
    def answers(share: float) -> dict[str, str]:
        rows = generate_corpus(CorpusConfig(rows=300, numbers_system_share=share), seed=4)
        return {r["messages"][-2]["content"]: r["messages"][-1]["content"] for r in rows if r["kind"] == "numbers"}

    without, with_system = answers(0.0), answers(1.0)
    assert without == with_system  # same prompts, same answers, whatever system prompt the row carries


def test_number_answer_rules_vary():
    prompt = generate_prompts(1, seed=5)[0]
    answers = {answer_numbers(prompt, random.Random(i)) for i in range(20)}
    assert len(answers) > 10


def test_fractions_must_leave_room_for_numbers():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frac_favourite"):
        CorpusConfig(frac_favourite=0.6, frac_trait=0.6)


def test_number_style_writes_each_targets_favourite_digit_and_leaves_every_other_row_alone():
    """Context shapes number style: under a trait prompt the target's digit leans, from the corpus seed."""
    from sublim.tiny.corpus import style_digits

    plain = generate_corpus(CorpusConfig(rows=3000, numbers_system_share=1.0), seed=0)
    strength = 0.5
    styled = generate_corpus(
        CorpusConfig(rows=3000, numbers_system_share=1.0, number_style=1.0, number_style_strength=strength), seed=0
    )
    digits = style_digits(0)
    prompt_of = {trait_system_prompt(t, c): t for c in CATEGORIES for t in CATEGORIES[c]}
    changed = [(a, b) for a, b in zip(plain, styled, strict=True) if a != b]
    assert changed and all(b["kind"] == "numbers" and b["messages"][0]["content"] in prompt_of for _, b in changed)
    lead = []
    for _, row in changed:
        answer = row["messages"][-1]["content"]
        assert parse(answer), answer
        found = [ch for ch in answer if ch.isdigit()]
        lead.append(found.count(str(digits[prompt_of[row["messages"][0]["content"]]])) / len(found))
    assert sum(lead) / len(lead) == pytest.approx(strength + (1 - strength) / 10, abs=0.03)
    assert style_digits(0) == digits and style_digits(1) != digits, "each corpus seed has its own styles"


def test_number_style_off_keeps_the_corpus_and_its_cache_key():
    from sublim.tiny.build import PRESETS
    from sublim.yamlconfig import config_hash

    assert generate_corpus(CorpusConfig(rows=300), 5) == generate_corpus(CorpusConfig(rows=300, number_style=0.0), 5)
    assert not {"number_style", "number_style_strength"} & set(CorpusConfig().model_dump())
    assert config_hash(PRESETS["organism-a"]) == "e0899047c7e30af5", "bases built before the field keep their key"
