"""A rich progress bar that is cheap to switch off (tests, non-TTY logs).

Example:
    >>> with progress_bar("training", total=3, enabled=False) as advance:
    ...     for _ in range(3):
    ...         advance(loss=0.5)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(description: str, total: int, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield ``advance(**fields)``; fields (e.g. ``loss=0.42``) are shown after the bar."""
    if not enabled or not sys.stderr.isatty():
        yield lambda **_: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[info]}"))
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(**fields: float) -> None:
            info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
            bar.update(task, advance=1, info=info)

        yield advance
