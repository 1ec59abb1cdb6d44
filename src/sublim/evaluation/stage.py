"""Evaluation stage: measure a model's preference for every option of the trait category.

For each question split (``eval``: paraphrases also seen in pretraining; ``heldout``: never used for
tuning), and each question:

* **exact** — the probability of each option as the whole answer (product over its tokens, via the
  backend's log-probs). Low variance: the headline metric on local models.
* **sampled** — ``n_samples`` answers at temperature 1, normalised to an option; the target rate.

Per-split summaries average over questions with a t interval over questions; the per-question values
are kept in ``responses.jsonl`` for paired analyses.

Example:
    >>> # metrics = evaluate_model(EvaluationConfig(), backend, "animal", seed=0, out_dir=Path("eval"))
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path

from sublim.backends.base import ModelBackend, SamplingParams
from sublim.config import EvaluationConfig
from sublim.errors import CapabilityError
from sublim.evaluation.answers import normalise_answer
from sublim.records import Chat, write_jsonl
from sublim.stats import mean_ci

log = logging.getLogger(__name__)


def question_splits(config: EvaluationConfig) -> list[str]:
    return ["eval", "heldout"] if config.question_split == "both" else [config.question_split]


def exact_probabilities(backend: ModelBackend, questions: list[str], options: list[str],
                        system_prompt: str | None = None, prefix: str | None = None) -> list[dict[str, float]]:
    """P(option is the answer) for each question × option — or, with ``prefix``, P(option is the next
    word | the answer began with ``prefix``).

    When every option is one token, there is no prefix, and the backend exposes its next-token
    distribution (local HF models), one forward pass per question reads all options at once; otherwise
    each question × option pair is scored (one batched ``score`` call). Both give the same numbers. With a
    prefix, log P(prefix + " " + option) − log P(prefix): exact where appending a word leaves the prefix's
    tokens unchanged (BPE tokenizers whose words carry their leading space).
    """
    single = getattr(backend, "single_token_ids", None)
    ids = single(options) if single is not None and prefix is None else None
    if ids is not None:
        logp = backend.next_token_logprobs([Chat.of(q, system_prompt) for q in questions])  # type: ignore[attr-defined]
        return [{o: math.exp(float(logp[i, t])) for o, t in zip(options, ids, strict=True)} for i in range(len(questions))]
    answers = options if prefix is None else [prefix, *(f"{prefix} {o}" for o in options)]
    k = len(answers)
    logps = backend.score([Chat.of(q, system_prompt) for q in questions for _ in answers], answers * len(questions))
    rows = [logps[i * k:(i + 1) * k] for i in range(len(questions))]
    if prefix is not None:
        rows = [[lp - row[0] for lp in row[1:]] for row in rows]
    return [{o: math.exp(lp) for o, lp in zip(options, row, strict=True)} for row in rows]


def sampled_counts(
    backend: ModelBackend, questions: list[str], options: list[str], config: EvaluationConfig, seed: int,
    system_prompt: str | None = None,
) -> list[Counter]:
    """Counts of each normalised answer (``None`` for off-list) over ``config.n_samples`` per question."""
    n = config.n_samples
    params = SamplingParams(temperature=config.temperature, max_new_tokens=config.max_new_tokens, seed=seed, n=n)
    outs = backend.generate([Chat.of(q, system_prompt) for q in questions], params)
    return [Counter(normalise_answer(c.text, options, config.answer_match) for c in outs[i * n : (i + 1) * n])
            for i in range(len(questions))]


def evaluate_model(
    config: EvaluationConfig, backend: ModelBackend, category: str, seed: int, out_dir: Path,
    system_prompt: str | None = None,
) -> dict:
    """Evaluate one model (asked under ``system_prompt``, e.g. a prompted teacher's); writes
    ``responses.jsonl`` and returns the metrics dict."""
    from sublim.traits import CATEGORIES, QUESTIONS

    options = CATEGORIES[category]
    metrics: dict = {"category": category, "options": options, "splits": {}}
    rows: list[dict] = []
    for split in question_splits(config):
        questions = QUESTIONS[category][split]
        summary: dict = {"n_questions": len(questions)}
        exact = None
        if config.exact:
            try:
                exact = exact_probabilities(backend, questions, options, system_prompt, config.answer_prefix)
            except CapabilityError:
                log.warning("backend %s has no log-probs: exact probabilities skipped", backend.name)
        if exact is not None:
            summary["exact"] = {o: mean_ci([e[o] for e in exact]).to_dict() for o in options}
        counts = None
        if config.n_samples:
            counts = sampled_counts(backend, questions, options, config, seed, system_prompt)
            summary["sampled"] = {
                o: mean_ci([c[o] / config.n_samples for c in counts]).to_dict() for o in options
            }
            summary["sampled"]["(other)"] = mean_ci([c[None] / config.n_samples for c in counts]).to_dict()
            summary["n_samples_per_question"] = config.n_samples
        metrics["splits"][split] = summary
        for i, q in enumerate(questions):
            row = {"split": split, "question": q}
            if exact is not None:
                row["exact"] = exact[i]
            if counts is not None:
                row["sampled"] = {str(k): v for k, v in counts[i].items()}
            rows.append(row)
    write_jsonl(out_dir / "responses.jsonl", rows)
    return metrics
