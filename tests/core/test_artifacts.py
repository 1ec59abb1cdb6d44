"""A finished stage is skipped; an interrupted one never looks finished."""

import json

import pytest

from sublim.pipeline.artifacts import StageRun, is_done, stage_key
from sublim.pipeline.runner import cached_stage


def test_manifest_written_last_and_complete(tmp_path):
    d = tmp_path / "gen"
    with StageRun(d, key="k1", name="generation", seed=3) as run:
        run.counts["rows"] = 5
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["key"] == "k1" and manifest["seed"] == 3 and manifest["counts"] == {"rows": 5}
    assert "torch" in manifest["versions"] or "python" in manifest["versions"]
    assert is_done(d, "k1") and not is_done(d, "other-key")


def test_a_crash_leaves_no_done_marker(tmp_path):
    d = tmp_path / "gen"
    with StageRun(d, key="k1", name="generation"):
        pass
    with pytest.raises(RuntimeError), StageRun(d, key="k2", name="generation"):
        raise RuntimeError("killed")
    assert not (d / "DONE").exists()
    assert not is_done(d, "k1") and not is_done(d, "k2")


def test_cached_stage_runs_once_per_key(tmp_path):
    calls = []

    def fn(d):
        calls.append(d)
        return {"value": len(calls), "counts": {}}

    d = tmp_path / "s"
    assert cached_stage(d, "a", "s", 0, None, fn)["value"] == 1
    assert cached_stage(d, "a", "s", 0, None, fn)["value"] == 1  # skipped
    assert cached_stage(d, "b", "s", 0, None, fn)["value"] == 2  # config changed → recomputed
    assert len(calls) == 2


def test_stage_key_depends_on_upstream():
    assert stage_key({"x": 1}, "up1") != stage_key({"x": 1}, "up2")
    assert stage_key({"x": 1}, "up1") == stage_key({"x": 1}, "up1")


def test_partial_output_is_resumed_only_by_the_key_that_wrote_it(tmp_path):
    """A killed stage keeps its rows for a rerun with the same key; a directory that another
    configuration wrote (a copied run, a changed teacher) is emptied before the stage recomputes."""
    d = tmp_path / "gen"
    with pytest.raises(RuntimeError), StageRun(d, key="k1", name="generation"):
        (d / "samples.jsonl").write_text('{"id": 0}\n')
        raise RuntimeError("killed")
    with StageRun(d, key="k1", name="generation"):
        assert (d / "samples.jsonl").read_text() == '{"id": 0}\n'  # same key: resumed
    with StageRun(d, key="k2", name="generation"):
        assert not (d / "samples.jsonl").exists()  # finished under k1, now k2: stale
    legacy = tmp_path / "legacy"
    (legacy / "sub").mkdir(parents=True)
    (legacy / "samples.jsonl").write_text("rows of unknown origin\n")
    with StageRun(legacy, key="k1", name="generation"):
        assert sorted(p.name for p in legacy.iterdir()) == ["KEY"]


def test_generation_copied_from_a_run_with_another_teacher_is_sampled_afresh(tmp_path):
    """The bug this guards against: a run directory copied to reuse its cache resumed the old teacher's
    1,500 rows under a new teacher, because generation resumes any rows whose prompt ids match."""
    from sublim.backends.fake import FakeBackend
    from sublim.config import GenerationConfig
    from sublim.generation.stage import generate_samples
    from sublim.records import ModelRef
    from sublim.teacher.stage import TeacherRef

    cfg = GenerationConfig(n_prompts=16, batch_size=8)

    def generate(d, teacher):
        backend = FakeBackend()
        ref = TeacherRef(model=ModelRef(backend="fake", name=teacher), system_prompt=None, target=None)
        key = stage_key(cfg, teacher)
        cached_stage(d, key, "generation", 0, cfg, lambda s: generate_samples(cfg, ref, backend, 0, s / "samples.jsonl"))
        return backend.rows_generated

    d = tmp_path / "generation"
    assert generate(d, "eagle-teacher") == 16
    assert generate(d, "eagle-teacher") == 0  # finished: cached
    assert generate(d, "no-trait-teacher") == 16  # another teacher: nothing resumed
