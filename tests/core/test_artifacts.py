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
