"""How many processes run a study's seeds: one where the study's models share a local GPU, else two."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from sublim.config import load_config
from sublim.pipeline.runner import runs_on_local_gpu, seed_processes

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize(("gpu", "expected"), [(False, 2), (True, 1)])
def test_default_is_two_off_the_gpu_and_one_on_it(gpu, expected):
    assert seed_processes(None, n_seeds=5, on_gpu=gpu) == expected
    assert seed_processes(None, n_seeds=1, on_gpu=gpu) == 1    # never more processes than seeds


def test_an_explicit_count_is_kept_and_warned_about_on_a_gpu(caplog):
    with caplog.at_level(logging.WARNING, logger="sublim.pipeline.runner"):
        assert seed_processes(4, n_seeds=4, on_gpu=True) == 4
    assert "share one GPU" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sublim.pipeline.runner"):
        assert seed_processes(4, n_seeds=3, on_gpu=False) == 3
    assert caplog.text == ""


def test_only_local_models_on_a_visible_gpu_count_as_sharing_it(monkeypatch):
    organism = load_config(CONFIGS / "organism.yaml")
    hosted = load_config(CONFIGS / "paper" / "gpt41nano_numbers_owl.yaml")
    pinned = organism.model_copy(update={"bases": organism.bases.model_copy(update={
        "same": organism.bases.same.model_copy(update={"device": "cpu"}),
        "other": organism.bases.other.model_copy(update={"device": "cpu"})})})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runs_on_local_gpu(organism)
    assert not runs_on_local_gpu(hosted)        # a hosted-API study only waits on the network
    assert not runs_on_local_gpu(pinned)        # local models held on the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not runs_on_local_gpu(organism)


@pytest.mark.parametrize("threads", [1, 3])
def test_seeds_run_in_this_process_get_the_threads_a_seed_worker_gets(monkeypatch, tmp_path, threads):
    """A seed's numbers depend on torch's thread count, so a one-seed study run here must train like the
    same seed in a worker process (one thread by default), and leave the caller's setting as it was."""
    from sublim.config import load_config_text
    from sublim.pipeline import runner

    seen = []
    monkeypatch.setattr(runner, "prebuild_tiny_bases", lambda specs: None)
    monkeypatch.setattr(runner, "record_bases", lambda d, specs: [])
    monkeypatch.setattr(runner.StudyRunner, "run_seed", lambda self, seed: seen.append(torch.get_num_threads()))
    monkeypatch.setattr("sublim.reporting.report.write_report", lambda d: None)
    before = torch.get_num_threads()
    config = load_config_text(f"name: t\ntrait: {{target: owl}}\nseeds: [0]\nthreads: {threads}")
    runner.StudyRunner(config, tmp_path).run()
    assert seen == [threads] and torch.get_num_threads() == before


def test_a_stage_made_at_another_thread_count_is_not_reused(tmp_path):
    """Training and sampling depend on the thread count, so it enters their stage keys — except at the
    default, which keeps the keys (and the caches) of studies made before the field existed."""
    from sublim.config import load_config_text
    from sublim.pipeline.runner import StudyRunner

    def key(extra: str) -> str:
        config = load_config_text(f"name: t\ntrait: {{target: owl}}\nseeds: [0]\n{extra}")
        return StudyRunner(config, tmp_path / "study").teacher_key("owl", 0)

    assert key("threads: 1") == key("")
    assert key("threads: 2") != key("threads: 1")
