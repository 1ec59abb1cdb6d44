"""A study records which base weights it ran on and will not resume onto other weights.

The stage keys hash a base's config; the same tiny-base config trains other weights on another CPU
(tiny-organism.md section 24), so only the weights' digest tells two bases apart.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from sublim.config import ModelSpec
from sublim.errors import StaleRunError
from sublim.pipeline.bases import bases_line, read_bases, record_bases, weights_sha256


def checkpoint(path, data: bytes):
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.safetensors").write_bytes(data)
    (path / "config.json").write_text("{}")  # not a weight file: does not enter the digest
    return ModelSpec(kind="hf", path=str(path))


def test_the_digest_covers_weight_files_only(tmp_path):
    checkpoint(tmp_path / "m", b"abc")
    assert weights_sha256(tmp_path / "m") == hashlib.sha256(b"abc").hexdigest()
    (tmp_path / "m" / "config.json").write_text('{"changed": true}')
    assert weights_sha256(tmp_path / "m") == hashlib.sha256(b"abc").hexdigest()
    assert weights_sha256(tmp_path / "no-such-dir") is None  # a hub id: weights not visible here


def test_a_resume_onto_other_weights_is_refused_and_names_both_digests(tmp_path):
    spec = checkpoint(tmp_path / "base", b"built on machine one")
    study = tmp_path / "runs" / "s"
    study.mkdir(parents=True)
    first = record_bases(study, [spec])
    assert first[0]["weights_sha256"] == hashlib.sha256(b"built on machine one").hexdigest()

    record_bases(study, [spec])  # same weights: resumes
    checkpoint(tmp_path / "base", b"built on machine two")
    with pytest.raises(StaleRunError) as err:
        record_bases(study, [spec])
    message = str(err.value)
    assert str(study) in message and "--set name=" in message
    assert first[0]["weights_sha256"][:12] in message
    assert hashlib.sha256(b"built on machine two").hexdigest()[:12] in message
    # the record still holds the weights the study's stages were computed on
    assert read_bases(study) == first


def test_more_seeds_add_their_bases_to_the_record(tmp_path):
    study = tmp_path / "s"
    study.mkdir()
    a, b = checkpoint(tmp_path / "a", b"a"), checkpoint(tmp_path / "b", b"b")
    record_bases(study, [a])
    records = record_bases(study, [a, b])
    assert [r["path"] for r in records] == [a.path, b.path]
    assert json.loads((study / "bases.json").read_text()) == records


def test_the_report_line_shows_each_base_and_shortens_long_lists(tmp_path):
    records = [{"model": f"tiny/b{i}", "weights_sha256": f"{i:x}" * 64} for i in range(5)]
    records.append({"model": "gpt-4.1-nano", "weights_sha256": None})
    line = bases_line(records)
    assert line.startswith("tiny/b0 (weights 000000000000); tiny/b1 (weights 111111111111)")
    assert "… 3 more in bases.json" in line
    assert bases_line(records[-1:]) == "gpt-4.1-nano (weights not visible)"
    per_seed = {"model": "tiny/organism-b@4a2f72f38f53bbf2", "weights_sha256": "7df23890fc6b" + "0" * 52,
                "spec": {"kind": "tiny", "preset": "organism-b", "tiny": {"seed": 1230}}}
    assert bases_line([per_seed]) == "tiny/organism-b seed 1230 (weights 7df23890fc6b)"  # its seed, not its cache hash


def test_a_base_sublim_built_records_the_cpu_and_kernels_that_trained_it(tmp_path, monkeypatch):
    """Two builds of one tiny-base config differ when MKL or ATen pick other kernels (section 27)."""
    from sublim.pipeline.artifacts import compute_platform

    monkeypatch.setenv("MKL_CBWR", "AVX2")
    here = compute_platform()
    assert here["torch_cpu_capability"] and here["cpu"] and here["kernel_env"] == {"MKL_CBWR": "AVX2"}

    spec = checkpoint(tmp_path / "base", b"one")
    (tmp_path / "base" / "manifest.json").write_text(json.dumps({"platform": here}))
    study = tmp_path / "s"
    study.mkdir()
    assert record_bases(study, [spec])[0]["built_on"] == here
    checkpoint(tmp_path / "base", b"two")
    (tmp_path / "base" / "manifest.json").write_text(json.dumps({"platform": {**here, "kernel_env": {}}}))
    with pytest.raises(StaleRunError, match="MKL_CBWR=AVX2\\) then"):
        record_bases(study, [spec])
