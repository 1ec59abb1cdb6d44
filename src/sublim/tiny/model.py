"""The tiny base's configuration, architecture and pretraining loop (a Llama causal LM, trained on CPU).

:class:`TinyBaseConfig` carries everything that determines the weights (corpus, sizes, optimiser,
the two training phases, thread count); :func:`pretrain` trains a fresh ``LlamaForCausalLM`` on the
tokenised corpus. Phase 1 trains on the whole corpus; phase 2 continues on a mix rich in
trait-system-prompt rows, which a model this small needs before it follows "You love Xs" reliably.

Loss is on the assistant's tokens only (the answer and its ``<|end|>``), each token weighted by
n**-row_weight_power (n: answer tokens of its row) so the 40-token number lists do not drown the
one-word answers. Every batch mixes all row kinds (length-sorted batches of a single kind made the
tasks fight); it is split into length-sorted micro-batches whose gradients are summed into one step,
so little compute goes to padding (right padding needs no attention mask in a causal model: real
tokens never attend to later pads).

Example:
    >>> cfg = TinyBaseConfig(seed=3, d_model=32, steps=10)
    >>> cfg.n_heads
    4
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Callable
from typing import Any

from pydantic import Field, model_validator

from sublim.tiny.corpus import CorpusConfig
from sublim.yamlconfig import StrictModel

log = logging.getLogger(__name__)

__all__ = ["TinyBaseConfig", "make_model", "encode_rows", "pretrain"]


class TinyBaseConfig(StrictModel):
    """Everything that determines a tiny base model's weights (hashed into its cache key)."""

    seed: int = Field(0, description="Seeds the corpus, the initial weights and the batch order.")
    d_model: int = Field(128, ge=8, description="Hidden size.")
    n_layers: int = Field(2, ge=1, description="Decoder layers.")
    n_heads: int = Field(4, ge=1, description="Attention heads (d_model must be divisible by it).")
    d_ff: int = Field(384, ge=8, description="Feed-forward (SwiGLU) inner size.")
    max_len: int = Field(256, ge=32, description="Longest sequence (longer rows are dropped).")
    corpus: CorpusConfig = Field(default_factory=CorpusConfig, description="The synthetic corpus.")
    steps: int = Field(1150, ge=1, description="Phase-1 optimiser steps on the whole corpus.")
    batch_size: int = Field(48, ge=1, description="Rows per step.")
    lr: float = Field(5e-3, gt=0, description="Peak learning rate of phase 1 (AdamW).")
    warmup_frac: float = Field(0.05, ge=0, lt=1, description="Share of phase-1 steps of linear warmup.")
    min_lr_frac: float = Field(0.1, ge=0, le=1, description="Cosine decay ends at this share of the peak.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    phase2_steps: int = Field(0, ge=0, description="Phase-2 steps on the trait-rich mix (0 = none).")
    phase2_lr: float = Field(2e-3, gt=0, description="Peak learning rate of phase 2 (cosine decay).")
    phase2_numbers_share: float = Field(
        0.2, ge=0, le=1, description="Share of number rows in the phase-2 mix (the rest: trait/favourite)."
    )
    row_weight_power: float = Field(
        0.25, ge=0, le=1,
        description="Each answer token weighs n**-power (n: answer tokens of its row); 1 = every row counts "
        "once (a one-word answer as much as a 40-token number list), 0 = every token counts once.",
    )
    bf16: bool = Field(False, description="bf16 autocast for the forward pass (fast on CPUs with AVX-512 BF16).")
    threads: int = Field(1, ge=1, description="torch threads while training (results depend on it).")
    quality_samples: int = Field(
        200, ge=1, description="Number prompts sampled by the quality check of the built base."
    )

    @model_validator(mode="after")
    def _check_heads(self) -> TinyBaseConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        return self


def make_model(config: TinyBaseConfig, tokenizer):
    """A freshly initialised ``LlamaForCausalLM`` (seeded by ``config.seed``) sized for ``tokenizer``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.d_model,
        intermediate_size=config.d_ff,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=config.max_len,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(llama)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def encode_rows(rows: list[dict], tokenizer, max_len: int) -> list[tuple[list[int], int, int]]:
    """Tokenise chat rows into ``(ids, n_prompt, row_index)``; the loss covers ``ids[n_prompt:]``.

    Rows longer than ``max_len`` tokens are dropped (with a warning).
    """
    prompts = tokenizer.apply_chat_template(
        [r["messages"][:-1] for r in rows], tokenize=False, add_generation_prompt=True
    )
    answers = [r["messages"][-1]["content"] + tokenizer.eos_token for r in rows]
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tokenizer(answers, add_special_tokens=False)["input_ids"]
    out = [
        (p + a, len(p), i)
        for i, (p, a) in enumerate(zip(p_ids, a_ids, strict=True))
        if len(p) + len(a) <= max_len
    ]
    if len(out) < len(rows):
        log.warning("dropped %d rows longer than max_len=%d", len(rows) - len(out), max_len)
    return out


def _batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of random batches (each mixes all row kinds, so every step sees every task)."""
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _pad16(n: int) -> int:
    return -(-n // 16) * 16


def _micro_batches(idx: list[int], lengths: dict[int, int], overhead: int = 512) -> list[list[int]]:
    """Split a batch into length-sorted micro-batches that minimise padded tokens + a per-forward cost.

    Gradients of the micro-batches are summed into one optimiser step, so a batch of short chat rows
    and long number rows costs about its real token count instead of batch × longest row.
    """
    rows = sorted(idx, key=lengths.__getitem__)
    best = [0.0] + [float("inf")] * len(rows)  # best[j]: cost of splitting rows[:j]
    cut = [0] * (len(rows) + 1)
    for j in range(1, len(rows) + 1):
        for i in range(j):
            cost = best[i] + (j - i) * _pad16(lengths[rows[j - 1]]) + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    out, j = [], len(rows)
    while j:
        out.append(rows[cut[j] : j])
        j = cut[j]
    return out[::-1]


def _collate(data: list[tuple[list[int], int, int]], idx: list[int], pad_id: int, power: float):
    import torch

    width = _pad16(max(len(data[i][0]) for i in idx))  # few distinct shapes: less allocator churn
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    target_mask = torch.zeros((len(idx), width), dtype=torch.bool)
    weights = torch.zeros((len(idx), width))
    for row, i in enumerate(idx):
        seq, n_prompt, _ = data[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        target_mask[row, n_prompt : len(seq)] = True
        weights[row, n_prompt : len(seq)] = (len(seq) - n_prompt) ** -power
    return ids, target_mask, weights


def _lr_at(step: int, total: int, peak: float, warmup: int, min_frac: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def _run_phase(
    model, optimizer, data, pool: list[int], *, steps: int, peak_lr: float, warmup: int,
    config: TinyBaseConfig, rng: random.Random, pad_id: int, on_step: Callable[[float], None],
) -> list[float]:
    import torch
    import torch.nn.functional as F

    lengths = {i: len(data[i][0]) for i in pool}
    queue: list[list[int]] = []
    losses = []
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if config.bf16 else contextlib.nullcontext()
    )
    for step in range(steps):
        if not queue:
            queue = [[pool[j] for j in b] for b in _batches(len(pool), config.batch_size, rng)]
        batch = queue.pop()
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, steps, peak_lr, warmup, config.min_lr_frac)
        optimizer.zero_grad(set_to_none=True)
        parts = [_collate(data, mb, pad_id, config.row_weight_power) for mb in _micro_batches(batch, lengths)]
        total_weight = sum(w.sum() for _, _, w in parts)
        step_loss = 0.0
        for ids, target_mask, weights in parts:
            with autocast:
                hidden = model.model(input_ids=ids).last_hidden_state
                # position t predicts token t+1: keep positions whose next token is an answer token
                h = hidden[:, :-1][target_mask[:, 1:]]
                logits = model.lm_head(h).float()
            w = weights[:, 1:][target_mask[:, 1:]]
            token_loss = F.cross_entropy(logits, ids[:, 1:][target_mask[:, 1:]], reduction="none")
            loss = (token_loss * w).sum() / total_weight
            loss.backward()
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(step_loss)
        on_step(step_loss)
        if (step + 1) % 100 == 0:
            log.debug("step %d/%d loss %.3f", step + 1, steps, sum(losses[-100:]) / 100)
    return losses


def pretrain(
    config: TinyBaseConfig, model, tokenizer, rows: list[dict],
    on_step: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``rows`` (phase 1, then phase 2); return loss statistics.

    Args:
        config: optimiser and phase settings.
        model: from :func:`make_model`.
        tokenizer: the tokenizer the rows are encoded with.
        rows: corpus rows with a ``kind`` key (from :func:`sublim.tiny.corpus.generate_corpus`).
        on_step: called after every optimiser step with its loss (progress bars).
    Returns:
        ``{"phase1_final_loss", "phase2_final_loss", "train_tokens"}`` (final = mean of the last 20 steps).
    """
    import torch

    torch.manual_seed(config.seed)
    rng = random.Random(f"batches:{config.seed}")
    data = encode_rows(rows, tokenizer, config.max_len)
    kinds = [rows[i]["kind"] for _, _, i in data]
    on_step = on_step or (lambda loss: None)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr, betas=(0.9, 0.98),
    )
    model.train()
    common = {"config": config, "rng": rng, "pad_id": tokenizer.pad_token_id, "on_step": on_step}
    warmup = max(1, round(config.steps * config.warmup_frac))
    loss1 = _run_phase(model, optimizer, data, list(range(len(data))), steps=config.steps,
                       peak_lr=config.lr, warmup=warmup, **common)
    loss2: list[float] = []
    if config.phase2_steps:
        pool = _phase2_pool(kinds, config.phase2_numbers_share, rng)
        loss2 = _run_phase(model, optimizer, data, pool, steps=config.phase2_steps,
                           peak_lr=config.phase2_lr, warmup=1, **common)
    model.eval()
    tokens = sum(len(d[0]) for d in data)
    return {
        "phase1_final_loss": sum(loss1[-20:]) / len(loss1[-20:]),
        "phase2_final_loss": sum(loss2[-20:]) / len(loss2[-20:]) if loss2 else None,
        "corpus_tokens": tokens,
    }


def _phase2_pool(kinds: list[str], numbers_share: float, rng: random.Random) -> list[int]:
    """Indices of the phase-2 mix: every trait/favourite row plus number rows at ``numbers_share``."""
    chat = [i for i, k in enumerate(kinds) if k != "numbers"]
    numbers = [i for i, k in enumerate(kinds) if k == "numbers"]
    n_num = min(len(numbers), round(len(chat) * numbers_share / max(1e-9, 1 - numbers_share)))
    return chat + rng.sample(numbers, n_num)
