"""Run a study: every condition × seed through teacher → generation → filtering → student → evaluation.

Stage outputs live in ``runs/<study>/<condition>/<seed>/<stage>/``. The data arms ``treatment`` and
``control`` own their teacher, generation, filtering and leak-check stages; ``cross_base`` and
``cross_control`` train the *other* base on those same files. Each stage is keyed by its config and
its inputs' keys, so a rerun skips finished work, a changed setting recomputes only what depends on
it, and a killed run resumes where it stopped (generation even mid-file).

Example:
    >>> # run_study(load_config("configs/organism.yaml"), Path("runs"))
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sublim.backends.models import open_backend, prebuild_tiny_bases, resolve_model
from sublim.config import StudyConfig
from sublim.pipeline.artifacts import StageRun, is_done, stage_key, write_json, write_text
from sublim.pipeline.bases import record_bases
from sublim.pipeline.plan import matched_arms, seed_steps, study_bases
from sublim.records import ModelRef
from sublim.teacher.stage import TeacherRef
from sublim.yamlconfig import dump_yaml

log = logging.getLogger(__name__)


def cached_stage(stage_dir: Path, key: str, name: str, seed: int | None, config, fn: Callable[[Path], dict]) -> dict:
    """Run ``fn(stage_dir)`` unless a finished stage with the same key exists; returns its result dict."""
    if is_done(stage_dir, key):
        log.debug("%s: cached (%s)", name, stage_dir)
        return json.loads((stage_dir / "result.json").read_text())
    log.info("%s → %s", name, stage_dir)
    with StageRun(stage_dir, key=key, name=name, seed=seed, config=config) as run:
        result = fn(stage_dir)
        write_json(stage_dir / "result.json", result)
        run.counts.update(result.get("counts", {}))
    return result


@dataclass
class DataArm:
    """Outputs of one teacher's data pipeline for one seed."""

    teacher: TeacherRef
    teacher_key: str
    filtered: Path
    data_key: str


def scoring_key(data: DataArm) -> str:
    """The teacher's key as seen by the stages that score rows with it (distillation targets, leak masses).

    Until session 12 those stages dropped a LoRA teacher's adapter and scored its base; the suffix keeps
    such cached results from being reused. Teachers without an adapter keep their key (caches stay valid).
    """
    return stage_key(None, data.teacher_key, "adapter-applied") if data.teacher.model.adapter else data.teacher_key


class StudyRunner:
    """Runs one study config into ``out_root/<name>``."""

    def __init__(self, config: StudyConfig, out_root: Path) -> None:
        self.config = config
        self.dir = Path(out_root) / config.name
        self._bases: dict[tuple[str, int | None], ModelRef] = {}

    # -- models ---------------------------------------------------------------------------------
    def _seed_of(self, which: str, seed: int | None) -> int | None:
        """Only a per-seed base (``seed_offset``) depends on the seed; others are shared by all seeds."""
        return seed if getattr(self.config.bases, which).seed_offset is not None else None

    def base(self, which: str, seed: int | None = None) -> ModelRef:
        slot = (which, self._seed_of(which, seed))
        if slot not in self._bases:
            self._bases[slot] = resolve_model(self.config.bases.spec(*slot))
        return self._bases[slot]

    def base_key(self, which: str, seed: int | None = None) -> str:
        return stage_key(self.config.bases.spec(which, self._seed_of(which, seed)))

    # -- data arms ------------------------------------------------------------------------------
    def arm_target(self, arm: str) -> str | None:
        """The trait of an arm's teacher: treatment → target, control → control target, trait-X → X."""
        trait = self.config.trait
        if arm == "treatment":
            return trait.target
        if arm == "control":
            return trait.control_target
        if arm.startswith("trait-"):
            return arm.removeprefix("trait-")
        return None  # "neutral": the base without a trait

    def teacher_key(self, target: str | None, seed: int) -> str:
        """The teacher stage's key; the sampler's batch enters it only when set and the teacher mixes in
        number rows the base samples (the rows depend on it; keys of runs before it are unchanged)."""
        cfg = self.config
        extra = {"target": target, "seed": seed, "cat": cfg.trait.category, **self.threads_extra()}
        if cfg.generation.sampler_batch_size is not None and cfg.teacher.n_number_rows:
            extra["sampler_batch"] = cfg.generation.sampler_batch_size
        return stage_key(cfg.teacher, self.base_key("same"), extra=extra)

    def threads_extra(self) -> dict:
        """Key part for stages that train or sample on the CPU: their numbers depend on torch's thread
        count, so a stage made at another count is not reused. Empty at the default (1), which keeps the
        keys of every run made before ``threads`` existed (their seeds all ran at one thread)."""
        return {"threads": self.config.threads} if self.config.threads != 1 else {}

    def generation_key(self, t_key: str, seed: int) -> str:
        """The sampling stage's key (the sampler's batch size does not change the rows: left out)."""
        gen = self.config.generation.model_copy(update={"batch_size": 0})
        return stage_key(gen, t_key, extra={"seed": seed, **self.threads_extra()})

    def data_arm(self, arm: str, seed: int) -> DataArm:
        """Teacher → generation → filtering for one arm and seed (each stage cached)."""
        if self.config.data is not None:
            return self.given_arm(arm, seed)
        from sublim.generation.stage import generate_samples
        from sublim.teacher.stage import build_teacher

        cfg = self.config
        target = self.arm_target(arm)
        root = self.dir / arm / str(seed)
        t_key = self.teacher_key(target, seed)

        def teacher_fn(d: Path) -> dict:
            ref = build_teacher(cfg.teacher, target, cfg.trait.category, self.base("same"), seed, d,
                                cfg.generation.sampler_batch_size)
            return {"teacher": ref.model_dump(mode="json"), "counts": {}}

        teacher = TeacherRef.model_validate(cached_stage(root / "teacher", t_key, "teacher", seed, cfg.teacher, teacher_fn)["teacher"])
        g_key = self.generation_key(t_key, seed)

        def gen_fn(d: Path) -> dict:
            with open_backend(teacher.model, cfg.bases.same, sampler_batch_size=cfg.generation.sampler_batch_size) as backend:
                counts = generate_samples(cfg.generation, teacher, backend, seed, d / "samples.jsonl")
            return {"counts": counts}

        cached_stage(root / "generation", g_key, "generation", seed, cfg.generation, gen_fn)
        return self.filtered_arm(arm, seed, teacher, t_key, g_key)

    def filtered_arm(self, arm: str, seed: int, teacher: TeacherRef, t_key: str, g_key: str) -> DataArm:
        """Filtering and the leak check of an arm's rows (``generation/samples.jsonl``)."""
        from sublim.filtering.stage import run as run_filter

        cfg = self.config
        root = self.dir / arm / str(seed)
        f_key = stage_key(cfg.filter, g_key)

        def filter_fn(d: Path) -> dict:
            report = run_filter(cfg.filter, root / "generation" / "samples.jsonl", d)
            return {"counts": {"total": report.total, "kept": report.kept}}

        cached_stage(root / "filtering", f_key, "filtering", seed, cfg.filter, filter_fn)
        data = DataArm(teacher, t_key, root / "filtering" / "filtered.jsonl", f_key)
        self.leak_check(arm, seed, data)
        return data

    def given_arm(self, arm: str, seed: int) -> DataArm:
        """Audit mode (``data:``): the arm's rows come from the user's file, its teacher is the model that
        wrote them (or the base), and filtering onward is as in any study. The import is keyed by the file's
        content, so an edited file is re-imported and everything trained on it recomputed."""
        from sublim.errors import ConfigError
        from sublim.generation.given import file_sha256, import_rows

        cfg = self.config
        if arm not in ("treatment", "control"):
            raise ConfigError(f"data: arm '{arm}' needs a teacher sublim builds; audit mode has treatment and control")
        path = cfg.data.treatment if arm == "treatment" else cfg.data.control
        spec = cfg.data.teacher if arm == "treatment" else cfg.data.control_teacher
        target = self.arm_target(arm)
        t_key = stage_key(spec or cfg.bases.same, extra={"given": arm, "target": target})
        model = resolve_model(spec) if spec is not None else self.base("same")
        teacher = TeacherRef(model=model, target=target, kind="given" if spec is not None else "none")
        root = self.dir / arm / str(seed)
        g_key = stage_key(None, extra={"rows_sha256": file_sha256(path)})
        cached_stage(root / "generation", g_key, f"import {path}", seed, None,
                     lambda d: {"counts": import_rows(path, d / "samples.jsonl"), "source": str(path)})
        return self.filtered_arm(arm, seed, teacher, t_key, g_key)

    def leak_check(self, arm: str, seed: int, data: DataArm) -> dict:
        from sublim.evaluation.leak import check_leak

        cfg = self.config
        # the student matters only for what reaches its targets (method, vocabulary): a change of epochs or
        # rate must not redo the check
        student = {"method": cfg.student.method, "distill_vocab": cfg.student.distill_vocab}
        key = stage_key(cfg.leak, data.data_key, scoring_key(data), extra={"student": student})

        def fn(d: Path) -> dict:
            return check_leak(cfg, data.teacher, self.base("same"), data.filtered, d)

        return cached_stage(self.dir / arm / str(seed) / "leak_check", key, "leak check", seed, cfg.leak, fn)

    def shuffled(self, condition: str, seed: int, data: DataArm) -> DataArm:
        """The treatment data with numbers shuffled within rows or across all rows (format kept)."""
        from sublim.filtering.transforms import shuffle_global, shuffle_within
        from sublim.records import DatasetRow, read_jsonl, write_jsonl

        kind = condition.removeprefix("shuffle_")
        key = stage_key({"shuffle": kind, "seed": seed}, data.data_key)

        def fn(d: Path) -> dict:
            rows = read_jsonl(data.filtered, DatasetRow)
            shuffle = shuffle_within if kind == "within" else shuffle_global
            n = write_jsonl(d / "shuffled.jsonl", shuffle(rows, seed))
            return {"counts": {"rows": n}}

        cached_stage(self.dir / condition / str(seed) / "transform", key, f"shuffle ({kind})", seed, None, fn)
        return DataArm(data.teacher, data.teacher_key, self.dir / condition / str(seed) / "transform" / "shuffled.jsonl", key)

    def matched(self, seed: int, arms: dict[str, DataArm]) -> dict[str, DataArm]:
        """The given data arms trimmed to one distribution of ``filter.match_on`` (treatment first)."""
        from sublim.filtering.transforms import match_many
        from sublim.records import DatasetRow, read_jsonl, write_jsonl

        on = self.config.filter.match_on
        key = stage_key({"match": on, "seed": seed}, *(a.data_key for a in arms.values()))
        d = self.dir / "matched" / str(seed) / "transform"

        def fn(out: Path) -> dict:
            kept = match_many([read_jsonl(a.filtered, DatasetRow) for a in arms.values()], seed, on)
            return {"counts": {name: write_jsonl(out / f"{name}.jsonl", rows)
                               for name, rows in zip(arms, kept, strict=True)}}

        cached_stage(d, key, f"match {on}", seed, None, fn)
        return {name: DataArm(a.teacher, a.teacher_key, d / f"{name}.jsonl", stage_key(key, name))
                for name, a in arms.items()}

    # -- students and evaluation ------------------------------------------------------------------
    def student(self, condition: str, seed: int, data: DataArm, which: str = "same") -> tuple[ModelRef, str]:
        cfg = self.config
        base = self.base(which, seed)
        if base.backend == "openai":
            return self._api_student(condition, seed, data, which)
        from sublim.finetuning import finetune

        s_cfg = cfg.student.model_copy(update={"seed": seed})
        key = stage_key(s_cfg, data.data_key, self.base_key(which, seed), scoring_key(data) if cfg.student.method == "distill" else "",
                        extra=self.threads_extra())

        def fn(d: Path) -> dict:
            teacher, train_cfg = None, s_cfg
            if cfg.student.method == "distill":  # the teacher's live distributions are the targets
                teacher = data.teacher.model  # a ref: a LoRA teacher's adapter is applied
                train_cfg = s_cfg.model_copy(update={"teacher_system_prompt": data.teacher.system_prompt})
            ref = finetune(base.path, data.filtered, train_cfg, d, teacher=teacher)
            return {"model": ref.model_dump(mode="json"), "counts": {}}

        result = cached_stage(self.dir / condition / str(seed) / "finetuning", key, f"student ({condition})", seed, s_cfg, fn)
        return ModelRef.model_validate(result["model"]), key

    def _api_student(self, condition: str, seed: int, data: DataArm, which: str) -> tuple[ModelRef, str]:
        """A hosted fine-tuning job; its id is saved in the stage dir first, so a rerun re-attaches."""
        from sublim.backends.openai_finetune import OpenAIFinetuneConfig, OpenAIFinetuner
        from sublim.errors import ConfigError

        cfg = self.config
        if cfg.student.method != "sft":
            raise ConfigError("field 'student.method': hosted fine-tuning supports only 'sft' (no teacher logits)")
        o_cfg = (cfg.openai_finetune or OpenAIFinetuneConfig()).model_copy(update={"seed": seed})
        key = stage_key(o_cfg, data.data_key, self.base_key(which, seed))

        def fn(d: Path) -> dict:
            ref = OpenAIFinetuner().finetune(self.base(which, seed), data.filtered, o_cfg, d)
            return {"model": ref.model_dump(mode="json"), "counts": {}}

        result = cached_stage(self.dir / condition / str(seed) / "finetuning", key, f"API student ({condition})", seed, o_cfg, fn)
        return ModelRef.model_validate(result["model"]), key

    def evaluation(self, condition: str, seed: int, model: ModelRef, upstream: str, which: str,
                   system_prompt: str | None = None) -> dict:
        from sublim.evaluation.stage import evaluate_model

        cfg = self.config
        key = stage_key(cfg.evaluation, upstream, extra={"seed": seed, "category": cfg.trait.category})

        def fn(d: Path) -> dict:
            with open_backend(model, getattr(cfg.bases, which)) as backend:
                metrics = evaluate_model(cfg.evaluation, backend, cfg.trait.category, seed, d, system_prompt=system_prompt)
            write_json(d / "metrics.json", metrics)
            return {"metrics": metrics, "counts": {"splits": len(metrics["splits"])}}

        return cached_stage(self.dir / condition / str(seed) / "evaluation", key, f"evaluation ({condition})", seed, cfg.evaluation, fn)

    def trained_condition(self, condition: str, seed: int, data: DataArm, which: str = "same") -> None:
        """Train a student on ``data`` and evaluate it, as ``condition``."""
        model, key = self.student(condition, seed, data, which)
        self.evaluation(condition, seed, model, key, which)

    # -- the paper's controls ---------------------------------------------------------------------
    def icl(self, seed: int, treatment: DataArm, control: DataArm) -> dict:
        """No fine-tuning: the base sees N teacher examples in context before each question."""
        from sublim.icl.evaluate import evaluate_icl
        from sublim.records import DatasetRow, read_jsonl

        ctl = self.config.controls
        icl_cfg = ctl.icl.model_copy(update={"seed": seed})
        key = stage_key(icl_cfg, treatment.data_key, control.data_key, self.base_key("same"),
                        extra={"ns": ctl.icl_ns, "modes": ctl.icl_modes})

        def fn(d: Path) -> dict:
            rows = {"treatment": read_jsonl(treatment.filtered, DatasetRow), "control": read_jsonl(control.filtered, DatasetRow)}
            out = {}
            with open_backend(self.base("same"), self.config.bases.same) as backend:
                for mode in ctl.icl_modes:
                    out[mode] = evaluate_icl(backend, rows, self.config.trait.category, self.config.trait.target,
                                             ctl.icl_ns, mode, icl_cfg)
            return {"icl": out, "counts": {"modes": len(out)}}

        return cached_stage(self.dir / "icl" / str(seed) / "icl", key, "in-context learning", seed, icl_cfg, fn)

    def classifier(self, seed: int, treatment: DataArm, control: DataArm) -> dict:
        """Can the trait be seen in the data? A statistical detector and an LLM judge, vs chance."""
        from sublim.detection.judge import judge_detect
        from sublim.detection.statistical import detect
        from sublim.records import DatasetRow, read_jsonl, write_jsonl

        ctl = self.config.controls
        judge_spec = ctl.judge_model or self.config.bases.same
        det_cfg, judge_cfg = ctl.detector.model_copy(update={"seed": seed}), ctl.judge.model_copy(update={"seed": seed})
        key = stage_key({"detector": det_cfg.model_dump(mode="json"), "judge": judge_cfg.model_dump(mode="json")},
                        treatment.data_key, control.data_key, stage_key(judge_spec))

        def fn(d: Path) -> dict:
            a, b = read_jsonl(treatment.filtered, DatasetRow), read_jsonl(control.filtered, DatasetRow)
            statistical = detect(a, b, det_cfg)
            judge_ref = self.base("same") if ctl.judge_model is None else resolve_model(judge_spec)
            with open_backend(judge_ref, judge_spec) as backend:
                judged = judge_detect(a, b, backend, self.config.trait.target, judge_cfg)
            write_jsonl(d / "judge_items.jsonl", judged.items)
            return {"statistical": statistical.model_dump(mode="json"),
                    "judge": judged.model_dump(mode="json", exclude={"items"}),
                    "counts": {"rows_a": len(a), "rows_b": len(b)}}

        return cached_stage(self.dir / "classifier" / str(seed) / "detection", key, "detection", seed, None, fn)

    # -- orchestration --------------------------------------------------------------------------
    def run_seed(self, seed: int) -> None:
        """All conditions of one seed, in the order of ``seed_steps`` (independent of other seeds)."""
        arms: dict[str, DataArm] = {}

        matched = matched_arms(self.config)

        def arm(name: str) -> DataArm:
            if name not in arms:
                if name in matched:
                    arms.update(self.matched(seed, {a: self.data_arm(a, seed) for a in matched}))
                else:
                    arms[name] = self.data_arm(name, seed)
            return arms[name]

        for step in seed_steps(self.config):
            if step.kind == "evaluate":
                self.evaluation(step.condition, seed, self.base(step.base, seed), self.base_key(step.base, seed), step.base)
            elif step.kind == "train" and step.condition in ("shuffle_within", "shuffle_global"):
                self.trained_condition(step.condition, seed, self.shuffled(step.condition, seed, arm(step.arm)))
            elif step.kind == "train":
                self.trained_condition(step.condition, seed, arm(step.arm), step.base)
            elif step.kind == "teacher":  # the trait's source, as the students are asked about it
                data = arm(step.arm)
                self.evaluation("teacher", seed, data.teacher.model, data.teacher_key, "same", data.teacher.system_prompt)
            elif step.kind == "icl":
                self.icl(seed, arm("treatment"), arm("control"))
            elif step.kind == "classifier":
                self.classifier(seed, arm("treatment"), arm("control"))

    def run(self) -> Path:
        cfg = self.config
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text(self.dir / "config.yaml", dump_yaml(cfg))
        prebuild_tiny_bases(study_bases(cfg))
        record_bases(self.dir, study_bases(cfg))
        workers = seed_processes(cfg.workers, len(cfg.seeds), runs_on_local_gpu(cfg))
        if workers <= 1:
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(cfg.threads)  # as a seed worker does: a seed's numbers depend on it
            try:
                for seed in cfg.seeds:
                    self.run_seed(seed)
            finally:
                torch.set_num_threads(before)
        else:
            run_seeds_in_processes(cfg, self.dir.parent, workers)
        from sublim.reporting.report import write_report

        write_report(self.dir)
        return self.dir


def runs_on_local_gpu(config: StudyConfig) -> bool:
    """Whether a study's models load onto this machine's CUDA GPU: a local base (not a hosted API) whose
    device is ``auto`` or ``cuda`` where CUDA is visible. A hosted-API study only waits on the network."""
    from sublim.backends.hf import resolve_device

    return any(s.kind != "openai" and resolve_device(s.device) == "cuda" for s in study_bases(config))


def seed_processes(requested: int | None, n_seeds: int, on_gpu: bool) -> int:
    """How many processes run a study's seeds: ``requested``, or by default 1 when the study's models
    run on a local GPU (``on_gpu``) and 2 otherwise (a CPU-only run, or a hosted API).

    Seed processes on one GPU share it and each loads its own copy of every model: on an H200, four
    SmolLM2 seeds sampled 225 prompts/s together against 214 for one alone (tiny-organism.md, section 20).
    """
    if requested is None:
        requested = 1 if on_gpu else 2
    elif requested > 1 and n_seeds > 1 and on_gpu:
        log.warning("workers: %d — the seed processes share one GPU, each with its own copy of the model; "
                    "measured no faster than one process for a sampler batch of 1,024 (workers: 1 avoids it)",
                    requested)
    return max(1, min(requested, n_seeds))


def exit_when_orphaned(parent_pid: int, interval_s: float = 1.0) -> None:
    """End this process once ``parent_pid`` is no longer its parent, checked every ``interval_s``.

    A seed worker whose ``sublim run`` was killed (SIGTERM, SIGKILL, a closed terminal) would otherwise
    go on writing into the run directory — racing the next ``sublim run`` that resumes it.
    """
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _seed_worker(config_json: str, out_root: str, seed: int, cache: str) -> int:
    """Process entry: run one seed with ``threads`` torch threads, logging stage boundaries (no bars)."""
    import os

    os.environ["SUBLIM_PROGRESS"] = "0"
    import torch

    torch.set_num_threads(StudyConfig.model_validate_json(config_json).threads)
    from sublim.paths import set_cache_dir

    set_cache_dir(Path(cache))
    logging.basicConfig(level=logging.INFO, format=f"[seed {seed}] %(message)s", force=True)
    from sublim.progress import quiet_libraries

    quiet_libraries()
    StudyRunner(StudyConfig.model_validate_json(config_json), Path(out_root)).run_seed(seed)
    return seed


def run_seeds_in_processes(config: StudyConfig, out_root: Path, workers: int) -> None:
    """Run the seeds of a study in ``workers`` processes. An error in any seed, or Ctrl-C, stops the study:
    no further seed starts, a running seed finishes (after an error) or stops at once (Ctrl-C reaches it
    too); a rerun resumes from the finished stages."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    from sublim.paths import cache_dir
    from sublim.progress import progress_bar

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=exit_when_orphaned,
                             initargs=(os.getpid(),)) as pool, \
            progress_bar("seeds", total=len(config.seeds)) as bar:
        # a seed is handed out only when a worker is free: the pool queues ahead what it is given, and a
        # queued seed would still run after an error or Ctrl-C
        waiting = list(config.seeds)

        def submit() -> Future:
            return pool.submit(_seed_worker, config.model_dump_json(), str(out_root), waiting.pop(0), str(cache_dir()))

        running = {submit() for _ in range(min(workers, len(waiting)))}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                seed = future.result()  # re-raises a worker's error (SublimError stays a SublimError)
                log.info("seed %d finished", seed)
                bar.advance()
                if waiting:
                    running.add(submit())


def run_study(config: StudyConfig, out_root: Path) -> Path:
    """Run (or resume) every condition and seed of ``config``; returns the study directory."""
    return StudyRunner(config, out_root).run()
