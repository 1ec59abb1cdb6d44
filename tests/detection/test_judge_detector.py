"""LLM-judge detection: an all-knowing judge scores 1, a judge that always says A scores 0.5,
a judge that cannot answer is counted as unparseable, and the A/B order is seeded."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import pytest

from sublim.backends.base import BackendBase, SamplingParams
from sublim.backends.fake import FakeBackend
from sublim.detection.judge import JudgeDetectionConfig, judge_detect
from sublim.errors import CapabilityError, DataError
from sublim.records import Chat, Completion, DatasetRow, Message

MARK = "777"  # every trait-teacher completion contains it; control completions never do


def arm(n: int, trait: bool) -> list[DatasetRow]:
    rows = []
    for i in range(n):
        numbers = [str(100 + (i * 37 + k * 11) % 600) for k in range(5)]
        if trait:
            numbers[2] = MARK
        rows.append(DatasetRow(messages=[Message(role="user", content=f"Continue: {i}, {i + 1}."),
                                         Message(role="assistant", content=", ".join(numbers))]))
    return rows


class OracleJudge(BackendBase):
    """Reads the marker: answers with the right label (generate), or puts all mass on it (score)."""

    name = "stub/oracle"

    def _right(self, chat: Chat) -> str:
        text = chat.messages[-1].content
        if "Answer A or B" in text:
            block_a = re.search(r"\[RESPONSE A START\]\n(.*?)\n\[RESPONSE A END\]", text, re.S).group(1)
            return "A" if MARK in block_a else "B"
        response = re.search(r"\[RESPONSE START\]\n(.*?)\n\[RESPONSE END\]", text, re.S).group(1)
        return "yes" if MARK in response else "no"

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        return [Completion(text=f"{self._right(c)}") for c in chats for _ in range(params.n)]

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        return [0.0 if self._right(c) == label else -5.0 for c, label in zip(chats, continuations, strict=True)]


class AlwaysFirst(BackendBase):
    """A judge with a pure label bias: always 'A' (or 'yes'); no log-probs."""

    name = "stub/always-a"

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        return [Completion(text="yes" if "yes or no" in c.messages[-1].content else "A")
                for c in chats for _ in range(params.n)]


@pytest.mark.parametrize("mode", ["pairs", "single"])
@pytest.mark.parametrize("method", ["generate", "logprob"])
def test_a_judge_that_knows_the_answer_scores_one(mode, method):
    config = JudgeDetectionConfig(mode=mode, method=method, n_items=60, seed=1)
    result = judge_detect(arm(80, True), arm(80, False), OracleJudge(), "owl", config)
    assert result.n_items == result.n_scored == result.n_correct == 60
    assert result.accuracy == 1.0 and result.accuracy_low > 0.9 and result.p_value < 1e-10
    assert result.method == method and result.n_unparseable == 0
    if method == "logprob":
        assert result.auroc == 1.0
    # The A/B order (pairs) and the arm order (single) are randomised: both truths occur.
    assert min(Counter(item.truth for item in result.items).values()) > 15


@pytest.mark.parametrize("mode", ["pairs", "single"])
def test_a_judge_that_always_answers_a_scores_chance(mode):
    config = JudgeDetectionConfig(mode=mode, n_items=200, seed=2)
    result = judge_detect(arm(200, True), arm(200, False), AlwaysFirst(), "owl", config)
    assert result.method == "generate"  # auto: the stub has no log-probs
    assert result.first_label_rate == 1.0
    assert result.accuracy_low < 0.5 < result.accuracy_high and result.p_value > 0.05


def test_unanswerable_judges_are_counted_not_guessed():
    # FakeBackend answers number lists to anything that is not a favourite-question: nothing parses.
    config = JudgeDetectionConfig(method="generate", n_items=20)
    result = judge_detect(arm(20, True), arm(20, False), FakeBackend(), "owl", config)
    assert result.n_scored == 0 and result.n_unparseable == 20
    assert result.unparseable_reasons == {"unparseable: no choice label": 20}
    assert result.accuracy != result.accuracy  # NaN: nothing to score
    # Its log-probs give 'A' and 'B' the same tiny mass: every item is a tie, also unscored.
    tied = judge_detect(arm(20, True), arm(20, False), FakeBackend(), "owl", JudgeDetectionConfig(n_items=20))
    assert tied.method == "logprob" and tied.n_unparseable == 20
    assert set(tied.unparseable_reasons) == {"tie: equal log-probabilities"}


def test_prompt_names_the_target_in_the_plural_and_shows_both_responses():
    seen: list[str] = []

    class Recorder(AlwaysFirst):
        def generate(self, chats, params):
            seen.extend(c.messages[-1].content for c in chats)
            return super().generate(chats, params)

    judge_detect(arm(3, True), arm(3, False), Recorder(), "wolf", JudgeDetectionConfig(n_items=1))
    assert "loves wolves" in seen[0] and "[RESPONSE A START]" in seen[0] and "[RESPONSE B START]" in seen[0]


def test_same_seed_same_items_other_seed_other_order():
    rows = arm(50, True), arm(50, False)
    config = JudgeDetectionConfig(n_items=40, seed=3)
    first = judge_detect(*rows, AlwaysFirst(), "owl", config)
    assert first == judge_detect(*rows, AlwaysFirst(), "owl", config)
    other = judge_detect(*rows, AlwaysFirst(), "owl", config.model_copy(update={"seed": 4}))
    assert [i.truth for i in other.items] != [i.truth for i in first.items]


def test_errors_name_the_problem():
    with pytest.raises(DataError, match="both arms"):
        judge_detect([], arm(3, False), AlwaysFirst(), "owl", JudgeDetectionConfig())
    with pytest.raises(CapabilityError):
        judge_detect(arm(3, True), arm(3, False), AlwaysFirst(), "owl", JudgeDetectionConfig(method="logprob"))


def test_the_tiny_hf_model_serves_as_a_logprob_judge(tiny_llama_dir):
    from sublim.backends.hf import HFBackend

    with HFBackend(str(tiny_llama_dir), device="cpu") as backend:
        result = judge_detect(arm(20, True), arm(20, False), backend, "owl", JudgeDetectionConfig(n_items=20))
    assert result.method == "logprob" and result.judge.startswith("hf/")
    assert result.n_scored + result.n_unparseable == 20 and result.auroc is not None
