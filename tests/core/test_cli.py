"""The command line explains itself and fails with one clear line, never a traceback."""

import logging
import re

import pytest
from typer.testing import CliRunner

from sublim import cli
from sublim.cli import app

runner = CliRunner()


def test_help_lists_every_stage_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "run", "report", "build-base", "mnist", "theorem", "estimate", "diagnose", "check", "status", "compare"):
        assert command in result.output


def test_help_reads_as_one_summary_line_per_command_at_80_columns():
    listing = CliRunner().invoke(app, ["--help"], terminal_width=80, env={"COLUMNS": "80"}).output
    assert "status      How far a study has got, and roughly how long the rest will" in listing
    assert "Divergence tokens" not in listing  # details stay in the command's own --help
    detail = CliRunner().invoke(app, ["check", "--help"], terminal_width=80, env={"COLUMNS": "80"}).output
    lines = [line.strip() for line in detail.splitlines() if line.strip()]
    # each paragraph re-wrapped to the terminal, not broken where the source's lines end
    assert any(line.startswith("The criteria: the same-init student's 95% CI above the base and") for line in lines)


def test_bad_config_gives_file_line_field_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrait:\n  target: owl\ngeneration:\n  n_prompts: -3\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:5: field 'generation.n_prompts'" in result.output
    assert "Traceback" not in result.output


def test_data_from_a_directory_that_is_no_study_is_named(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("name: x\ntrait:\n  target: owl\n")
    result = runner.invoke(app, ["run", str(good), "--out", str(tmp_path / "runs"), "--data-from", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "not a study directory" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs" / "x").exists()


def test_unknown_animal_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrait:\n  target: unicorn\n")
    result = runner.invoke(app, ["run", str(bad)])
    assert result.exit_code == 2 and "unicorn" in result.output and "Traceback" not in result.output


def test_the_demo_is_the_model_organism_with_a_different_init_base_per_seed(tmp_path):
    """`sublim demo` runs configs/organism.yaml (Level A met under amendment 15 of the research doc)."""
    from sublim.cli import DEFAULT_STUDY, default_config_path
    from sublim.config import load_config

    config = load_config(default_config_path(DEFAULT_STUDY))
    assert config.name == "organism" and config.bases.other.seed_offset is not None and len(config.seeds) >= 5
    result = runner.invoke(app, ["run", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 0 and "other=tiny/organism-b@seed=1000+s" in result.output


def test_dry_run_prints_the_plan_without_running(tmp_path):
    result = runner.invoke(app, ["run", "configs/paper_exact.yaml", "--dry-run", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "students to train" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("sets, arms", [
    ([], "treatment, control"),
    (["--set", "conditions=[control,treatment,specificity]", "--set", "controls.specificity_matched=true"],
     "treatment, control, trait-dolphin, trait-wolf, neutral"),
])
def test_dry_run_says_which_arms_are_matched(tmp_path, sets, arms):
    result = runner.invoke(app, ["run", "configs/organism_matched.yaml", "--dry-run", "--out", str(tmp_path), *sets],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"matched on digits: {arms} (" in result.output


def test_dry_run_does_not_name_a_different_init_base_no_condition_uses(tmp_path):
    result = runner.invoke(app, ["run", "--dry-run", "--out", str(tmp_path), "--set", "conditions=[base,control,treatment]"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "other: unused" in result.output and "organism-b" not in result.output


def test_report_on_a_non_study_directory_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "not a study directory" in result.output


def test_status_counts_finished_stages_names_the_unfinished_and_extrapolates_the_rest(tmp_path, monkeypatch):
    """`sublim status`: read from the directory alone, as a long study runs (no model is loaded)."""
    import json
    import os
    import time

    from sublim.config import load_config
    from sublim.pipeline.plan import stage_dirs
    from sublim.yamlconfig import dump_yaml

    config = load_config("configs/organism.yaml", ["name=half", "seeds=[0,1]", "workers=1"])
    study = tmp_path / "half"
    study.mkdir()
    (study / "config.yaml").write_text(dump_yaml(config))

    def finish(rel: str, seconds: float) -> None:
        (study / rel).mkdir(parents=True, exist_ok=True)
        (study / rel / "manifest.json").write_text(json.dumps({"wall_time_s": seconds}))
        (study / rel / "DONE").touch()

    first, second = stage_dirs(config, 0), stage_dirs(config, 1)
    assert len(first) == len(second) and all(d.split("/")[1] == "0" for d in first)
    for rel in first:
        finish(rel, 10.0)
    (study / second[0]).mkdir(parents=True)
    (study / second[0] / "KEY").write_text("abc")  # a stage that began 1000 s ago and has not finished
    began = time.time() - 1000
    os.utime(study / second[0] / "KEY", (began, began))

    result = runner.invoke(app, ["status", str(study)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    n = len(first)
    assert f"{n} of {2 * n} stages finished" in result.output and f"per seed: 0 {n}/{n}, 1 0/{n}" in result.output
    assert f"started, not finished (running now): {second[0]}" in result.output
    left = n * 10 - 10  # every kind timed by seed 0 (10 s each), one worker; the running stage has had its 10 s
    assert f"left: {n} stages, about {left // 60} min {left % 60:02d} s of work left" in result.output
    assert "report: not written yet" in result.output
    # stages made by hand carry no stage key: the finished teachers and samples are named as made under
    # other settings (a resume would make them again)
    assert "finished teacher/sampling stage(s) were made under other settings" in result.output

    for rel in second:
        finish(rel, 10.0)
    (study / "report.md").write_text("# report\n")
    result = runner.invoke(app, ["status", str(study)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "complete: every planned stage is finished" in result.output and "(current)" in result.output

    result = runner.invoke(app, ["status", str(tmp_path)])
    assert result.exit_code == 2 and "not a study directory" in result.output

    # three seeds left on two workers: the third waits for a free worker, so it counts in full
    from sublim.pipeline.status import study_status

    wide = load_config("configs/organism.yaml", ["name=half", "seeds=[0,1,2,3,4]", "workers=2"])
    (study / "config.yaml").write_text(dump_yaml(wide))
    left, untimed = study_status(study).seconds_left()
    assert untimed == [] and left == pytest.approx(2 * n * 10.0)

    # `sublim run` into that directory says what it found finished before it resumes
    monkeypatch.setattr("sublim.pipeline.runner.run_study", lambda config, out: out / config.name)
    monkeypatch.setattr(cli, "_show_verdict", lambda run_dir: None)
    result = runner.invoke(app, ["run", str(study / "config.yaml"), "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"resuming: {2 * n} of {5 * n} planned stages found finished" in result.output
    result = runner.invoke(app, ["estimate", str(study / "config.yaml"), "--out", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"already holds {2 * n} of these {5 * n} stages finished" in result.output

    # what `--data-from` this directory would give, before anything is copied: its stages were made by hand
    # with no stage keys, so none matches this config and each would be made again
    for args in (["estimate", str(study / "config.yaml")], ["run", str(study / "config.yaml"), "--dry-run"]):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / "other"), "--data-from", str(study)],
                               env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        assert "would reuse none of the 20 teacher and sampling stages" in result.output, result.output
        assert "8 more that it holds under other settings" in result.output  # seeds 0 and 1


def test_commands_that_read_a_study_name_an_mnist_run_for_what_it_is(tmp_path):
    """report, check, status, diagnose and --data-from on an MNIST or theorem run directory: one line saying
    what the directory is (each once failed with "internal error: KeyError")."""
    mnist = tmp_path / "mnist-cpu"
    mnist.mkdir()
    (mnist / "config.yaml").write_text("study: mnist-cpu\nn_models: 2\n")
    good = tmp_path / "good.yaml"
    good.write_text("name: x\ntrait:\n  target: owl\n")
    for args in (["report", str(mnist)], ["check", str(mnist)], ["status", str(mnist)], ["diagnose", str(mnist)],
                 ["run", str(good), "--out", str(tmp_path / "runs"), "--data-from", str(mnist)]):
        result = runner.invoke(app, args, env={"COLUMNS": "300"})
        assert result.exit_code == 2, (args, result.output)
        assert "a `sublim mnist` or `sublim theorem` run, not a study" in result.output, args
        assert "internal error" not in result.output and "Traceback" not in result.output


def test_off_a_terminal_each_log_record_is_one_plain_timestamped_line(capsys):
    """A batch job's log gets `date time LEVEL message` lines, not rich's 80-column wrapped panels."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        cli._setup(None)
        logging.getLogger("sublim.test").info("evaluation (base) → " + "x" * 120)
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO evaluation \(base\) → x{120}\n", err)


@pytest.mark.parametrize("exc, says, code", [
    (ImportError("cannot import name 'x' from 'sublim.stats'", name="sublim.stats"), "code changed while this command ran", 1),
    (ImportError("No module named 'vllm'", name="vllm"), "internal error", 1),
    (RuntimeError("boom"), "internal error", 1),
])
def test_an_unexpected_failure_is_one_line_and_code_that_changed_mid_run_says_how_to_resume(exc, says, code, capsys):
    """A long study that outlives an upgrade of sublim meets new modules beside old ones (section 31 of the
    research document: a finished run's report failed so): say so and how to resume, not 'please report'."""
    import typer

    from sublim.cli import _guard

    def fail():
        raise exc

    with pytest.raises(typer.Exit) as stopped:
        _guard(fail)
    out = capsys.readouterr().err  # the CLI's console writes to stderr
    assert stopped.value.exit_code == code and says in out and "Traceback" not in out
