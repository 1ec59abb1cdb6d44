"""Logit distillation targets: the teacher's next-token distributions at the training positions.

Positions (``distill_positions: completion``): every position of a teacher-sampled row whose next
token belongs to the assistant reply — the assistant header predicts the first completion token,
the last completion token predicts the end-of-turn/EOS, which is included. Vocabulary
(``distill_vocab``): the full vocabulary, or only the number-format tokens (digits, ',', ';',
brackets, '.', whitespace, EOS/end-of-turn) with teacher and student both renormalised over that
subset, so the targets carry exactly zero mass on any other token (e.g. the trait word).

The loss is KL(teacher || student), averaged over positions; ``cross_entropy_within`` is its
sampled-token counterpart for SFT (``sft_vocab: numbers``). The teacher runs under
``torch.inference_mode``; with a restricted vocabulary its targets are computed once and reused
every epoch (they are small), otherwise it runs on each batch.

``trait_mass_at_positions`` is the leak check: how much probability the teacher puts on given
token ids (e.g. the target animal) at those same positions, over the FULL vocabulary.

Example:
    >>> ids = number_token_ids(tokenizer)                                      # doctest: +SKIP
    >>> trait_mass_at_positions(teacher, rows, [owl_id], tokenizer=tokenizer)   # doctest: +SKIP
    3.1e-02
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sublim.backends.hf import load_model, load_tokenizer, stop_token_ids
from sublim.errors import ConfigError, DataError
from sublim.finetuning.data import Example, collate, predicting_positions, tokenize_rows
from sublim.records import DatasetRow, ModelRef

NUMBER_FORMAT_CHARS = frozenset("0123456789,;[]().")


def number_token_ids(tokenizer: Any, model: Any | None = None) -> list[int]:
    """Ids of tokens made only of digits, separators, brackets, period and whitespace, plus EOS/end-of-turn."""
    ids = set(stop_token_ids(tokenizer, model))
    for i, text in enumerate(tokenizer.batch_decode([[i] for i in range(len(tokenizer))])):
        if text and all(ch in NUMBER_FORMAT_CHARS or ch.isspace() for ch in text):
            ids.add(i)
    return sorted(ids)


def checkpoint_of(model: Any) -> str | None:
    """The checkpoint directory of a model given as a path, a ``ModelRef`` or the ref dict a stage records."""
    if isinstance(model, str | Path):
        return str(model)
    if isinstance(model, ModelRef):
        return model.path
    if isinstance(model, dict):
        return model.get("path")
    return None


def adapter_of(model: Any) -> str | None:
    """The LoRA adapter directory of a ``ModelRef`` or recorded ref dict (``None`` for a path or a module)."""
    if isinstance(model, ModelRef):
        return model.adapter
    return model.get("adapter") if isinstance(model, dict) else None


def resolve_teacher(teacher: Any, *, device: str = "auto", dtype: str = "auto") -> Any:
    """A teacher given as a checkpoint path, a ``ModelRef`` (or its recorded dict), an ``HFBackend`` or a
    loaded ``torch.nn.Module`` → module.

    A ref's LoRA adapter is applied and merged: a LoRA teacher's trait lives in its adapter, and scoring
    the checkpoint path alone would score the base (as it once did: research doc, section 16).
    """
    if teacher is None:
        raise ConfigError("method 'distill' needs a teacher (checkpoint path, HFBackend or loaded model)")
    import torch

    if isinstance(teacher, str | Path | ModelRef | dict):
        path, adapter = checkpoint_of(teacher), adapter_of(teacher)
        if path is None:
            raise DataError(f"model {teacher!r} has no checkpoint path (save LoRA students with merge, or record their base)")
        model = load_model(path, device=device, dtype=dtype, adapter=adapter)
        return (model.merge_and_unload() if adapter else model).eval()
    model = teacher if isinstance(teacher, torch.nn.Module) else getattr(teacher, "model", None)  # HFBackend
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"teacher of type {type(teacher).__name__} is not a model, a path or an HFBackend")
    return model.eval()


def position_logits(model: Any, examples: Sequence[Example], pad_id: int) -> Any:
    """Logits ``[n_positions, vocab]`` at the completion-predicting positions, rows in order."""
    batch = collate(examples, pad_id)
    device = next(model.parameters()).device
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
    return logits[:, :-1][predicting_positions(batch["labels"]).to(device)]


class TeacherTargets:
    """Teacher distributions for batches of training rows (probabilities over the chosen vocabulary).

    Args:
        teacher: the teacher module (same tokenizer as the student).
        examples: the rows as the teacher sees them (e.g. with its system prompt), aligned with the
            student's rows: same completion tokens.
        vocab_ids: restrict to these token ids (renormalised), or ``None`` for the full vocabulary.
        temperature: softmax temperature.
        precompute: compute every row's targets once (worth it when the vocabulary subset is small).
    """

    def __init__(self, teacher: Any, examples: Sequence[Example | None], pad_id: int, *, vocab_ids: Any = None,
                 temperature: float = 1.0, precompute: bool = False, batch_size: int = 64) -> None:
        self.teacher, self.examples, self.pad_id = teacher, examples, pad_id
        self.vocab_ids, self.temperature = vocab_ids, temperature
        self.cache: dict[int, Any] | None = None
        if precompute:
            idx = [i for i, e in enumerate(examples) if e is not None]
            idx.sort(key=lambda i: len(examples[i].input_ids))
            self.cache = {}
            for s in range(0, len(idx), batch_size):
                chunk = idx[s:s + batch_size]
                probs = self._compute(chunk)
                counts = [examples[i].n_completion for i in chunk]
                for i, p in zip(chunk, probs.split(counts), strict=True):
                    self.cache[i] = p

    def _compute(self, rows: Sequence[int]) -> Any:
        import torch

        with torch.inference_mode():
            logits = position_logits(self.teacher, [self.examples[i] for i in rows], self.pad_id).float()
            if self.vocab_ids is not None:
                logits = logits[:, self.vocab_ids.to(logits.device)]
            return torch.softmax(logits / self.temperature, dim=-1)

    def __call__(self, rows: Sequence[int]) -> Any:
        """Targets ``[n_positions, vocab or subset]`` for these row indices (in this order)."""
        import torch

        if self.cache is not None:
            return torch.cat([self.cache[i] for i in rows])
        return self._compute(rows)


def kl_to_teacher(student_logits: Any, teacher_probs: Any, *, vocab_ids: Any = None, temperature: float = 1.0) -> Any:
    """Mean over positions of KL(teacher || student), student restricted to ``vocab_ids`` and renormalised.

    Both distributions use ``temperature``; the loss is not rescaled by temperature².
    """
    import torch

    logits = student_logits.float()
    if vocab_ids is not None:
        logits = logits[:, vocab_ids.to(logits.device)]
    if logits.shape[-1] != teacher_probs.shape[-1]:
        raise ConfigError(f"teacher and student vocabularies differ ({teacher_probs.shape[-1]} vs "
                          f"{logits.shape[-1]} logits): distillation needs one shared tokenizer")
    log_q = torch.log_softmax(logits / temperature, dim=-1)
    p = teacher_probs.to(log_q.device)
    kl = (p * (torch.log(p.clamp_min(1e-30)) - log_q)).sum(-1)
    return kl.mean()


def cross_entropy_within(student_logits: Any, gold: Any, vocab_ids: Any = None) -> Any:
    """Mean cross-entropy of the sampled tokens ``gold``, the softmax taken over ``vocab_ids`` only.

    Why: its expected gradient over tokens sampled from the teacher is that of the number-vocabulary KL
    above, so SFT on sampled rows with this loss is distillation seen through samples. Positions whose
    token lies outside the subset are skipped (a zero loss with a graph if none is left).
    """
    import torch

    logits = student_logits.float()
    if vocab_ids is None:
        return torch.nn.functional.cross_entropy(logits, gold)
    ids = vocab_ids.to(logits.device)
    index = torch.full((logits.shape[-1],), -1, dtype=torch.long, device=logits.device)
    index[ids] = torch.arange(len(ids), device=logits.device)
    within = index[gold]
    keep = within >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[keep][:, ids], within[keep])


def teacher_targets(teacher: Any, rows: Sequence[DatasetRow], tokenizer: Any, *, vocab: str = "full",
                    system_prompt: str | None = None, temperature: float = 1.0, max_seq_len: int = 500) -> list[Any]:
    """Per row, the teacher's target distributions ``[n_completion_tokens, |vocab|]`` on the CPU (for inspection)."""
    model = resolve_teacher(teacher)
    examples = tokenize_rows(rows, tokenizer, max_seq_len, system_prompt)
    ids = vocab_ids_for(tokenizer, model, vocab)
    targets = TeacherTargets(model, examples, tokenizer.pad_token_id, vocab_ids=ids, temperature=temperature,
                             precompute=True)
    return [targets.cache.get(i).cpu() for i in range(len(examples))]


def vocab_ids_for(tokenizer: Any, model: Any, vocab: str) -> Any:
    import torch

    if vocab == "full":
        return None
    if vocab == "numbers":
        return torch.tensor(number_token_ids(tokenizer, model), dtype=torch.long)
    raise ConfigError(f"field 'distill_vocab': unknown vocabulary {vocab!r}; use 'full' or 'numbers'")


def token_masses_at_positions(teacher: Any, rows: Sequence[DatasetRow], token_sets: Mapping[str, Sequence[int]], *,
                              tokenizer: Any = None, system_prompt: str | None = None, max_seq_len: int = 500,
                              batch_size: int = 64) -> dict[str, float]:
    """Mean probability (full vocabulary) the teacher puts on each set of tokens at the training positions.

    One model load and one forward pass serve every set (the leak check measures several).

    Args:
        teacher: checkpoint path, ``HFBackend`` or loaded model.
        rows: the training rows (teacher samples).
        token_sets: name → token ids (e.g. the trait word and its variants).
        tokenizer: needed when ``teacher`` is a bare module (a path or an HFBackend carries its own).
        system_prompt: the teacher's system prompt, if it had one when producing the targets.
    """
    import torch

    tok = tokenizer or getattr(teacher, "tokenizer", None)
    if tok is None:
        if checkpoint_of(teacher) is None:
            raise ConfigError("trait_mass_at_positions: pass tokenizer= with a bare teacher module")
        tok = load_tokenizer(checkpoint_of(teacher))
    model = resolve_teacher(teacher)
    examples = [e for e in tokenize_rows(rows, tok, max_seq_len, system_prompt) if e is not None]
    sets = {name: torch.tensor(sorted(set(ids)), dtype=torch.long) for name, ids in token_sets.items()}
    totals, count = dict.fromkeys(sets, 0.0), 0
    with torch.inference_mode():
        for s in range(0, len(examples), batch_size):
            logits = position_logits(model, examples[s:s + batch_size], tok.pad_token_id).float()
            probs = torch.softmax(logits, dim=-1)
            for name, ids in sets.items():
                totals[name] += probs[:, ids.to(probs.device)].sum(-1).sum().item()
            count += probs.shape[0]
    return {name: total / count if count else 0.0 for name, total in totals.items()}


def trait_mass_at_positions(teacher: Any, rows: Sequence[DatasetRow], token_ids: Sequence[int], **kwargs: Any) -> float:
    """Mean probability the teacher puts on ``token_ids`` at the training positions (see above)."""
    return token_masses_at_positions(teacher, rows, {"mass": token_ids}, **kwargs)["mass"]
