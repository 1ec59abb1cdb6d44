"""``sublim mnist``: teachers on digits, students on noise, one resumable run directory.

Layout (every seed is trained together, as stacked weights, so the per-seed level lives inside the
stage files rather than in directories)::

    <out>/<study>/teacher/             weights.pt (initial + trained stacks), metrics.json, manifest.json, DONE
    <out>/<study>/students/aux/        arms distilled on the auxiliary logits (same_aux, diff_aux)
    <out>/<study>/students/all/        arms distilled on all logits (same_all, diff_all)
    <out>/<study>/results.json         per-seed accuracies, mean and 95% CI per arm, checks
    <out>/<study>/accuracy.png         bar chart with 95% CI error bars
    <out>/<study>/report.md            a plain verdict

A stage whose ``DONE`` and key match is skipped, so a killed run resumes at the next stage. Arms that
distil the same logits train as one stack on the same noise (one teacher pass for both).

Example:
    >>> run_dir = run_mnist(None, "cpu", ["n_models=2", "train_limit=2048"], Path("runs"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from sublim.mnist.config import ARMS, MnistConfig, load_mnist_config
from sublim.mnist.data import MnistData, load_mnist
from sublim.mnist.model import StackedMLP
from sublim.mnist.report import write_report
from sublim.mnist.train import DistillBatch, accuracy, distill, noise_batches, teacher_targets, train_teacher
from sublim.pipeline.artifacts import StageRun, is_done, stage_key, write_json
from sublim.progress import progress_bar
from sublim.yamlconfig import dump_yaml

log = logging.getLogger(__name__)

_TEACHER_FIELDS = {"n_models", "seed", "hidden", "n_regular", "n_aux", "lr", "batch_size", "teacher_epochs",
                   "train_limit", "test_limit"}
_STUDENT_FIELDS = {"n_models", "seed", "lr", "batch_size", "distill_epochs", "n_noise", "noise", "test_limit"}
_PROGRESS_TEST = 2000  # per-epoch accuracy in the progress bar uses the first 2k test images


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _slice_data(data: MnistData, cfg: MnistConfig) -> MnistData:
    n_tr, n_te = cfg.train_limit or data.train_x.shape[0], cfg.test_limit or data.test_x.shape[0]
    return MnistData(data.train_x[:n_tr], data.train_y[:n_tr], data.test_x[:n_te], data.test_y[:n_te], data.source)


def run_teacher(cfg: MnistConfig, data: MnistData, stage_dir: Path, key: str) -> dict:
    """Train the stacked teachers (or load them if done); returns metrics with init/trained weights."""
    weights = stage_dir / "weights.pt"
    if is_done(stage_dir, key):
        log.info("teacher: done already (%s), skipping", stage_dir)
        return torch.load(weights, weights_only=True)
    with StageRun(stage_dir, key=key, name="mnist-teacher", seed=cfg.seed, config=cfg) as run:
        init = StackedMLP.initialised(cfg.n_models, cfg.sizes, cfg.model_seeds())
        net = init.select(range(cfg.n_models))
        steps = cfg.teacher_epochs * -(-data.train_x.shape[0] // cfg.batch_size)
        with progress_bar("mnist teacher", total=steps) as bar:

            def on_epoch(epoch: int, loss: float) -> None:
                acc = accuracy(net, data.test_x[:_PROGRESS_TEST], data.test_y[:_PROGRESS_TEST]).mean().item()
                bar.advance(0, epoch=f"{epoch + 1}/{cfg.teacher_epochs}", loss=loss, acc=f"{acc:.1%}")
                log.info("teacher epoch %d/%d: loss %.4f, test accuracy (2k) %.1f%%", epoch + 1, cfg.teacher_epochs, loss, 100 * acc)

            train_teacher(net, data.train_x, data.train_y, cfg.teacher_epochs, cfg.batch_size, cfg.lr, cfg.seed,
                          cfg.n_regular, on_step=bar, on_epoch=on_epoch)
        state = {
            "init": init.tensors(), "trained": net.tensors(),
            "teacher_acc": accuracy(net, data.test_x, data.test_y).tolist(),
            "untrained_acc": accuracy(init, data.test_x, data.test_y).tolist(),
        }
        torch.save(state, weights)
        write_json(stage_dir / "metrics.json", {k: state[k] for k in ("teacher_acc", "untrained_acc")})
        run.counts.update(models=cfg.n_models, train_images=int(data.train_x.shape[0]), steps=steps)
    return state


def _tile(batches: Iterable[DistillBatch], reps: int) -> Iterator[DistillBatch]:
    """Repeat each batch ``reps`` times along the model axis (arms sharing one noise/teacher pass)."""
    for b in batches:
        yield DistillBatch(b.epoch, b.inputs.repeat(reps, 1, 1), b.targets.repeat(reps, 1, 1))


def run_students(cfg: MnistConfig, group: str, arms: list[str], teacher: dict, data: MnistData,
                 stage_dir: Path, key: str) -> dict[str, list[float]]:
    """Distil the arms of one logit group (``aux`` or ``all``) on noise; returns accuracies per arm."""
    metrics = stage_dir / "metrics.json"
    if is_done(stage_dir, key):
        log.info("students/%s: done already, skipping", group)
        return json.loads(metrics.read_text())["accuracy"]
    with StageRun(stage_dir, key=key, name=f"mnist-students-{group}", seed=cfg.seed, config=cfg) as run:
        t_net = StackedMLP(teacher["trained"])
        inits = []
        for arm in arms:
            kind = ARMS[arm][0]
            inits.append(teacher["init"] if kind == "same" else
                         StackedMLP.initialised(cfg.n_models, cfg.sizes, cfg.model_seeds(offset=1)).tensors())
        student = StackedMLP([torch.cat(parts) for parts in zip(*inits, strict=True)])
        logits = slice(cfg.n_regular, cfg.n_regular + cfg.n_aux) if group == "aux" else slice(0, cfg.n_regular + cfg.n_aux)
        noise = noise_batches(cfg.n_models, cfg.n_noise, cfg.batch_size, cfg.distill_epochs, cfg.seed, cfg.noise)
        steps = cfg.distill_epochs * -(-cfg.n_noise // cfg.batch_size)
        m = cfg.n_models
        with progress_bar(f"mnist students/{group}", total=steps) as bar:

            def on_epoch(epoch: int, loss: float) -> None:
                acc = accuracy(student, data.test_x[:_PROGRESS_TEST], data.test_y[:_PROGRESS_TEST])
                per_arm = {a: f"{acc[i * m:(i + 1) * m].mean().item():.1%}" for i, a in enumerate(arms)}
                bar.advance(0, epoch=f"{epoch + 1}/{cfg.distill_epochs}", KL=loss, **per_arm)
                log.info("students/%s epoch %d/%d: KL %.5f, test accuracy (2k) %s", group, epoch + 1, cfg.distill_epochs,
                         loss, " ".join(f"{a} {v}" for a, v in per_arm.items()))

            distill(student, _tile(teacher_targets(t_net, noise, logits), len(arms)), cfg.lr, logits,
                    on_step=bar, on_epoch=on_epoch)
        acc = accuracy(student, data.test_x, data.test_y).tolist()
        out = {arm: acc[i * m:(i + 1) * m] for i, arm in enumerate(arms)}
        write_json(metrics, {"logits": [logits.start, logits.stop], "accuracy": out})
        run.counts.update(models=m * len(arms), noise_images_per_model_per_epoch=cfg.n_noise, steps=steps)
        run.inputs["teacher"] = teacher.get("key", "")
    return out


def run_mnist(config: Path | None, preset: str, overrides: list[str], out_root: Path) -> Path:
    """Run (or resume) the MNIST auxiliary-logit study and write results, chart and report.

    Args:
        config: YAML file (:class:`~sublim.mnist.config.MnistConfig`); ``None`` uses ``preset``.
        preset: ``'cpu'`` (fast default) or ``'reference'`` (the paper's settings).
        overrides: ``--set key=value`` strings.
        out_root: runs root; the study writes into ``out_root/<study>/``.
    Returns:
        The study directory (holding ``report.md``).
    Raises:
        ConfigError: invalid config; DataError: MNIST missing or corrupt.
    """
    cfg = load_mnist_config(config, preset, list(overrides))
    run_dir = Path(out_root) / cfg.study
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_yaml(cfg))
    t0 = time.perf_counter()
    with _threads(cfg.threads), torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        data = _slice_data(load_mnist(), cfg)
        t_key = stage_key(cfg.model_dump(mode="json", include=_TEACHER_FIELDS))
        teacher = run_teacher(cfg, data, run_dir / "teacher", t_key)
        teacher["key"] = t_key
        accs: dict[str, list[float]] = {}
        for group in ("aux", "all"):
            arms = [a for a in ARMS if a in cfg.arms and ARMS[a][1] == group]
            if not arms:
                continue
            key = stage_key(cfg.model_dump(mode="json", include=_STUDENT_FIELDS), t_key, extra={"arms": arms})
            accs.update(run_students(cfg, group, arms, teacher, data, run_dir / "students" / group, key))
    wall = time.perf_counter() - t0
    write_report(run_dir, cfg, teacher["teacher_acc"], teacher["untrained_acc"], accs, wall)
    log.info("MNIST study finished in %.1fs: %s", wall, run_dir)
    return run_dir
