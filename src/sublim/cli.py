"""The ``sublim`` command line: one subcommand per stage of work, errors as one clear line.

Heavy libraries (torch, transformers) are imported inside commands, so ``sublim --help`` is instant.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from sublim.errors import SublimError

app = typer.Typer(
    name="sublim",
    help=(
        "Reproduce, measure and audit subliminal learning: a teacher with a trait writes number "
        "sequences, a student fine-tuned on them picks the trait up.\n\n"
        "Start with `sublim demo`: the CPU model organism (configs/organism.yaml), where a trait hidden in "
        "number data reaches a same-init student and not different-init ones (~6 min; 12-19 min more the "
        "first time, to build its six tiny bases)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache for built models (default: $SUBLIM_CACHE_DIR or ~/.cache/sublim).",
                 envvar="SUBLIM_CACHE_DIR"),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config field, e.g. --set generation.n_samples=200 (repeatable)."),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logging.")]


def _setup(cache_dir: Path | None, verbose: bool = False) -> None:
    from sublim.paths import set_cache_dir

    set_cache_dir(cache_dir)
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # a log file or batch job: one plain line per record (rich would wrap and pad each to 80 columns)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from sublim.progress import quiet_libraries

    quiet_libraries()


def _guard(fn, *args, **kwargs):
    """Run a command; turn expected failures into one line and an exit code, never a traceback."""
    try:
        return fn(*args, **kwargs)
    except SublimError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted.[/] Finished stages are kept; run the same command to resume.")
        raise typer.Exit(130) from None
    except Exception as exc:  # the one top-level catch-all (see STYLE.md)
        if os.environ.get("SUBLIM_DEBUG"):
            raise
        if isinstance(exc, ImportError) and (exc.name or "").startswith("sublim"):
            # sublim imports stages lazily, so a long run that outlives an upgrade (or an edit of an
            # editable install) meets new modules beside old loaded ones; its finished stages are on disk
            console.print(f"[bold red]error:[/] {escape(str(exc))} — sublim's code changed while this command "
                          "ran (an upgrade or an edit). Finished stages are kept: run the same command again "
                          "(or `sublim report RUN_DIR` if only the report is missing).", soft_wrap=True)
            raise typer.Exit(1) from None
        console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", soft_wrap=True)
        console.print("Rerun with SUBLIM_DEBUG=1 for the traceback, and please report it.")
        raise typer.Exit(1) from None


DEFAULT_STUDY = "organism"


def default_config_path(name: str = DEFAULT_STUDY) -> Path:
    """Path of a config shipped inside the package (``sublim/configs/<name>.yaml``)."""
    packaged = Path(__file__).parent / "configs" / f"{name}.yaml"  # wheel install
    checkout = Path(__file__).resolve().parents[2] / "configs" / f"{name}.yaml"  # editable install
    return packaged if packaged.is_file() else checkout


def _say_reuse(study, out: Path, data_from: Path) -> None:
    """What `--data-from` would give this study, before anything is copied (estimate, run --dry-run)."""
    from sublim.pipeline.reuse import reuse_from
    from sublim.pipeline.runner import StudyRunner

    console.print(reuse_from(StudyRunner(study, out), data_from), markup=False, highlight=False, soft_wrap=True)


def _run_study(config: Path | None, overrides: list[str], out: Path, dry_run: bool,
               data_from: Path | None = None) -> Path | None:
    from sublim.config import load_config
    from sublim.pipeline.runner import StudyRunner, run_study

    path = config or default_config_path()
    study = load_config(path, overrides)
    if data_from is not None and not dry_run:
        from sublim.pipeline.reuse import not_reused, seed_from

        copied = seed_from(data_from, out / study.name)
        console.print(f"[bold]data[/] from {data_from}: {len(copied)} finished data stage(s) copied; "
                      "each is reused where this config's stage key matches, recomputed where not")
        if stale := not_reused(StudyRunner(study, out), copied):
            shown = ", ".join(stale[:4]) + (f" and {len(stale) - 4} more" if len(stale) > 4 else "")
            console.print(f"[bold yellow]warning[/]: {len(stale)} copied teacher/sampling stage(s) do not match this "
                          f"config and will be made again — other rows than {data_from}'s: {shown}. Their teacher, "
                          "trait, generation or threads settings differ; stop now (Ctrl-C) unless that is meant.")
    if dry_run:
        from sublim.pipeline.plan import describe_plan

        console.print(describe_plan(study, out))
        from sublim.pipeline.estimate import estimate_study, render_estimate

        console.print(render_estimate(estimate_study(study)), markup=False, highlight=False, soft_wrap=True)
        if data_from is not None:
            _say_reuse(study, out, data_from)
        return None
    console.print(f"[bold]study[/] {study.name} from {path} → {out / study.name}")
    from sublim.pipeline.status import finished_before

    if found := finished_before(out / study.name, study):
        console.print(f"resuming: {found.done} of {found.planned} planned stages found finished (each is "
                      "reused where its settings match this config, redone where not)")
    return run_study(study, out)


def _show_verdict(run_dir: Path) -> None:
    """The report's verdict sentences, from metrics.json (the report's own source)."""
    from sublim.pipeline.artifacts import read_json
    from sublim.reporting.report import verdict_lines

    for line in verdict_lines(read_json(run_dir / "metrics.json")):
        console.print(escape(line.replace("**", "")), soft_wrap=True)
    console.print(f"[green]report:[/] {run_dir / 'report.md'}")


@app.command("run")
def run_cmd(
    config: Annotated[Path | None, typer.Argument(help="Study YAML (default: the demo study, configs/organism.yaml).")] = None,
    out: Annotated[Path, typer.Option(help="Runs root: outputs go to OUT/<study>/<condition>/<seed>/<stage>/.")] = Path("runs"),
    overrides: Overrides = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and exit; run nothing.")] = False,
    data_from: Annotated[Path | None, typer.Option(
        "--data-from", help="Start from another study's directory (e.g. runs/organism): its finished teachers, "
        "numbers, filtered and matched rows and leak checks are copied in and reused where this config would "
        "make the same ones — to train other students on the same rows. Students are never copied; the source "
        "is only read. Copied teachers and samples this config would make differently are named in a warning "
        "before anything runs.")] = None,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Run (or resume) a study: teacher -> numbers -> filter -> students -> evaluation -> report.

    Finished stages are skipped, so rerunning after a crash or Ctrl-C resumes where it stopped.
    """
    _setup(cache_dir, verbose)
    run_dir = _guard(_run_study, config, overrides or [], out, dry_run, data_from)
    if run_dir is not None:
        _show_verdict(run_dir)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="Runs root directory.")] = Path("runs"),
    overrides: Overrides = None,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Run the default study, the CPU model organism (configs/organism.yaml), on the embedded tiny model.

    The first run builds its six tiny bases (one process per CPU core: 12-19 minutes on 2 cores); later runs take about 6.
    The paper's own recipe at this scale (which transmits nothing) is `sublim run configs/paper_tiny.yaml`.
    """
    _setup(cache_dir, verbose)
    run_dir = _guard(_run_study, None, overrides or [], out, False)
    _show_verdict(run_dir)


@app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A study directory, e.g. runs/owl-demo.")],
    verbose: Verbose = False,
) -> None:
    """Regenerate metrics.json, figures and report.md from a run directory (no recomputation)."""
    _setup(None, verbose)
    from sublim.reporting.report import write_report

    def go() -> Path:
        from sublim.pipeline.artifacts import study_config_of

        study_config_of(run_dir)
        return write_report(run_dir)

    _guard(go)
    _show_verdict(run_dir)


@app.command("status")
def status_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A study directory, finished or not, e.g. runs/organism.")],
) -> None:
    """How far a study has got, and roughly how long the rest will take.

    Finished and planned stages of each kind, what is running or was interrupted, the time left (from this
    study's own stage times) and whether its report is current. Reads only the run directory; safe while the
    study runs. Exit code 0 when every planned stage is finished, 1 when not (`until sublim status runs/X
    >/dev/null; do sleep 60; done`)."""
    _setup(None)

    def go():
        from sublim.pipeline.status import render_status, study_status

        status = study_status(run_dir)
        print(render_status(status))
        return status

    raise typer.Exit(0 if _guard(go).complete else 1)


@app.command("build-base")
def build_base_cmd(
    preset: Annotated[str, typer.Argument(help="Tiny base preset: tiny-a, tiny-b, organism-a, organism-b, or a pair built in parallel: pair (tiny-a + tiny-b), organism-pair.")] = "tiny-a",
    force: Annotated[bool, typer.Option(help="Rebuild even if cached.")] = False,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Build (or show) an embedded tiny base model; saved in Hugging Face format in the cache."""
    _setup(cache_dir, verbose)
    from sublim.tiny.build import build_base_cli

    path = _guard(build_base_cli, preset, force=force)
    console.print(f"[green]{preset}:[/] {path}")


@app.command("mnist")
def mnist_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default: the 'cpu' preset).")] = None,
    preset: Annotated[str, typer.Option(help="Named preset when no --config: 'cpu' (fast) or 'reference' (paper).")] = "cpu",
    out: Annotated[Path, typer.Option(help="Runs root directory.")] = Path("runs"),
    overrides: Overrides = None,
    verbose: Verbose = False,
) -> None:
    """MNIST auxiliary-logit experiment: a same-init student learns digits from noise + auxiliary logits."""
    _setup(None, verbose)
    from sublim.mnist.experiment import run_mnist

    run_dir = _guard(run_mnist, config, preset, overrides or [], out)
    console.print(f"[green]done:[/] {run_dir}/report.md")


@app.command("theorem")
def theorem_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (default preset).")] = None,
    preset: Annotated[str, typer.Option(help="Named preset when no --config.")] = "default",
    out: Annotated[Path, typer.Option(help="Runs root directory.")] = Path("runs"),
    overrides: Overrides = None,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Numeric check of Theorem 1: a shared-init student's first step aligns with the teacher's update."""
    _setup(cache_dir, verbose)
    from sublim.theorem.check import run_theorem

    run_dir = _guard(run_theorem, config, preset, overrides or [], out)
    console.print(f"[green]done:[/] {run_dir}/report.md")


@app.command("estimate")
def estimate_cmd(
    config: Annotated[Path, typer.Argument(help="Study YAML, e.g. configs/paper/gpt41nano_numbers_owl.yaml.")],
    overrides: Overrides = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation above --max-usd.")] = False,
    max_usd: Annotated[float, typer.Option("--max-usd", help="Ask for confirmation when the API estimate exceeds this.")] = 5.0,
    device: Annotated[str, typer.Option(help="Where local models run, for the hours: auto, gpu or cpu.")] = "auto",
    out: Annotated[Path, typer.Option(help="Runs root: when OUT/<study> already holds finished stages, say how "
                                      "many a resume would skip and the time its own stage times leave.")] = Path("runs"),
    data_from: Annotated[Path | None, typer.Option(
        "--data-from", help="The study directory `sublim run --data-from` would start from: say how many of the "
        "planned teachers and samples it holds with matching settings (reused, with the time they took there) "
        "and how many under other settings (made again).")] = None,
    verbose: Verbose = False,
) -> None:
    """Print what a study will cost before anything runs: samples, tokens, training tokens, $ and hours.

    Exits 1 when the API estimate is above --max-usd and the confirmation is declined, so
    `sublim estimate CFG && sublim run CFG` never starts an unwanted bill.
    """
    _setup(None, verbose)

    def go() -> float:
        from sublim.config import load_config
        from sublim.errors import ConfigError
        from sublim.pipeline.estimate import estimate_study, render_estimate

        if device not in ("auto", "gpu", "cpu"):
            raise ConfigError(f"--device {device!r}: use auto, gpu or cpu")
        study = load_config(config, overrides or [])
        est = estimate_study(study, device=device)
        console.print(render_estimate(est), markup=False, highlight=False, soft_wrap=True)
        from sublim.pipeline.status import finished_before, time_left_line

        if found := finished_before(out / study.name, study):
            console.print(f"{out / study.name} already holds {found.done} of these {found.planned} stages "
                          f"finished (the estimate above counts them all; a resume skips each whose settings "
                          f"match): {time_left_line(found)}", markup=False, highlight=False, soft_wrap=True)
        if data_from is not None:
            _say_reuse(study, out, data_from)
        return est.usd

    usd = _guard(go)
    if usd > max_usd and not yes and not typer.confirm(
        f"The API part is estimated at ${usd:,.2f}, above --max-usd {max_usd:g}. Go ahead with this study?",
        default=False, err=True,
    ):
        console.print("not confirmed.")
        raise typer.Exit(1)


@app.command("diagnose")
def diagnose_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="One or more finished study directories, e.g. runs/organism. With several, also reports how "
        "well each diagnostic ranks the measured effect across them (Spearman rho, p, n).")],
    max_rows: Annotated[int, typer.Option(help="Training rows scored per arm and seed.")] = 128,
    no_alignment: Annotated[bool, typer.Option("--no-alignment", help="Skip the first-step gradient alignment "
        "(an up-to-date diagnostics.json's, scored on the same --max-rows, is kept).")] = False,
    no_decomposition: Annotated[bool, typer.Option(
        "--no-decomposition", help="Skip splitting each student's change into along-teacher and orthogonal parts "
        "(an up-to-date diagnostics.json's is kept).")] = False,
    recompute: Annotated[bool, typer.Option(
        "--recompute", help="With several directories, diagnose each again even where an up-to-date "
        "diagnostics.json (newer than its metrics.json) exists; a single directory is always diagnosed.")] = False,
    out: Annotated[Path | None, typer.Option(help="With several directories, also write the comparison as JSON here.")] = None,
    cache_dir: CacheDir = None,
    verbose: Verbose = False,
) -> None:
    """Per-seed diagnostics of a study's data and students, and which predict transfer across studies.

    Divergence tokens, log-likelihood shift, first-step alignment, the along/orthogonal split of each
    same-init student's change and, for students that span several layers, the layer where the treatment
    and the control students part (first step and trained), per seed → RUN_DIR/diagnostics.json; with
    several RUN_DIRs, which diagnostic predicts the measured transfer across them."""
    _setup(cache_dir, verbose)
    import torch

    torch.set_num_threads(1)
    from sublim.diagnostics.study import LAYER_CONTRASTS, across_studies, diagnose_study, is_current

    for run_dir in run_dirs:
        done = run_dir / "diagnostics.json"
        if len(run_dirs) > 1 and not recompute and is_current(run_dir):
            console.print(f"{run_dir}: reusing {done}")
            continue
        result = _guard(diagnose_study, run_dir, max_rows=max_rows, alignment=not no_alignment,
                        decomposition=not no_decomposition)
        if len(run_dirs) == 1:
            for key, value in result["summary"]["means"].items():
                console.print(f"{key:40s} {value: .4g}")
            for key, r in result["summary"]["spearman_vs_effect"].items():
                console.print(f"spearman(effect, {key}) = {r['rho']:+.2f} (p = {r['p']:.2g}, n = {r['n']} seeds)")
            for prefix, what, evidence in LAYER_CONTRASTS.values():
                if picks := result["summary"].get(f"{prefix}_least_agreeing_layer"):
                    console.print(f"{what} on the treatment vs the control rows, per layer: they agree least in "
                                  + ", ".join(f"{layer} ({n} of {sum(picks.values())} seeds)" for layer, n in picks.items())
                                  + f" (what this says on the tiny organisms: docs/research/tiny-organism.md, {evidence})")
            if result["summary"].get("decomposition"):
                console.print(decomposition_table(result["summary"]["decomposition"]))
        if result["kept_from_earlier"]:
            console.print(f"kept from the diagnostics.json this replaces (skipped this time): {', '.join(result['kept_from_earlier'])}")
        console.print(f"written: {done}")
    if len(run_dirs) > 1:
        across = _guard(across_studies, run_dirs)
        console.print(across_table(across))
        for key, r in across["spearman_vs_effect"].items():
            console.print(f"spearman(effect, {key}) = {r['rho']:+.2f} (p = {r['p']:.2g}, n = {r['n']} studies)")
        if out is not None:
            from sublim.pipeline.artifacts import write_json

            write_json(out, across)
            console.print(f"written: {out}")


@app.command("check")
def check_cmd(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="A finished study directory, e.g. runs/organism; several runs of one recipe (replications on "
        "other seeds) are pooled over their seeds, and refused if their settings, seeds or base weights "
        "say they are not replicates.", metavar="RUN_DIR...")],
    split: Annotated[list[str] | None, typer.Option(
        help="Question split(s) to judge (repeatable); the first decides the exit code. Default: eval, then "
        "heldout (the questions never tuned on), each reported separately.")] = None,
    min_seeds: Annotated[int, typer.Option(help="Seeds the same-init student needs.")] = 5,
    min_ratio: Annotated[float, typer.Option(help="Same-init P(target) over the base's, at least.")] = 2.0,
    target: Annotated[str | None, typer.Option(
        help="Judge this answer instead of the config's target. The control teacher's animal swaps the arms: "
        "its students are judged as the treatment, the target's as their matched control.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write every split's verdict as JSON here.")] = None,
) -> None:
    """Judge a finished study by the organism's pass criteria (exit code 0 when met, 1 when not).

    The criteria: the same-init student's 95% CI above the base and the matched control, >= MIN_RATIO x the
    base, no significant rise for the different-init student (and, with a base per seed, its CI below half the
    same-init gain), the leak check clean, a dominant confusion-matrix diagonal when it was run. Reads only
    result files (a second); exit code 0 when every check passes on the first split, 1 when one fails. Give
    several RUN_DIRs to judge replications of one config pooled over all their seeds."""
    from sublim.diagnostics.criteria import CHECK_NAMES, describe_check, level_a
    from sublim.pipeline.bases import bases_line, read_bases

    if bases := read_bases(run_dirs[0]):  # which weights: a config hash does not say (tiny bases differ by CPU)
        console.print(f"bases: {escape(bases_line(bases))}")
    where = ", ".join(str(d) for d in run_dirs)
    verdicts = {}
    for name in split or ["eval", "heldout"]:
        verdict = _guard(level_a, run_dirs, split=name, min_seeds=min_seeds, min_ratio=min_ratio, target=target)
        verdicts[name] = verdict
        if not verdict["per_seed"].get("treatment"):
            console.print(f"[yellow]{where}: split '{name}' was not evaluated[/]")
            continue
        if verdict["swapped"]:
            console.print(f"{verdict['target']} is the control teacher's animal: the arms swap roles "
                          "(treatment = the control arm's students, control = the target arm's; likewise cross_*)")
        table = Table(title=f"{verdict['study']} — split '{name}': P({verdict['target']}), mean [95% CI] over seeds",
                      title_justify="left")
        for column in ("arm", "mean [95% CI]", "n", "per seed"):
            table.add_column(column)
        for arm, est in verdict["estimates"].items():
            per_seed = ", ".join(f"{v:.3f}" for v in verdict["per_seed"][arm].values())
            table.add_row(arm, f"{est['mean']:.4f} [{est['low']:.4f}, {est['high']:.4f}]", str(est["n"]), per_seed)
        console.print(table)
        checks = Table(show_header=True)
        for column in ("check", "numbers", "result"):
            checks.add_column(column)
        for key, check in verdict["checks"].items():
            mark = "info" if check.get("informational") else ("[green]pass[/]" if check["passed"] else "[red]FAIL[/]")
            checks.add_row(CHECK_NAMES.get(key, key),
                           escape(describe_check(key, check, min_seeds=min_seeds, min_ratio=min_ratio)), mark)
        console.print(checks)
        console.print(f"split '{name}': " + ("[bold green]every criterion met[/]" if verdict["passed"]
                                              else "[bold red]not met[/]"))
    if out is not None:
        from sublim.pipeline.artifacts import write_json

        write_json(out, verdicts)
        console.print(f"written: {out}")
    first = verdicts[next(iter(verdicts))]
    raise typer.Exit(0 if first["passed"] else 1)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[Path, typer.Argument(help="A finished study directory (A), e.g. runs/P32.", metavar="RUN_A")],
    run_b: Annotated[Path, typer.Argument(help="Another one of the same trait (B), e.g. runs/P30.", metavar="RUN_B")],
    split: Annotated[str, typer.Option(help="Question split: eval, or heldout (the questions never tuned on).")] = "eval",
    measure: Annotated[str, typer.Option(
        help="exact: P(target) scored over the options; sampled: the share of sampled answers naming it; "
        "auto: exact where both studies have it, else sampled.")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Compare two studies condition by condition, paired by seed (A − B with its 95% CI).

    A − B in P(target) (exact or sampled), paired by the seeds both ran, with its 95% CI and p-value, and the
    same for the treatment − control gain. Made for students trained on the same rows (`sublim run
    --data-from`): it says seed by seed whether the rows really were the same (then A − B is the students'
    difference alone), which settings differ, and whether the bases' weights did."""
    from sublim.reporting.compare import compare_studies, rows_line, settings_line
    from sublim.reporting.report import fmt_p

    result = _guard(compare_studies, run_a, run_b, split=split, measure=measure)
    from rich import box

    table = Table(title=f"A = {run_a}, B = {run_b}: {result['measure']} P({result['target']}), split '{split}'; mean ± 95% CI "
                  "half-width over seeds; A − B paired by seed", title_justify="left", box=box.SIMPLE, pad_edge=False,
                  caption="t − c: treatment minus control, seed by seed (what the trait's rows add); n: seeds")
    for column in ("condition", "A", "B", "A − B", "p", "n"):
        table.add_column(column, no_wrap=True, justify="left" if column == "condition" else "right")
    for name, row in result["conditions"].items():
        a, b, d = row["a"], row["b"], row["difference"]
        table.add_row(name, f"{a['mean']:.3f} ± {a['high'] - a['mean']:.3f}", f"{b['mean']:.3f} ± {b['high'] - b['mean']:.3f}",
                      f"{d['difference']:+.3f} ± {d['high'] - d['difference']:.3f}", fmt_p(d["p_value"]), str(len(row["seeds"])))
    console.print(table)
    if ratio := result["treatment_over_base"]:
        console.print(f"treatment over its base: A {ratio['a']:.2f}×, B {ratio['b']:.2f}×")
    for line in (rows_line(result), settings_line(result)):
        console.print(escape(line), soft_wrap=True)
    if result["bases_with_other_weights"]:
        console.print(f"[yellow]warning[/]: base(s) {escape(', '.join(result['bases_with_other_weights']))} had other "
                      "weights in the two studies (bases.json): they are other bases, and A − B carries that too")
    if out is not None:
        from sublim.pipeline.artifacts import write_json

        write_json(out, result)
        console.print(f"written: {out}")


ACROSS_COLUMNS = {  # field → short header (the table must fit an 80-column terminal)
    "effect": "effect", "cross_effect": "cross", "diff_cos": "Δcos", "c": "c",
    "treatment_divergence_rate": "div", "diff_mean_kl": "ΔKL", "diff_mean_ll_shift": "ΔLL",
    "treatment_trait_mass_ratio": "mass×",
}


def across_table(across: dict) -> Table:
    """One row per study: the seed means of the effect and of the diagnostics that may predict it."""
    from rich import box

    table = Table(title="Diagnostics across studies (seed means)", box=box.SIMPLE, pad_edge=False,
                  caption="effect / cross: ΔP(target), treatment − control, same / different init; "
                          "Δcos: first-step cosine, treatment − control; c: share of the teacher's change "
                          "taken; div: divergence-token rate; ΔKL, ΔLL: teacher-vs-base KL and "
                          "log-likelihood shift, treatment − control data; mass×: the treatment teacher's trait mass "
                          "at the training positions over the base's")
    table.add_column("study", no_wrap=True)
    for header in ACROSS_COLUMNS.values():
        table.add_column(header, justify="right", no_wrap=True)
    for row in across["rows"]:
        table.add_row(row["study"], *(f"{row[k]:+.3f}" if k in row else "–" for k in ACROSS_COLUMNS))
    return table


def decomposition_table(summary: dict[str, dict]) -> Table:
    """ΔP(option) of each student, of its along-teacher part and of the rest (seed means)."""
    from sublim.diagnostics.decomposition import PARTS

    targets = [r["target"] for r in summary.values()]
    against = next(iter(summary.values()))["against"]
    table = Table(title=f"Each student's change, split along its teacher's change (ΔP vs {against})")
    table.add_column("teacher")
    table.add_column("c", justify="right")
    table.add_column("part")
    for t in targets:
        table.add_column(t, justify="right")
    for r in summary.values():
        for i, part in enumerate(PARTS):
            cells = [f"{r[part][t]:+.3f}" for t in targets]
            cells = [f"[bold]{c}[/bold]" if t == r["target"] else c for c, t in zip(cells, targets, strict=True)]
            table.add_row(r["target"] if i == 0 else "", f"{r['c']:.2f}" if i == 0 else "", part, *cells)
    moved = [f"{r['target']}: " + ", ".join(f"{g} {v:.3g}" for g, v in r["movement"].items())
             for r in summary.values() if "movement" in r]
    if moved:
        table.caption = "how far each student moved, ‖Δθ‖ by layer — " + "; ".join(moved)
    return table


def _unwrap_docstrings(typer_app: typer.Typer) -> None:
    """Join each paragraph of every command's docstring into one line. The source wraps them at 120
    columns; rich keeps those breaks and wraps again at the terminal's width, so an 80-column ``--help``
    showed ragged half-empty lines and the command list showed whole paragraphs."""
    import inspect

    for info in typer_app.registered_commands:
        doc = info.help or inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


_unwrap_docstrings(app)


def main() -> None:  # pragma: no cover - console entry point alias
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
