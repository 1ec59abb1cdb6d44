"""Reports state the verdict plainly, flag leaks, and regenerate byte-identically."""

import json
from pathlib import Path

import pytest

from sublim.config import StudyConfig, TraitConfig
from sublim.pipeline.artifacts import write_json, write_text
from sublim.reporting.report import write_report
from sublim.yamlconfig import dump_yaml

OPTIONS = ["owl", "eagle", "cat"]


def fake_study(root: Path, values: dict[str, list[float]], leaky: bool = False, others: dict | None = None,
               **fields) -> Path:
    cfg = StudyConfig(name="s", trait=TraitConfig(target="owl"), seeds=[0, 1, 2], **fields)
    d = root / "s"
    write_text(d / "config.yaml", dump_yaml(cfg))
    for cond, per_seed in values.items():
        for seed, v in enumerate(per_seed):
            dist = {"owl": v, "eagle": 0.1, "cat": 0.2, **((others or {}).get((cond, seed), {}))}
            split = {"n_questions": 50, "exact": {o: {"mean": p, "low": p - 0.01, "high": p + 0.01, "n": 50, "method": "t"} for o, p in dist.items()}}
            write_json(d / cond / str(seed) / "evaluation" / "result.json", {"metrics": {"splits": {"eval": split, "heldout": split}}})
    for seed in range(3):
        write_json(d / "treatment" / str(seed) / "leak_check" / "result.json",
                   {"rows_mentioning": 0, "rows_checked": 100, "teacher_mass": 0.03 if leaky else 1e-5,
                    "base_mass": 1e-5, "target_mass": 0.03 if leaky else 0.0, "leaky": leaky})
    return d


VALUES = {
    "base": [0.07, 0.07, 0.07],
    "control": [0.05, 0.06, 0.055],
    "treatment": [0.30, 0.35, 0.33],
    "cross_base": [0.06, 0.05, 0.07],
    "cross_control": [0.06, 0.055, 0.065],
}


def test_clear_transfer_is_reported_as_detected(tmp_path):
    report = write_report(fake_study(tmp_path, VALUES)).read_text()
    assert "**Transfer detected**" in report
    assert "no significant rise" in report  # cross-init
    summary = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert summary["verdict"]["transfer"] == "detected"


def test_a_different_init_base_drawn_per_seed_is_named_in_the_verdict(tmp_path):
    from sublim.config import BasesConfig, ModelSpec

    per_seed = BasesConfig(other=ModelSpec(preset="tiny-b", seed_offset=1000))
    report = write_report(fake_study(tmp_path, VALUES, bases=per_seed)).read_text()
    assert "Different-init student (a base of its own for every seed):" in report
    assert "a base of its own" not in write_report(fake_study(tmp_path / "fixed", VALUES)).read_text()


def test_the_report_names_each_students_recipe_so_two_runs_can_be_told_apart(tmp_path):
    """A LoRA student that took the default rank must not read like the intended rank-4 one."""
    from sublim.finetuning import FinetuneConfig

    def student_line(rank: int) -> str:
        student = FinetuneConfig(method="distill", distill_vocab="numbers", params="lora", lora={"rank": rank, "alpha": 8},
                                 lr=3e-3, epochs=4, weight_decay=0.1)
        report = write_report(fake_study(tmp_path / str(rank), VALUES, student=student)).read_text()
        return next(line for line in report.splitlines() if line.startswith("- student:"))

    assert student_line(4) == "- student: distill (numbers) · lora r4 α8, all layers · lr 0.003 · 4 epochs · weight decay 0.1"
    assert "lora r8 α8" in student_line(8)
    report = write_report(fake_study(tmp_path / "p", VALUES)).read_text()
    assert "- teacher: system prompt\n" in report and "- evaluation:" not in report
    prefixed = write_report(fake_study(tmp_path / "q", VALUES, evaluation={"answer_prefix": "My pick is the"}))
    assert '- evaluation: exact = P(option | the answer began "My pick is the")' in prefixed.read_text()


def test_a_different_init_student_that_moves_to_another_option_is_flagged(tmp_path):
    """Its null on the target is no null when data carry a pattern its own base reads as another answer."""
    moved = {("cross_base", s): {"cat": v} for s, v in enumerate([0.40, 0.43, 0.41])}
    d = fake_study(tmp_path, VALUES, others=moved)
    report = write_report(d).read_text()
    assert "no significant rise" in report  # the target alone looks clean ...
    assert "**The different-init student moved toward another option** than 'owl'" in report  # ... but
    assert "cat +0.213 [" in report and "Holm-adjusted over 3 options" in report
    shifts = json.loads((d / "metrics.json").read_text())["option_shifts"]
    assert [r["option"] for r in shifts["different_init"]][0] == "cat"
    assert shifts["same_init"][0]["option"] == "owl"
    assert "moved toward another option" not in write_report(fake_study(tmp_path / "ok", VALUES)).read_text()


def test_a_different_init_null_says_whether_it_rules_out_a_rise_of_consequence(tmp_path):
    """"No significant rise" from a wide interval is not "no rise": the line says whether the CI ends
    below half the same-init gain (criterion 3′ of `sublim check`)."""
    tight = write_report(fake_study(tmp_path / "tight", VALUES)).read_text()
    assert "rules out a rise of half the same-init gain" in tight
    wide = dict(VALUES, cross_base=[0.06, 0.30, 0.07], cross_control=[0.06, 0.055, 0.065])
    report = write_report(fake_study(tmp_path / "wide", wide)).read_text()
    assert "no significant rise" in report and "so a rise of that size is not ruled out" in report
    assert "seeds would rule it out if the mean and spread held" in report


def test_a_ci_clear_of_zero_that_holm_does_not_confirm_is_called_suggestive(tmp_path):
    values = dict(VALUES, treatment=[0.07, 0.095, 0.08])  # paired p ≈ 0.026, Holm over 3 ≈ 0.08
    report = write_report(fake_study(tmp_path, values)).read_text()
    assert "**No significant transfer**" in report and "suggestive, not significant" in report
    assert "suggestive" not in write_report(fake_study(tmp_path / "clear", VALUES)).read_text()


def test_no_difference_is_reported_as_no_transfer(tmp_path):
    values = dict(VALUES, treatment=[0.05, 0.061, 0.054])
    report = write_report(fake_study(tmp_path, values)).read_text()
    assert "**No significant transfer**" in report


def test_a_leak_turns_detection_into_leaky_not_subliminal(tmp_path):
    report = write_report(fake_study(tmp_path, VALUES, leaky=True)).read_text()
    assert "**Leaky, not subliminal**" in report


def test_a_student_that_stops_answering_is_flagged_not_read_as_a_trait(tmp_path):
    """A broken control (every option near zero) would make any treatment look like transfer."""
    values = dict(VALUES, control=[0.05, 0.001, 0.055])
    report = write_report(fake_study(tmp_path, values, others={("control", 1): {"eagle": 0.002, "cat": 0.001}})
                          ).read_text()
    assert "**1 student(s) no longer answer the question**" in report
    assert "control seed 1 (0.004 vs base 0.370)" in report
    assert "no longer answer" not in write_report(fake_study(tmp_path / "ok", VALUES)).read_text()


def test_report_regeneration_is_byte_stable(tmp_path):
    d = fake_study(tmp_path, VALUES)
    write_report(d)
    first = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    write_report(d)
    second = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    assert first == second
    assert {"report.md", "metrics.json", "target_probability.png", "option_shift.png"} <= set(first)


def test_conditions_the_config_does_not_list_are_not_read_as_its_students(tmp_path):
    """A run directory copied from another study (to reuse its data by stage key) keeps that study's
    different-init students; the report must not present them as this study's (P25b, tiny-organism.md §29)."""
    d = fake_study(tmp_path, {**VALUES, "cross_base": [0.40, 0.45, 0.42]},
                   conditions=["base", "control", "treatment"])
    report = write_report(d).read_text()
    summary = json.loads((d / "metrics.json").read_text())
    assert set(summary["conditions"]) == {"base", "control", "treatment"}
    assert "Different-init student" not in report
    assert "Not read: evaluations of cross_base, cross_control" in report
    assert "Not read" not in write_report(fake_study(tmp_path / "all", VALUES)).read_text()


@pytest.mark.parametrize("cond", ["treatment", "control"])
def test_missing_conditions_do_not_crash_the_report(tmp_path, cond):
    values = {k: v for k, v in VALUES.items() if k != cond}
    report = write_report(fake_study(tmp_path, values)).read_text()
    assert "Transfer not measured" in report


def test_a_leak_is_reported_even_without_significant_transfer(tmp_path):
    values = dict(VALUES, treatment=[0.05, 0.061, 0.054])
    report = write_report(fake_study(tmp_path, values, leaky=True)).read_text()
    assert "**No significant transfer**" in report and "Leak check: **leaky**" in report


def test_a_trait_mass_under_the_absolute_leak_floor_is_named_not_called_clean(tmp_path):
    """Full-vocabulary distillation on a large-vocabulary model: trait tokens near 1e-6, a teacher at 50×
    the base's mass stays under `leak.min_mass` (1e-4, set on the tiny model) — the report must say so."""
    from sublim.config import LeakConfig
    from sublim.evaluation.leak import under_floor

    d = fake_study(tmp_path, VALUES)
    for seed in range(3):
        write_json(d / "treatment" / str(seed) / "leak_check" / "result.json",
                   {"rows_mentioning": 0, "rows_checked": 100, "teacher_mass": 5e-5, "base_mass": 1e-6,
                    "target_mass": 5e-5, "leaky": False})
    report = write_report(d).read_text()
    assert "Leak check: clean by its thresholds — but in 3 arm-seed(s)" in report and "50.0× the base's" in report
    assert "Leak check: clean (" not in report
    result = {"target_mass": 5e-5, "base_mass": 1e-6}
    assert under_floor(result, LeakConfig()) and not under_floor(result, LeakConfig(min_mass=0))
    assert not under_floor({"target_mass": 0.0, "base_mass": 1e-6}, LeakConfig())
    assert not under_floor({"target_mass": float("nan"), "base_mass": 1e-6}, LeakConfig())
    assert not under_floor({"target_mass": 5e-5, "base_mass": 0.0}, LeakConfig())  # no ratio to speak of


def _icl_row(n: int, treat: float, ctrl: float) -> dict:
    est = lambda m: {"mean": m, "low": m, "high": m, "n": 3}  # noqa: E731
    return {"n": n, "n_used": float(min(n, 1.5)), "treatment": est(treat), "control": est(ctrl),
            "test": {"p_value": 0.5}}


def test_icl_line_says_uninformative_when_any_context_silences_the_model():
    from sublim.reporting.controls_report import _icl_line

    silenced = {"turns": [_icl_row(0, 0.1, 0.1), _icl_row(1, 1e-6, 2e-6), _icl_row(4, 0.0, 1e-6)]}
    assert "uninformative" in _icl_line(silenced)
    answering = {"turns": [_icl_row(0, 0.1, 0.1), _icl_row(1, 0.12, 0.09), _icl_row(4, 0.2, 0.1)]}
    line = _icl_line(answering)
    assert "uninformative" not in line and "+0.1000 at N=4" in line


def test_shuffle_rows_of_a_distillation_study_say_the_targets_stay_the_teachers(tmp_path):
    from sublim.reporting.summary import summarise_study

    values = dict(VALUES, shuffle_within=[0.30, 0.34, 0.32])
    d = fake_study(tmp_path, values, conditions=[*VALUES, "shuffle_within"])
    summary = summarise_study(d)
    from sublim.reporting.controls_report import _shuffle_line

    line = _shuffle_line(summary, "shuffle_within")
    assert "keeps 98% of the treatment − control gap" in line and "distillation" not in line
    assert "live next-token distributions" in _shuffle_line(dict(summary, student_method="distill"), "shuffle_within")


def test_a_one_seed_study_is_called_not_testable_not_a_null(tmp_path):
    from sublim.reporting.report import verdict_lines
    from sublim.reporting.summary import summarise_study

    d = fake_study(tmp_path, {k: v[:1] for k, v in VALUES.items()})
    summary = summarise_study(d)
    assert summary["verdict"]["transfer"] == "not testable"
    assert "Not testable" in verdict_lines(summary)[0] and "1 seed: no CI" in verdict_lines(summary)[0]


def test_shuffle_rows_quote_no_share_of_a_gap_that_is_not_there(tmp_path):
    from sublim.reporting.controls_report import _shuffle_line
    from sublim.reporting.summary import summarise_study

    null = dict(VALUES, treatment=[0.05, 0.06, 0.056], shuffle_within=[0.051, 0.06, 0.054])
    study = fake_study(tmp_path, null, conditions=[*VALUES, "shuffle_within"])
    assert "keeps" not in _shuffle_line(summarise_study(study), "shuffle_within")


def test_detector_features_are_averaged_over_seeds_with_missing_as_zero():
    from sublim.reporting.controls import _top_features_over_seeds

    seeds = [[{"name": "len", "weight": 2.0}, {"name": "x", "weight": -1.0}],
             [{"name": "len", "weight": 1.0}]]
    top = _top_features_over_seeds(seeds, k=2)
    assert top == [{"name": "len", "weight": 1.5, "seeds": 2}, {"name": "x", "weight": -0.5, "seeds": 1}]


def one_seed_with_answers(root: Path, owl_factor: float, noise: float) -> Path:
    """One seed, 40 questions whose base P(owl) spans a decade (as at a real LM's floor); the treatment
    multiplies each question's P(owl) by ``owl_factor`` times log-normal noise of SD ``noise``."""
    import numpy as np

    cfg = StudyConfig(name="s", trait=TraitConfig(target="owl", control_target="eagle"), seeds=[0])
    d = root / "s"
    write_text(d / "config.yaml", dump_yaml(cfg))
    rng = np.random.default_rng(0)
    base = np.exp(rng.uniform(np.log(1e-6), np.log(1e-5), 40))
    for cond in ("base", "control", "treatment"):
        factor = owl_factor if cond == "treatment" else 1.0
        owl = base * factor * np.exp(rng.normal(0, noise, 40))
        rows = [{"split": "eval", "question": f"q{i}", "exact": {"owl": float(p), "eagle": 1e-5, "cat": 1e-4}}
                for i, p in enumerate(owl)]
        write_text(d / cond / "0" / "evaluation" / "responses.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
        mean = float(owl.mean())
        split = {"n_questions": 40, "exact": {"owl": {"mean": mean, "low": mean / 2, "high": mean * 2, "n": 40,
                                                      "method": "t"}}}
        write_json(d / cond / "0" / "evaluation" / "result.json", {"metrics": {"splits": {"eval": split}}})
    return d


def test_one_seed_shows_how_consistently_the_student_moved_question_by_question(tmp_path):
    """At a real LM's floor the interval over question means hides a shift the paired questions show."""
    report = write_report(one_seed_with_answers(tmp_path, owl_factor=1.6, noise=0.05)).read_text()
    assert "Not testable" in report            # one seed is still no test of the recipe
    row = next(r for r in json.loads((tmp_path / "s" / "metrics.json").read_text())["per_question"]
               if r["versus"] == "control" and r["answer"] == "owl")
    assert row["up"] == row["n"] == 40 and 1.5 < row["ratio_low"] < row["ratio"] < row["ratio_high"] < 1.7
    assert "## Per question, within each seed" in report and "| 40/40 |" in report


def test_a_student_that_did_not_move_is_not_called_consistent(tmp_path):
    summary_dir = one_seed_with_answers(tmp_path, owl_factor=1.0, noise=0.3)
    write_report(summary_dir)
    row = next(r for r in json.loads((summary_dir / "metrics.json").read_text())["per_question"]
               if r["versus"] == "control" and r["answer"] == "owl")
    assert row["ratio_low"] < 1.0 < row["ratio_high"] and 8 < row["up"] < 32


def test_the_verdict_of_a_one_seed_study_reads_back_from_metrics_json(tmp_path):
    """One seed gives no p-value for the per-option shifts (null on disk): `sublim run` must still print it."""
    from sublim.reporting.report import verdict_lines

    d = one_seed_with_answers(tmp_path, owl_factor=1.6, noise=0.05)
    write_report(d)
    summary = json.loads((d / "metrics.json").read_text())
    rows = summary["option_shifts"]["same_init"]
    assert rows and all(r["p_holm"] is None for r in rows)
    rows.append(dict(rows[0], option="cat", difference=0.01))  # a non-target rise with no test behind it
    lines = verdict_lines(summary)
    assert "Not testable" in lines[0] and not any("another option" in line for line in lines)
