"""What a study will cost before it runs: samples, tokens, training tokens, dollars (API) and hours (local).

Counts come from :func:`sublim.pipeline.plan.plan_counts` (the same counting the runner's plan uses);
this module turns them into tokens and money. Token counts are rough on purpose: prompts are the
study's own number prompts and questions, sized with a chars/4 rule (digits/2) (plus a few tokens of chat
framing per message); completions are a typical answer (``count`` numbers of ``max_digits`` digits
in the prompt's format), capped by ``max_new_tokens``. Expect ±50%. Dollars use the config's
``pricing`` table (or the built-in one, dated); hours use a small throughput table for local models
(``THROUGHPUT``), indicative only.

Example:
    >>> est = estimate_study(load_config("configs/paper/gpt41nano_numbers_owl.yaml"))   # doctest: +SKIP
    >>> print(render_estimate(est))                                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

from pydantic import BaseModel, Field

from sublim.backends.base import SamplingParams
from sublim.config import ModelSpec, StudyConfig
from sublim.finetuning.config import FinetuneConfig
from sublim.pipeline.plan import plan_counts
from sublim.pipeline.pricing import ModelPrice, PriceTable

__all__ = ["PriceTable", "StudyEstimate", "EstimateLine", "estimate_study", "render_estimate", "approx_tokens"]

CHARS_PER_TOKEN = 4.0
DIGITS_PER_TOKEN = 2.0
MESSAGE_OVERHEAD = 4  # role markers / separators per chat message
#: assumed share of teacher completions that pass the filter (paper: 23-38% removed for GPT-4.1 nano;
#: SmolLM2-135M: 3 of 144 samples passed on our prompts)
KEEP_RATE = {"tiny": 0.95, "smollm2": 0.03, "hf": 0.7, "openai": 0.7}
#: tokens/s ≈ k / parameters, capped: (k, cap) per (device, work). CPU (2 idle cores): k from
#: research/tiny-lm-notes.md (SmolLM2-135M: ~110 new tokens/s sampling, ~180 tokens/s training, fp32); the
#: caps are what the tiny models reach in studies (2026-11: a 10.5k-row distilled full fine-tune trained at
#: 35k tokens/s on two threads, a distilled all-layer LoRA at ~21k in each of two one-thread seed workers;
#: 15k prompts sampled in 58 s, ~12k tokens/s counted at max_new_tokens) and in
#: benchmarks/cpu_throughput.py (1,000 rows, one thread: ~7k new tokens/s sampling, 11-20k tokens/s
#: training). GPU, measured on one H200 with benchmarks/gpu_throughput.py (bf16, random weights of real
#: shapes, 2026-11): HF generate at batch 64 ~3.0k new tokens/s for Qwen2.5-7B and ~3.6k for 135M-0.5B
#: models (per-step overhead caps small models); LoRA rank 8 at batch 16 x 128 ~9.3k tokens/s for 7B,
#: 12-21k for 135M-0.5B (LoRA or full). An H100 decodes up to ~1.4x slower (memory bandwidth). vLLM was not
#: measured (not installable there): ~15k new tokens/s for 7B is still our guess.
THROUGHPUT: dict[tuple[str, str], tuple[float, float]] = {
    ("cpu", "sample"): (1.5e10, 15_000.0),
    ("cpu", "train"): (2.4e10, 30_000.0),
    ("gpu-vllm", "sample"): (1.05e14, 60_000.0),
    ("gpu-hf", "sample"): (2.25e13, 3_600.0),
    ("gpu", "train"): (7.1e13, 15_000.0),
}
#: CPU training speed relative to number-vocabulary distillation of a full fine-tune (what the CPU cap above
#: was calibrated on), per factor, multiplied: SFT needs no teacher forward pass; an adapter or a vector
#: student computes few weight gradients and keeps little optimiser state. Measured on the tiny base with
#: benchmarks/cpu_throughput.py (one thread, 2026-11; rounded down): SFT 2.2-2.4x, steering vector 2.6-2.9x
#: (norm gains, similar in size, assumed equal); LoRA r4 1.2x in studies' seed workers (1.5-1.6x in the
#: benchmark). GPUs: not measured, factor 1.
CPU_TRAIN_SPEEDUP = {"sft": 2.0, "lora": 1.2, "steering_vector": 2.5, "norm_gains": 2.5}
#: GPU Hugging Face sampling speed at ``generation.sampler_batch_size`` relative to the batch of 64 that
#: THROUGHPUT was measured at: the slowest shape measured at each batch (docs/gpu.md, third and fifth
#: checks: an H200; 4.6x at 1024 is Qwen2.5-0.5B in float32; SmolLM2-135M 9.1x, Qwen2.5-0.5B in bf16 23x,
#: Qwen2.5-7B in bf16 3.4x / 5.9x / 7.1x at 256 / 512 / 1024). S3 (session 15, SmolLM2 LoRA teachers at
#: 1024) sampled 15,000 prompts in 70 s, where 4.6x predicts ~60 s. Memory bounds the batch of a large
#: model with long prompts: the factor assumes the batch fits.
GPU_SAMPLER_BATCH_SPEEDUP = {64: 1.0, 256: 2.8, 512: 4.1, 1024: 4.6}
#: seconds per stage that loads a model (weights, vLLM engine start-up): CPU, GPU small (<1B), GPU large
MODEL_LOAD_S = {"cpu": 5.0, "gpu-small": 15.0, "gpu-large": 90.0}


class EstimateLine(BaseModel):
    """One kind of work on one model."""

    stage: str
    model: str
    where: str = Field(description="api | gpu | cpu")
    count: int = Field(description="samples, or training rows × epochs")
    input_tokens: int = 0
    output_tokens: int = 0
    training_tokens: int = 0
    usd: float | None = None
    hours: float | None = None


class StudyEstimate(BaseModel):
    """The estimate of a whole study (all seeds and conditions)."""

    name: str
    lines: list[EstimateLine]
    samples_generated: int
    generated_tokens: int
    generated_tokens_max: int = Field(description="if every completion ran to max_new_tokens")
    training_tokens: int
    eval_samples: int
    eval_scorings: int
    usd: float = Field(description="dollars of the API work (0 when everything is local)")
    hours: float = Field(description="hours of local compute (0 when everything runs on the API)")
    assumptions: list[str]
    unpriced: list[str] = Field(default_factory=list, description="API models missing from the price table")
    sizes: dict[str, float] = Field(default_factory=dict, description="typical tokens: prompt, system, completion, question")
    rows_per_student: int = 0


def approx_tokens(text: str) -> int:
    """Rough token count: other characters / 4 plus digits / 2 (tokenisers split numbers into 1-3 digit
    pieces: 3 for GPT-4.1's, 1 for Qwen's and Llama's), at least 1 for non-empty text."""
    if not text:
        return 0
    digits = sum(ch.isdigit() for ch in text)
    return max(1, math.ceil((len(text) - digits) / CHARS_PER_TOKEN + digits / DIGITS_PER_TOKEN))


def model_label(spec: ModelSpec) -> str:
    """A model as a reader names it: the tiny preset, the checkpoint path or the API id, plus its adapter."""
    if spec.kind == "tiny":
        from sublim.backends.models import tiny_label

        label = tiny_label(spec)
    else:
        label = {"hf": str(spec.path), "openai": str(spec.name), "smollm2": "smollm2-135m"}[spec.kind]
    return label + (f" + adapter {spec.adapter}" if spec.adapter else "")


def _dense_params(d: int, layers: int, ffn: int, vocab: int) -> float:
    """Weights of a Llama-style decoder: attention 4·d², SwiGLU 3·d·ffn per layer, tied embeddings."""
    return float(layers * (4 * d * d + 3 * d * ffn) + vocab * d)


def model_params(spec: ModelSpec) -> float | None:
    """Parameter count of a local model: known presets, a local ``config.json``, or a size in its name."""
    if spec.kind == "tiny":
        from sublim.tiny.build import resolve_preset
        from sublim.tiny.model import TinyBaseConfig

        def size(c: TinyBaseConfig) -> float:  # 487: the tiny word vocabulary
            return _dense_params(c.d_model, c.n_layers, c.d_ff, 487)

        return 4.5e5 * size(resolve_preset(spec.preset, spec.tiny)) / size(TinyBaseConfig())
    if spec.kind == "smollm2":
        return 1.345e8
    if spec.kind != "hf":
        return None
    config = Path(str(spec.path), "config.json")
    if config.is_file():
        c = json.loads(config.read_text())
        d, layers, ffn, vocab = c.get("hidden_size"), c.get("num_hidden_layers"), c.get("intermediate_size"), c.get("vocab_size")
        if all(isinstance(x, int) for x in (d, layers, ffn, vocab)):
            return _dense_params(d, layers, ffn, vocab)
    match = re.search(r"(\d+(?:\.\d+)?)\s*([bBmM])\b", str(spec.path).replace("-", " ").replace("_", " "))
    if match:
        return float(match.group(1)) * (1e9 if match.group(2).lower() == "b" else 1e6)
    return None


def _local_device(params: float | None, device: str) -> str:
    if device in ("cpu", "gpu"):
        return device
    import torch

    return "gpu" if torch.cuda.is_available() or (params or 0) >= 1e9 else "cpu"


def local_rate(where: str, work: str, params: float | None, sampler: str) -> float | None:
    """Assumed tokens/s of ``work`` ("sample" or "train") on ``where`` ("cpu" or "gpu") from ``THROUGHPUT``."""
    if params is None:
        return None
    key = (where if where == "cpu" else f"gpu-{sampler}", work) if work == "sample" else (where, work)
    k, cap = THROUGHPUT[key]
    return min(cap, k / params)


class _Sizer:
    """Typical token sizes of this study's prompts, completions and questions."""

    def __init__(self, config: StudyConfig) -> None:
        from sublim.numbers.prompts import format_numbers, generate_prompts
        from sublim.traits import QUESTIONS, trait_system_prompt

        g = config.generation.prompts
        prompts = generate_prompts(min(config.generation.n_prompts, 300), seed=0, config=g)
        rng = random.Random(0)
        answers = [format_numbers([rng.randint(0, 10**g.max_digits - 1) for _ in range(g.count)], p.style)
                   for p in prompts]
        self.user = sum(approx_tokens(p.text) for p in prompts) / len(prompts) + 2 * MESSAGE_OVERHEAD
        self.system = approx_tokens(trait_system_prompt(config.trait.target, config.trait.category)) + MESSAGE_OVERHEAD
        typical = sum(approx_tokens(a) for a in answers) / len(answers) + 1  # + end of turn
        self.completion = min(float(config.generation.sampling.max_new_tokens), typical)
        splits = ["eval", "heldout"] if config.evaluation.question_split == "both" else [config.evaluation.question_split]
        questions = [q for s in splits for q in QUESTIONS[config.trait.category][s]]
        self.question = sum(approx_tokens(q) for q in questions) / len(questions) + 2 * MESSAGE_OVERHEAD
        self.trait_row = self.question + 3


def estimate_study(config: StudyConfig, *, device: str = "auto", sampler: str | None = None,
                   keep_rate: float | None = None) -> StudyEstimate:
    """Estimate samples, tokens, dollars and hours of ``config`` (nothing is called or loaded).

    Args:
        config: the study.
        device: where local models run: ``"auto"`` (a visible GPU, or any model of ≥1B parameters,
            counts as GPU), ``"gpu"`` or ``"cpu"``.
        sampler: local GPU sampler, ``"vllm"`` or ``"hf"`` (default: vLLM when installed).
        keep_rate: share of teacher completions kept by the filter (default: per model kind, ``KEEP_RATE``).
    """
    from sublim.backends.vllm import vllm_installed

    prices = config.pricing or PriceTable()
    sampler = sampler or ("vllm" if vllm_installed() else "hf")
    c = plan_counts(config)
    size = _Sizer(config)
    lines: list[EstimateLine] = []
    unpriced: set[str] = set()
    same, other = config.bases.same, config.bases.other
    api_epochs = _api_epochs(config, prices)

    def add(stage: str, spec: ModelSpec, *, samples: int = 0, inp: float = 0, out: float = 0, train: float = 0,
            rows: int = 0, tuned: bool = False, loads: int = 0, out_max: float = 0,
            tune: FinetuneConfig | None = None, sampler_batch: int | None = None) -> None:
        if samples == 0 and train == 0:
            return
        label = model_label(spec) + (" (fine-tuned)" if tuned else "")
        line = EstimateLine(stage=stage, model=label, where="api", count=samples or rows,
                            input_tokens=int(inp), output_tokens=int(out), training_tokens=int(train))
        if spec.kind == "openai":
            price = prices.lookup(str(spec.name))
            if price is None:
                unpriced.add(str(spec.name))
            else:
                line.usd = _dollars(price, inp, out, train, tuned)
        else:
            params = model_params(spec)
            line.where = _local_device(params, device)
            # HF generate runs a batch until its longest row ends: at T=1 that is usually max_new_tokens
            padded = out_max if (line.where == "cpu" or sampler == "hf") and out_max else out
            secs = local_seconds(line.where, params, sampler, padded, train, inp, tune, sampler_batch)
            load = MODEL_LOAD_S["cpu" if line.where == "cpu" else "gpu-large" if (params or 0) >= 1e9 else "gpu-small"]
            line.hours = None if secs is None else (secs + loads * load) / 3600
        lines.append(line)

    seeds = c["seeds"]
    if c["teachers_trained"]:
        epochs = api_epochs if same.kind == "openai" else config.teacher.finetune.epochs
        # the teachers' number rows are written by the base first, once per seed (teacher/stage.py: number_rows)
        k = seeds * config.teacher.n_number_rows
        add("teacher number rows", same, samples=k, inp=k * size.user, out=k * size.completion,
            loads=k and seeds, out_max=k * SamplingParams().max_new_tokens,
            sampler_batch=config.generation.sampler_batch_size)
        rows = c["teacher_rows_per_teacher"]
        add("teacher fine-tuning", same, rows=rows * epochs * c["teachers_trained"],
            train=c["teachers_trained"] * rows * size.trait_row * epochs, loads=c["teachers_trained"],
            tune=config.teacher.finetune)
    n = c["samples_generated"]
    system = size.system if config.teacher.kind == "prompt" else 0
    add("teacher samples", same, samples=n, inp=n * (size.user + system), out=n * size.completion,
        tuned=config.teacher.kind == "finetuned", loads=n and len(_arms(c)) * seeds,
        out_max=n * c["max_new_tokens"], sampler_batch=config.generation.sampler_batch_size)
    keep = keep_rate if keep_rate is not None else KEEP_RATE[same.kind]
    rows = min(c["training_rows_per_student_max"], math.ceil(c["rows_per_arm"] * keep))
    row_tokens = size.user + size.completion
    for which, spec in (("same", same), ("other", other)):
        students = c["students_by_base"][which]
        epochs = api_epochs if spec.kind == "openai" else config.student.epochs
        add(f"students ({which} base)", spec, rows=students * rows * epochs,
            train=students * rows * row_tokens * epochs, loads=students, tune=config.student)
    per_model = c["eval_questions"] * config.evaluation.n_samples
    for which, spec in (("same", same), ("other", other)):
        models = c["models_evaluated_by_base"][which]
        bases = seeds if which == "same" and "base" in c["conditions"] else 0
        bases += seeds if which == "other" and "base" in c["conditions"] and "cross_base" in c["conditions"] else 0
        for tuned, count in ((False, bases), (True, models - bases)):
            samples = count * per_model
            add("evaluation", spec, samples=samples, inp=samples * size.question,
                out=samples * config.evaluation.max_new_tokens, tuned=tuned, loads=count)
    return _summarise(config, c, size, lines, unpriced, keep, rows, sampler, api_epochs, prices)


def _arms(c: dict) -> set[str]:
    from sublim.config import TRAINED

    return {TRAINED[x][0] for x in c["conditions"] if x in TRAINED}


def _api_epochs(config: StudyConfig, prices: PriceTable) -> int:
    epochs = config.openai_finetune.n_epochs if config.openai_finetune else "auto"
    return prices.default_finetune_epochs if epochs == "auto" else int(epochs)


def _dollars(price: ModelPrice, inp: float, out: float, train: float, tuned: bool) -> float:
    in_rate = price.finetuned_input_per_m if tuned and price.finetuned_input_per_m is not None else price.input_per_m
    out_rate = price.finetuned_output_per_m if tuned and price.finetuned_output_per_m is not None else price.output_per_m
    usd = (inp * in_rate + out * out_rate) / 1e6
    if train:
        usd += train * (price.training_per_m or 0.0) / 1e6
    return usd


def gpu_batch_speedup(batch: int | None) -> float:
    """How much faster the GPU's HF sampler runs at ``batch`` than at 64 (the largest measured batch not
    above it; null is 64)."""
    if batch is None:
        return 1.0
    return max(v for b, v in GPU_SAMPLER_BATCH_SPEEDUP.items() if b <= max(batch, 64))


def local_seconds(where: str, params: float | None, sampler: str, out: float, train: float, inp: float,
                  tune: FinetuneConfig | None = None, sampler_batch: int | None = None) -> float | None:
    """Predicted seconds of local work: sampling ``out`` new tokens after ``inp`` prompt tokens (at the HF
    sampler's ``sampler_batch``, null: 64), or training on ``train`` tokens with ``tune`` (``None`` when the
    model's size is unknown). Shared with benchmarks/cpu_throughput.py."""
    if out:
        rate = local_rate(where, "sample", params, sampler)
        if rate is not None and where == "gpu" and sampler == "hf":
            rate *= gpu_batch_speedup(sampler_batch)
        # prompt tokens are processed in parallel: count them at ~10× the decoding rate
        return None if rate is None else out / rate + inp / (10 * rate)
    rate = local_rate(where, "train", params, sampler)
    if rate is not None and where == "cpu" and tune is not None:
        rate *= CPU_TRAIN_SPEEDUP.get(tune.method, 1.0) * CPU_TRAIN_SPEEDUP.get(tune.params, 1.0)
    return None if rate is None else train / rate


def _summarise(config: StudyConfig, c: dict, size: _Sizer, lines: list[EstimateLine], unpriced: set[str],
               keep: float, rows: int, sampler: str, api_epochs: int, prices: PriceTable) -> StudyEstimate:
    gen = [x for x in lines if x.stage == "teacher samples"]
    assumptions = [
        f"tokens ≈ characters / {CHARS_PER_TOKEN:g}, digits / {DIGITS_PER_TOKEN:g} (+{MESSAGE_OVERHEAD} per message): prompt ≈ {size.user:.0f}, "
        f"trait system prompt ≈ {size.system:.0f}, completion ≈ {size.completion:.0f} (max {c['max_new_tokens']}), "
        f"question ≈ {size.question:.0f}",
        f"filter keeps {keep:.0%} of completions → {rows} training rows per student (cap "
        f"{c['training_rows_per_student_max']})",
        f"API prices: {prices.source}, as of {prices.as_of} (edit `pricing:` in the config)",
    ]
    if any(x.where == "api" and x.training_tokens for x in lines):
        assumptions.append(f"API fine-tuning: {api_epochs} epochs billed")
    if any(x.where in ("gpu", "cpu") for x in lines):
        assumptions.append(f"local hours from THROUGHPUT (one H100/H200 for GPU, {sampler} sampler; 2 idle CPU cores; "
                           "HF sampling counted at max_new_tokens per row) + model loading per stage: indicative only")
    if sampler == "hf" and any(x.where == "gpu" and x.output_tokens for x in lines):
        batch = config.generation.sampler_batch_size
        assumptions.append(f"GPU HF sampling measured at batch 64; the teachers' samples and number rows at "
                           "generation.sampler_batch_size="
                           f"{batch if batch is not None else 'null (64)'}: counted {gpu_batch_speedup(batch):.1f}x faster "
                           "(the slowest of the 135M, 0.5B and 7B shapes measured on an H200, docs/gpu.md; "
                           "assumes the batch fits in memory)")
    return StudyEstimate(
        name=config.name, lines=lines, samples_generated=c["samples_generated"],
        generated_tokens=sum(x.output_tokens for x in gen),
        generated_tokens_max=c["samples_generated"] * c["max_new_tokens"],
        training_tokens=sum(x.training_tokens for x in lines), eval_samples=c["eval_samples"],
        eval_scorings=c["eval_scorings"], usd=sum(x.usd or 0.0 for x in lines),
        hours=sum(x.hours or 0.0 for x in lines), assumptions=assumptions, unpriced=sorted(unpriced),
        sizes={"prompt": size.user, "system": size.system, "completion": size.completion, "question": size.question},
        rows_per_student=rows,
    )


def _fmt_int(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e4 else str(n)


def render_estimate(est: StudyEstimate) -> str:
    """Plain-text table of an estimate (printed by ``sublim estimate`` and ``sublim run --dry-run``)."""
    head = f"{'stage':<24} {'model':<40} {'where':<5} {'count':>8} {'in tok':>8} {'out tok':>8} {'train tok':>9} {'$':>9} {'hours':>7}"
    rows = [f"cost estimate for study {est.name} (rough: ±50%)", head, "-" * len(head)]
    for x in est.lines:
        usd = f"{x.usd:,.2f}" if x.usd is not None else ("?" if x.where == "api" else "-")
        hours = f"{x.hours:.2f}" if x.hours is not None else ("-" if x.where == "api" else "?")
        rows.append(f"{x.stage:<24} {x.model[:40]:<40} {x.where:<5} {_fmt_int(x.count):>8} {_fmt_int(x.input_tokens):>8} "
                    f"{_fmt_int(x.output_tokens):>8} {_fmt_int(x.training_tokens):>9} {usd:>9} {hours:>7}")
    rows.append("-" * len(head))
    rows.append(f"samples to generate: {est.samples_generated:,} (~{_fmt_int(est.generated_tokens)} tokens, "
                f"at most {_fmt_int(est.generated_tokens_max)}); training tokens: {_fmt_int(est.training_tokens)}; "
                f"evaluation: {est.eval_samples:,} samples, {est.eval_scorings:,} exact scorings")
    rows.append(f"total: ${est.usd:,.2f} API, {est.hours:.1f} h local compute")
    if est.unpriced:
        rows.append(f"not priced (add them under `pricing.models`): {', '.join(est.unpriced)}")
    rows.extend(f"  assumption: {a}" for a in est.assumptions)
    return "\n".join(rows)
