"""Fine-tune a student on chat JSONL rows: completion-only SFT or logit distillation.

A plain PyTorch loop (AdamW or SGD, warm-up + linear/cosine/constant schedule via
``transformers.get_scheduler``, gradient accumulation, gradient clipping, seeded torch/random/numpy)
rather than TRL's ``SFTTrainer``: the distillation loss needs the teacher on the same batch and on
aligned positions, and on the 0.45M-parameter CPU model the per-step overhead of a general trainer
dominates. Batches are padded only to their own longest row and grouped by length.

Outputs in ``out_dir``: the checkpoint (``model/`` for full weights; ``adapter/`` and, with
``merge: true``, ``merged/`` for LoRA), all loadable by plain ``transformers``/``peft``, and
``training_log.jsonl`` (step, epoch, loss, gradient norm before clipping, lr, tokens) and ``finetune_config.yaml``. The returned
``ModelRef.meta`` holds steps, first/final logged loss, mean loss per epoch, tokens and tokens/s.

Example:
    >>> ref = finetune("base_dir", Path("filtered.jsonl"), FinetuneConfig(epochs=1, lr=1e-3),
    ...                Path("runs/x/student"))                                 # doctest: +SKIP
    >>> HFBackend(ref.path)                                                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

from sublim.backends.hf import load_model, load_tokenizer
from sublim.errors import ConfigError, DataError, TrainingError
from sublim.finetuning.config import FinetuneConfig
from sublim.finetuning.data import (
    Example,
    batch_order,
    collate,
    load_rows,
    predicting_positions,
    tokenize_rows,
)
from sublim.finetuning.distill import (
    TeacherTargets,
    cross_entropy_within,
    kl_to_teacher,
    resolve_teacher,
    vocab_ids_for,
)
from sublim.finetuning.params import make_optimizer, make_student
from sublim.progress import progress_bar
from sublim.records import ModelRef
from sublim.yamlconfig import dump_yaml

log = logging.getLogger(__name__)
PRECOMPUTE_LIMIT = 50_000_000  # floats: precompute teacher targets when they fit in ~200 MB


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def finetune(base_path: str | Path, dataset: Path, config: FinetuneConfig, out_dir: Path, *,
             teacher: Any = None, progress: bool = True) -> ModelRef:
    """Train a student from ``base_path`` on ``dataset`` and save it under ``out_dir``.

    Args:
        base_path: the student's base checkpoint (local directory or hub id).
        dataset: chat JSONL rows; the last message of each is the assistant completion trained on.
        config: method, parameterisation and hyperparameters.
        out_dir: where the checkpoint and ``training_log.jsonl`` go.
        teacher: for ``method: distill``: a checkpoint path, a ``ModelRef`` (a LoRA teacher's adapter is
            merged in), an ``HFBackend`` or a loaded model sharing the student's tokenizer.
        progress: show a progress bar with the running loss.
    Returns:
        ``ModelRef(backend="hf", ...)``: ``path`` is the full/merged checkpoint, ``adapter`` the LoRA adapter.
    Raises:
        DataError: a malformed dataset row (file:line:field).
        ConfigError: an inconsistent config (e.g. distill without a teacher).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if Path(base_path).exists():  # absolute, so a saved adapter finds its base from anywhere
        base_path = str(Path(base_path).resolve())
    seed_everything(config.seed)
    tokenizer = load_tokenizer(base_path)
    rows = load_rows(Path(dataset))
    examples = tokenize_rows(rows, tokenizer, config.max_seq_len)
    model = load_model(base_path, device=config.device, dtype=config.dtype, trainable=True)
    if config.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    student = make_student(model, config)
    student.model.train()
    targets, vocab_ids, examples = loss_inputs(teacher, rows, examples, tokenizer, student.model, config)
    started = time.perf_counter()
    stats = _train(student, examples, targets, vocab_ids, tokenizer.pad_token_id, config, out_dir, progress)
    wall = time.perf_counter() - started
    student.model.eval()
    saved = student.save(student.model, tokenizer, out_dir, config)
    meta = {**stats, "wall_s": round(wall, 2), "tokens_per_s": round(stats["tokens"] / max(wall, 1e-9), 1),
            "method": config.method, "params": config.params}
    log.info("finetuned %s: %d steps, final loss %.4f, %.0f tokens/s", base_path, stats["steps"],
             stats["final_loss"], meta["tokens_per_s"])
    path = saved["path"] or str(base_path)
    (out_dir / "finetune_config.yaml").write_text(dump_yaml(config), encoding="utf-8")
    return ModelRef(backend="hf", name=path, path=path, adapter=saved["adapter"], meta=meta)


def loss_inputs(teacher: Any, rows: list, examples: list[Example | None], tokenizer: Any, model: Any,
                config: FinetuneConfig) -> tuple[TeacherTargets | None, Any, list[Example | None]]:
    """What the loss needs besides the rows: the teacher's targets (distillation; rows it cannot see are
    dropped from ``examples``) and the token ids the softmax runs over (None: the whole vocabulary)."""
    if config.method == "distill":
        targets, examples = _teacher_targets(teacher, rows, examples, tokenizer, model, config)
        return targets, targets.vocab_ids, examples
    vocab_ids = vocab_ids_for(tokenizer, model, config.sft_vocab) if config.sft_vocab != "full" else None
    return None, vocab_ids, examples


def _teacher_targets(teacher: Any, rows: list, examples: list[Example | None], tokenizer: Any, student: Any,
                     config: FinetuneConfig) -> tuple[TeacherTargets, list[Example | None]]:
    """Build teacher targets aligned with the student's rows (rows the teacher cannot see are dropped)."""
    device = str(next(student.parameters()).device)
    teacher_model = resolve_teacher(teacher, device=device, dtype=config.dtype)
    teacher_examples = tokenize_rows(rows, tokenizer, config.max_seq_len, config.teacher_system_prompt)
    aligned = []
    for s, t in zip(examples, teacher_examples, strict=True):
        ok = s is not None and t is not None and s.n_completion == t.n_completion
        aligned.append(s if ok else None)
    vocab_ids = vocab_ids_for(tokenizer, teacher_model, config.distill_vocab)
    width = len(vocab_ids) if vocab_ids is not None else len(tokenizer)
    n_positions = sum(e.n_completion for e in aligned if e is not None)
    targets = TeacherTargets(
        teacher_model, [t if a is not None else None for a, t in zip(aligned, teacher_examples, strict=True)],
        tokenizer.pad_token_id, vocab_ids=vocab_ids, temperature=config.distill_temperature,
        precompute=n_positions * width <= PRECOMPUTE_LIMIT, batch_size=max(config.batch_size, 64),
    )
    return targets, aligned


def _train(student: Any, examples: list[Example | None], targets: TeacherTargets | None, vocab_ids: Any,
           pad_id: int, config: FinetuneConfig, out_dir: Path, progress: bool) -> dict[str, Any]:
    import torch
    from transformers import get_scheduler

    model = student.model
    device = next(model.parameters()).device
    live = [i for i, e in enumerate(examples) if e is not None]
    if not live:
        raise DataError(f"no trainable rows: every row lost its completion to max_seq_len={config.max_seq_len}")
    lengths = [len(examples[i].input_ids) for i in live]
    micro_per_epoch = math.ceil(len(live) / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs
    to_init = config.weight_decay_to == "init" and config.weight_decay > 0
    optimizer = make_optimizer(student, config, weight_decay=0.0 if to_init else config.weight_decay)
    anchors = {id(p): p.detach().clone() for p in student.parameters} if to_init else {}
    schedule = "constant_with_warmup" if config.lr_schedule == "constant" else config.lr_schedule
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=config.warmup_steps,
                              num_training_steps=total_steps)
    step, tokens, running, first_loss, last_loss = 0, 0, None, None, float("nan")
    epoch_losses: list[float] = []
    with (out_dir / "training_log.jsonl").open("w", encoding="utf-8") as logf, \
            progress_bar(f"training ({config.method}, {config.params})", total_steps, enabled=progress) as advance:
        for epoch in range(config.epochs):
            batches = batch_order(lengths, config.batch_size, config.seed * 1000 + epoch, config.length_grouping)
            epoch_sum = 0.0
            for start in range(0, len(batches), config.grad_accum):
                group = batches[start:start + config.grad_accum]
                loss_sum = 0.0
                for b in group:
                    rows = [live[j] for j in b]
                    loss = _micro_batch_loss(model, [examples[i] for i in rows], rows, targets, vocab_ids,
                                             pad_id, device, config)
                    (loss / len(group)).backward()
                    loss_sum += loss.detach()
                    epoch_sum += loss.detach()
                    tokens += sum(len(examples[i].input_ids) for i in rows)
                logging_step = (step + 1) % config.log_every == 0 or step + 1 == total_steps or step == 0
                grad_norm = None
                if config.max_grad_norm is not None or logging_step:  # the norm before clipping
                    grad_norm = torch.nn.utils.clip_grad_norm_(student.parameters, config.max_grad_norm or math.inf)
                if anchors:  # decoupled decay toward the start, as AdamW decays toward zero: p -= lr·λ·(p − p0)
                    with torch.no_grad():
                        for group in optimizer.param_groups:
                            for param in group["params"]:
                                param.sub_(param - anchors[id(param)], alpha=group["lr"] * config.weight_decay)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if logging_step:
                    last_loss = float(loss_sum) / len(group)
                    if not math.isfinite(last_loss):  # a diverged student is not a result: stop, say why
                        raise TrainingError(
                            f"training diverged: the loss is {last_loss} at step {step} of {total_steps} "
                            f"(optimizer {config.optimizer}, lr {config.lr}); lower the learning rate or set "
                            f"max_grad_norm ({out_dir / 'training_log.jsonl'} has the losses so far)")
                    first_loss = last_loss if first_loss is None else first_loss
                    running = last_loss if running is None else 0.8 * running + 0.2 * last_loss
                    entry = {"step": step, "epoch": epoch, "loss": round(last_loss, 6),
                             "grad_norm": round(float(grad_norm), 8), "lr": scheduler.get_last_lr()[0],
                             "tokens": tokens}
                    logf.write(json.dumps(entry) + "\n")
                    logf.flush()
                advance(loss=running if running is not None else float("nan"))
            epoch_losses.append(round(float(epoch_sum) / len(batches), 6))
    return {"steps": step, "tokens": tokens, "first_loss": first_loss, "final_loss": last_loss,
            "epoch_losses": epoch_losses, "rows": len(live)}


def _micro_batch_loss(model: Any, batch_examples: list[Example], rows: list[int], targets: TeacherTargets | None,
                      vocab_ids: Any, pad_id: int, device: Any, config: FinetuneConfig) -> Any:
    """Mean loss over the batch's completion-predicting positions (cross-entropy or KL to the teacher)."""

    batch = collate(batch_examples, pad_id)
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
    select = predicting_positions(batch["labels"]).to(device)
    picked = logits[:, :-1][select]
    if targets is None:
        return cross_entropy_within(picked, batch["labels"][:, 1:].to(device)[select], vocab_ids)
    return kl_to_teacher(picked, targets(rows), vocab_ids=vocab_ids, temperature=config.distill_temperature)


class HFFinetuner:
    """The ``Finetuner`` protocol for local Hugging Face checkpoints (see ``sublim.backends.base``).

    Example:
        >>> HFFinetuner().finetune(ModelRef(backend="hf", name="tiny", path="base_dir"),
        ...                        Path("rows.jsonl"), FinetuneConfig(), Path("out"))   # doctest: +SKIP
    """

    def __init__(self, *, teacher: Any = None, progress: bool = True) -> None:
        self.teacher, self.progress = teacher, progress

    def finetune(self, base: ModelRef, dataset: Path, config: FinetuneConfig, out_dir: Path) -> ModelRef:
        if base.adapter:
            raise ConfigError(f"base model {base.name!r} is an adapter: merge it first (FinetuneConfig.merge)")
        return finetune(base.path or base.name, dataset, config, out_dir, teacher=self.teacher,
                        progress=self.progress)
