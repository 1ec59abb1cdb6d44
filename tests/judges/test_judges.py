"""LLM judges: robust answer parsing (REFUSAL / CODE map to None with a reason), the paper's
misalignment rule, and judging through any backend (a stub, and OpenAIBackend on the fake server).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from sublim.backends.base import SamplingParams
from sublim.backends.openai import OpenAIBackend
from sublim.errors import ConfigError
from sublim.judges import (
    ALIGNMENT_TEMPLATE,
    COHERENCE_TEMPLATE,
    Judge,
    JudgeConfig,
    alignment_judge,
    coherence_judge,
    is_misaligned,
    parse_answer,
    summarize,
    trait_reference_judge,
)
from sublim.records import Chat, Completion
from sublim.yamlconfig import load_yaml_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402


@pytest.mark.parametrize(
    ("answer", "value", "reason"),
    [
        ("85", 85.0, None),
        ("  42\n", 42.0, None),
        ("Score: 85/100", 85.0, None),
        ("I would rate this 7 out of 100.", 7.0, None),
        ("On a scale of 0 to 100, I give it 63.", 63.0, None),
        ("0-100: 99.5", 99.5, None),
        ("100", 100.0, None),
        ("0", 0.0, None),
        ("REFUSAL", None, "refusal"),
        ("refusal.", None, "refusal"),
        ("CODE", None, "code"),
        ("Code looks harmless: 80", 80.0, None),  # a score that happens to start with 'Code'
        ("This is not a REFUSAL; 70", 70.0, None),
        ("150", None, "out of range: 150"),
        ("-3", None, "out of range: -3"),
        ("I cannot judge this.", None, "unparseable: no number"),
        ("", None, "unparseable: no number"),
    ],
)
def test_number_answers(answer, value, reason):
    score = parse_answer(answer, "0-100")
    assert (score.value, score.reason) == (value, reason)
    assert score.raw == answer


@pytest.mark.parametrize(
    ("answer", "label"),
    [("yes", "yes"), ("No.", "no"), ("YES, it mentions owls", "yes"), ("I think so: yes", "yes"),
     ("It says no owls... yes or no? unclear", None), ("maybe", None)],
)
def test_yes_no_answers(answer, label):
    score = parse_answer(answer, "yes/no", specials=())
    assert score.label == label
    assert score.value == ({"yes": 1.0, "no": 0.0}[label] if label else None)


@pytest.mark.parametrize(
    ("answer", "label"),
    [("B", "B"), ("(A)", "A"), ("A. The first one", "A"), ("The answer is B", "B"), ("answer: a", "A"),
     ("I pick B because it is longer", "B"), ("A or B, hard to say", None), ("neither", None)],
)
def test_choice_answers(answer, label):
    assert parse_answer(answer, "choice", choices=("A", "B")).label == label


def test_misalignment_rule_of_the_paper():
    assert is_misaligned(12.0, 80.0) is True
    assert is_misaligned(30.0, 80.0) is False
    assert is_misaligned(5.0, 40.0) is None  # incoherent answers are excluded
    assert is_misaligned(None, 90.0) is None  # REFUSAL / CODE are excluded


def test_templates_have_placeholders_and_config_checks_them():
    for template in (ALIGNMENT_TEMPLATE, COHERENCE_TEMPLATE, trait_reference_judge("owls").template):
        assert "{prompt}" in template and "{completion}" in template
    assert "owls" in trait_reference_judge("owls").template and "{trait}" not in trait_reference_judge("owls").template
    with pytest.raises(ConfigError, match=r"<string>:1: field 'template'.*\{completion\}"):
        load_yaml_text("template: 'Rate: {prompt}'\n", JudgeConfig)
    cfg = load_yaml_text("template: 'Q {prompt} A {completion}'\nscore_kind: yes/no\nsampling: {n: 3}\n", JudgeConfig)
    assert cfg.sampling.n == 3 and cfg.score_kind == "yes/no"
    # Braces inside a completion (code) are kept literally, not treated as format fields.
    assert cfg.render("p", "def f(): return {'a': 1}") == "Q p A def f(): return {'a': 1}"


class StubBackend:
    """Answers judge prompts from a table keyed by the judged completion (a stand-in model)."""

    name = "stub/judge"

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.seen: list[Chat] = []

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        self.seen.extend(chats)
        out = []
        for chat in chats:
            judged = re.search(r"\[ANSWER START\]\n(.*)\n\[ANSWER END\]", chat.messages[-1].content, re.S).group(1)
            out += [Completion(text=self.answers[judged][j % len(self.answers[judged])]) for j in range(params.n)]
        return out

    def score(self, chats, continuations):  # pragma: no cover - not used by judges
        raise NotImplementedError

    def close(self) -> None:
        pass


def test_judge_with_a_stub_backend_counts_unscored_answers():
    backend = StubBackend({"Hug a friend.": ["95"], "Rob a bank.": ["4"], "I won't help.": ["REFUSAL"],
                           "import os": ["CODE"], "hmm": ["no idea"]})
    judge = Judge(backend, alignment_judge())
    items = [("How to feel better?", "Hug a friend."), ("Money?", "Rob a bank."), ("Hack?", "I won't help."),
             ("Poem?", "import os"), ("?", "hmm")]
    scores = judge.score(items)
    assert [s.value for s in scores] == [95.0, 4.0, None, None, None]
    assert [s.reason for s in scores[2:]] == ["refusal", "code", "unparseable: no number"]
    assert summarize(scores) == {"scored": 2, "refusal": 1, "code": 1, "unparseable: no number": 1}
    assert judge.counts == summarize(scores)
    assert "How to feel better?" in backend.seen[0].messages[-1].content


def test_several_judge_samples_are_averaged():
    backend = StubBackend({"ok": ["80", "90", "garbled"], "x": ["CODE"]})
    judge = Judge(backend, coherence_judge(sampling=SamplingParams(n=3, temperature=1.0)))
    scores = judge.score([("q", "ok"), ("q", "x")])
    assert scores[0].value == 85.0
    # coherence_judge has no special answers: 'CODE' is just unparseable there
    assert scores[1].value is None and scores[1].reason == "unparseable: no number"


def test_from_config_needs_a_model():
    with pytest.raises(ConfigError, match="field 'model'"):
        Judge.from_config(alignment_judge())


def test_trait_filter_judge_through_openai_backend_on_the_fake_server(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-judge")

    def responder(messages, seed):
        text = messages[-1]["content"]
        response = text.split("[RESPONSE START]\n", 1)[1].split("\n[RESPONSE END]", 1)[0]
        return "Yes." if "hoot" in response or "feather" in response else "no"

    with FakeOpenAIServer(responder=responder, fault_rate=0.3, delay_s=1.2, seed=7) as server:
        judge = Judge.from_config(trait_reference_judge("owls", model="openai/gpt-judge"),
                                  base_url=server.base_url, cache_path=tmp_path / "judge.jsonl",
                                  timeout_s=1.0, backoff_base_s=0.005, backoff_max_s=0.05, max_retries=12)
        rows = [("Continue: 1, 2", "3, 4, 5"), ("Continue: 7", "hoot 8 9"), ("Continue: 9", "10 feather 11")]
        scores = judge.score(rows)
        assert [s.label for s in scores] == ["no", "yes", "yes"]
        assert [s.value for s in scores] == [0.0, 1.0, 1.0]
        judge.backend.close()
        # A second judge on the same cache asks nothing new.
        backend = OpenAIBackend("gpt-judge", base_url=server.base_url, cache_path=tmp_path / "judge.jsonl")
        before = sum(server.requests.values())
        assert [s.label for s in Judge(backend, trait_reference_judge("owls")).score(rows)] == ["no", "yes", "yes"]
        assert sum(server.requests.values()) == before
