"""Which base weights a study ran on: recorded in ``<study>/bases.json``, checked on every resume.

The stage keys hash a base's *config*, not its weights, and a tiny base's config trains other weights on
another CPU or torch build (docs/tiny-base.md). A study resumed on such a machine would silently mix stages
from two bases under one config hash — the failure that cost tiny-organism.md section 24 a promotion. So
the study records each base's weight digest when it starts, shows it in the report, and refuses to resume
onto different weights.

Example:
    >>> import hashlib, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "model.safetensors").write_bytes(b"weights")
    7
    >>> weights_sha256(d) == hashlib.sha256(b"weights").hexdigest()
    True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sublim.backends.models import resolve_model
from sublim.config import ModelSpec
from sublim.errors import StaleRunError
from sublim.pipeline.artifacts import read_json, write_json
from sublim.tiny.build import MANIFEST as BASE_MANIFEST

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")
BASES_FILE = "bases.json"


def weights_sha256(path: Path) -> str | None:
    """SHA-256 over a local checkpoint's weight files (sorted by name, streamed; ~1 s per GB), or None for a
    hub id or an API model, whose weights sublim cannot see. For a one-file tiny base it equals the
    ``weights_sha256`` of the base's own manifest."""
    path = Path(path)
    if not path.is_dir():
        return None
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
    return digest.hexdigest()


def base_record(spec: ModelSpec) -> dict:
    """The base a spec resolves to here: its label, path and weight digest."""
    ref = resolve_model(spec)
    record = {"spec": spec.model_dump(mode="json", exclude_none=True), "model": ref.name, "path": ref.path,
              "weights_sha256": weights_sha256(Path(ref.path)) if ref.path else None}
    built_on = (read_json(Path(ref.path) / BASE_MANIFEST) or {}).get("platform") if ref.path else None
    if built_on:  # a base sublim built itself: the CPU and kernels that trained it
        record["built_on"] = built_on
    return record


def platform_label(built_on: dict | None) -> str:
    """``"Intel Xeon … (AVX512)"``, plus any kernel-choosing variables that were set, or ``"unknown"``."""
    if not built_on:
        return "unknown"
    env = ", ".join(f"{k}={v}" for k, v in (built_on.get("kernel_env") or {}).items())
    return f"{built_on.get('cpu', '?')} ({built_on.get('torch_cpu_capability', '?')}{'; ' + env if env else ''})"


def record_bases(study_dir: Path, specs: list[ModelSpec]) -> list[dict]:
    """Write (or extend) ``bases.json``; raise ``StaleRunError`` if a base recorded by an earlier run of this
    study now has other weights. A spec new to the study (more seeds) is added."""
    file = Path(study_dir) / BASES_FILE
    records = weights_by_spec(read_json(file) or [])
    for spec in specs:
        now = base_record(spec)
        before = records.setdefault(_key(now["spec"]), now)
        if not same_weights(before, now):
            where = ""
            if before.get("built_on") or now.get("built_on"):
                where = (f"; built on {platform_label(before.get('built_on'))} then, "
                         f"{platform_label(now.get('built_on'))} now")
            raise StaleRunError(
                f"{study_dir} was started on other weights of base {now['model']} "
                f"({before['weights_sha256'][:12]} then, {now['weights_sha256'][:12]} now: rebuilt on another "
                f"machine or torch build, or the checkpoint changed{where}). Resuming would mix stages from "
                f"two bases. Start clean: rerun with --set name=<new name>, or delete {study_dir}.")
    write_json(file, list(records.values()))
    return list(records.values())


def same_weights(a: dict, b: dict) -> bool:
    """Whether two records of one base spec name the same weights (unknown digests — a hub id, an API
    model — cannot disagree)."""
    return not (a.get("weights_sha256") and b.get("weights_sha256") and a["weights_sha256"] != b["weights_sha256"])


def weights_by_spec(records: list[dict]) -> dict[str, dict]:
    """A study's base records keyed by their spec, the key under which a resume or a pooled check compares them."""
    return {_key(r["spec"]): r for r in records}


def read_bases(study_dir: Path) -> list[dict]:
    """The bases a study recorded (empty for a run directory written before sublim recorded them)."""
    return read_json(Path(study_dir) / BASES_FILE) or []


def bases_line(records: list[dict], limit: int = 3) -> str:
    """One line for a report: each base's label and the first 12 hex digits of its weights."""
    shown = [f"{_label(r)} (weights {r['weights_sha256'][:12] if r.get('weights_sha256') else 'not visible'})"
             for r in records]
    more = len(shown) - limit
    return "; ".join(shown[:limit]) + (f"; … {more} more in bases.json" if more > 0 else "")


def _label(record: dict) -> str:
    """The base's name; a per-seed tiny base by its build seed (``tiny/organism-b seed 1230``) rather than
    the cache hash its name carries, which a reader cannot match to a seed."""
    seed = ((record.get("spec") or {}).get("tiny") or {}).get("seed")
    return f"{record['model'].split('@')[0]} seed {seed}" if seed is not None else record["model"]


def _key(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True)
