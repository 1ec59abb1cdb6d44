"""Training data for students: chat JSONL rows → token ids + labels with the prompt masked out.

A row's prompt (system/user messages and the template's own tokens, up to and including the
assistant header that ``add_generation_prompt=True`` writes) gets label -100; only the assistant
completion and what the template closes it with (end-of-turn / EOS) are trained: completion-only
loss. The prompt and the completion are tokenised separately, exactly as at generation time, so a
teacher that sees a different prompt (e.g. with its system prompt) has the same completion tokens.

Example:
    >>> rows = load_rows(Path("filtered.jsonl"))                        # doctest: +SKIP
    >>> examples = tokenize_rows(rows, tokenizer, max_seq_len=500)      # doctest: +SKIP
    >>> batch = collate(examples[:16], tokenizer.pad_token_id)          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sublim.backends.hf import encode_text
from sublim.errors import DataError
from sublim.records import DatasetRow, Message, read_jsonl

log = logging.getLogger(__name__)
IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One tokenised row: ``labels[t] == input_ids[t]`` on completion tokens, -100 elsewhere."""

    input_ids: list[int]
    labels: list[int]

    @property
    def n_completion(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def load_rows(path: Path) -> list[DatasetRow]:
    """Read chat JSONL training rows; each must end with an assistant message.

    Raises:
        DataError: naming ``file:line: field '...'`` for the first malformed row.
    """
    rows = read_jsonl(Path(path), DatasetRow)
    line_numbers = [i for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1)
                    if line.strip()]
    for row, lineno in zip(rows, line_numbers, strict=True):
        last = len(row.messages) - 1
        if row.messages[-1].role != "assistant":
            raise DataError(f"{path}:{lineno}: field 'messages.{last}.role': the last message must be the "
                            f"assistant's completion (got {row.messages[-1].role!r})")
    if not rows:
        raise DataError(f"{path}: no training rows")
    return rows


def split_prompt_completion(tokenizer: Any, messages: Sequence[Message]) -> tuple[str, str]:
    """Render ``messages`` with the chat template as (prompt text, completion text incl. end-of-turn)."""
    msgs = [m.model_dump() for m in messages]
    prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    if full.startswith(prompt):
        return prompt, full[len(prompt):]
    # Templates that rewrite earlier turns once a reply exists: fall back to content + EOS.
    return prompt, msgs[-1]["content"] + (tokenizer.eos_token or "")


def with_system_prompt(messages: Sequence[Message], system: str | None) -> list[Message]:
    """The messages as a teacher with ``system`` sees them (replacing any system message)."""
    if system is None:
        return list(messages)
    return [Message(role="system", content=system), *(m for m in messages if m.role != "system")]


def tokenize_row(tokenizer: Any, messages: Sequence[Message], max_seq_len: int) -> Example | None:
    """Tokenise one chat; ``None`` when truncation to ``max_seq_len`` leaves no completion token."""
    prompt, completion = split_prompt_completion(tokenizer, messages)
    p_ids, c_ids = encode_text(tokenizer, prompt), encode_text(tokenizer, completion)
    ids = (p_ids + c_ids)[:max_seq_len]
    labels = ([IGNORE] * len(p_ids) + c_ids)[:max_seq_len]
    if len(p_ids) >= len(ids):
        return None
    return Example(ids, labels)


def tokenize_rows(rows: Sequence[DatasetRow], tokenizer: Any, max_seq_len: int,
                  system_prompt: str | None = None) -> list[Example | None]:
    """Tokenise rows (optionally as a teacher with ``system_prompt`` sees them); dropped rows are ``None``."""
    out = [tokenize_row(tokenizer, with_system_prompt(r.messages, system_prompt), max_seq_len) for r in rows]
    dropped = sum(e is None for e in out)
    if dropped:
        log.warning("%d of %d rows have no completion token left within max_seq_len=%d; skipped",
                    dropped, len(rows), max_seq_len)
    return out


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad to the longest row of the batch: ``input_ids``, ``attention_mask``, ``labels`` tensors."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def predicting_positions(labels: Any) -> Any:
    """Boolean mask over ``logits[:, :-1]``: positions whose NEXT token is a completion token."""
    return labels[:, 1:] != IGNORE


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True) -> list[list[int]]:
    """Shuffled batches of row indices; with grouping, rows of similar length share a batch.

    Grouping sorts each window of 50 batches by length, then shuffles the batch order, so padding is
    small while batches still mix the dataset. Deterministic in ``seed``.
    """
    rng = random.Random(seed)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if group_by_length:
        window = batch_size * 50
        idx = [i for w in range(0, len(idx), window) for i in sorted(idx[w:w + window], key=lambda i: lengths[i])]
    batches = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches
