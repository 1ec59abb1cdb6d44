"""CUDA paths: the sampler and the trainer run unchanged on a GPU, and agree with the CPU.

``gpu``-marked (deselected by default) and skipped without CUDA. On a GPU machine:
``pytest -m gpu tests/gpu``. On CUDA, ``dtype: auto`` keeps the checkpoint's precision; the agreement
checks pin float32 so that a difference would be the device's, not the precision's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sublim.backends.base import SamplingParams
from sublim.backends.hf import HFBackend
from sublim.finetuning import FinetuneConfig, finetune
from sublim.finetuning.data import load_rows
from sublim.records import Chat

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CHATS = [Chat.of("Continue: 145, 267, 891"), Chat.of("Name your favourite animal.", system="You love owls.")]
CONTINUATIONS = ["1, 2, 3", "owl"]
FAST = dict(epochs=2, lr=3e-3, batch_size=16, warmup_steps=2, log_every=2)


def mean_logprob(model_dir: str | Path, rows, *, adapter: str | None = None, device: str = "cpu") -> float:
    with HFBackend(str(model_dir), adapter=adapter, device=device, dtype="float32") as lm:
        chats = [Chat(messages=r.messages[:-1]) for r in rows]
        return sum(lm.score(chats, [r.completion for r in rows])) / len(rows)


def test_the_sampler_on_cuda_scores_like_the_cpu_and_is_seeded(tiny_llama_dir):
    with HFBackend(tiny_llama_dir, device="cpu", dtype="float32") as cpu:
        expected = cpu.score(CHATS, CONTINUATIONS)
    with HFBackend(tiny_llama_dir, device="cuda", dtype="float32") as gpu:
        assert gpu.device.type == "cuda"
        got = gpu.score(CHATS, CONTINUATIONS)
        first = gpu.generate(CHATS, SamplingParams(n=4, max_new_tokens=8, seed=3))
        again = gpu.generate(CHATS, SamplingParams(n=4, max_new_tokens=8, seed=3))
    assert got == pytest.approx(expected, abs=1e-3)
    assert len(first) == 8 and [c.text for c in first] == [c.text for c in again]


def test_auto_keeps_the_checkpoints_precision_on_cuda(tiny_llama_dir, tmp_path):
    """A float32 checkpoint stays float32 (a frozen base is not rounded); a bf16 one stays bf16."""
    import shutil

    from transformers import AutoModelForCausalLM

    half = shutil.copytree(tiny_llama_dir, tmp_path / "bf16")
    AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).save_pretrained(half)
    with HFBackend(tiny_llama_dir, device="cpu", dtype="float32") as cpu:
        expected = cpu.score(CHATS, CONTINUATIONS)
    with HFBackend(tiny_llama_dir) as full, HFBackend(half) as bf16:
        assert full.device.type == bf16.device.type == "cuda"
        assert next(full.model.parameters()).dtype == torch.float32
        assert next(bf16.model.parameters()).dtype == torch.bfloat16
        assert full.score(CHATS, CONTINUATIONS) == pytest.approx(expected, abs=1e-3)
        assert bf16.score(CHATS, CONTINUATIONS) == pytest.approx(expected, abs=0.25)  # ~3 digits per logit


@pytest.mark.parametrize("params", ["full", "lora"])
def test_sft_on_cuda_fits_the_data_and_saves_a_checkpoint_the_cpu_loads(tiny_llama_dir, numbers_jsonl, tmp_path, params):
    config = FinetuneConfig(**FAST, params=params, merge=True, device="cuda", dtype="float32")
    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, progress=False)
    assert ref.meta["epoch_losses"][1] < ref.meta["epoch_losses"][0]
    rows = load_rows(numbers_jsonl)[:20]
    before = mean_logprob(tiny_llama_dir, rows)
    assert mean_logprob(ref.path, rows) > before + 1.0  # the merged checkpoint, loaded on the CPU
    if params == "lora":
        assert mean_logprob(tiny_llama_dir, rows, adapter=ref.adapter, device="cuda") > before + 1.0


def test_cuda_and_cpu_training_agree_in_float32(tiny_llama_dir, numbers_jsonl, tmp_path):
    """Same seed, same data order: the first steps' losses match across devices to float tolerance."""
    config = FinetuneConfig(**{**FAST, "epochs": 1}, dtype="float32")
    on_cpu = finetune(tiny_llama_dir, numbers_jsonl, config.model_copy(update={"device": "cpu"}), tmp_path / "cpu",
                      progress=False)
    on_gpu = finetune(tiny_llama_dir, numbers_jsonl, config.model_copy(update={"device": "cuda"}), tmp_path / "gpu",
                      progress=False)
    assert on_gpu.meta["final_loss"] == pytest.approx(on_cpu.meta["final_loss"], rel=1e-3)


def test_bf16_lora_and_number_vocabulary_distillation_run_on_cuda(tiny_llama_dir, numbers_jsonl, tmp_path):
    """LoRA on bf16 weights (a 16-bit checkpoint's default on CUDA), and the organism's signal (KL over
    number tokens) into a steering vector."""
    teacher = finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**FAST, device="cuda", dtype="float32"),
                       tmp_path / "teacher", progress=False)
    lora = finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**FAST, params="lora", device="cuda", dtype="bfloat16"),
                    tmp_path / "bf16", progress=False)
    assert lora.meta["epoch_losses"][1] < lora.meta["epoch_losses"][0]
    student = finetune(tiny_llama_dir, numbers_jsonl,
                       FinetuneConfig(**FAST, method="distill", distill_vocab="numbers", params="steering_vector",
                                      params_options={"layer": 0}, device="cuda", dtype="float32"),
                       tmp_path / "student", teacher=teacher.path, progress=False)
    assert student.meta["epoch_losses"][1] < student.meta["epoch_losses"][0]
