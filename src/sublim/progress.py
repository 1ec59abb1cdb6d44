"""One progress-bar style for every long loop (rich) on a terminal; where stderr is not one (a log file, a
batch job) the same loops write a line to the log at most once a minute instead.

Example:
    >>> with progress_bar("work", total=3) as bar:
    ...     for _ in range(3):
    ...         bar.advance()
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

log = logging.getLogger(__name__)

#: Seconds between two progress lines in the log when no bar is shown (SUBLIM_PROGRESS_LOG_S overrides).
LOG_EVERY_S = 60.0


def _status(fields: dict[str, float | str]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


class _LogLines:
    """A bar's stand-in off a terminal: ``description: n/total (elapsed, ~left) status`` in the log, at most
    every ``every_s`` seconds, so a job's log shows where a long stage is without a line per step."""

    def __init__(self, description: str, total: int | None, completed: int, every_s: float) -> None:
        self.description, self.total, self.done, self.every_s = description, total, completed, every_s
        self.start = self.last = time.monotonic()
        self.start_done = completed

    def advance(self, n: int, fields: dict[str, float | str]) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.start
        of = f"/{self.total}" if self.total else ""
        left = ""
        if self.total and self.done > self.start_done:
            rate = (self.done - self.start_done) / elapsed
            left = f", ~{_clock((self.total - self.done) / rate)} left"
        status = f" {_status(fields)}" if fields else ""
        log.info("%s: %d%s (%s%s)%s", self.description, self.done, of, _clock(elapsed), left, status)


def _log_interval() -> float:
    raw = os.environ.get("SUBLIM_PROGRESS_LOG_S")
    try:
        return LOG_EVERY_S if raw is None else float(raw)
    except ValueError:
        from sublim.errors import ConfigError

        raise ConfigError(f"SUBLIM_PROGRESS_LOG_S={raw!r}: expected a number of seconds, e.g. 60") from None


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class _Bar:
    """Handle of one bar: ``advance(n, **fields)`` moves it and shows fields (e.g. ``loss=0.42``)."""

    def __init__(self, progress: Progress | None, task: int | None, lines: _LogLines | None = None) -> None:
        self._progress, self._task, self._lines = progress, task, lines

    def advance(self, n: int = 1, **fields: float | str) -> None:
        if self._progress is None:
            if self._lines is not None:
                self._lines.advance(n, fields)
            return
        if fields:
            self._progress.update(self._task, advance=n, status=_status(fields))
        else:
            self._progress.advance(self._task, n)

    def __call__(self, **fields: float | str) -> None:
        """Advance by one step (so the handle can be passed where a callback is expected)."""
        self.advance(1, **fields)


def quiet_libraries() -> None:
    """Silence the libraries' own per-load bars ("Loading weights"), which our stage bars already say,
    and bitsandbytes' warning that a CPU lacks its optional 4-bit kernels (peft imports it whenever it
    is installed, as the ``galore`` extra does; sublim never uses 4-bit weights), and transformers'
    deprecation notice for ``is_gradient_checkpointing``, which peft reads on every LoRA model (a
    library-to-library notice a user can do nothing about).

    transformers reads huggingface_hub's switch once, at import; later imports see the variable, an
    earlier one is switched off directly (importing transformers just for this would cost a second).
    """
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*deprecated", category=FutureWarning)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def progress_enabled() -> bool:
    """Bars show on a terminal unless SUBLIM_PROGRESS=0; forced on with SUBLIM_PROGRESS=1."""
    flag = os.environ.get("SUBLIM_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: int | None, completed: int = 0, enabled: bool | None = None) -> Iterator[_Bar]:
    """A rich progress bar on stderr: description, bar, n/total, elapsed, remaining, plus a status field.

    ``enabled=False`` hides it; otherwise it shows on a terminal (or when SUBLIM_PROGRESS=1), and elsewhere
    its progress goes to the log once a minute (`_LogLines`).
    """
    if enabled is False:
        yield _Bar(None, None)
        return
    if not progress_enabled():
        yield _Bar(None, None, _LogLines(description, total, completed, _log_interval()))
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
    ]
    with Progress(*columns, transient=False, console=Console(stderr=True)) as progress:
        task = progress.add_task(description, total=total, completed=completed, status="")
        yield _Bar(progress, task)
