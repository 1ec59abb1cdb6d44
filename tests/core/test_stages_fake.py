"""Generation resumes without sampling twice; evaluation and reports work on any backend."""

import json

from sublim.backends.fake import FakeBackend
from sublim.config import EvaluationConfig, GenerationConfig
from sublim.evaluation.stage import evaluate_model
from sublim.generation.stage import generate_samples
from sublim.records import DatasetRow, ModelRef, read_jsonl
from sublim.teacher.stage import TeacherRef

TEACHER = TeacherRef(model=ModelRef(backend="fake", name="x"), system_prompt="You love owls.", target="owl")


def test_saved_rows_hide_the_system_prompt(tmp_path):
    out = tmp_path / "samples.jsonl"
    generate_samples(GenerationConfig(n_prompts=20, batch_size=8), TEACHER, FakeBackend(), seed=0, out_path=out)
    rows = read_jsonl(out, DatasetRow)
    assert len(rows) == 20
    assert all([m.role for m in r.messages] == ["user", "assistant"] for r in rows)
    assert "owl" not in out.read_text().lower()


def test_killed_generation_resumes_identically_and_samples_only_the_rest(tmp_path):
    cfg = GenerationConfig(n_prompts=40, batch_size=8)
    full = tmp_path / "full.jsonl"
    generate_samples(cfg, TEACHER, FakeBackend(), seed=3, out_path=full)

    part = tmp_path / "part.jsonl"
    lines = full.read_text().splitlines()
    # a kill after 2.5 chunks, mid-line: 20 full rows and a torn one
    part.write_text("\n".join(lines[:20]) + "\n" + lines[20][:15])
    backend = FakeBackend()
    generate_samples(cfg, TEACHER, backend, seed=3, out_path=part)
    assert backend.rows_generated == 24  # chunk 2 (rows 16-23) redone + chunks 3-4; chunks 0-1 untouched
    by_id = lambda p: {json.loads(x)["id"]: x for x in p.read_text().splitlines()}  # noqa: E731
    assert by_id(part) == by_id(full)


def test_evaluation_reports_exact_and_sampled_with_intervals(tmp_path):
    metrics = evaluate_model(EvaluationConfig(n_samples=4), FakeBackend(), "animal", seed=0, out_dir=tmp_path)
    for split in ("eval", "heldout"):
        s = metrics["splits"][split]
        assert s["n_questions"] >= 12
        owl = s["exact"]["owl"]
        assert owl["low"] <= owl["mean"] <= owl["high"] and owl["n"] == s["n_questions"]
        assert abs(sum(v["mean"] for k, v in s["sampled"].items()) - 1.0) < 1e-9
    assert (tmp_path / "responses.jsonl").exists()


class _ChattyBackend(FakeBackend):
    """Answers in a sentence, as small real chat models do; records how many tokens it was allowed."""

    def generate(self, chats, params):
        from sublim.records import Completion

        self.max_new_tokens = params.max_new_tokens
        return [Completion(text="My favourite animal is the owl, I think.") for _ in chats for _ in range(params.n)]


def test_a_model_that_answers_in_sentences_is_counted_only_when_asked_to(tmp_path):
    """The default reads the answer's first word (the tiny models answer in one); ``anywhere`` finds the
    animal in a sentence and samples as many tokens as the config allows."""
    backend = _ChattyBackend()
    strict = evaluate_model(EvaluationConfig(n_samples=2, exact=False), backend, "animal", 0, tmp_path / "a")
    assert backend.max_new_tokens == 6 and strict["splits"]["eval"]["sampled"]["owl"]["mean"] == 0.0
    config = EvaluationConfig(n_samples=2, exact=False, max_new_tokens=32, answer_match="anywhere")
    loose = evaluate_model(config, backend, "animal", 0, tmp_path / "b")
    assert backend.max_new_tokens == 32 and loose["splits"]["eval"]["sampled"]["owl"]["mean"] == 1.0


def test_a_seeds_two_teachers_share_one_sampling_of_the_bases_number_rows(monkeypatch):
    """The trait and control teachers of a seed mix in the same base-written number rows; the second
    teacher reuses them instead of sampling 9,600 rows again (another seed samples its own)."""
    import sublim.backends.models as models
    from sublim.teacher import stage

    opened, batches = [], []

    def counting_open(ref, *args, **kwargs):
        opened.append(ref.name)
        batches.append(kwargs.get("sampler_batch_size"))
        return FakeBackend()

    monkeypatch.setattr(models, "open_backend", counting_open)
    base = ModelRef(backend="fake", name="base")
    first = stage.number_rows(base, 12, seed=5)
    second = stage.number_rows(base, 12, seed=5)
    assert len(first) == 12 and first == second and first is not second and len(opened) == 1
    stage.number_rows(base, 12, seed=6)
    assert len(opened) == 2
    stage.number_rows(base, 12, seed=6, sampler_batch_size=1024)   # other draws: sampled again
    assert len(opened) == 3 and batches[-1] == 1024 and batches[0] is None


def test_the_samplers_batch_keys_a_teacher_only_when_the_base_samples_its_number_rows(tmp_path):
    from sublim.config import StudyConfig
    from sublim.pipeline.runner import StudyRunner

    def key(**changes) -> str:
        cfg = StudyConfig.model_validate({"name": "k", "trait": {"target": "owl"}, **changes})
        return StudyRunner(cfg, tmp_path).teacher_key("owl", seed=0)

    weights = {"kind": "finetuned", "n_number_rows": 100}
    assert key(generation={"sampler_batch_size": 1024}) == key()       # a prompted teacher samples nothing
    assert key(teacher=weights, generation={"sampler_batch_size": 1024}) != key(teacher=weights)
    assert key(teacher={**weights, "n_number_rows": 0}, generation={"sampler_batch_size": 1024}) == \
        key(teacher={**weights, "n_number_rows": 0})
