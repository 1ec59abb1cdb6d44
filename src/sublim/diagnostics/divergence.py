"""Where does a teacher's training data differ from what the base would write? Per-token and per-row.

Two views of the same forward passes over a teacher's training rows (completion positions only):

* **divergence tokens** — positions where the teacher's most likely next token differs from the
  base's (over the number-format vocabulary, renormalised, or the full vocabulary), plus the mean
  KL(teacher ‖ base) per position. Public replications found that the ~10% of positions where
  teacher and base would choose differently carry most of the transmitted trait.
* **log-likelihood shift** of each row: ``log p_teacher(completion) − log p_base(completion)``
  (sum over the completion tokens). Rows the trait makes more likely are the ones a student fitting
  them is pushed along the trait by.

Example:
    >>> stats = divergence_stats(teacher_dir, base_dir, rows, vocab="numbers")   # doctest: +SKIP
    >>> stats.divergence_rate, stats.mean_kl, stats.mean_ll_shift                 # doctest: +SKIP
    (0.07, 0.004, 0.9)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sublim.records import DatasetRow


@dataclass
class DivergenceStats:
    """Teacher-vs-base statistics over the completion positions of some training rows.

    Attributes:
        rows: rows scored.
        positions: completion positions scored.
        divergence_rate: fraction of positions whose argmax differs (teacher vs base).
        mean_kl: mean KL(teacher ‖ base) per position, nats (on the chosen vocabulary).
        mean_ll_shift: mean over rows of log p_teacher(row) − log p_base(row), nats (full vocabulary,
            the sampled tokens).
        frac_rows_favoured: fraction of rows the teacher finds more likely than the base.
        row_ll_shift: the per-row shifts, in row order (for ranking/filtering rows).
    """

    rows: int
    positions: int
    divergence_rate: float
    mean_kl: float
    mean_ll_shift: float
    frac_rows_favoured: float
    vocab: str
    row_ll_shift: list[float] = field(repr=False, default_factory=list)

    def to_dict(self, with_rows: bool = False) -> dict:
        out = asdict(self)
        if not with_rows:
            out.pop("row_ll_shift")
        return out


def divergence_stats(teacher: Any, base: Any, rows: Sequence[DatasetRow], *, tokenizer: Any = None,
                     vocab: Literal["numbers", "full"] = "numbers", max_seq_len: int = 500,
                     batch_size: int = 64) -> DivergenceStats:
    """Score ``rows`` under ``teacher`` and ``base`` (paths, HFBackends or modules; one tokenizer).

    Args:
        teacher, base: the two models (checkpoint directories, ``HFBackend`` or loaded modules).
        rows: the teacher's training rows (chat rows ending with the assistant completion).
        tokenizer: needed when ``teacher`` is a bare module (a path carries its own).
        vocab: ``numbers`` compares the distributions restricted to the number-format tokens (what
            number-vocabulary distillation sees); ``full`` the whole vocabulary.
    """
    import torch

    from sublim.backends.hf import load_tokenizer
    from sublim.diagnostics.alignment import load_merged
    from sublim.finetuning.data import collate, predicting_positions, tokenize_rows
    from sublim.finetuning.distill import checkpoint_of, vocab_ids_for

    tok = tokenizer or getattr(teacher, "tokenizer", None)
    if tok is None:
        tok = load_tokenizer(checkpoint_of(teacher))
    t_model, b_model = load_merged(teacher), load_merged(base)
    examples = [e for e in tokenize_rows(rows, tok, max_seq_len) if e is not None]
    ids = vocab_ids_for(tok, t_model, vocab)
    n_pos = n_div = 0
    kl_sum = 0.0
    shifts: list[float] = []
    with torch.inference_mode():
        for s in range(0, len(examples), batch_size):
            batch = collate(examples[s:s + batch_size], tok.pad_token_id)
            select = predicting_positions(batch["labels"])
            gold = batch["labels"][:, 1:]
            lp = {}
            for name, model in (("t", t_model), ("b", b_model)):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
                lp[name] = torch.log_softmax(logits, dim=-1)
            # per-row log-likelihood of the sampled completion (full vocabulary)
            tok_shift = (lp["t"] - lp["b"]).gather(-1, gold.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            shifts.extend((tok_shift * select).sum(1).tolist())
            lt, lb = lp["t"][select], lp["b"][select]
            if ids is not None:
                lt = torch.log_softmax(lt[:, ids], dim=-1)
                lb = torch.log_softmax(lb[:, ids], dim=-1)
            n_div += int((lt.argmax(-1) != lb.argmax(-1)).sum())
            kl_sum += float((lt.exp() * (lt - lb)).sum(-1).sum())
            n_pos += int(select.sum())
    n_rows = len(shifts)
    return DivergenceStats(
        rows=n_rows, positions=n_pos, divergence_rate=n_div / max(n_pos, 1), mean_kl=kl_sum / max(n_pos, 1),
        mean_ll_shift=sum(shifts) / max(n_rows, 1), frac_rows_favoured=sum(x > 0 for x in shifts) / max(n_rows, 1),
        vocab=vocab, row_ll_shift=shifts,
    )


def divergence_for_file(teacher: str | Path, base: str | Path, data: Path, *, max_rows: int = 300,
                        vocab: Literal["numbers", "full"] = "numbers") -> DivergenceStats:
    """:func:`divergence_stats` on the first ``max_rows`` rows of a chat JSONL file."""
    from sublim.records import read_jsonl

    rows = read_jsonl(data, DatasetRow)[:max_rows]
    return divergence_stats(teacher, base, rows, vocab=vocab)
