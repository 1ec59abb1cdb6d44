"""Start a study from another study's finished data stages: several students on the same rows.

Comparing students (a steering vector, a LoRA adapter, a full fine-tune) on *one* set of teachers and
rows is a paired design: the data's seed-to-seed noise cancels. Stage keys are content-based, so a
copied stage is reused exactly when this study's config would have produced it and recomputed
otherwise; only data stages are copied — never students or evaluations, which would then read as this
study's — and paths a stage recorded into its own directory are rewritten, so the new study does not
depend on the source afterwards. The source is only read.

Example:
    >>> # seed_from(Path("runs/R-L14"), Path("runs/P26v"))   # then run the new config into runs/P26v
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sublim.errors import ConfigError
from sublim.pipeline.artifacts import is_done, read_json, study_config_of, write_json

#: stages that make data (teachers, samples, filtered / matched / shuffled rows, leak checks)
DATA_STAGES = ("teacher", "generation", "filtering", "leak_check", "transform")


def _rewrite(value, old: str, new: str):
    """Every string in a JSON value that points into the stage directory ``old`` now points into ``new``."""
    if isinstance(value, str):
        i = value.find(old)
        if i >= 0 and (i == 0 or value[i - 1] in "/\\"):
            return new + value[i + len(old):]
        return value
    if isinstance(value, dict):
        return {k: _rewrite(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, old, new) for v in value]
    return value


def seed_from(source: Path, target: Path) -> list[str]:
    """Copy ``source``'s finished data stages into study directory ``target``; returns what was copied.

    A stage already in ``target`` is left alone, so rerunning the same command after an interruption
    copies nothing twice and never overwrites this study's own work.

    Raises:
        DataError: ``source`` is not a study directory. ConfigError: it is ``target`` itself.
    """
    source, target = Path(source), Path(target)
    study_config_of(source, prefix="--data-from ")
    if source.resolve() == target.resolve():
        raise ConfigError(f"--data-from {source}: that is this study's own directory")
    copied = []
    for done in sorted(source.glob("*/*/*/DONE")):
        stage_dir = done.parent
        if stage_dir.name not in DATA_STAGES:
            continue
        relative = stage_dir.relative_to(source)
        dest = target / relative
        if dest.exists():
            continue
        tmp = dest.with_name(dest.name + ".copying")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(stage_dir, tmp)
        result = read_json(tmp / "result.json")
        if result is not None:
            write_json(tmp / "result.json", _rewrite(result, relative.as_posix(), str(target / relative)))
        tmp.rename(dest)  # whole stages only: a killed copy leaves no half stage behind
        copied.append(relative.as_posix())
    return copied


def split_reuse(runner, root: Path, rels: list[str]) -> tuple[list[str], list[str]]:
    """Of the teacher and sampling stages among ``rels`` (stage directories relative to the study directory
    ``root``, for this study's seeds), those this study reuses and those whose keys differ from what its
    config asks for, so it makes them again. Other stages in ``rels`` are left out of both lists."""
    reused: list[str] = []
    stale: list[str] = []
    if runner.config.data is not None:  # audit mode: rows come from files, no teacher or sampling stage
        return reused, stale
    for rel in rels:
        arm, seed, stage = rel.split("/")
        if stage not in ("teacher", "generation") or not seed.lstrip("-").isdigit() or int(seed) not in runner.config.seeds:
            continue
        t_key = runner.teacher_key(runner.arm_target(arm), int(seed))
        want = t_key if stage == "teacher" else runner.generation_key(t_key, int(seed))
        (reused if is_done(Path(root) / rel, want) else stale).append(rel)
    return reused, stale


def not_reused(runner, copied: list[str]) -> list[str]:
    """The copied teacher and sampling stages this study will *not* reuse (their keys differ from what its
    config asks for): said before anything runs, since each one means a teacher trained and its rows
    sampled again — other rows than the source's, and hours on a CPU."""
    return split_reuse(runner, runner.dir, copied)[1]


def reuse_from(runner, source: Path) -> str:
    """What ``--data-from source`` would give this study, said before anything is copied (``sublim estimate``,
    ``sublim run --dry-run``): how many of its planned teacher and sampling stages the source holds with
    matching keys, the time they took there, and how many it holds under other settings."""
    from sublim.pipeline.plan import stage_dirs
    from sublim.pipeline.status import duration, stage_wall_time

    source = Path(source)
    study_config_of(source, prefix="--data-from ")
    planned = [rel for seed in runner.config.seeds for rel in stage_dirs(runner.config, seed)
               if rel.rsplit("/", 1)[-1] in ("teacher", "generation")]
    if not planned:
        return f"--data-from {source}: this study makes no teachers or samples (its rows come from `data:` files)"
    reused, stale = split_reuse(runner, source, [rel for rel in planned if (source / rel / "DONE").exists()])
    took = sum(stage_wall_time(source / rel) or 0.0 for rel in reused)
    line = f"--data-from {source}: would reuse "
    line += (f"{len(reused)} of the {len(planned)} teacher and sampling stages this study plans (they took "
             f"{duration(took)} there; the estimate above counts them all)" if reused
             else f"none of the {len(planned)} teacher and sampling stages this study plans")
    if stale:
        line += (f"; {len(stale)} more that it holds under other settings (teacher, trait, generation or threads) "
                 f"would be made again, with other rows than {source}'s: {', '.join(stale[:4])}"
                 + (" …" if len(stale) > 4 else ""))
    return line
