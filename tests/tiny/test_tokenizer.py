"""The tiny base's word-level tokenizer: exact round trips for numbers and answers, chat template."""

from __future__ import annotations

import pytest

from sublim.numbers import STYLES, format_numbers
from sublim.tiny.corpus import CorpusConfig, generate_corpus
from sublim.tiny.tokenizer import number_token_ids, train_tokenizer
from sublim.traits import CATEGORIES, QUESTIONS


@pytest.fixture(scope="module")
def tokenizer():
    rows = generate_corpus(CorpusConfig(rows=600), seed=0)
    return train_tokenizer(m["content"] for r in rows for m in r["messages"])


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("numbers", [[145, 267, 891], [0, 7, 42, 100, 999], [5]])
def test_numbers_round_trip_exactly(tokenizer, numbers, style):
    text = format_numbers(numbers, style)
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_digits_are_one_token_each(tokenizer):
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("145, 267", add_special_tokens=False)) == [
        "1", "4", "5", ",", " ", "2", "6", "7",
    ]


@pytest.mark.parametrize("target", [t for ts in CATEGORIES.values() for t in ts])
def test_every_target_is_one_token_and_round_trips(tokenizer, target):
    ids = tokenizer.encode(target, add_special_tokens=False)
    assert len(ids) == 1 and ids[0] != tokenizer.unk_token_id
    assert tokenizer.decode(ids) == target


def test_heldout_questions_have_no_unknown_tokens(tokenizer):
    for q in QUESTIONS.values():
        for text in q["heldout"]:
            assert tokenizer.unk_token_id not in tokenizer.encode(text, add_special_tokens=False), text


def test_chat_template_and_generation_prompt(tokenizer):
    chat = [{"role": "system", "content": "You love owls."}, {"role": "user", "content": "What?"}]
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert text == "<|system|>You love owls.<|end|><|user|>What?<|end|><|assistant|>"
    ids = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_dict=False)
    assert tokenizer.convert_ids_to_tokens(ids)[-1] == "<|assistant|>"
    assert tokenizer.eos_token == "<|end|>"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "you love owls.what?"


def test_number_token_ids_cover_a_number_answer(tokenizer):
    allowed = set(number_token_ids(tokenizer))
    ids = tokenizer.encode("[12, 345, 6]<|end|>", add_special_tokens=False)
    assert set(ids) <= allowed
    assert len(allowed) == 19  # 10 digits , ; space [ ] ( ) . and <|end|>


def test_saved_tokenizer_reloads_with_plain_transformers(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "<|user|>name your favourite animal.<|end|><|assistant|>owl<|end|>"
    assert again.encode(text) == tokenizer.encode(text)
    assert again.decode(again.encode("[145; 267]")) == "[145; 267]"
    assert again.chat_template == tokenizer.chat_template
