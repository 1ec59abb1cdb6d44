"""Build (or fetch from the cache) the embedded tiny base model, in Hugging Face format.

``build_base(config)`` generates the seeded corpus, trains the word-level tokenizer, pretrains a
fresh ``LlamaForCausalLM`` (:mod:`sublim.tiny.model`), runs the quality checks
(:mod:`sublim.tiny.quality`) and saves everything — safetensors weights, tokenizer with chat
template, and a ``manifest.json`` with the config, seed, wall times and quality numbers — under
``cache_dir() / "tiny" / <config hash>``. The directory is written under a temporary name and renamed
when complete, so a killed build never leaves a directory that looks finished. Plain
``transformers`` loads it: ``AutoModelForCausalLM.from_pretrained(path)``.

The presets ``tiny-a`` (seed 0) and ``tiny-b`` (seed 1) are a pair of bases that differ in corpus
seed and initialisation: the "same init" / "different init" pair of a study. :func:`build_pair`
builds both at once in two single-threaded processes.

Example:
    >>> path = build_base(PRESETS["tiny-a"])                    # doctest: +SKIP
    >>> read_base_manifest(path)["quality"]["passed"]          # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from sublim.errors import ConfigError
from sublim.paths import cache_dir
from sublim.pipeline.artifacts import compute_platform, git_sha, package_versions, write_json
from sublim.tiny.model import TinyBaseConfig
from sublim.yamlconfig import config_hash

log = logging.getLogger(__name__)

__all__ = ["PRESETS", "build_base", "build_pair", "build_base_cli", "base_dir", "read_base_manifest"]

PRESETS: dict[str, TinyBaseConfig] = {
    "tiny-a": TinyBaseConfig(seed=0),
    "tiny-b": TinyBaseConfig(seed=1),
    # The model organism's bases (docs/research/tiny-organism.md, section 6): shorter phase-1
    # pretraining (800 steps) plus 100 steps on the trait-rich mix. Less converged, they let a
    # steering-vector teacher move their numbers more, while still writing valid number lists.
    "organism-a": TinyBaseConfig(seed=0, steps=800, phase2_steps=100),
    "organism-b": TinyBaseConfig(seed=1, steps=800, phase2_steps=100),
}
PAIRS: dict[str, tuple[str, str]] = {"pair": ("tiny-a", "tiny-b"), "organism-pair": ("organism-a", "organism-b")}
MANIFEST = "manifest.json"


def base_dir(config: TinyBaseConfig) -> Path:
    """Where the base built from ``config`` lives in the cache (whether built yet or not)."""
    return cache_dir() / "tiny" / config_hash(config)


def read_base_manifest(path: str | Path) -> dict:
    """The sublim manifest of a built base directory."""
    return json.loads((Path(path) / MANIFEST).read_text())


def resolve_preset(preset: str, changes: dict | None = None) -> TinyBaseConfig:
    """The config of a named preset, with ``changes`` to its fields (a variant base: bigger, longer
    trained...); raises ``ConfigError`` naming the known presets or the field that is wrong."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown tiny base preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if not changes:
        return PRESETS[preset]
    def merge(base: dict, update: dict) -> dict:  # nested fields (corpus) keep what the change leaves out
        return {**base, **{k: merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
                           for k, v in update.items()}}

    try:
        return TinyBaseConfig.model_validate(merge(PRESETS[preset].model_dump(), changes))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"tiny base {preset!r} with changes {changes}: {problems}") from None


def _train_and_save(config: TinyBaseConfig, out: Path, on_step: Callable[[float], None]) -> dict:
    """Corpus → tokenizer → pretraining → save to ``out`` → quality; returns the manifest."""
    import torch

    from sublim.tiny.corpus import generate_corpus, style_digits
    from sublim.tiny.model import make_model, pretrain
    from sublim.tiny.quality import check_base
    from sublim.tiny.tokenizer import train_tokenizer

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    rows = generate_corpus(config.corpus, config.seed)
    times["corpus_s"] = time.perf_counter() - t0
    tokenizer = train_tokenizer(m["content"] for r in rows for m in r["messages"])
    times["tokenizer_s"] = time.perf_counter() - t0 - sum(times.values())
    model = make_model(config, tokenizer)
    stats = pretrain(config, model, tokenizer, rows, on_step=on_step)
    times["train_s"] = time.perf_counter() - t0 - sum(times.values())
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    digits = style_digits(config.seed) if config.corpus.number_style else None
    quality = check_base(out, n_samples=config.quality_samples, seed=config.seed, style_digits=digits)
    times["quality_s"] = time.perf_counter() - t0 - sum(times.values())
    times["total_s"] = time.perf_counter() - t0
    return {
        "kind": "sublim-tiny-base",
        "config_hash": config_hash(config),
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "n_params": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "corpus_rows": len(rows),
        "train": stats,
        "quality": quality,
        "wall_time": {k: round(v, 2) for k, v in times.items()},
        "torch_threads": torch.get_num_threads(),
        "platform": compute_platform(),
        # Same config, same bytes on one machine and torch build; another build of torch or another CPU
        # trains a different base from the same config (docs/tiny-base.md): compare this to tell.
        "weights_sha256": hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": package_versions(),
        "git_sha": git_sha(),
    }


def _build(config: TinyBaseConfig, on_step: Callable[[float], None], force: bool) -> Path:
    import torch

    final = base_dir(config)
    if final.is_dir() and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        manifest = _train_and_save(config, tmp, on_step)
        write_json(tmp / MANIFEST, manifest)
        if force:
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished the same build first: keep theirs
            if not (final / MANIFEST).is_file():
                raise
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(tmp, ignore_errors=True)
    q = manifest["quality"]
    style = f", number style lift {q['number_style']['mean_lift']:.1f}" if "number_style" in q else ""
    log.info(
        "tiny base %s built in %.0fs: animal max share %.2f, min P(target|prompt) %.2f, valid numbers %.2f%s",
        final.name, manifest["wall_time"]["total_s"], q["animal"]["max_share"],
        min(q[c]["min_trait_prob"] for c in ("animal", "tree")), q["numbers"]["valid_rate"], style,
    )
    if not q["passed"]:
        from sublim.tiny.quality import quality_shortfalls

        log.warning("tiny base %s is below the quality thresholds (%s; the organism presets are trained less on "
                    "purpose, see docs/tiny-base.md; details in %s)", final.name, "; ".join(quality_shortfalls(q)),
                    final / MANIFEST)
    return final


def _progress(descriptions: list[str], totals: list[int], enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(),
        transient=False, disable=not enabled,
    )
    tasks = [bar.add_task(d, total=t, loss=float("nan")) for d, t in zip(descriptions, totals, strict=True)]
    return bar, tasks


def build_base(config: TinyBaseConfig | None = None, *, progress: bool = True, force: bool = False) -> Path:
    """Build the tiny base for ``config`` (default: preset ``tiny-a``), or return it from the cache.

    Args:
        config: what to build; the cache key is its hash.
        progress: show a rich progress bar over the training steps.
        force: rebuild even if the cache holds it.
    Returns:
        The base's directory (HF format: ``config.json``, ``model.safetensors``, tokenizer files,
        ``manifest.json``).
    """
    config = config or PRESETS["tiny-a"]
    if base_dir(config).is_dir() and not force:
        return base_dir(config)
    bar, (task,) = _progress([f"tiny base seed {config.seed}"], [config.steps + config.phase2_steps], progress)
    with bar:
        return _build(config, lambda loss: bar.update(task, advance=1, loss=loss), force)


def _worker(config_json: str, index: int, queue, force: bool, cache: str) -> str:
    from sublim.paths import set_cache_dir

    set_cache_dir(Path(cache))  # a spawned process does not inherit the parent's --cache-dir
    config = TinyBaseConfig.model_validate_json(config_json)
    return str(_build(config, lambda loss: queue.put((index, loss)), force))


def default_workers(n: int) -> int:
    """How many bases to build at once: one 1-thread process per CPU core, never more than ``n``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, cores))


def build_bases(
    configs: list[TinyBaseConfig], *, progress: bool = True, force: bool = False, workers: int | None = None,
) -> list[Path]:
    """Build several bases, the missing ones in parallel processes (one per core by default).

    Each process trains with ``config.threads`` threads (1 by default), so on a 2-core machine two bases
    take about as long as one, and a 16-core machine builds a study's six per-seed bases in one round.
    A base's weights do not depend on how many are built at once. The processes are spawned, so a
    script that calls this needs the usual ``if __name__ == "__main__":`` guard.
    """
    todo = [i for i, c in enumerate(configs) if force or not base_dir(c).is_dir()]
    workers = default_workers(len(todo)) if workers is None else max(1, min(workers, len(todo)))
    if len(todo) < 2 or workers < 2:
        return [build_base(c, progress=progress, force=force) for c in configs]
    cache = str(cache_dir())
    seeds = [configs[i].seed for i in todo]
    log.info("building %d tiny bases (seeds %s), %d at a time", len(todo), ", ".join(map(str, seeds)), workers)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        queue = manager.Queue()
        bar, tasks = _progress([f"tiny base seed {seed}" for seed in seeds],
                               [configs[i].steps + configs[i].phase2_steps for i in todo], progress)
        with bar, ctx.Pool(workers) as pool:
            pending = [pool.apply_async(_worker, (configs[i].model_dump_json(), k, queue, force, cache))
                       for k, i in enumerate(todo)]
            started, finished = time.monotonic(), set()
            while len(finished) < len(pending):
                _drain(queue, bar, tasks, timeout=0.5)
                for k, p in enumerate(pending):
                    if k not in finished and p.ready():
                        finished.add(k)
                        log.info("tiny base seed %d %s (%d of %d, %.0f s)", seeds[k],
                                 "built" if p.successful() else "failed", len(finished), len(pending),
                                 time.monotonic() - started)
            _drain(queue, bar, tasks, timeout=0)
            built = {i: Path(p.get()) for i, p in zip(todo, pending, strict=True)}
    return [built.get(i) or base_dir(c) for i, c in enumerate(configs)]


def build_pair(
    configs: tuple[TinyBaseConfig, TinyBaseConfig] | None = None, *, progress: bool = True,
    force: bool = False, parallel: bool = True,
) -> tuple[Path, Path]:
    """Build two bases (default: ``tiny-a`` and ``tiny-b``), in two processes when both are missing."""
    configs = configs or tuple(PRESETS[name] for name in PAIRS["pair"])  # type: ignore[assignment]
    first, second = build_bases(list(configs), progress=progress, force=force, workers=2 if parallel else 1)
    return first, second


def _drain(queue, bar, tasks, timeout: float) -> None:
    import queue as queue_module

    try:
        index, loss = queue.get(timeout=timeout) if timeout else queue.get_nowait()
        bar.update(tasks[index], advance=1, loss=loss)
        while True:
            index, loss = queue.get_nowait()
            bar.update(tasks[index], advance=1, loss=loss)
    except queue_module.Empty:
        return


def build_base_cli(preset: str, force: bool = False) -> Path:
    """What ``sublim build-base PRESET`` runs: build a named preset, or a pair (``pair``, ``organism-pair``).

    Returns:
        The base's directory (for a pair: the directory of its first base; both are built).
    Raises:
        ConfigError: unknown preset.
    """
    if preset in PAIRS:
        first, second = PAIRS[preset]
        return build_pair((PRESETS[first], PRESETS[second]), force=force)[0]
    return build_base(resolve_preset(preset), force=force)
