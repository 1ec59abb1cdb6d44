"""Resolve a config's ``ModelSpec`` to a loadable model and open a backend on it.

The embedded ``tiny`` bases are built on first use (and cached); ``hf`` paths are used as given;
``openai`` names go to the OpenAI backend. Pipelines only see ``ModelRef`` and ``ModelBackend``.

Example:
    >>> from sublim.config import ModelSpec
    >>> resolve_model(ModelSpec(kind="hf", path="/ckpt")).path
    '/ckpt'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sublim.backends.base import ModelBackend, get_backend
from sublim.records import ModelRef

if TYPE_CHECKING:
    from sublim.config import ModelSpec

log = logging.getLogger(__name__)


def resolve_model(spec: ModelSpec) -> ModelRef:
    """Turn a spec into a ``ModelRef``, building the tiny base if it is not cached yet."""
    if spec.kind == "tiny":
        from sublim.tiny.build import build_base, resolve_preset

        path = build_base(resolve_preset(spec.preset, spec.tiny))
        return ModelRef(backend="hf", name=tiny_label(spec, path), path=str(path), adapter=spec.adapter)
    if spec.kind == "smollm2":
        from sublim.hub.smollm2 import SMOLLM2_PRESET, prepare_smollm2

        return ModelRef(backend="hf", name=SMOLLM2_PRESET, path=str(prepare_smollm2()), adapter=spec.adapter)
    if spec.kind == "hf":
        return ModelRef(backend="hf", name=spec.path, path=spec.path, adapter=spec.adapter)
    return ModelRef(backend="openai", name=spec.name)


def prebuild_tiny_bases(specs: list[ModelSpec]) -> None:
    """Build the missing tiny bases before the first seed, in parallel (one 1-thread process per core).

    On a 2-core machine six per-seed bases take three rounds of two; on a 16-core one, a single round.
    """
    from sublim.tiny.build import base_dir, build_bases, resolve_preset

    configs = []
    for spec in specs:
        if spec.kind == "tiny":
            config = resolve_preset(spec.preset, spec.tiny)
            if config not in configs and not base_dir(config).is_dir():
                configs.append(config)
    if configs:
        build_bases(configs)


def tiny_label(spec: ModelSpec, path: Path | None = None) -> str:
    """``tiny/<preset>``, plus the variant's cache hash when the spec changes the preset's recipe
    (or ``@seed=<offset>+s`` for a base drawn per study seed)."""
    if spec.seed_offset is not None:
        changes = "".join(f",{k}={v}" for k, v in (spec.tiny or {}).items())
        return f"tiny/{spec.preset}@seed={spec.seed_offset}+s{changes}"
    if not spec.tiny:
        return f"tiny/{spec.preset}"
    if path is None:
        from sublim.tiny.build import base_dir, resolve_preset

        path = base_dir(resolve_preset(spec.preset, spec.tiny))
    return f"tiny/{spec.preset}@{Path(path).name}"


def open_backend(ref: ModelRef, spec: ModelSpec | None = None, *, sampler_batch_size: int | None = None,
                 **kwargs) -> ModelBackend:
    """Open a backend serving ``ref`` (device/dtype from ``spec`` for local models).

    ``sampler_batch_size`` sets the HF sampler's sequences per forward pass (null: its default, 64);
    other backends batch their own way and ignore it.

    Local models sample with vLLM when it is installed and a GPU is visible (``SUBLIM_VLLM=0`` turns it
    off; the tiny models always use the HF backend); the backend is closed after each stage, so the GPU
    is free again for training.
    """
    if ref.backend == "hf":
        from sublim.backends.vllm import choose_sampler

        if choose_sampler(spec if spec is not None else ref) == "vllm":
            return get_backend(f"vllm/{ref.path}", **({"adapter": ref.adapter} if ref.adapter else {}))
        if spec is not None:
            kwargs.setdefault("device", spec.device)
            kwargs.setdefault("dtype", spec.dtype)
        if ref.adapter:
            kwargs.setdefault("adapter", ref.adapter)
        if sampler_batch_size is not None:
            kwargs.setdefault("batch_size", sampler_batch_size)
        return get_backend(f"hf/{ref.path}", **kwargs)
    return get_backend(f"{ref.backend}/{ref.name}", **kwargs)
