"""One progress-bar style for every long loop (rich), quiet when stderr is not a terminal.

Example:
    >>> with progress_bar("work", total=3) as bar:
    ...     for _ in range(3):
    ...         bar.advance()
"""

from __future__ import annotations

import logging
import os
import sys
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


class _Bar:
    """Handle of one bar: ``advance(n, **fields)`` moves it and shows fields (e.g. ``loss=0.42``)."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1, **fields: float | str) -> None:
        if self._progress is None:
            return
        if fields:
            status = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            self._progress.update(self._task, advance=n, status=status)
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

    ``enabled=False`` hides it; otherwise it shows on a terminal (or when SUBLIM_PROGRESS=1).
    """
    if enabled is False or not progress_enabled():
        yield _Bar(None, None)
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
