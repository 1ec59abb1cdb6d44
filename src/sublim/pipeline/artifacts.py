"""Run directories, stage keys and manifests: what makes every run resumable and reproducible.

A stage writes into its own directory. When it finishes, :func:`finish_stage` writes
``manifest.json`` (key, config hash, seed, package versions, git SHA, wall time, counts) and then an
empty ``DONE`` file. A stage whose ``DONE`` exists and whose manifest key equals the key we would
compute now is skipped; any other content is stale and recomputed. Nothing is ever half-trusted:
``DONE`` is written last, atomically. A stage records its key in ``KEY`` as it starts, so a killed
stage resumes its partial output only under the same key (:func:`clear_if_stale`).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "generation"
    >>> with StageRun(d, key="abc", name="generation", seed=0) as run:
    ...     run.counts["rows"] = 10
    >>> is_done(d, "abc")
    True
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sublim.yamlconfig import config_hash, dump_yaml

log = logging.getLogger(__name__)

_TRACKED_PACKAGES = ("sublim", "torch", "transformers", "tokenizers", "peft", "numpy", "scipy", "openai")


@cache
def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a result (recorded in every manifest)."""
    out = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


# Environment variables that choose which CPU kernels MKL, oneDNN and ATen run: a tiny base built under
# different values is a different base (tiny-organism.md, section 27), so a manifest records those set.
KERNEL_ENV = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")


def compute_platform() -> dict[str, Any]:
    """The CPU and kernel choice a CPU-trained artifact was computed with.

    The same config, seed and package versions train other weights when the float kernels differ (another
    CPU model, or the same CPU with MKL or ATen told to use AVX2): a 900-step tiny base amplifies the last
    bits into another model. Recorded beside the weight digest, it tells a reader *why* two builds differ.
    """
    import torch

    out: dict[str, Any] = {"machine": platform.machine(), "cpu": _cpu_model(),
                           "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    env = {k: os.environ[k] for k in KERNEL_ENV if k in os.environ}
    if env:
        out["kernel_env"] = env
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@cache
def git_sha() -> str | None:
    """The git commit of the sublim source tree, if it is a checkout."""
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def stage_key(config: BaseModel | dict | None, *upstream: str, extra: dict | None = None) -> str:
    """Key of a stage: hash of its config plus the keys of the stages it reads from."""
    payload = {
        "config": config.model_dump(mode="json") if isinstance(config, BaseModel) else config,
        "upstream": list(upstream),
        "extra": extra or {},
    }
    return config_hash(payload)


def is_done(stage_dir: Path, key: str) -> bool:
    """True when ``stage_dir`` holds a finished stage computed with ``key``."""
    if not (stage_dir / "DONE").exists():
        return False
    try:
        manifest = json.loads((stage_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("key") == key


KEY_FILE = "KEY"


def clear_if_stale(stage_dir: Path, key: str) -> None:
    """Empty ``stage_dir`` unless what it holds was written under ``key``.

    A stage resumes its own partial output (generation mid-file, a training checkpoint, a hosted job's
    id), so partial output must never outlive a change of key: a directory copied from another run, or
    a rerun with another teacher, would otherwise resume rows that another configuration wrote. The
    owner is the ``KEY`` file written on entry (or, for stages finished before it existed, the
    manifest's key); content with no owner is treated as stale.
    """
    marker = stage_dir / KEY_FILE
    owner = marker.read_text().strip() if marker.is_file() else read_manifest(stage_dir).get("key")
    if owner == key:
        return
    stale = list(stage_dir.iterdir())
    if stale:
        log.info("%s: removing %d item(s) written under another key (%s) before recomputing",
                 stage_dir, len(stale), owner or "unknown")
    for child in stale:
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def read_manifest(stage_dir: Path) -> dict:
    """Read a stage's manifest (empty dict if absent)."""
    try:
        return json.loads((stage_dir / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def study_config_of(run_dir: Path, prefix: str = "") -> dict:
    """The saved config (raw YAML) of a study directory — one ``sublim run`` wrote — for the commands that
    read one (report, check, diagnose, status, ``--data-from``); otherwise a DataError saying what the
    directory is instead: no study at all, or an MNIST / theorem run (whose config has no ``trait``)."""
    import yaml

    from sublim.errors import DataError

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise DataError(f"{prefix}{run_dir}: not a study directory (no config.yaml); give a runs/<study> directory "
                        "that `sublim run` or `sublim demo` wrote")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{prefix}{path}: not readable as YAML ({exc})") from None
    if not isinstance(config, dict) or "trait" not in config:
        raise DataError(f"{prefix}{run_dir}: a `sublim mnist` or `sublim theorem` run, not a study (its config.yaml "
                        f"has no `trait`); its results are in {Path(run_dir) / 'report.md'}")
    return config


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or ``None`` when it is missing or unreadable (a stage not run yet)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename), so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class StageRun:
    """Context manager around one stage's work; writes the manifest and ``DONE`` on success.

    A stage that is already done with the same key should not be entered; use :func:`is_done` first.
    On entry a stale ``DONE`` is removed so a crash mid-stage can never look finished.
    """

    stage_dir: Path
    key: str
    name: str
    seed: int | None = None
    config: BaseModel | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    _t0: float = 0.0

    def __enter__(self) -> StageRun:
        self.stage_dir.mkdir(parents=True, exist_ok=True)
        (self.stage_dir / "DONE").unlink(missing_ok=True)
        clear_if_stale(self.stage_dir, self.key)
        (self.stage_dir / KEY_FILE).write_text(self.key)
        if self.config is not None:
            write_text(self.stage_dir / "config.yaml", dump_yaml(self.config))
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            return
        finish_stage(
            self.stage_dir,
            key=self.key,
            name=self.name,
            seed=self.seed,
            config=self.config,
            inputs=self.inputs,
            counts=self.counts,
            wall_time_s=time.perf_counter() - self._t0,
        )


def _torch_threads() -> int | None:
    """torch's CPU thread count in this process, if torch is loaded (a stage that never imported it ran none)."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def finish_stage(
    stage_dir: Path,
    *,
    key: str,
    name: str,
    seed: int | None,
    config: BaseModel | None,
    inputs: dict[str, str],
    counts: dict[str, Any],
    wall_time_s: float,
) -> None:
    """Write ``manifest.json`` then ``DONE`` for a finished stage."""
    manifest = {
        "stage": name,
        "key": key,
        "config_hash": config_hash(config) if config is not None else None,
        "seed": seed,
        "inputs": inputs,
        "counts": counts,
        "wall_time_s": round(wall_time_s, 3),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": package_versions(),
        "git_sha": git_sha(),
        "torch_threads": _torch_threads(),  # a stage's numbers depend on it (config field `threads`)
    }
    write_json(stage_dir / "manifest.json", manifest)
    (stage_dir / "DONE").write_text("")
    log.info("%s done in %.1fs %s", name, wall_time_s, counts)
