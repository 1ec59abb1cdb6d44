"""`sublim mnist` end to end at tiny size: run directory, results, chart, report, resume, config errors."""

import json
from pathlib import Path

import pytest

import sublim.mnist.experiment as experiment
from sublim.errors import ConfigError
from sublim.mnist.config import PRESETS, load_mnist_config
from sublim.yamlconfig import load_yaml_text

TINY = ["n_models=2", "hidden=[32]", "train_limit=2048", "n_noise=1024", "batch_size=256", "test_limit=1000",
        "teacher_epochs=2", "lr=0.003", "distill_epochs=1", "arms=[same_aux, diff_aux, same_all]", "study=tiny"]
REPO = Path(__file__).resolve().parents[2]


def test_tiny_run_writes_everything_and_students_only_see_noise(tmp_path, monkeypatch):
    seen = []
    real = experiment.distill

    def recording(student, batches, lr, logits, **kw):
        def spy():
            for b in batches:
                seen.append((logits, b.inputs.min().item(), b.inputs.max().item(), b.targets.shape))
                yield b
        return real(student, spy(), lr, logits, **kw)

    monkeypatch.setattr(experiment, "distill", recording)
    run_dir = experiment.run_mnist(None, "cpu", TINY, tmp_path)
    assert run_dir == tmp_path / "tiny"
    for name in ("results.json", "accuracy.png", "report.md", "config.yaml", "teacher/DONE", "teacher/manifest.json",
                 "students/aux/DONE", "students/all/DONE"):
        assert (run_dir / name).exists(), name
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["arms"]) == {"teacher", "same_aux", "diff_aux", "same_all", "untrained"}
    assert all(len(a["per_seed"]) == 2 and a["low"] <= a["mean"] <= a["high"] for a in results["arms"].values())
    assert results["arms"]["teacher"]["mean"] > 0.7
    assert "Reproduced" in (run_dir / "report.md").read_text() or "Not reproduced" in (run_dir / "report.md").read_text()
    aux = [s for s in seen if s[0] == slice(10, 13)]
    assert aux and all(shape[-1] == 3 and lo >= -1 and hi <= 1 for _, lo, hi, shape in aux)  # only 3 aux logits, noise
    assert all(shape[-1] == 13 for lg, _, _, shape in seen if lg == slice(0, 13))


def test_finished_stages_are_skipped_and_changed_ones_rerun(tmp_path, monkeypatch):
    experiment.run_mnist(None, "cpu", TINY, tmp_path)

    def boom(*a, **k):
        raise AssertionError("a finished stage was recomputed")

    monkeypatch.setattr(experiment, "train_teacher", boom)
    monkeypatch.setattr(experiment, "distill", boom)
    experiment.run_mnist(None, "cpu", TINY, tmp_path)  # everything resumes from disk
    with pytest.raises(AssertionError, match="recomputed"):  # a new student setting reruns students only
        experiment.run_mnist(None, "cpu", [*TINY, "distill_epochs=2"], tmp_path)


@pytest.mark.parametrize(
    ("yaml_text", "line", "field"),
    [
        ("study: x\nlr: -1\n", 2, "lr"),
        ("study: x\n\narms: [same_aux, sideways]\n", 3, "arms.1"),
        ("n_models: 3\nnoise: stale\n", 2, "noise"),
        ("n_model: 3\n", 1, "n_model"),
    ],
)
def test_bad_config_names_file_line_and_field(tmp_path, yaml_text, line, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        experiment.run_mnist(path, "cpu", [], tmp_path)
    assert f"{path}:{line}: field '{field}'" in str(err.value)


def test_unknown_preset_and_bad_override():
    with pytest.raises(ConfigError, match="unknown MNIST preset"):
        load_mnist_config(None, "gpu-huge")
    with pytest.raises(ConfigError, match="batch_size"):
        load_mnist_config(None, "cpu", ["batch_size=0"])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_shipped_yaml_files_match_the_presets(name):
    from sublim.mnist.config import MnistConfig

    from_file = load_mnist_config(REPO / "configs" / "mnist" / f"{name}.yaml")
    assert from_file == load_yaml_text(PRESETS[name], MnistConfig)
