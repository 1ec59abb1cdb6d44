"""How far a study has got: which of its stages are finished, which were started and not finished, and
roughly how long the rest will take — read from the run directory alone (nothing is loaded or run).

A CPU study runs for an hour or more, often in the background or on a machine that may stop; this answers
"is it still going, and when will it end?" and "is this directory complete?" without reading logs. The
planned stages are :func:`sublim.pipeline.plan.stage_dirs` of the study's own ``config.yaml``; a stage
counts as finished when its ``DONE`` marker exists; finished teachers and samples made under other
settings than the config's (their stage keys differ, e.g. after ``--set`` on a resume) are named, since
``sublim run`` makes them and everything after them again (the keys of later stages depend on the rows
and are checked only by the run itself). The time left
extrapolates this study's own stage times, per kind of stage, over the seed workers.

Example:
    >>> # print(render_status(study_status(Path("runs/organism"))))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sublim.config import StudyConfig

#: stage kinds in pipeline order (the last part of a stage directory's path)
STAGE_KINDS = ("teacher", "generation", "filtering", "leak_check", "transform", "finetuning", "evaluation",
               "icl", "detection")
#: a study whose files changed this recently is probably still running
ACTIVE_S = 120.0


@dataclass
class KindStatus:
    """One kind of stage: planned, finished, and the wall time the finished ones took."""

    planned: int = 0
    done: int = 0
    seconds: float = 0.0
    timed: int = 0  # finished stages whose manifest gave a wall time

    @property
    def mean_s(self) -> float | None:
        return self.seconds / self.timed if self.timed else None


@dataclass
class StudyStatus:
    run_dir: Path
    name: str
    seeds: list[int]
    workers: int
    kinds: dict[str, KindStatus]
    per_seed: dict[int, tuple[int, int]]  # seed → (done, planned)
    left_by_seed: dict[int, dict[str, int]]  # seed → stage kind → stages not finished
    started: list[str]  # planned stages begun (a KEY or files) but not finished: running now or killed
    started_at: dict[str, float]  # each of those → when it began (its KEY's modification time)
    last_write: float | None  # newest modification time under the run directory (epoch seconds)
    report: str  # "current", "older than some finished stages" or "not written"
    unplanned_done: int = 0  # finished stages this config does not plan (left by an earlier config)
    stale: list[str] = field(default_factory=list)  # finished teachers/samples made under other settings
    now: float = field(default_factory=time.time)

    @property
    def planned(self) -> int:
        return sum(k.planned for k in self.kinds.values())

    @property
    def done(self) -> int:
        return sum(k.done for k in self.kinds.values())

    @property
    def complete(self) -> bool:
        return self.done == self.planned

    @property
    def active(self) -> bool:
        return self.last_write is not None and self.now - self.last_write < ACTIVE_S

    def seconds_left(self) -> tuple[float, list[str]]:
        """Wall seconds of work left, and the stage kinds with work left but no finished stage to time them
        by (not counted). Each seed's remaining stages are timed by this study's mean per kind, less what a
        stage running now has already spent; the seeds are dealt, in order, to the first free of the seed
        workers (as the runner's pool does), so a last seed that runs alone counts in full."""
        untimed = sorted({kind for left in self.left_by_seed.values() for kind, n in left.items()
                          if n and self.kinds[kind].mean_s is None}, key=STAGE_KINDS.index)
        spent: dict[int, float] = {}
        if self.active:
            for rel, began in self.started_at.items():
                seed, kind = int(rel.split("/")[1]), rel.rsplit("/", 1)[1]
                spent[seed] = spent.get(seed, 0.0) + min(self.kinds[kind].mean_s or 0.0, max(0.0, self.now - began))
        workers = [0.0] * max(1, min(self.workers, len(self.seeds)))
        for seed in self.seeds:
            work = sum(n * (self.kinds[kind].mean_s or 0.0) for kind, n in self.left_by_seed.get(seed, {}).items())
            work -= spent.get(seed, 0.0)
            if work:
                i = workers.index(min(workers))
                workers[i] += work
        return max(workers), untimed


def study_status(run_dir: Path, config: StudyConfig | None = None) -> StudyStatus:
    """Read a study directory's progress against its own config.yaml, or against ``config`` (a study about
    to resume in it under new settings).

    Raises:
        DataError: ``run_dir`` is not a study directory, or its config.yaml does not load.
    """
    from sublim.config import load_config
    from sublim.pipeline.artifacts import study_config_of
    from sublim.pipeline.plan import stage_dirs
    from sublim.pipeline.runner import runs_on_local_gpu, seed_processes

    run_dir = Path(run_dir)
    if config is None:
        study_config_of(run_dir)
        config = load_config(run_dir / "config.yaml")
    kinds = {kind: KindStatus() for kind in STAGE_KINDS}
    per_seed: dict[int, tuple[int, int]] = {}
    left_by_seed: dict[int, dict[str, int]] = {}
    started: list[str] = []
    started_at: dict[str, float] = {}
    planned_all: set[str] = set()
    finished: list[str] = []
    newest_done = 0.0
    for seed in config.seeds:
        dirs = stage_dirs(config, seed)
        planned_all.update(dirs)
        done_here = 0
        left = left_by_seed.setdefault(seed, {})
        for rel in dirs:
            kind = rel.rsplit("/", 1)[1]
            k = kinds[kind]
            k.planned += 1
            stage = run_dir / rel
            if (stage / "DONE").is_file():
                k.done += 1
                done_here += 1
                finished.append(rel)
                newest_done = max(newest_done, (stage / "DONE").stat().st_mtime)
                wall = stage_wall_time(stage)
                if wall is not None:
                    k.seconds += wall
                    k.timed += 1
                continue
            left[kind] = left.get(kind, 0) + 1
            if stage.is_dir() and any(stage.iterdir()):
                started.append(rel)
                marker = stage / "KEY"
                started_at[rel] = (marker if marker.is_file() else stage).stat().st_mtime
        per_seed[seed] = (done_here, len(dirs))
    unplanned = sum(1 for p in run_dir.glob("*/*/*/DONE") if p.parent.relative_to(run_dir).as_posix() not in planned_all)
    from sublim.pipeline.reuse import split_reuse
    from sublim.pipeline.runner import StudyRunner

    stale = split_reuse(StudyRunner(config, run_dir.parent), run_dir, sorted(finished))[1]
    report = run_dir / "report.md"
    if not report.is_file():
        report_state = "not written"
    elif report.stat().st_mtime >= newest_done:
        report_state = "current"
    else:
        report_state = "older than some finished stages"
    return StudyStatus(
        run_dir=run_dir, name=config.name, seeds=list(config.seeds),
        workers=seed_processes(config.workers, len(config.seeds), runs_on_local_gpu(config)),
        kinds={kind: k for kind, k in kinds.items() if k.planned}, per_seed=per_seed, left_by_seed=left_by_seed,
        started=started, started_at=started_at,
        last_write=_newest_write(run_dir), report=report_state, unplanned_done=unplanned, stale=stale,
    )


def finished_before(run_dir: Path, config: StudyConfig) -> StudyStatus | None:
    """The status of ``run_dir`` against ``config`` when it already holds finished stages of its plan (what
    ``sublim run`` and ``sublim estimate`` report before a resume), else ``None``."""
    if not Path(run_dir).is_dir():
        return None
    status = study_status(run_dir, config)
    return status if status.done else None


def stage_wall_time(stage_dir: Path) -> float | None:
    """The wall time a finished stage recorded in its manifest, or ``None`` where it recorded none."""
    from sublim.pipeline.artifacts import read_manifest

    value = read_manifest(stage_dir).get("wall_time_s")
    return float(value) if isinstance(value, int | float) else None


def _newest_write(run_dir: Path) -> float | None:
    times = [p.stat().st_mtime for p in run_dir.rglob("*") if p.is_file()]
    return max(times) if times else None


def resume_command(run_dir: Path) -> str:
    """The command that resumes ``run_dir`` as it is configured (its own config.yaml, its own runs root)."""
    out = "" if run_dir.parent == Path("runs") else f" --out {run_dir.parent}"
    return f"sublim run {run_dir / 'config.yaml'}{out}"


def duration(seconds: float) -> str:
    """Seconds as a person reads them: ``42 s``, ``3 min 05 s``, hours above an hour."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def time_left_line(s: StudyStatus) -> str:
    """``N stages, about T of work left (…)`` from the study's own stage times."""
    left, untimed = s.seconds_left()
    guess = f"about {duration(left)} of work left" if left or not untimed else "time left unknown"
    return (f"{s.planned - s.done} stages, {guess}"
            + (f" (plus {', '.join(untimed)}: none finished yet to time them by)" if untimed else "")
            + " — from this study's own stage times; rough")


def render_status(status: StudyStatus) -> str:
    """The status as plain text: a table of stage kinds, then what is running, what is left, the report."""
    s = status
    lines = [f"study {s.name} ({s.run_dir}): {s.done} of {s.planned} stages finished, "
             f"{len(s.seeds)} seed(s) on {min(s.workers, len(s.seeds))} worker(s)"]
    lines.append(f"  {'stage':<12}{'finished':>10}{'time spent':>16}{'each (mean)':>14}")
    for kind, k in s.kinds.items():
        mean = duration(k.mean_s) if k.mean_s is not None else "–"
        lines.append(f"  {kind:<12}{f'{k.done}/{k.planned}':>10}{duration(k.seconds):>16}{mean:>14}")
    lines.append("  per seed: " + ", ".join(f"{seed} {d}/{p}" for seed, (d, p) in s.per_seed.items()))
    if s.last_write is not None:
        when = datetime.fromtimestamp(s.last_write, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        ago = duration(max(0.0, s.now - s.last_write))
        lines.append(f"  last write: {when} ({ago} ago)"
                     + (" — probably running" if s.active and not s.complete else ""))
    if s.started:
        shown = ", ".join(s.started[:4]) + (f" and {len(s.started) - 4} more" if len(s.started) > 4 else "")
        what = "running now" if s.active else "interrupted (nothing written for a while)"
        lines.append(f"  started, not finished ({what}): {shown}")
    if s.complete:
        lines.append("  complete: every planned stage is finished")
    else:
        lines.append(f"  left: {time_left_line(s)}")
        if not s.active:
            lines.append(f"  not running? resume with `{resume_command(s.run_dir)}` (finished stages are kept)")
    if s.unplanned_done:
        lines.append(f"  {s.unplanned_done} finished stage(s) not in this config's plan (left by earlier settings; ignored)")
    if s.stale:
        shown = ", ".join(s.stale[:4]) + (f" and {len(s.stale) - 4} more" if len(s.stale) > 4 else "")
        lines.append(f"  {len(s.stale)} finished teacher/sampling stage(s) were made under other settings (teacher, "
                     f"trait, generation or threads): a resume makes them, and every stage after them, again — so "
                     f"more is left than counted above: {shown}")
    report = {"current": f"report: {s.run_dir / 'report.md'} (current)",
              "not written": "report: not written yet" + (f" — `sublim report {s.run_dir}`" if s.complete else ""),
              }.get(s.report, f"report: older than some finished stages — `sublim report {s.run_dir}` to refresh it")
    lines.append("  " + report)
    return "\n".join(lines)
