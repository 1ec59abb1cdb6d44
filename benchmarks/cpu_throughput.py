"""Measured CPU throughput of the tiny-model paths against ``sublim estimate``'s assumptions.

``sublim estimate`` turns a study into hours with a throughput table
(``sublim.pipeline.estimate.THROUGHPUT``). This times the work a tiny-model study does, through the
product's own code on the cached ``organism-a`` base (built on first use, ~4 min), in one process
(``--threads``: torch's default, as a single-seed study runs; 1, as each of a study's two seed workers
runs):

* sampling number continuations with the HF backend (``generation.batch_size`` rows per call, the
  organism's sampling settings);
* one epoch of student training on those rows with ``finetune``: number-vocabulary distillation of a
  full fine-tune, of an all-layer rank-4 LoRA and of a steering vector (the base serves as the teacher),
  and token-level SFT of a full fine-tune and of a steering vector (the organism's teachers).

For each it prints the measured seconds next to the seconds ``sublim estimate`` predicts for the same
tokens (ratio predicted / measured: above 1, the estimate is pessimistic). The load average is printed
too: on a busy machine measured times are inflated.

Usage: python benchmarks/cpu_throughput.py [--rows 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from sublim.backends.base import SamplingParams
from sublim.backends.hf import HFBackend
from sublim.backends.models import resolve_model
from sublim.config import GenerationConfig, ModelSpec
from sublim.finetuning.config import FinetuneConfig
from sublim.finetuning.trainer import finetune
from sublim.generation.stage import generate_samples
from sublim.pipeline.estimate import CPU_TRAIN_SPEEDUP, local_rate, local_seconds, model_params
from sublim.progress import quiet_libraries
from sublim.teacher.stage import TeacherRef

STUDENTS = {
    "distill full": dict(method="distill", distill_vocab="numbers", params="full", lr=3e-4),
    "distill lora": dict(method="distill", distill_vocab="numbers", params="lora", lora={"rank": 4, "alpha": 8},
                         lr=3e-3),
    "sft full": dict(method="sft", params="full", lr=3e-4),
    "distill vector": dict(method="distill", distill_vocab="numbers", params="steering_vector",
                           params_options={"layer": 1}, lr=0.1),
    "sft vector": dict(method="sft", params="steering_vector", params_options={"layer": 1, "init_std": 1.0}, lr=3e-2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="prompts sampled, rows trained on (one epoch)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_libraries()
    spec = ModelSpec(kind="tiny", preset="organism-a")
    ref = resolve_model(spec)
    base = ref.path
    params = model_params(spec)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}; tiny organism-a (~{params / 1e6:.2f}M parameters)")
    print(f"{'work':14} {'tokens':>9} {'measured s':>10} {'tokens/s':>9} {'estimate s':>10} {'ratio':>6}")
    gen = GenerationConfig(n_prompts=args.rows, sampling=SamplingParams(temperature=1.0, max_new_tokens=48))
    with tempfile.TemporaryDirectory() as tmp:
        samples = Path(tmp, "samples.jsonl")
        backend = HFBackend(base)
        start = time.perf_counter()
        generate_samples(gen, TeacherRef(model=ref), backend, 0, samples)
        seconds = time.perf_counter() - start
        rows = [json.loads(line) for line in samples.read_text().splitlines()]
        tok = backend.tokenizer
        new = sum(len(tok(r["messages"][1]["content"])["input_ids"]) + 1 for r in rows)
        prompt = sum(len(tok.apply_chat_template(r["messages"][:1], add_generation_prompt=True)) for r in rows)
        # the estimate counts a CPU sampler at max_new_tokens per row (a batch runs until its longest row ends)
        predicted = local_seconds("cpu", params, "hf", len(rows) * gen.sampling.max_new_tokens, 0, prompt)
        _line("sample", new, seconds, predicted)
        for name, fields in STUDENTS.items():
            config = FinetuneConfig(epochs=1, batch_size=16, warmup_steps=10, lr_schedule="constant",
                                    max_grad_norm=None, max_seq_len=200, **fields)
            start = time.perf_counter()
            student = finetune(base, samples, config, Path(tmp, name.replace(" ", "-")),
                               teacher=base if config.method == "distill" else None, progress=False)
            seconds = time.perf_counter() - start
            tokens = student.meta["tokens"]
            _line(name, tokens, seconds, local_seconds("cpu", params, "hf", 0, tokens, 0, config))
    print(f"assumed: sample {local_rate('cpu', 'sample', params, 'hf'):.0f} tokens/s at max_new_tokens, "
          f"train {local_rate('cpu', 'train', params, 'hf'):.0f} tokens/s for a distilled full fine-tune "
          f"(× {CPU_TRAIN_SPEEDUP} for the others)")


def _line(work: str, tokens: int, seconds: float, predicted: float | None) -> None:
    ratio = f"{predicted / seconds:6.2f}" if predicted else "     ?"
    print(f"{work:14} {tokens:9d} {seconds:10.1f} {tokens / seconds:9.0f} {predicted or 0:10.1f} {ratio}", flush=True)


if __name__ == "__main__":
    main()
