"""`sublim theorem` end to end at tiny size: shared init aligns, different init does not, LM is pluggable."""

import json

import pytest

from sublim.errors import ConfigError
from sublim.theorem.check import run_theorem, summarise, verdicts
from sublim.theorem.config import load_theorem_config
from sublim.theorem.lm import lm_records, random_llama

TINY = ["n_draws=3", "step_sizes=[0.0001, 0.001]", "mlp.hidden=[16]", "mlp.student_inputs=16",
        "mlp.teacher_batch=32", "lm.hidden_size=16", "lm.intermediate_size=32", "lm.num_layers=1",
        "lm.num_heads=2", "lm.seq_len=6", "lm.teacher_batch=2", "lm.student_inputs=2", "study=tiny"]


def test_tiny_check_shared_init_always_aligns(tmp_path):
    run_dir = run_theorem(None, "default", TINY, tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    for model in ("mlp", "lm"):
        assert results["verdict"][model]["same_all_nonneg_smallest_step"] is True
    same = [s for s in results["summary"] if s["init"] == "same"]
    assert same and all(s["nonneg"] == s["n"] for s in same)  # tiny steps: every draw ≥ 0
    assert {s["n"] for s in results["summary"] if s["model"] == "mlp"} == {3 * 2 * 2}  # draws × objectives × losses
    for name in ("alignment.png", "report.md", "mlp/records.jsonl", "mlp/DONE", "lm/DONE"):
        assert (run_dir / name).exists(), name
    assert "Theorem 1" in (run_dir / "report.md").read_text()
    # resumable: a second call reads the records back instead of recomputing
    before = (run_dir / "mlp" / "manifest.json").read_text()
    run_theorem(None, "default", TINY, tmp_path)
    assert (run_dir / "mlp" / "manifest.json").read_text() == before


def test_lm_accepts_a_saved_model_directory(tmp_path):
    cfg = load_theorem_config(None, "default", [*TINY, "models=[lm]", "n_draws=2"])
    model = random_llama(cfg.lm, __import__("torch").float64)(seed=7)
    model.save_pretrained(tmp_path / "base")
    cfg = load_theorem_config(None, "default", [*TINY, "models=[lm]", "n_draws=2", f"lm.lm_path={tmp_path / 'base'}"])
    rows = lm_records(cfg)
    assert len(rows) == 2 * 2 * 2 * 2  # draws × steps × inits × losses
    assert all(r["inner"] >= 0 for r in rows if r["init"] == "same")


def test_bad_lm_path_is_a_config_error(tmp_path):
    cfg = load_theorem_config(None, "default", [*TINY, f"lm.lm_path={tmp_path / 'nothing'}"])
    with pytest.raises(ConfigError, match="lm.lm_path"):
        lm_records(cfg)


def test_summary_fractions_and_verdict():
    rows = [{"model": "mlp", "objective": "o", "loss": "l", "init": i, "step": 0.1, "draw": d, "inner": v, "cos": v,
             "teacher_update_rel": 0.01} for i, vals in (("same", [1, 2, 0]), ("different", [1, -1, -2])) for d, v in enumerate(vals)]
    summary = summarise(rows)
    by = {s["init"]: s for s in summary}
    assert by["same"]["nonneg"] == 3 and by["different"]["nonneg"] == 1
    assert by["different"]["frac_nonneg"] == pytest.approx(1 / 3)
    v = verdicts(summary)["mlp"]
    assert v["same_all_nonneg_smallest_step"] and v["different_straddles_zero"]


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        ("study: t\nstep_sizes: []\n", ":2: field 'step_sizes'"),
        ("study: t\nmlp:\n  objectives: [poetry]\n", ":3: field 'mlp.objectives.0'"),
        ("lm:\n  hidden_size: 2\n", ":2: field 'lm.hidden_size'"),
    ],
)
def test_bad_config_names_file_line_and_field(tmp_path, yaml_text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        run_theorem(path, "default", [], tmp_path)
    assert f"{path}{where}" in str(err.value)


def test_shipped_yaml_matches_the_default_preset():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    assert load_theorem_config(repo / "configs" / "theorem" / "default.yaml") == load_theorem_config(None, "default")
