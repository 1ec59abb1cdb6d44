"""How many processes run a study's seeds: two on the CPU, one on a GPU (they would share it)."""

from __future__ import annotations

import logging

import pytest
import torch

from sublim.pipeline.runner import seed_processes


@pytest.mark.parametrize(("gpu", "expected"), [(False, 2), (True, 1)])
def test_default_is_two_on_cpu_and_one_on_a_gpu(monkeypatch, gpu, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert seed_processes(None, n_seeds=5) == expected
    assert seed_processes(None, n_seeds=1) == 1           # never more processes than seeds


def test_an_explicit_count_is_kept_and_warned_about_on_a_gpu(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with caplog.at_level(logging.WARNING, logger="sublim.pipeline.runner"):
        assert seed_processes(4, n_seeds=4) == 4
    assert "share one GPU" in caplog.text
    caplog.clear()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="sublim.pipeline.runner"):
        assert seed_processes(4, n_seeds=3) == 3
    assert caplog.text == ""
