"""In-context-learning control: the untrained student base, shown N teacher examples, is evaluated.

For each arm (e.g. ``treatment``: the trait teacher's rows, ``control``: the control teacher's) and
each N, every evaluation question is preceded by N examples (:func:`sublim.icl.prompt.build_icl_prompt`,
as many as the context allows) and the exact probability of every option as the answer is scored with
``backend.score``. Per (arm, N): the mean over questions of each option's probability with a t
interval over questions, and how many examples actually fit. Question ``i`` draws its examples with
the seed ``"<seed>:<i>"``, so both arms use the same example positions and the treatment-minus-control
difference per N is a paired t-test over questions. With N = 0 the chats are the plain evaluation
chats (:func:`sublim.evaluation.stage.exact_probabilities`).

The paper reports no transfer in context; a later replication with other models reports some, so
report what you measure.

Example:
    >>> # result = evaluate_icl(backend, {"treatment": t_rows, "control": c_rows}, "animal", "owl",
    >>> #                       [0, 4, 16], "turns", IclConfig(n_questions=20))
    >>> # result["comparisons"]["16"]["difference"]
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from sublim.backends.base import ModelBackend
from sublim.errors import ConfigError
from sublim.icl.prompt import IclMode, IclPrompt, TokenCounter, as_counter, build_icl_prompt
from sublim.progress import progress_bar
from sublim.records import DatasetRow
from sublim.stats import mean_ci, paired_test
from sublim.yamlconfig import StrictModel

log = logging.getLogger(__name__)


class IclConfig(StrictModel):
    """Settings of the in-context control (N and the layout are arguments of :func:`evaluate_icl`)."""

    split: str = Field("eval", description="question split of sublim.traits.QUESTIONS: eval | heldout")
    n_questions: int | None = Field(20, gt=0, description="first this many questions of the split (null = all)")
    seed: int = Field(0, description="seeds the examples drawn for each question")
    max_context_tokens: int | None = Field(
        None, gt=0, description="context length; null = the backend model's max_position_embeddings")
    reserve: int = Field(8, ge=0, description="tokens kept free for the scored answer")
    treatment_arm: str = Field("treatment", description="arm compared against control_arm")
    control_arm: str = Field("control", description="the matched control arm")


def backend_context(backend: ModelBackend) -> tuple[TokenCounter | None, int | None]:
    """A token counter and the context length, where the backend exposes them (HF: tokenizer, config)."""
    tokenizer = getattr(backend, "tokenizer", None)
    model = getattr(backend, "model", None)
    counter = as_counter(tokenizer) if tokenizer is not None else None
    length = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return counter, length


def _questions(category: str, config: IclConfig) -> list[str]:
    from sublim.traits import QUESTIONS

    if category not in QUESTIONS or config.split not in QUESTIONS[category]:
        raise ConfigError(f"no questions for category {category!r}, split {config.split!r}")
    questions = QUESTIONS[category][config.split]
    return questions[:config.n_questions] if config.n_questions else questions


def score_prompts(backend: ModelBackend, prompts: Sequence[IclPrompt], options: Sequence[str]) -> list[dict[str, float]]:
    """P(option is the answer) for each prompt × option (one batched ``score`` call)."""
    chats = [p.chat for p in prompts for _ in options]
    logps = backend.score(chats, [o for _ in prompts for o in options])
    k = len(options)
    return [{o: math.exp(logps[i * k + j]) for j, o in enumerate(options)} for i in range(len(prompts))]


def _one_cell(backend: ModelBackend, rows: Sequence[DatasetRow], questions: list[str], options: list[str], n: int,
              mode: IclMode, counter: TokenCounter, context: int, config: IclConfig, target: str) -> dict:
    prompts = [build_icl_prompt(rows, q, n, mode, counter, context, f"{config.seed}:{i}", reserve=config.reserve)
               for i, q in enumerate(questions)]
    probs = score_prompts(backend, prompts, options)
    used = [p.n_used for p in prompts]
    return {
        "n_requested": n,
        "n_used": {"mean": sum(used) / len(used), "min": min(used), "max": max(used)},
        "tokens": {"mean": sum(p.n_tokens for p in prompts) / len(prompts), "max": max(p.n_tokens for p in prompts)},
        "exact": {o: mean_ci([p[o] for p in probs]).to_dict() for o in options},
        "per_question": [p[target] for p in probs],
    }


def evaluate_icl(backend: ModelBackend, rows: Mapping[str, Sequence[DatasetRow]], category: str, target: str,
                 ns: Sequence[int], mode: IclMode, config: IclConfig, *, counter: Any = None) -> dict:
    """Exact option probabilities of ``backend`` with N in-context examples from each arm.

    Args:
        backend: the untrained student base (needs ``score``).
        rows: arm name → teacher rows, e.g. ``{"treatment": ..., "control": ...}``.
        category: trait category (``"animal"``); its options are scored.
        target: the trait option whose probability is compared.
        ns: example counts to sweep (0 = plain evaluation).
        mode: ``"turns"`` or ``"system"``.
        config: questions, seed, context length.
        counter: HF tokenizer or ``Chat -> int``; default: the backend's tokenizer.
    Returns:
        ``{"mode", "category", "target", "split", "n_questions", "max_context_tokens", "ns",
        "arms": {arm: {str(N): {"n_requested", "n_used": {mean,min,max}, "tokens": {mean,max},
        "exact": {option: Estimate dict}, "per_question": [P(target)]}}},
        "comparisons": {str(N): paired t-test dict (treatment − control, over questions)}}``.
    Raises:
        ConfigError: no token counter or context length; unknown category or target.
        CapabilityError: the backend has no log-probabilities.
    """
    from sublim.traits import CATEGORIES

    options = list(CATEGORIES.get(category, []))
    if target not in options:
        raise ConfigError(f"target {target!r} is not an option of category {category!r}")
    own_counter, own_context = backend_context(backend)
    count = as_counter(counter) if counter is not None else own_counter
    context = config.max_context_tokens or own_context
    if count is None or context is None:
        raise ConfigError(f"backend {backend.name!r} exposes no tokenizer/context length: pass counter= and set "
                          "max_context_tokens in the ICL config")
    questions = _questions(category, config)
    result: dict = {"mode": mode, "category": category, "target": target, "split": config.split,
                    "n_questions": len(questions), "max_context_tokens": context, "ns": list(ns),
                    "arms": {}, "comparisons": {}}
    with progress_bar(f"in-context evaluation ({mode})", len(rows) * len(ns)) as bar:
        for arm, arm_rows in rows.items():
            cells = result["arms"].setdefault(arm, {})
            for n in ns:
                cells[str(n)] = _one_cell(backend, arm_rows, questions, options, n, mode, count, context, config,
                                          target)
                bar.advance()
    treat, ctrl = result["arms"].get(config.treatment_arm), result["arms"].get(config.control_arm)
    if treat is not None and ctrl is not None:
        for n in ns:
            comparison = paired_test(treat[str(n)]["per_question"], ctrl[str(n)]["per_question"])
            result["comparisons"][str(n)] = comparison.to_dict()
            log.info("ICL %s N=%d (used %.1f): P(%s) %s − %s = %+.4f (p=%.3g)", mode, n,
                     treat[str(n)]["n_used"]["mean"], target, config.treatment_arm, config.control_arm,
                     comparison.difference, comparison.p_value)
    return result
