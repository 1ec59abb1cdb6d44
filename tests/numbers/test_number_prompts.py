"""Number prompts follow the paper's structure and are deterministic from a seed."""

from __future__ import annotations

import re

import pytest

from sublim.errors import ConfigError
from sublim.numbers import STYLES, NumberPromptConfig, format_numbers, generate_prompts, parse
from sublim.numbers import prompts as P
from sublim.yamlconfig import load_yaml_text


def test_same_seed_gives_same_prompts_and_other_seeds_differ():
    assert generate_prompts(50, seed=7) == generate_prompts(50, seed=7)
    assert [p.text for p in generate_prompts(50, seed=7)] != [p.text for p in generate_prompts(50, seed=8)]


def test_prompts_are_prefix_stable_and_ids_follow_the_index():
    short, long = generate_prompts(5, seed=3), generate_prompts(40, seed=3)
    assert long[:5] == short
    assert [p.id for p in long[:3]] == ["np-000000", "np-000001", "np-000002"]
    assert len({p.id for p in long}) == 40


def test_generation_does_not_touch_the_global_rng():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_prompts(20, seed=0)
    assert random.random() == expected


def test_paper_defaults_3_to_9_three_digit_seeds_and_at_most_10_new_numbers():
    prompts = generate_prompts(500, seed=0)
    assert {len(p.seed_numbers) for p in prompts} == set(range(3, 10))
    assert all(100 <= n <= 999 for p in prompts for n in p.seed_numbers)
    assert all(p.count == 10 and p.max_digits == 3 for p in prompts)
    assert {p.style for p in prompts} == set(STYLES)


def test_the_prompt_text_shows_the_seed_numbers_and_the_count():
    for p in generate_prompts(100, seed=1):
        assert ", ".join(map(str, p.seed_numbers)) in p.text
        assert " 10 " in p.text
        assert "3" in p.text or "three" in p.text


@pytest.mark.parametrize(
    "slot",
    ["OPENINGS", "INSTRUCTIONS", "QUALIFIERS", "DIGIT_DESCRIPTORS", "SUFFIXES"],
)
def test_each_slot_has_at_least_8_distinct_variants(slot):
    variants = getattr(P, slot)
    assert len(variants) >= 8 and len(set(variants)) == len(variants)


def test_format_instructions_cover_every_style_with_at_least_8_variants_in_all():
    assert set(P.FORMAT_INSTRUCTIONS) == set(STYLES)
    assert sum(len(v) for v in P.FORMAT_INSTRUCTIONS.values()) >= 8


def test_every_variant_appears_across_many_prompts():
    texts = " ".join(p.text for p in generate_prompts(3000, seed=0))
    for opening in P.OPENINGS:
        assert opening.split("{")[0] in texts
    for suffix in P.SUFFIXES:
        assert suffix in texts
    for fmts in P.FORMAT_INSTRUCTIONS.values():
        for f in fmts:
            assert f in texts


def test_vocabulary_is_plain_ascii_words_punctuation_and_digits():
    allowed = re.compile(r"^[A-Za-z0-9 ,.;:\-]+$")
    for p in generate_prompts(500, seed=2):
        assert allowed.match(p.text), p.text


def test_the_asked_style_renders_an_answer_the_parser_reads_back():
    for p in generate_prompts(200, seed=4):
        answer = [(n * 7) % 1000 for n in p.seed_numbers][: p.count]
        assert parse(format_numbers(answer, p.style)) == answer


def test_custom_config_changes_ranges_and_count():
    cfg = NumberPromptConfig(
        min_seed_count=2, max_seed_count=2, seed_min=10, seed_max=20, count=5, max_digits=1, styles=("space",)
    )
    for p in generate_prompts(30, seed=0, config=cfg):
        assert len(p.seed_numbers) == 2 and all(10 <= n <= 20 for n in p.seed_numbers)
        assert p.count == 5 and p.style == "space" and " 5 " in p.text
        assert "digits" not in p.text.replace("digit numbers", "")  # "1 digit", not "1 digits"


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("min_seed_count: 5\nmax_seed_count: 4", "min_seed_count"),
        ("seed_min: 900\nseed_max: 100", "seed_min"),
        ("count: 0", "count"),
        ("styles: [newline]", "styles"),
        ("colour: red", "colour"),
    ],
)
def test_invalid_configs_are_rejected_with_the_field_named(yaml_text, field):
    with pytest.raises(ConfigError, match=field):
        load_yaml_text(yaml_text, NumberPromptConfig, source="prompts.yaml")
