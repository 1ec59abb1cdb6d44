"""Statistical detector: can a simple classifier tell trait-teacher data from control-teacher data?

This goes beyond the paper (which asked LLMs): a scikit-learn logistic regression on digit
character n-grams, number unigrams/bigrams and number-position statistics
(:mod:`sublim.detection.features`), scored by k-fold cross-validation. Folds are stratified by arm
and grouped by prompt: when both teachers answered the same prompts, a row and its twin always fall
in the same fold (split apart, the classifier learns a prompt with the opposite label and held-out
AUROC drops *below* 0.5). Every row gets a held-out score from the fold that did not train on it; the overall AUROC is computed on these
pooled out-of-fold scores with a 95% **DeLong** interval (analytic, over rows; it treats the scores
as fixed, so it ignores the small extra variance from refitting per fold), and the per-fold AUROCs
are reported too (mean with a t interval over folds). Accuracy at threshold 0.5 gets a Wilson
interval; arms are balanced by subsampling so chance is exactly 0.5. If the classifier beats
chance, the trait leaves a statistical trace in the numbers; if not, say so.

Label 1 is ``rows_a`` (the trait teacher's data): positive weights in ``top_features`` push towards
the trait arm.

Example:
    >>> # result = detect(read_jsonl(treat, DatasetRow), read_jsonl(ctrl, DatasetRow), DetectorConfig())
    >>> # print(f"AUROC {result.auroc:.3f} [{result.auroc_low:.3f}, {result.auroc_high:.3f}]")
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats as st

from sublim.detection.features import POSITION_FEATURES, digit_text, position_features, prompt_text, row_texts
from sublim.errors import DataError
from sublim.records import DatasetRow
from sublim.stats import mean_ci, wilson_ci
from sublim.yamlconfig import StrictModel

log = logging.getLogger(__name__)

FeatureKind = Literal["digit_ngrams", "number_ngrams", "positions", "prompt_ngrams"]


class DetectorConfig(StrictModel):
    """How the statistical detector is built and scored."""

    folds: int = Field(5, ge=2, description="stratified cross-validation folds")
    seed: int = Field(0, description="seeds the subsampling and the fold split")
    features: tuple[FeatureKind, ...] = Field(
        ("digit_ngrams", "number_ngrams", "positions"),
        min_length=1,
        description="feature groups: digit_ngrams (char 1-4-grams of the digit string), number_ngrams "
        "(number unigrams+bigrams), positions (count, first/last, moments, leading/last digits, seed "
        "repeats, format), prompt_ngrams (the prompt's numbers; a sanity check that should stay at chance)",
    )
    max_rows: int | None = Field(5000, gt=0, description="at most this many rows per arm (seeded subsample); null = all")
    balance: bool = Field(True, description="subsample the larger arm to the smaller one so chance is 0.5")
    C: float = Field(1.0, gt=0, description="inverse L2 regularisation strength of the logistic regression")
    max_iter: int = Field(2000, gt=0, description="solver iterations")
    top_k: int = Field(15, ge=0, description="features with the largest |weight| reported (model refit on all rows)")


class FeatureWeight(BaseModel):
    name: str
    weight: float


class DetectionResult(BaseModel):
    """Held-out performance of the detector (label 1 = arm a, the trait teacher's data)."""

    auroc: float = Field(description="AUROC of the pooled out-of-fold scores")
    auroc_low: float
    auroc_high: float
    auroc_method: str = "DeLong 95% interval over rows (pooled out-of-fold scores)"
    auroc_p_value: float = Field(description="two-sided DeLong z-test of AUROC = 0.5")
    fold_aurocs: list[float]
    fold_auroc_mean: float
    fold_auroc_low: float = Field(description="t interval over folds")
    fold_auroc_high: float
    accuracy: float = Field(description="out-of-fold accuracy at threshold 0.5")
    accuracy_low: float = Field(description="Wilson 95% interval")
    accuracy_high: float
    n_a: int
    n_b: int
    folds: int
    features: list[str]
    n_features: int
    top_features: list[FeatureWeight] = Field(description="largest |weight|; positive favours arm a")


def delong_auc(scores: np.ndarray, labels: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """AUROC with DeLong's variance: ``(auc, low, high, p_value vs 0.5)``; ties count one half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise DataError("AUROC needs rows of both arms")
    both = st.rankdata(np.concatenate([pos, neg]))
    # Placements: how many negatives each positive beats (ties 1/2), and vice versa.
    v10 = (both[:m] - st.rankdata(pos)) / n
    v01 = 1.0 - (both[m:] - st.rankdata(neg)) / m
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    se = math.sqrt(max(var, 0.0))
    z = float(st.norm.ppf(0.5 + confidence / 2))
    p = float(2 * st.norm.sf(abs(auc - 0.5) / se)) if se > 0 else (0.0 if auc != 0.5 else 1.0)
    return auc, max(0.0, auc - z * se), min(1.0, auc + z * se), p


def _sample(rows: Sequence[DatasetRow], k: int, rng: random.Random) -> list[DatasetRow]:
    if k >= len(rows):
        return list(rows)
    return [rows[i] for i in sorted(rng.sample(range(len(rows)), k))]


def build_pipeline(config: DetectorConfig):
    """The scikit-learn pipeline: a FeatureUnion of the chosen groups, then logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    def text_group(extract, vectoriser) -> Pipeline:
        return Pipeline([("text", FunctionTransformer(extract)), ("vec", vectoriser)])

    groups = {
        "digit_ngrams": lambda: text_group(digit_text, TfidfVectorizer(
            analyzer="char", ngram_range=(1, 4), sublinear_tf=True, min_df=2, lowercase=False)),
        "number_ngrams": lambda: text_group(digit_text, TfidfVectorizer(
            token_pattern=r"[0-9]+", ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=False)),
        "prompt_ngrams": lambda: text_group(prompt_text, TfidfVectorizer(
            token_pattern=r"[0-9]+", ngram_range=(1, 1), sublinear_tf=True, min_df=2, lowercase=False)),
        "positions": lambda: Pipeline([
            ("dense", FunctionTransformer(position_features)),
            ("scale", StandardScaler()),
        ]),
    }
    union = FeatureUnion([(name, groups[name]()) for name in config.features])
    classifier = LogisticRegression(C=config.C, solver="liblinear", max_iter=config.max_iter)
    return Pipeline([("features", union), ("classifier", classifier)])


def feature_names(pipeline) -> list[str]:
    """Names of a fitted pipeline's features, ``group:name`` (e.g. ``digit_ngrams:77``)."""
    names = []
    for group, part in pipeline.named_steps["features"].transformer_list:
        inner = POSITION_FEATURES if group == "positions" else part.named_steps["vec"].get_feature_names_out()
        names.extend(f"{group}:{n}" for n in inner)
    return names


def _top_features(pipeline, k: int) -> list[FeatureWeight]:
    names = feature_names(pipeline)
    weights = pipeline.named_steps["classifier"].coef_[0]
    order = np.argsort(-np.abs(weights), kind="stable")[:k]
    return [FeatureWeight(name=str(names[i]), weight=float(weights[i])) for i in order]


def _prompt_groups(texts: list) -> np.ndarray:
    """Rows answering the same prompt share a group, so a held-out row's twin is never trained on."""
    ids: dict[str, int] = {}
    return np.array([ids.setdefault(t.prompt, len(ids)) for t in texts])


def detect(rows_a: Sequence[DatasetRow], rows_b: Sequence[DatasetRow], config: DetectorConfig) -> DetectionResult:
    """Cross-validate a classifier telling ``rows_a`` (trait teacher) from ``rows_b`` (control teacher).

    Args:
        rows_a: the trait teacher's rows (label 1).
        rows_b: the control teacher's rows (label 0).
        config: detector settings.
    Returns:
        Held-out AUROC (DeLong CI), per-fold AUROCs, accuracy (Wilson CI), counts and top features.
    Raises:
        DataError: an arm has fewer rows than folds.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    rng = random.Random(config.seed)
    cap = config.max_rows if config.max_rows is not None else max(len(rows_a), len(rows_b))
    k_a, k_b = min(len(rows_a), cap), min(len(rows_b), cap)
    if config.balance:
        k_a = k_b = min(k_a, k_b)
    a, b = _sample(rows_a, k_a, rng), _sample(rows_b, k_b, rng)
    if min(len(a), len(b)) < config.folds:
        raise DataError(f"detection needs at least folds={config.folds} rows per arm; got {len(a)} and {len(b)}")
    texts = row_texts(a) + row_texts(b)
    labels = np.array([1] * len(a) + [0] * len(b))
    scores = np.zeros(len(texts))
    fold_aurocs = []
    groups = _prompt_groups(texts)
    splitter = StratifiedGroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for train, test in splitter.split(np.zeros(len(labels)), labels, groups):
        model = build_pipeline(config).fit([texts[i] for i in train], labels[train])
        scores[test] = model.predict_proba([texts[i] for i in test])[:, 1]
        fold_aurocs.append(float(roc_auc_score(labels[test], scores[test])))
    auc, low, high, p = delong_auc(scores, labels)
    correct = int(((scores >= 0.5).astype(int) == labels).sum())
    acc = wilson_ci(correct, len(labels))
    folds = mean_ci(fold_aurocs)
    full = build_pipeline(config).fit(texts, labels)
    n_features = len(feature_names(full))
    result = DetectionResult(
        auroc=auc, auroc_low=low, auroc_high=high, auroc_p_value=p, fold_aurocs=fold_aurocs,
        fold_auroc_mean=folds.mean, fold_auroc_low=folds.low, fold_auroc_high=folds.high,
        accuracy=acc.mean, accuracy_low=acc.low, accuracy_high=acc.high, n_a=len(a), n_b=len(b),
        folds=config.folds, features=list(config.features), n_features=n_features,
        top_features=_top_features(full, config.top_k),
    )
    log.info("statistical detector: AUROC %.3f [%.3f, %.3f] (p=%.3g), accuracy %.3f, n=%d+%d",
             auc, low, high, p, acc.mean, len(a), len(b))
    return result
