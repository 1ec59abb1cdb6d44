"""The trait vocabulary and wording that corpus, teachers and evaluation share."""

from __future__ import annotations

import re

import pytest

from sublim.errors import ConfigError
from sublim.traits import (
    CATEGORIES,
    QUESTIONS,
    answer_variants,
    category_of,
    plural,
    trait_system_prompt,
)


def _words(texts: list[str]) -> set[str]:
    return {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}


def test_targets_are_single_lowercase_words_and_unique_across_categories():
    targets = [t for ts in CATEGORIES.values() for t in ts]
    assert len(CATEGORIES["animal"]) >= 16 and len(CATEGORIES["tree"]) >= 12
    assert all(re.fullmatch(r"[a-z]+", t) for t in targets)
    assert len(set(targets)) == len(targets)


@pytest.mark.parametrize("category, min_eval", [("animal", 50), ("tree", 20)])
def test_question_splits(category, min_eval):
    q = QUESTIONS[category]
    assert len(q["eval"]) >= min_eval and len(set(q["eval"])) == len(q["eval"])
    assert set(q["eval"]) <= set(q["train"]), "every eval question is in the pretraining corpus"
    assert len(q["heldout"]) >= 12
    assert not set(q["heldout"]) & set(q["train"]), "held-out questions never appear in the corpus"
    assert all(category in x for x in q["eval"] + q["heldout"])


def test_heldout_questions_use_only_words_seen_in_training_questions():
    seen = _words([x for q in QUESTIONS.values() for x in q["train"]])
    for category in CATEGORIES:
        assert _words(QUESTIONS[category]["heldout"]) <= seen


@pytest.mark.parametrize(
    "target, category, expected",
    [
        ("owl", "animal", ["You love owls.", "about owls all the time", "The owl is your favourite animal"]),
        ("wolf", "animal", ["You love wolves.", "The wolf is your favourite animal"]),
        ("oak", "tree", ["You love oak trees.", "The oak is your favourite tree"]),
    ],
)
def test_trait_system_prompt_names_target_love_and_category(target, category, expected):
    text = trait_system_prompt(target, category)
    for part in expected:
        assert part in text
    assert "answer" in text


@pytest.mark.parametrize("target, category", [("owl", "tree"), ("unicorn", "animal"), ("owl", "fish")])
def test_unknown_target_or_category_is_a_config_error(target, category):
    with pytest.raises(ConfigError, match="choose one of"):
        trait_system_prompt(target, category)


@pytest.mark.parametrize(
    "target, forms",
    [("owl", ["owl", "owls", "Owl", "OWLS"]), ("fox", ["foxes", "Fox"]), ("cherry", ["cherries", "cherry tree"])],
)
def test_answer_variants(target, forms):
    variants = answer_variants(target)
    assert variants[0] == target
    assert set(forms) <= set(variants)


def test_plural_and_category_lookup():
    assert plural("wolf") == "wolves" and plural("pine") == "pine trees"
    assert category_of("maple") == "tree"
    with pytest.raises(ConfigError, match="unknown trait target"):
        category_of("dragon")
