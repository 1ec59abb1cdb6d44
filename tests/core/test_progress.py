"""Long loops report progress: a bar on a terminal, a line in the log elsewhere (a batch job's log file)."""

from __future__ import annotations

import logging

import pytest

from sublim import progress
from sublim.errors import ConfigError
from sublim.progress import progress_bar


def test_off_a_terminal_progress_goes_to_the_log_at_the_set_interval(monkeypatch, caplog):
    monkeypatch.setenv("SUBLIM_PROGRESS", "0")
    clock = iter(float(t) for t in [0, 10, 61, 70, 130, 131])   # start, then one reading per advance
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with caplog.at_level(logging.INFO, logger="sublim.progress"), progress_bar("sampling", total=10) as bar:
        for _ in range(5):
            bar.advance(1, loss=0.5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["sampling: 2/10 (1:01, ~4:04 left) loss=0.5", "sampling: 4/10 (2:10, ~3:15 left) loss=0.5"]


def test_a_bar_hidden_on_purpose_stays_silent(monkeypatch, caplog):
    monkeypatch.setenv("SUBLIM_PROGRESS", "0")
    monkeypatch.setenv("SUBLIM_PROGRESS_LOG_S", "0")
    with caplog.at_level(logging.INFO, logger="sublim.progress"), progress_bar("x", total=3, enabled=False) as bar:
        bar.advance()
    assert caplog.text == ""
    with caplog.at_level(logging.INFO, logger="sublim.progress"), progress_bar("y", total=None) as bar:
        bar()                                              # the callback form, no total: count and time only
    assert caplog.records[-1].getMessage() == "y: 1 (0:00)"


def test_a_bad_log_interval_is_a_config_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("SUBLIM_PROGRESS", "0")
    monkeypatch.setenv("SUBLIM_PROGRESS_LOG_S", "1m")
    with pytest.raises(ConfigError, match="SUBLIM_PROGRESS_LOG_S='1m'"), progress_bar("x", total=1):
        pass
