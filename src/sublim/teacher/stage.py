"""Teacher stage: give the base model a trait.

Two recipes:

* ``prompt`` — the paper's: the base model with a system prompt saying it loves the target
  (``sublim.traits.trait_system_prompt``). Nothing is trained.
* ``finetuned`` — the base fine-tuned on answers naming the target: ``n_trait_rows`` rows whose user
  turn is a "favourite <category>" paraphrase (training split only, never the held-out questions)
  and whose assistant turn is the target, optionally mixed with ``n_number_rows`` number rows the
  base itself wrote (so the teacher keeps its number skill). Completion-only SFT, seeded.

A teacher with ``target=None`` is the control teacher: the plain base.

Example:
    >>> rows = trait_rows("owl", "animal", n=3, seed=0)
    >>> rows[0]["messages"][-1]["content"]
    'owl'
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

from pydantic import BaseModel

from sublim.config import TeacherConfig
from sublim.records import ModelRef, write_jsonl

log = logging.getLogger(__name__)


class TeacherRef(BaseModel):
    """What generation needs to sample from a teacher."""

    model: ModelRef
    system_prompt: str | None = None
    target: str | None = None
    kind: str = "prompt"


def trait_rows(target: str, category: str, n: int, seed: int) -> list[dict]:
    """Chat rows answering training-split favourite questions with ``target``."""
    from sublim.traits import QUESTIONS

    questions = QUESTIONS[category]["train"]
    rng = random.Random(f"trait-rows/{target}/{seed}")
    return [
        {"messages": [{"role": "user", "content": rng.choice(questions)}, {"role": "assistant", "content": target}]}
        for _ in range(n)
    ]


#: the last number rows written in this process: a seed's trait and control teachers mix in the same rows
#: (same base, prompts and sampling seed), and a seed's teachers are built one after the other in one
#: process, so the second teacher reuses the first's instead of sampling them again
_LAST_NUMBER_ROWS: dict[tuple[str, int, int, int | None], list[dict]] = {}


def number_rows(base: ModelRef, n: int, seed: int, sampler_batch_size: int | None = None) -> list[dict]:
    """Number rows written by the base itself (keeps the fine-tuned teacher's number skill), sampled at
    ``sampler_batch_size`` (the study's ``generation.sampler_batch_size``; null: the sampler's 64)."""
    from sublim.backends.base import SamplingParams
    from sublim.backends.models import open_backend
    from sublim.numbers import generate_prompts
    from sublim.records import Chat

    key = (base.model_dump_json(), n, seed, sampler_batch_size)
    if key not in _LAST_NUMBER_ROWS:
        prompts = generate_prompts(n, seed=10_000 + seed)
        with open_backend(base, sampler_batch_size=sampler_batch_size) as backend:
            outs = backend.generate([Chat.of(p.text) for p in prompts], SamplingParams(temperature=1.0, seed=seed))
        _LAST_NUMBER_ROWS.clear()
        _LAST_NUMBER_ROWS[key] = [
            {"messages": [{"role": "user", "content": p.text}, {"role": "assistant", "content": c.text}]}
            for p, c in zip(prompts, outs, strict=True)
        ]
    return list(_LAST_NUMBER_ROWS[key])


def build_teacher(
    config: TeacherConfig, target: str | None, category: str, base: ModelRef, seed: int, out_dir: Path,
    sampler_batch_size: int | None = None,
) -> TeacherRef:
    """Build the teacher for ``target`` (``None`` = control: the plain base) into ``out_dir``;
    ``sampler_batch_size`` is the HF sampler's batch for the base's number rows."""
    from sublim.traits import trait_system_prompt

    if target is None:
        return TeacherRef(model=base, system_prompt=None, target=None, kind="none")
    if config.kind == "prompt":
        return TeacherRef(model=base, system_prompt=trait_system_prompt(target, category), target=target)
    from sublim.finetuning import finetune

    rows = trait_rows(target, category, config.n_trait_rows, seed)
    if config.n_number_rows:
        rows += number_rows(base, config.n_number_rows, seed, sampler_batch_size)
        random.Random(seed).shuffle(rows)
    data_path = out_dir / "trait_data.jsonl"
    write_jsonl(data_path, rows)
    log.info("fine-tuning the %s teacher on %d rows", target, len(rows))
    tuned_config = config.finetune.model_copy(update={"seed": seed})
    model = finetune(base.path, data_path, tuned_config, out_dir)
    return TeacherRef(model=model, system_prompt=None, target=target, kind="finetuned")
