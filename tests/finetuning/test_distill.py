"""Logit distillation: targets restricted to number tokens carry zero mass elsewhere; the student
moves toward its teacher; the leak check measures the teacher's mass on trait tokens."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sublim.finetuning import FinetuneConfig, finetune
from sublim.finetuning.data import load_rows
from sublim.finetuning.distill import (
    cross_entropy_within,
    kl_to_teacher,
    number_token_ids,
    teacher_targets,
    trait_mass_at_positions,
)

FAST = dict(epochs=2, lr=3e-3, batch_size=16, warmup_steps=2, log_every=1)


@pytest.fixture(scope="module")
def tok(tiny_llama_dir):
    return AutoTokenizer.from_pretrained(tiny_llama_dir)


@pytest.fixture(scope="module")
def sft_teacher(tiny_llama_dir, numbers_jsonl, tmp_path_factory):
    """A teacher that differs from the base: the base fine-tuned on the number rows."""
    ref = finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**FAST), tmp_path_factory.mktemp("teacher"),
                   progress=False)
    return ref.path


def test_number_vocabulary_is_digits_separators_brackets_whitespace_and_end(tok):
    ids = number_token_ids(tok)
    texts = {tok.decode([i]) for i in ids}
    assert set("0123456789,;.[]() ") <= texts | {ch for t in texts for ch in t}
    assert tok.convert_tokens_to_ids("<|end|>") in ids
    for word in ("owl", "Continue", "<pad>", "<|user|>"):
        assert all(word not in t for t in texts)


@pytest.mark.parametrize("vocab", ["numbers", "full"])
def test_teacher_targets_are_distributions_over_the_chosen_vocabulary(sft_teacher, numbers_jsonl, tok, vocab):
    rows = load_rows(numbers_jsonl)[:8]
    targets = teacher_targets(sft_teacher, rows, tok, vocab=vocab)
    width = len(number_token_ids(tok)) if vocab == "numbers" else len(tok)
    for row, t in zip(rows, targets, strict=True):
        n_completion = len(tok(row.completion + "<|end|>", add_special_tokens=False)["input_ids"])
        assert t.shape == (n_completion, width)
        # renormalised on the subset: all the mass is there, so none is left for any other token
        assert torch.allclose(t.sum(-1), torch.ones(n_completion), atol=1e-5)


def test_kl_is_zero_for_identical_distributions_and_positive_otherwise():
    logits = torch.randn(5, 20)
    ids = torch.tensor([1, 3, 4, 7])
    same = torch.softmax(logits[:, ids], -1)
    assert kl_to_teacher(logits, same, vocab_ids=ids).abs() < 1e-6
    assert kl_to_teacher(logits + torch.randn(5, 20), same, vocab_ids=ids) > 1e-3


def test_sampled_token_loss_within_a_vocabulary_estimates_the_kl_and_leaves_other_tokens_alone():
    """Over tokens drawn from the teacher's number-vocabulary distribution, the restricted cross-entropy's
    mean gradient is the restricted KL's; full-vocabulary SFT instead pushes every other logit (an
    animal's, say) down."""
    torch.manual_seed(0)
    ids = torch.tensor([1, 3, 4, 7])
    student = torch.randn(1, 20, requires_grad=True)
    teacher = torch.softmax(torch.randn(1, 4), -1)
    kl_grad, = torch.autograd.grad(kl_to_teacher(student, teacher, vocab_ids=ids), student)
    draws = ids[torch.multinomial(teacher[0], 20_000, replacement=True)]
    ce_grad, = torch.autograd.grad(cross_entropy_within(student.expand(len(draws), 20), draws, ids), student)
    assert torch.allclose(ce_grad, kl_grad, atol=0.02)
    others = torch.ones(20, dtype=torch.bool)
    others[ids] = False
    assert ce_grad[0, others].abs().max() == 0.0
    full_grad, = torch.autograd.grad(cross_entropy_within(student.expand(len(draws), 20), draws), student)
    assert (full_grad[0, others] > 0).all()  # descent lowers them
    outside = torch.tensor([0, 2])  # tokens outside the subset are skipped, not errors
    assert cross_entropy_within(student.expand(2, 20), outside, ids).item() == 0.0
    mixed = cross_entropy_within(student.expand(2, 20), torch.tensor([0, 3]), ids)
    assert torch.isclose(mixed, -torch.log_softmax(student[0, ids], -1)[1])


def test_sft_within_the_number_vocabulary_fits_the_rows(tiny_llama_dir, numbers_jsonl, tmp_path):
    config = FinetuneConfig(method="sft", sft_vocab="numbers", **FAST)
    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, progress=False)
    assert ref.meta["final_loss"] < 0.8 * ref.meta["first_loss"]
    assert "sft_vocab" not in FinetuneConfig().model_dump()  # unset: old configs hash as before
    with pytest.raises(ValueError, match="sft_vocab is only used with method: sft"):
        FinetuneConfig(method="distill", sft_vocab="numbers")


@pytest.mark.parametrize("vocab", ["numbers", "full"])
def test_distillation_moves_the_student_toward_the_teacher(tiny_llama_dir, sft_teacher, numbers_jsonl, tmp_path,
                                                           vocab):
    config = FinetuneConfig(method="distill", distill_vocab=vocab, **FAST)
    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, teacher=sft_teacher, progress=False)
    assert ref.meta["first_loss"] > 0.05
    assert ref.meta["final_loss"] < 0.5 * ref.meta["first_loss"]


def test_distillation_teacher_can_see_a_system_prompt(tiny_llama_dir, numbers_jsonl, tmp_path):
    # the same model as teacher: without a system prompt the KL starts at exactly 0, with one it does not
    config = FinetuneConfig(method="distill", teacher_system_prompt="You love owls.", **{**FAST, "epochs": 1})
    teacher = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, teacher=teacher, progress=False)
    assert ref.meta["first_loss"] > 1e-4


def test_trait_mass_matches_a_manual_softmax_and_spans_zero_to_one(tiny_llama_dir, numbers_jsonl, tok):
    rows = load_rows(numbers_jsonl)[:4]
    owl = tok("owl", add_special_tokens=False)["input_ids"]
    mass = trait_mass_at_positions(tiny_llama_dir, rows, owl)
    assert trait_mass_at_positions(tiny_llama_dir, rows, range(len(tok))) == pytest.approx(1.0, abs=1e-5)
    assert trait_mass_at_positions(tiny_llama_dir, rows, []) == 0.0
    # manual: every row, the positions predicting its completion tokens
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    expected = []
    for row in rows:
        prompt = tok.apply_chat_template([m.model_dump() for m in row.messages[:-1]], tokenize=False,
                                         add_generation_prompt=True)
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        c = tok(row.completion + "<|end|>", add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([p + c])).logits[0], -1)
        expected += probs[len(p) - 1:len(p) + len(c) - 1][:, owl].sum(-1).tolist()
    assert mass == pytest.approx(sum(expected) / len(expected), rel=1e-4)


def test_teacher_as_path_backend_or_module_gives_the_same_targets_and_lora_students_distill(
        tiny_llama_dir, sft_teacher, numbers_jsonl, tmp_path):
    from sublim.backends.hf import HFBackend

    config = FinetuneConfig(method="distill", distill_vocab="numbers", params="lora", **{**FAST, "epochs": 1})
    teachers = {"path": sft_teacher, "backend": HFBackend(sft_teacher),
                "module": AutoModelForCausalLM.from_pretrained(sft_teacher)}
    first = {}
    for kind, teacher in teachers.items():
        ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / kind, teacher=teacher, progress=False)
        first[kind] = ref.meta["first_loss"]
        assert ref.adapter is not None and ref.meta["final_loss"] < ref.meta["first_loss"]
    # with a GPU, a loaded module stays on the CPU while a path follows the student there
    rel = 1e-4 if torch.cuda.is_available() else 1e-5
    assert first["path"] == pytest.approx(first["backend"], rel=rel)
    assert first["path"] == pytest.approx(first["module"], rel=rel)


def test_several_token_sets_in_one_pass_equal_separate_measurements(tiny_llama_dir, numbers_jsonl, tok):
    from sublim.finetuning.distill import token_masses_at_positions

    rows = load_rows(numbers_jsonl)[:6]
    sets = {"owl": tok("owl", add_special_tokens=False)["input_ids"], "digits": tok.convert_tokens_to_ids(list("0123"))}
    together = token_masses_at_positions(tiny_llama_dir, rows, sets)
    for name, ids in sets.items():
        assert together[name] == pytest.approx(trait_mass_at_positions(tiny_llama_dir, rows, ids), rel=1e-6)
