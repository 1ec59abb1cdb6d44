"""One progress-bar style for every long loop (rich), quiet when stderr is not a terminal.

Example:
    >>> with progress_bar("work", total=3) as bar:
    ...     for _ in range(3):
    ...         bar.advance()
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, **fields) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **fields)


def progress_enabled() -> bool:
    """Bars show on a terminal unless SUBLIM_PROGRESS=0; forced on with SUBLIM_PROGRESS=1."""
    flag = os.environ.get("SUBLIM_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: int | None, completed: int = 0, enabled: bool | None = None) -> Iterator[_Bar]:
    """A rich progress bar on stderr: description, bar, n/total, elapsed, remaining, plus a status field."""
    if enabled is False or (enabled is None and not progress_enabled()):
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
