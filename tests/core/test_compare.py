"""`sublim compare`: two students on the same rows are compared seed by seed, and the rows are checked."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sublim.cli import app
from sublim.errors import DataError
from sublim.reporting.compare import compare_studies, rows_line, settings_line
from sublim.stats import paired_test


def make_study(root: Path, name: str, values: dict[str, dict[int, float]], *, keys: dict[int, str] | None = None,
               target: str = "eagle", student: dict | None = None, weights: str = "aa" * 32,
               measure: str = "exact") -> Path:
    """A finished study as the runner leaves it, reduced to what `compare` reads."""
    study = root / name
    study.mkdir(parents=True)
    config = {"name": name, "trait": {"category": "animal", "target": target, "control_target": "owl"},
              "student": student or {"params": "lora", "lr": 3e-3}, "seeds": sorted({s for v in values.values() for s in v}),
              "workers": 2}
    (study / "config.yaml").write_text(yaml.safe_dump(config))
    conditions = {c: {f"eval/{measure}": {"per_seed": {str(s): v for s, v in by_seed.items()}}} for c, by_seed in values.items()}
    (study / "metrics.json").write_text(json.dumps({"conditions": conditions}))
    spec = {"kind": "tiny", "preset": "organism-a"}
    (study / "bases.json").write_text(json.dumps([{"spec": spec, "model": "tiny/organism-a", "weights_sha256": weights}]))
    for seed, key in (keys or {}).items():
        for arm in ("treatment", "control"):
            stage = study / arm / str(seed) / "filtering"
            stage.mkdir(parents=True)
            (stage / "manifest.json").write_text(json.dumps({"key": f"{key}-{arm}"}))
            (stage / "DONE").touch()
    return study


BASE = {0: 0.05, 1: 0.05, 2: 0.05}
CONTROL = {0: 0.04, 1: 0.06, 2: 0.05}
SLOW = {0: 0.09, 1: 0.14, 2: 0.11}   # one student on the rows
PLAIN = {0: 0.06, 1: 0.10, 2: 0.07}  # another on the same rows: the seeds' rows move both alike


def test_two_students_on_the_same_rows_are_compared_seed_by_seed(tmp_path):
    a = make_study(tmp_path, "slow", {"base": BASE, "control": CONTROL, "treatment": SLOW}, keys={0: "k0", 1: "k1", 2: "k2"},
                   student={"params": "lora", "lr": 3e-3, "lr_scale": {"*layers.0.*": 0.1}})
    other_layer = make_study(tmp_path, "other-layer", {"base": BASE, "treatment": PLAIN},
                             student={"params": "lora", "lr": 3e-3, "lr_scale": {"*layers.1.*": 0.1}})
    # a key that holds dots (an lr_scale pattern) is named with its values, not looked up again by its path
    assert compare_studies(a, other_layer)["settings"] == [
        {"setting": "student.lr_scale.*layers.0.*", "a": 0.1, "b": None},
        {"setting": "student.lr_scale.*layers.1.*", "a": None, "b": 0.1}]
    b = make_study(tmp_path, "plain", {"base": BASE, "control": CONTROL, "treatment": PLAIN}, keys={0: "k0", 1: "k1", 2: "k2"})
    result = compare_studies(a, b)
    treatment = result["conditions"]["treatment"]
    expected = paired_test([SLOW[s] for s in range(3)], [PLAIN[s] for s in range(3)])
    assert treatment["difference"]["difference"] == pytest.approx(0.0366667, abs=1e-6)
    assert treatment["difference"]["low"] == pytest.approx(expected.low) and treatment["difference"]["p_value"] == pytest.approx(expected.p_value)
    assert treatment["a"]["n"] == 3 and treatment["seeds"] == ["0", "1", "2"]
    # paired by seed, the difference is far tighter than either study's own spread over seeds
    assert treatment["difference"]["high"] - treatment["difference"]["low"] < treatment["a"]["high"] - treatment["a"]["low"]
    # the gain over the control, seed by seed, is compared too
    assert result["conditions"]["t − c"]["difference"]["difference"] == pytest.approx(treatment["difference"]["difference"])
    assert result["same_rows"] == {"0": True, "1": True, "2": True}
    assert rows_line(result).startswith("rows: the same in all 3 shared seeds")
    assert result["settings"] == [{"setting": "student.lr_scale", "a": {"*layers.0.*": 0.1}, "b": None}]  # names differ, not listed
    assert "student.lr_scale" in settings_line(result) and result["bases_with_other_weights"] == []


def test_rows_that_differ_and_bases_rebuilt_elsewhere_are_named(tmp_path):
    a = make_study(tmp_path, "a", {"base": BASE, "treatment": SLOW}, keys={0: "k0", 1: "k1", 2: "k2"})
    b = make_study(tmp_path, "b", {"base": BASE, "treatment": PLAIN}, keys={0: "k0", 1: "other", 2: "k2"}, weights="bb" * 32)
    result = compare_studies(a, b)
    assert result["same_rows"] == {"0": True, "1": False, "2": True}
    assert "other rows in seed(s) 1" in rows_line(result)
    assert result["bases_with_other_weights"] == ["tiny/organism-a"]
    assert "t − c" not in result["conditions"]  # no control arm in either
    c = make_study(tmp_path, "c", {"base": BASE, "treatment": PLAIN})  # no data stages on disk at all
    assert "no data stages in common" in rows_line(compare_studies(a, c))


def test_studies_of_other_traits_or_unfinished_ones_are_refused_with_the_reason(tmp_path):
    a = make_study(tmp_path, "a", {"base": BASE, "treatment": SLOW})
    owl = make_study(tmp_path, "owl", {"base": BASE, "treatment": SLOW}, target="owl")
    with pytest.raises(DataError, match="measures P\\(eagle\\).*measures P\\(owl\\)"):
        compare_studies(a, owl)
    unfinished = make_study(tmp_path, "unfinished", {"base": BASE})
    (unfinished / "metrics.json").unlink()
    with pytest.raises(DataError, match="no metrics.json yet"):
        compare_studies(a, unfinished)
    with pytest.raises(DataError, match="split 'heldout'"):
        compare_studies(a, a, split="heldout")


def test_compare_command_prints_the_table_and_writes_json(tmp_path):
    a = make_study(tmp_path, "slow", {"base": BASE, "control": CONTROL, "treatment": SLOW}, keys={0: "k0", 1: "k1", 2: "k2"})
    b = make_study(tmp_path, "plain", {"base": BASE, "control": CONTROL, "treatment": PLAIN}, keys={0: "k0", 1: "k1", 2: "k2"})
    result = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "c.json")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "+0.037 ±" in result.output and "treatment over its base: A 2.27×, B 1.53×" in result.output
    assert "rows: the same in all 3 shared seeds" in result.output
    assert json.loads((tmp_path / "c.json").read_text())["conditions"]["treatment"]["seeds"] == ["0", "1", "2"]
    result = CliRunner().invoke(app, ["compare", str(a), str(tmp_path / "missing")])
    assert result.exit_code == 2 and "not a study directory" in result.output


def test_studies_scored_only_by_sampled_answers_are_compared_on_those(tmp_path):
    """A paper-style study (a hosted model, or `exact: false`) has only the share of sampled answers; `auto`
    falls back to it, and asking for a measure a study lacks names the option that picks another."""
    a = make_study(tmp_path, "a", {"base": BASE, "treatment": SLOW}, measure="sampled")
    b = make_study(tmp_path, "b", {"base": BASE, "treatment": PLAIN}, measure="sampled")
    result = compare_studies(a, b)
    assert result["measure"] == "sampled"
    assert result["conditions"]["treatment"]["difference"]["difference"] == pytest.approx((0.34 - 0.23) / 3)
    with pytest.raises(DataError, match="no exact P\\(eagle\\).*--measure"):
        compare_studies(a, b, measure="exact")
    exact = make_study(tmp_path, "exact", {"base": BASE, "treatment": PLAIN})
    with pytest.raises(DataError, match="no exact"):  # exact in one, sampled in the other: nothing in common
        compare_studies(a, exact)
    out = CliRunner().invoke(app, ["compare", str(a), str(b), "--measure", "sampled"], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "sampled P(eagle)" in " ".join(out.output.split()), out.output
