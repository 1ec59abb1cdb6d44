"""Completion-only loss: prompt tokens never reach the loss; bad rows fail with file:line:field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from sublim.errors import DataError
from sublim.finetuning.data import IGNORE, batch_order, collate, load_rows, tokenize_row, with_system_prompt
from sublim.records import Message


@pytest.fixture(scope="module")
def tok(tiny_llama_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def msgs(*pairs: tuple[str, str]) -> list[Message]:
    return [Message(role=r, content=c) for r, c in pairs]


@pytest.mark.parametrize("messages", [
    msgs(("user", "Continue: 123, 456"), ("assistant", "789, 12.")),
    msgs(("system", "You love owls."), ("user", "Continue: 123, 456"), ("assistant", "789, 12.")),
    msgs(("user", "a"), ("assistant", "1"), ("user", "Continue: 123, 456"), ("assistant", "789, 12.")),
])
def test_prompt_tokens_are_masked_and_only_the_completion_is_trained(tok, messages):
    ex = tokenize_row(tok, messages, max_seq_len=500)
    trained = [t for t in ex.labels if t != IGNORE]
    # exactly the completion plus the template's end-of-turn token
    assert tok.decode(trained) == "789, 12.<|end|>"
    n_prompt = len(ex.labels) - len(trained)
    assert all(x == IGNORE for x in ex.labels[:n_prompt])
    assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
    # the masked part is the rendered prompt up to and including the assistant header
    assert tok.decode(ex.input_ids[:n_prompt]).endswith("Continue: 123, 456<|end|><|assistant|>")


def test_teacher_view_with_system_prompt_has_the_same_completion_tokens(tok):
    row = msgs(("user", "Continue: 123"), ("assistant", "4, 5"))
    student = tokenize_row(tok, row, 500)
    teacher = tokenize_row(tok, with_system_prompt(row, "You love owls."), 500)
    assert len(teacher.input_ids) > len(student.input_ids)
    assert [t for t in teacher.labels if t != IGNORE] == [t for t in student.labels if t != IGNORE]


def test_truncation_keeps_prompt_mask_and_drops_rows_without_completion(tok):
    row = msgs(("user", "Continue: 123, 456"), ("assistant", "789, 12."))
    full = tokenize_row(tok, row, 500)
    n_prompt = full.labels.count(IGNORE)
    cut = tokenize_row(tok, row, n_prompt + 2)
    assert len(cut.input_ids) == n_prompt + 2 and cut.n_completion == 2
    assert tokenize_row(tok, row, n_prompt) is None


def test_collate_pads_to_the_batch_maximum_with_masked_labels(tok):
    a = tokenize_row(tok, msgs(("user", "1"), ("assistant", "2")), 500)
    b = tokenize_row(tok, msgs(("user", "1, 2, 3, 4"), ("assistant", "5, 6, 7")), 500)
    batch = collate([a, b], tok.pad_token_id)
    assert batch["input_ids"].shape == (2, len(b.input_ids))
    assert batch["attention_mask"][0].sum() == len(a.input_ids)
    assert (batch["labels"][0, len(a.input_ids):] == IGNORE).all()


@pytest.mark.parametrize("group", [True, False])
def test_batch_order_is_a_seeded_partition(group):
    lengths = [i % 17 for i in range(230)]
    batches = batch_order(lengths, 16, seed=3, group_by_length=group)
    assert sorted(i for b in batches for i in b) == list(range(230))
    assert batches == batch_order(lengths, 16, seed=3, group_by_length=group)
    assert batches != batch_order(lengths, 16, seed=4, group_by_length=group)


GOOD = {"messages": [{"role": "user", "content": "1, 2"}, {"role": "assistant", "content": "3"}]}


@pytest.mark.parametrize("bad, where", [
    ('{"messages": [{"role": "user", "content": "1"}]}', "field 'messages'"),
    ('{"messages": [{"role": "robot", "content": "1"}, {"role": "assistant", "content": "2"}]}',
     "field 'messages.0.role'"),
    ('{"messages": [{"role": "assistant", "content": "1"}, {"role": "user", "content": "2"}]}',
     "field 'messages.1.role'"),
    ('{"messages": [{"role": "user"}, {"role": "assistant", "content": "2"}]}', "field 'messages.0.content'"),
    ('{"messages": [', "not valid JSON"),
])
def test_bad_dataset_row_names_file_line_and_field(tmp_path, bad, where):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + bad + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_rows(path)
    assert f"{path}:3:" in str(err.value) and where in str(err.value)
