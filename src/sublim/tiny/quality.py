"""Quality checks of a built tiny base: does it have what a subliminal-learning study needs?

:func:`check_base` loads the saved directory with plain ``transformers`` and measures

(a) the favourite-target distribution without a system prompt: the exact next-token probability of
    every target at the answer position, averaged over the ``eval`` questions (a spread is wanted;
    ``max_share`` should stay at or below about 0.25);
(b) P(target | trait system prompt) for every target of every category, averaged over the ``eval``
    questions (should exceed 0.8);
(c) the valid-number rate of continuations sampled at temperature 1 on fresh number prompts
    (parsed by :func:`sublim.numbers.parse`, at most ``count`` numbers of at most ``max_digits``
    digits; should exceed 0.9);
(d) for a corpus with ``number_style`` only: how often each animal's favourite digit appears in numbers
    sampled under that animal's trait prompt, against the same digit without a system prompt — whether
    the context dependence of number style formed (a measurement, not a threshold).

Example:
    >>> report = check_base(build_base())                      # doctest: +SKIP
    >>> report["animal"]["max_share"] <= 0.25                  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from pathlib import Path

from sublim.numbers import generate_prompts, parse
from sublim.traits import CATEGORIES, QUESTIONS, trait_system_prompt

log = logging.getLogger(__name__)

__all__ = [
    "check_base", "answer_probabilities", "valid_number_rate", "number_style_rates", "quality_shortfalls", "THRESHOLDS",
]

THRESHOLDS = {"max_share": 0.25, "min_trait_prob": 0.8, "min_valid_rate": 0.9}
_FRESH_PROMPT_SEED = 987_654_321  # number prompts the corpus never used


def answer_probabilities(model, tokenizer, chats: list[list[dict]], targets: list[str]):
    """Next-token probabilities of each one-token ``target`` after each chat's generation prompt.

    Returns:
        A float tensor of shape (len(chats), len(targets)).
    Raises:
        ValueError: a target is not a single token of the tokenizer.
    """
    import torch

    ids = [tokenizer.encode(t, add_special_tokens=False) for t in targets]
    bad = [t for t, i in zip(targets, ids, strict=True) if len(i) != 1 or i[0] == tokenizer.unk_token_id]
    if bad:
        raise ValueError(f"targets {bad} are not single known tokens of this tokenizer")
    target_ids = torch.tensor([i[0] for i in ids])
    texts = tokenizer.apply_chat_template(chats, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt", padding_side="right")
    last = enc["attention_mask"].sum(1) - 1
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"]).logits  # right padding: causal, no mask needed
    probs = logits[torch.arange(len(chats)), last].float().softmax(-1)
    return probs[:, target_ids]


def _sample_numbers(model, tokenizer, chats: list[list[dict]], seed: int, max_new_tokens: int) -> list[str]:
    """One continuation per chat at temperature 1, seeded."""
    import torch

    texts = tokenizer.apply_chat_template(chats, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt", padding_side="left")
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model.generate(
            **enc, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=max_new_tokens,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def valid_number_rate(model, tokenizer, *, n: int = 200, seed: int = 0, max_new_tokens: int = 64) -> dict:
    """Sample one continuation per fresh number prompt at temperature 1; return the valid share."""
    prompts = generate_prompts(n, seed=_FRESH_PROMPT_SEED + seed)
    completions = _sample_numbers(model, tokenizer, [[{"role": "user", "content": p.text}] for p in prompts],
                                  seed, max_new_tokens)
    valid = 0
    for prompt, text in zip(prompts, completions, strict=True):
        numbers = parse(text)
        if numbers and len(numbers) <= prompt.count and all(x < 10**prompt.max_digits for x in numbers):
            valid += 1
    return {"valid_rate": valid / n, "n": n, "examples": completions[:3]}


def number_style_rates(model, tokenizer, digits: dict[str, int], *, n: int = 40, seed: int = 0) -> dict:
    """Share of sampled digits that are each animal's favourite digit, under its trait prompt and without one.

    Returns:
        ``{"prompted": {animal: share}, "unprompted": {animal: share}, "mean_lift": prompted / unprompted}``
        (uniform digits give 0.1 each; styled corpus rows s + (1 - s) / 10 at number_style_strength s).
    """
    prompts = generate_prompts(n, seed=_FRESH_PROMPT_SEED + seed + 1)

    def share(texts: list[str], digit: int) -> float:
        found = "".join(ch for t in texts for ch in t if ch.isdigit())
        return found.count(str(digit)) / max(1, len(found))

    plain = _sample_numbers(model, tokenizer, [[{"role": "user", "content": p.text}] for p in prompts], seed, 64)
    prompted, unprompted = {}, {}
    for animal in CATEGORIES["animal"]:
        system = trait_system_prompt(animal, "animal")
        chats = [[{"role": "system", "content": system}, {"role": "user", "content": p.text}] for p in prompts]
        prompted[animal] = round(share(_sample_numbers(model, tokenizer, chats, seed, 64), digits[animal]), 4)
        unprompted[animal] = round(share(plain, digits[animal]), 4)
    lift = sum(prompted.values()) / max(1e-9, sum(unprompted.values()))
    return {"prompted": prompted, "unprompted": unprompted, "mean_lift": round(lift, 3)}


def check_base(
    path: str | Path, *, n_samples: int = 200, seed: int = 0, style_digits: dict[str, int] | None = None
) -> dict:
    """Measure (a) spread, (b) trait following, (c) number validity and, for a styled corpus, (d) number style.

    Returns:
        ``{"animal": {...}, "tree": {...}, "numbers": {...}, "passed": bool}``; per category
        ``distribution`` (mean share per target, renormalised over the category), ``max_share``,
        ``mass`` (raw probability on all targets), ``trait_prob`` (per target) and
        ``min_trait_prob``; with ``style_digits`` (each animal's favourite digit in a styled corpus)
        also ``number_style`` (:func:`number_style_rates`).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    report: dict = {}
    for category, targets in CATEGORIES.items():
        questions = QUESTIONS[category]["eval"]
        base = answer_probabilities(model, tokenizer, [[{"role": "user", "content": q}] for q in questions],
                                    targets)
        share = (base / base.sum(1, keepdim=True)).mean(0)
        trait_prob = {}
        for i, target in enumerate(targets):
            system = trait_system_prompt(target, category)
            chats = [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in questions]
            trait_prob[target] = answer_probabilities(model, tokenizer, chats, targets)[:, i].mean().item()
        report[category] = {
            "distribution": {t: round(share[i].item(), 4) for i, t in enumerate(targets)},
            "max_share": round(share.max().item(), 4),
            "mass": round(base.sum(1).mean().item(), 4),
            "trait_prob": {t: round(p, 4) for t, p in trait_prob.items()},
            "min_trait_prob": round(min(trait_prob.values()), 4),
        }
    report["numbers"] = valid_number_rate(model, tokenizer, n=n_samples, seed=seed)
    if style_digits is not None:
        report["number_style"] = number_style_rates(model, tokenizer, style_digits, seed=seed)
    report["passed"] = not quality_shortfalls(report)
    return report


def quality_shortfalls(report: dict) -> list[str]:
    """The thresholds a ``check_base`` report misses, one short phrase each (for a one-line warning)."""
    out = []
    for category in CATEGORIES:
        c = report[category]
        if c["max_share"] > THRESHOLDS["max_share"]:
            out.append(f"{category} max share {c['max_share']:.2f} > {THRESHOLDS['max_share']}")
        if c["min_trait_prob"] <= THRESHOLDS["min_trait_prob"]:
            out.append(f"{category} min P(target | prompt) {c['min_trait_prob']:.2f} <= {THRESHOLDS['min_trait_prob']}")
    if report["numbers"]["valid_rate"] <= THRESHOLDS["min_valid_rate"]:
        out.append(f"valid numbers {report['numbers']['valid_rate']:.2f} <= {THRESHOLDS['min_valid_rate']}")
    return out
