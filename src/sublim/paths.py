"""Where sublim keeps caches (built base models, datasets) and run outputs.

The cache directory is, in order: ``--cache-dir`` on the command line, the ``SUBLIM_CACHE_DIR``
environment variable, or the platform's user cache dir (``~/.cache/sublim`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

_override: Path | None = None


def set_cache_dir(path: Path | None) -> None:
    """Set the cache directory for this process (used by the CLI's ``--cache-dir``)."""
    global _override
    _override = Path(path) if path is not None else None


def cache_dir() -> Path:
    """Return the cache directory, creating it if needed."""
    if _override is not None:
        path = _override
    elif os.environ.get("SUBLIM_CACHE_DIR"):
        path = Path(os.environ["SUBLIM_CACHE_DIR"])
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("sublim"))
    path.mkdir(parents=True, exist_ok=True)
    return path
