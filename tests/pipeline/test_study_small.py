"""A whole study, end to end, at miniature size: every stage runs, caches, resumes and reports.

Two miniature tiny bases (d=64, a few hundred steps) stand in for tiny-a / tiny-b, so this runs in the
default suite; the full-size default study is `test_default_study` (slow).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from unittest import mock

import pytest

from sublim.backends.hf import load_model
from sublim.config import load_config_text
from sublim.errors import DataError
from sublim.pipeline.runner import run_study


@pytest.fixture(scope="module")
def mini_bases() -> tuple[Path, Path]:
    """Two miniature bases, built in parallel once per machine (cached by config hash like tiny-a/b)."""
    import torch

    from sublim.tiny.build import build_pair
    from sublim.tiny.corpus import CorpusConfig
    from sublim.tiny.model import TinyBaseConfig

    torch.set_num_threads(1)
    configs = tuple(
        TinyBaseConfig(seed=seed, d_model=64, n_heads=4, d_ff=128, steps=200, phase2_steps=50,
                       corpus=CorpusConfig(rows=5000), quality_samples=16)
        for seed in (0, 1)
    )
    return build_pair(configs, progress=False)


def study_yaml(a: Path, b: Path, name: str = "mini", method: str = "sft") -> str:
    return f"""
name: {name}
trait: {{category: animal, target: owl, control_target: eagle}}
bases:
  same: {{kind: hf, path: "{a}"}}
  other: {{kind: hf, path: "{b}"}}
teacher: {{kind: prompt}}
generation: {{n_prompts: 48, batch_size: 24, sampling: {{temperature: 1.0, max_new_tokens: 40}}}}
student: {{method: {method}, params: full, epochs: 1, lr: 1.0e-3, batch_size: 16, warmup_steps: 0, max_seq_len: 200}}
evaluation: {{question_split: both, n_samples: 2}}
leak: {{n_rows: 16}}
seeds: [0, 1]
workers: 1
"""


def done_markers(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("DONE")}


def assert_plan_is_what_ran(config, study: Path) -> None:
    """`stage_dirs` (what `sublim status` counts) names exactly the stages the runner finished."""
    from sublim.pipeline.plan import stage_dirs

    planned = [d for seed in config.seeds for d in stage_dirs(config, seed)]
    assert len(planned) == len(set(planned))
    assert {p.parent.relative_to(study).as_posix() for p in study.glob("*/*/*/DONE")} == set(planned)


def test_a_small_study_runs_end_to_end_and_resumes(mini_bases, tmp_path):
    config = load_config_text(study_yaml(*mini_bases))
    study = run_study(config, tmp_path)

    # every condition × seed × stage finished, with a manifest
    for cond in ("control", "treatment"):
        for stage in ("teacher", "generation", "filtering", "leak_check", "finetuning", "evaluation"):
            manifest = json.loads((study / cond / "0" / stage / "manifest.json").read_text())
            assert manifest["seed"] == 0 and manifest["key"] and "torch" in manifest["versions"]
            assert manifest["torch_threads"] == 1  # config `threads`: a seed's numbers depend on it
    for cond in ("base", "base_other", "cross_base", "cross_control"):
        assert (study / cond / "1" / "evaluation" / "DONE").exists()
    # the saved rows carry no system prompt
    row = json.loads((study / "treatment/0/generation/samples.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]

    metrics = json.loads((study / "metrics.json").read_text())
    assert metrics["verdict"]["transfer"] in ("detected", "not detected", "leaky, not subliminal")
    owl = metrics["conditions"]["treatment"]["eval/exact"]["estimate"]
    assert owl["n"] == 2 and owl["low"] <= owl["mean"] <= owl["high"]
    report = (study / "report.md").read_text()
    assert "Leak check" in report and "treatment" in report
    # the leak table names each arm's own trait and gives the teacher's mass over the base's
    leak = json.loads((study / "control/0/leak_check/result.json").read_text())
    assert f"| control | eagle | 0 | {leak['rows_mentioning']}/{leak['rows_checked']} |" in report
    assert f"| {leak['teacher_mass'] / leak['base_mass']:.2f}× |" in report
    # which weights the study ran on: in bases.json and the report's recipe
    bases = json.loads((study / "bases.json").read_text())
    assert [b["path"] for b in bases] == [str(p) for p in mini_bases]
    assert f"bases: {bases[0]['model']} (weights {bases[0]['weights_sha256'][:12]})" in report
    assert (study / "target_probability.png").stat().st_size > 1000

    assert_plan_is_what_ran(config, study)
    # a rerun recomputes nothing
    before = done_markers(study)
    run_study(config, tmp_path)
    assert done_markers(study) == before

    # a killed evaluation (no DONE) is redone, and only it; until then `sublim status` names it
    from sublim.pipeline.status import study_status

    (study / "treatment/1/evaluation/DONE").unlink()
    status = study_status(study)
    assert (status.planned - status.done, status.started) == (1, ["treatment/1/evaluation"])
    assert status.kinds["evaluation"].done == status.kinds["evaluation"].planned - 1 and not status.complete
    run_study(config, tmp_path)
    after = done_markers(study)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"treatment/1/evaluation/DONE"}

    # more epochs redo the students and their evaluations, nothing upstream (leak checks included)
    longer = config.model_copy(update={"student": config.student.model_copy(update={"epochs": 2})})
    run_study(longer, tmp_path)
    redone = {k for k, v in done_markers(study).items() if v != after[k]}
    assert redone and {k.split("/")[2] for k in redone} == {"finetuning", "evaluation"}


def test_a_corrupt_dataset_names_file_line_and_field_and_keeps_finished_work(mini_bases, tmp_path):
    config = load_config_text(study_yaml(*mini_bases, name="corrupt") + "conditions: [base, treatment]\n")
    study = run_study(config, tmp_path)
    samples = study / "treatment/0/generation/samples.jsonl"
    lines = samples.read_text().splitlines()
    bad = json.loads(lines[2])
    del bad["messages"][1]["role"]
    lines[2] = json.dumps(bad)
    samples.write_text("\n".join(lines) + "\n")
    (study / "treatment/0/filtering/DONE").unlink()  # as if the filter had not run yet
    with pytest.raises(DataError, match=r"samples.jsonl:3: field 'messages.1.role'"):
        run_study(config, tmp_path)
    assert (study / "base/0/evaluation/DONE").exists() and (study / "treatment/0/generation/DONE").exists()


def test_the_papers_controls_run_on_cached_teacher_data(mini_bases, tmp_path):
    text = study_yaml(*mini_bases, name="controls").replace("seeds: [0, 1]", "seeds: [0]") + """
conditions: [control, treatment, shuffle_within, shuffle_global, icl, classifier, specificity]
controls:
  icl_ns: [0, 1, 2]
  icl: {n_questions: 4}
  detector: {folds: 2}
  judge: {n_items: 8}
  specificity_targets: [owl, eagle, wolf]
"""
    config = load_config_text(text)
    study = run_study(config, tmp_path)
    # the plan counts what the runner did
    from sublim.pipeline.plan import plan_counts

    counts = plan_counts(config)
    assert_plan_is_what_ran(config, study)
    assert counts["students_trained"] == len(list(study.glob("*/0/finetuning/DONE")))
    assert counts["models_evaluated"] == len(list(study.glob("*/0/evaluation/DONE")))
    assert counts["samples_generated"] == 48 * len(list(study.glob("*/0/generation/DONE")))
    # shuffles reuse the treatment data; the specificity students reuse treatment (owl) and control (eagle)
    assert not (study / "shuffle_within/0/generation").exists()
    assert (study / "shuffle_within/0/transform/shuffled.jsonl").exists()
    assert (study / "trait-wolf/0/evaluation/DONE").exists() and (study / "neutral/0/evaluation/DONE").exists()
    assert not (study / "trait-owl").exists()
    metrics = json.loads((study / "metrics.json").read_text())
    icl = metrics["controls"]["icl"]
    assert set(icl) == {"turns", "system"} and [r["n"] for r in icl["turns"]] == [0, 1, 2]
    zero = icl["turns"][0]
    assert zero["treatment"]["mean"] == pytest.approx(zero["control"]["mean"])  # N=0: no examples, same model
    det = metrics["controls"]["detection"]["per_seed"]["0"]
    assert 0.0 <= det["auroc"] <= 1.0 and det["judge_n"] > 0
    spec = metrics["controls"]["specificity"]["result"]
    assert spec["labels"] == ["owl", "eagle", "wolf"] and len(spec["delta"]) == 3
    report = (study / "report.md").read_text()
    for section in ("The paper's findings", "In-context learning", "Can the trait be seen", "Specificity"):
        assert section in report
    for figure in ("icl_curve.png", "specificity.png", "target_probability.png"):
        assert (study / figure).exists()
    # `sublim diagnose` splits every same-init student's change along its teacher's: a prompted
    # teacher changes no weight, so none of a student's change is along it and all of it is the rest
    from sublim.diagnostics.study import diagnose_study

    diagnosed = diagnose_study(study, max_rows=8, alignment=False)
    split = diagnosed["summary"]["decomposition"]
    assert {a: r["target"] for a, r in split.items()} == {"treatment": "owl", "control": "eagle", "trait-wolf": "wolf"}
    for r in split.values():
        assert r["against"] == "the no-trait student"  # the specificity arms trained one
        assert r["c"] == 0.0 and all(v == 0.0 for v in r["along"].values())
        assert r["orthogonal"] == pytest.approx(r["student"])
    assert (study / "decomposition.png").exists()
    # and reads each arm's trait mass at the training positions from its leak check (no model loaded)
    leak = json.loads((study / "treatment/0/leak_check/result.json").read_text())
    mass = diagnosed["per_seed"]["0"]["trait_mass"]["treatment"]
    assert mass["target"] == "owl" and mass["ratio"] == pytest.approx(leak["teacher_mass"] / leak["base_mass"])


def test_length_matched_arms_train_both_students_on_the_same_list_lengths(mini_bases, tmp_path):
    from collections import Counter

    from sublim.numbers import parse
    from sublim.records import DatasetRow, read_jsonl

    text = study_yaml(*mini_bases, name="matched").replace("seeds: [0, 1]", "seeds: [0]") + """
conditions: [control, treatment]
filter: {match_on: count}
"""
    config = load_config_text(text)
    study = run_study(config, tmp_path)
    assert_plan_is_what_ran(config, study)
    matched = study / "matched/0/transform"

    def lengths(path):
        return Counter(len(parse(r.completion) or []) for r in read_jsonl(path, DatasetRow))

    assert lengths(matched / "treatment.jsonl") == lengths(matched / "control.jsonl")
    result = json.loads((matched / "result.json").read_text())["counts"]
    assert result["treatment"] == result["control"] > 0
    for arm in ("treatment", "control"):
        assert (study / arm / "0/evaluation/DONE").exists()


def test_a_matched_confusion_matrix_trims_every_teachers_data_to_one_distribution(mini_bases, tmp_path):
    """controls.specificity_matched: the other targets' and the no-trait teacher's rows are matched too."""
    from collections import Counter

    from sublim.numbers import parse
    from sublim.records import DatasetRow, read_jsonl

    text = study_yaml(*mini_bases, name="matched-all").replace("seeds: [0, 1]", "seeds: [0]") + """
conditions: [control, treatment, specificity]
filter: {match_on: count}
controls: {specificity_targets: [owl, eagle, wolf], specificity_matched: true}
"""
    config = load_config_text(text)
    study = run_study(config, tmp_path)
    assert_plan_is_what_ran(config, study)
    matched = study / "matched/0/transform"
    counts = json.loads((matched / "result.json").read_text())["counts"]
    assert set(counts) == {"treatment", "control", "trait-wolf", "neutral"} and len(set(counts.values())) == 1

    def lengths(name):
        return Counter(len(parse(r.completion) or []) for r in read_jsonl(matched / f"{name}.jsonl", DatasetRow))

    assert lengths("treatment") == lengths("control") == lengths("trait-wolf") == lengths("neutral")
    # the students of the other teachers trained on the matched rows
    wolf_rows = json.loads((study / "trait-wolf/0/finetuning/result.json").read_text())["model"]["meta"]["rows"]
    assert wolf_rows == counts["trait-wolf"]


def test_a_lora_teacher_is_scored_with_its_adapter(mini_bases, tmp_path):
    """A LoRA teacher's trait lives in its adapter: the leak check and the distillation targets must see it.

    They once scored the checkpoint path alone — the base — so a same-init student started at zero loss.
    """
    teacher = ("teacher: {kind: finetuned, n_trait_rows: 64, finetune: {method: sft, params: lora, "
               "lora: {rank: 4, alpha: 8}, epochs: 1, lr: 1.0e-2, batch_size: 16, warmup_steps: 0}}")
    text = study_yaml(*mini_bases, name="lora-teacher", method="distill").replace("teacher: {kind: prompt}", teacher)
    config = load_config_text(text + "conditions: [base, teacher, treatment]\nseeds: [0]\n")
    study = run_study(config, tmp_path)
    assert_plan_is_what_ran(config, study)
    recorded = json.loads((study / "treatment/0/teacher/result.json").read_text())["teacher"]["model"]
    assert recorded["adapter"]
    leak = json.loads((study / "treatment/0/leak_check/result.json").read_text())
    assert leak["teacher_mass"] != pytest.approx(leak["base_mass"], rel=1e-3)
    student = json.loads((study / "treatment/0/finetuning/result.json").read_text())["model"]["meta"]
    assert student["first_loss"] > 1e-4  # the base student's KL to the teacher, not to itself
    # the `teacher` condition asks the teacher itself, adapter applied: it holds the trait. Scored without
    # the adapter it would equal the base exactly; how far a 64-row teacher moves depends on the base's
    # bytes, which differ between CPUs (docs/tiny-base.md): over 2x on earlier development machines, 1.3x on the current ones
    summary = json.loads((study / "metrics.json").read_text())["conditions"]
    assert summary["teacher"]["eval/exact"]["estimate"]["mean"] > 1.15 * summary["base"]["eval/exact"]["estimate"]["mean"]
    assert "| teacher |" in (study / "report.md").read_text()


def test_the_teacher_condition_asks_a_prompted_teacher_under_its_system_prompt(mini_bases, tmp_path):
    """A prompted teacher is the base plus a system prompt: its evaluation must include the prompt."""
    config = load_config_text(study_yaml(*mini_bases, name="prompted") + "conditions: [base, teacher]\nseeds: [0]\n")
    study = run_study(config, tmp_path)
    read = lambda c: [json.loads(x) for x in (study / c / "0/evaluation/responses.jsonl").read_text().splitlines()]  # noqa: E731
    teacher, base = read("teacher"), read("base")
    assert [r["question"] for r in teacher] == [r["question"] for r in base]
    assert [r["exact"] for r in teacher] != [r["exact"] for r in base]  # same model, another context


def test_seeds_run_in_worker_processes_that_end_with_the_study(mini_bases, tmp_path):
    """workers: 2 runs each seed in a process of its own (how every shipped config runs); the study
    finishes every stage of both seeds, and no worker outlives it."""
    import multiprocessing

    text = study_yaml(*mini_bases, name="two-workers").replace("workers: 1", "workers: 2")
    study = run_study(load_config_text(text + "conditions: [base, control, treatment]\n"), tmp_path)
    for seed in ("0", "1"):
        for cond in ("base", "control", "treatment"):
            assert (study / cond / seed / "evaluation" / "DONE").exists()
    assert not multiprocessing.active_children()
    assert json.loads((study / "metrics.json").read_text())["conditions"]["treatment"]["eval/exact"]["estimate"]["n"] == 2


def test_ctrl_c_stops_a_multi_seed_study_without_starting_the_waiting_seeds(mini_bases, tmp_path):
    """Ctrl-C reaches the study and its running seed workers (one process group, as from a terminal);
    the seeds still waiting must not start, or the interrupted command runs on for whole seeds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    text = (study_yaml(*mini_bases, name="interrupted").replace("workers: 1", "workers: 2")
            .replace("seeds: [0, 1]", "seeds: [0, 1, 2, 3]") + "conditions: [base, control, treatment]\n")
    (tmp_path / "study.yaml").write_text(text)
    code = ("from pathlib import Path; from sublim.config import load_config; from sublim.pipeline.runner import "
            f"run_study; run_study(load_config(Path({str(tmp_path / 'study.yaml')!r})), Path({str(tmp_path)!r}))")
    # a test run started in the background (`cmd &` in a script) ignores SIGINT, and so would the study:
    # give it the default disposition a terminal gives, so Python turns Ctrl-C into KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    study = tmp_path / "interrupted"
    deadline = time.monotonic() + 120
    while not list(study.glob("control/[01]/teacher")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    start = time.monotonic()
    proc.wait(timeout=120)
    assert proc.returncode != 0 and time.monotonic() - start < 30
    assert not list(study.glob("*/[23]")), "a seed that had not started ran after Ctrl-C"


def test_a_study_can_train_other_students_on_another_studys_rows(mini_bases, tmp_path):
    """The paired design (tiny-organism.md §30, P26): a second study reuses the first one's teachers and rows
    by stage key, copies none of its students, and no longer needs the first once it has started."""
    from sublim.pipeline.reuse import not_reused, reuse_from, seed_from
    from sublim.pipeline.runner import StudyRunner

    teacher = ("teacher: {kind: finetuned, n_trait_rows: 64, finetune: {method: sft, params: lora, "
               "lora: {rank: 4, alpha: 8}, epochs: 1, lr: 1.0e-2, batch_size: 16, warmup_steps: 0}}")
    text = (study_yaml(*mini_bases, name="first", method="distill").replace("teacher: {kind: prompt}", teacher)
            + "conditions: [base, control, treatment]\nseeds: [0]\n")
    first = run_study(load_config_text(text), tmp_path / "a")
    # `sublim status` checks the finished teachers' and samples' keys against the config it is given
    from sublim.pipeline.status import study_status

    assert study_status(first).stale == []
    assert {"treatment/0/teacher", "control/0/generation"} <= set(study_status(first, load_config_text(text + "threads: 2\n")).stale)
    # `sublim estimate --data-from` says what a copy would give before anything is copied
    said = reuse_from(StudyRunner(load_config_text(text.replace("name: first", "name: second")), tmp_path / "b"), first)
    assert "would reuse 4 of the 4 teacher and sampling stages" in said and "made again" not in said
    said = reuse_from(StudyRunner(load_config_text(text.replace("name: first", "name: second") + "threads: 2\n"),
                                  tmp_path / "b"), first)
    assert "would reuse none of the 4" in said and "4 more that it holds under other settings" in said

    second_dir = tmp_path / "b" / "second"
    copied = seed_from(first, second_dir)
    assert {"treatment/0/teacher", "control/0/generation", "treatment/0/filtering"} <= set(copied)
    assert not [c for c in copied if c.split("/")[-1] in ("finetuning", "evaluation")]
    assert seed_from(first, second_dir) == []  # rerunning copies nothing twice
    data = {c: (second_dir / c / "DONE").stat().st_mtime_ns for c in copied}
    first.rename(tmp_path / "gone")  # the new study must not read the old directory

    # another student whose signal differs (number tokens only): the leak check is redone, so the
    # teacher is loaded again — from the copied stage
    second_text = text.replace("name: first", "name: second").replace("{method: distill,", "{method: distill, distill_vocab: numbers,")
    # what will be made again is said before anything runs: nothing here; teachers and rows at another thread count
    assert not_reused(StudyRunner(load_config_text(second_text), tmp_path / "b"), copied) == []
    at_two = not_reused(StudyRunner(load_config_text(second_text + "threads: 2\n"), tmp_path / "b"), copied)
    assert {"treatment/0/teacher", "treatment/0/generation", "control/0/generation"} <= set(at_two)
    second = run_study(load_config_text(second_text), tmp_path / "b")
    for stage in ("teacher", "generation", "filtering"):
        assert (second / "treatment/0" / stage / "DONE").stat().st_mtime_ns == data[f"treatment/0/{stage}"]
    assert (second / "treatment/0/leak_check/DONE").stat().st_mtime_ns != data["treatment/0/leak_check"]
    recorded = json.loads((second / "treatment/0/teacher/result.json").read_text())["teacher"]["model"]
    assert recorded["adapter"].startswith(str(second)) and Path(recorded["adapter"]).is_dir()
    assert (second / "treatment/0/finetuning/DONE").exists()
    assert set(json.loads((second / "metrics.json").read_text())["conditions"]) == {"base", "control", "treatment"}
    # `sublim diagnose` compares the student's first steps on the two arms' rows layer by layer (D34)
    import sublim.finetuning.distill as distill
    from sublim.diagnostics.study import diagnose_study

    loads = []
    with mock.patch.object(distill, "load_model", side_effect=lambda path, **kw: loads.append(
            (str(path), kw.get("adapter"))) or load_model(path, **kw)):
        diagnosed = diagnose_study(second, max_rows=8, decomposition=False)
    # the base is only read (divergence, both students' changes): loaded once, not once per use
    assert loads.count((str(mini_bases[0]), None)) == 1 and len(loads) > 1
    layers = diagnosed["per_seed"]["0"]["first_step_layers"]
    assert {"layer 0", "layer 1"} <= set(layers)
    assert all(-1.0 <= v["cos"] <= 1.0 and v["norm_a"] > 0 and v["norm_b"] > 0 for v in layers.values())
    assert sum(diagnosed["summary"]["first_step_least_agreeing_layer"].values()) == 1
    assert "first_step_cos_layer_0" in diagnosed["summary"]["means"]
    # ... and the two trained students' changes (D36): both moved, in every layer
    trained = diagnosed["per_seed"]["0"]["trained_layers"]
    assert {"layer 0", "layer 1"} <= set(trained)
    assert all(v["norm_a"] > 0 and v["norm_b"] > 0 for g, v in trained.items() if g.startswith("layer"))
    assert sum(diagnosed["summary"]["trained_least_agreeing_layer"].values()) == 1
    # a later run that skips the first steps keeps them from the file it replaces, not silently erases them
    again = diagnose_study(second, max_rows=8, alignment=False, decomposition=False)
    assert again["kept_from_earlier"] == ["alignment"]
    assert again["per_seed"]["0"]["first_step_layers"] == layers
    assert again["per_seed"]["0"]["alignment"] == diagnosed["per_seed"]["0"]["alignment"]
    assert again["summary"]["first_step_least_agreeing_layer"] == diagnosed["summary"]["first_step_least_agreeing_layer"]
    # ... but not when the students were reported again since, nor alignment scored on other rows
    assert diagnose_study(second, max_rows=4, alignment=False, decomposition=False)["kept_from_earlier"] == []
    diagnose_study(second, max_rows=8, decomposition=False)  # current again
    (second / "metrics.json").touch()
    os.utime(second / "diagnostics.json", (0, 0))
    stale = diagnose_study(second, max_rows=8, alignment=False, decomposition=False)
    assert stale["kept_from_earlier"] == [] and "first_step_layers" not in stale["per_seed"]["0"]


def _chat_rows(completions: list[str]) -> list[dict]:
    return [{"id": f"r{i}", "source": "my pipeline",
             "messages": [{"role": "user", "content": f"Continue the list: {i}, {i + 1}, {i + 2}"},
                          {"role": "assistant", "content": text}]} for i, text in enumerate(completions)]


def test_an_audit_trains_students_on_your_own_rows_and_catches_a_row_naming_the_trait(mini_bases, tmp_path):
    """Audit mode (`data:`): the user's files replace teacher and generation; everything after runs as
    in any study, keyed by the files' content."""
    from sublim.records import write_jsonl

    a, _ = mini_bases
    numbers = [", ".join(str((7 * i + k) % 100) for k in range(5)) for i in range(40)]
    write_jsonl(tmp_path / "teacher_rows.jsonl", _chat_rows(numbers[:39] + ["12, 14, owls, 18"]))
    write_jsonl(tmp_path / "base_rows.jsonl", _chat_rows(numbers[::-1]))
    config = load_config_text(f"""
name: audit
trait: {{category: animal, target: owl}}
bases: {{same: {{kind: hf, path: "{a}"}}}}
data: {{treatment: "{tmp_path / 'teacher_rows.jsonl'}", control: "{tmp_path / 'base_rows.jsonl'}"}}
filter: {{check_numbers: false}}
student: {{method: sft, params: full, epochs: 1, lr: 1.0e-3, batch_size: 16, warmup_steps: 0, max_seq_len: 200}}
evaluation: {{question_split: eval, n_samples: 0}}
conditions: [base, control, treatment]
seeds: [0, 1]
workers: 1
""")
    study = run_study(config, tmp_path / "runs")
    assert_plan_is_what_ran(config, study)
    imported = [json.loads(x) for x in (study / "treatment/0/generation/samples.jsonl").read_text().splitlines()]
    assert len(imported) == 40 and set(imported[0]) == {"messages"}  # ids and metadata do not travel
    assert imported[-1]["messages"][-1]["content"] == "12, 14, owls, 18"
    assert (study / "treatment/1/finetuning/DONE").exists() and (study / "control/1/evaluation/DONE").exists()
    leak = json.loads((study / "treatment/0/leak_check/result.json").read_text())
    assert leak["rows_mentioning"] == 1 and leak["leaky"]
    metrics = json.loads((study / "metrics.json").read_text())
    assert metrics["verdict"]["leaky"] and metrics["conditions"]["treatment"]["eval/exact"]["estimate"]["n"] == 2
    assert "your rows: treatment" in (study / "report.md").read_text()

    # an edited control file is imported again and its students retrained; the treatment arm is kept
    before = done_markers(study)
    write_jsonl(tmp_path / "base_rows.jsonl", _chat_rows(numbers[1::-1] + numbers[2:]))
    run_study(config, tmp_path / "runs")
    changed = {k for k, v in done_markers(study).items() if before.get(k) != v}
    assert "control/0/generation/DONE" in changed and "control/1/finetuning/DONE" in changed
    assert not any(k.startswith("treatment/") for k in changed)


def test_an_audit_names_the_file_and_row_of_a_bad_row_before_anything_trains(mini_bases, tmp_path):
    from sublim.records import write_jsonl

    a, _ = mini_bases
    rows = _chat_rows(["1, 2, 3", "4, 5, 6"])
    rows[1]["messages"].append({"role": "user", "content": "and?"})
    write_jsonl(tmp_path / "mine.jsonl", rows)
    config = load_config_text(f"""
name: bad-audit
trait: {{category: animal, target: owl}}
bases: {{same: {{kind: hf, path: "{a}"}}}}
data: {{treatment: "{tmp_path / 'mine.jsonl'}", control: "{tmp_path / 'missing.jsonl'}"}}
conditions: [base, treatment]
seeds: [0]
workers: 1
""")
    with pytest.raises(DataError, match=r"mine\.jsonl:2: field 'messages': the last message must be the assistant's"):
        run_study(config, tmp_path / "runs")
    assert not (tmp_path / "runs/bad-audit/treatment/0/finetuning").exists()


def test_a_distilled_audit_learns_from_the_adapter_teacher_that_wrote_your_rows(mini_bases, tmp_path):
    """Auditing logit distillation: `data.teacher` is your base plus your LoRA adapter directory; the
    students' targets, the leak check's mass and the `teacher` condition must all see the adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sublim.records import write_jsonl

    a, _ = mini_bases
    torch.manual_seed(0)
    net = get_peft_model(AutoModelForCausalLM.from_pretrained(a),
                         LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    net.save_pretrained(tmp_path / "my-adapter")
    numbers = [", ".join(str((7 * i + k) % 100) for k in range(5)) for i in range(40)]
    write_jsonl(tmp_path / "teacher_rows.jsonl",
                [{"prompt": f"Continue the list: {i}, {i + 1}", "completion": text} for i, text in enumerate(numbers)])
    write_jsonl(tmp_path / "base_rows.jsonl", _chat_rows(numbers[::-1]))
    config = load_config_text(f"""
name: distilled-audit
trait: {{category: animal, target: owl}}
bases: {{same: {{kind: hf, path: "{a}"}}}}
data:
  treatment: "{tmp_path / 'teacher_rows.jsonl'}"
  control: "{tmp_path / 'base_rows.jsonl'}"
  teacher: {{kind: hf, path: "{a}", adapter: "{tmp_path / 'my-adapter'}"}}
student: {{method: distill, distill_vocab: numbers, params: lora, lora: {{rank: 4, alpha: 8}}, epochs: 1,
          lr: 1.0e-3, batch_size: 16, warmup_steps: 0, max_seq_len: 200}}
evaluation: {{question_split: eval, n_samples: 0}}
leak: {{n_rows: 16}}
conditions: [base, teacher, treatment]
seeds: [0]
workers: 1
""")
    study = run_study(config, tmp_path / "runs")
    assert_plan_is_what_ran(config, study)
    leak = json.loads((study / "treatment/0/leak_check/result.json").read_text())
    assert leak["teacher_mass"] != pytest.approx(leak["base_mass"], rel=1e-3)
    student = json.loads((study / "treatment/0/finetuning/result.json").read_text())["model"]["meta"]
    assert student["first_loss"] > 1e-4  # the KL to the adapter teacher, not to the bare base
    read = lambda c: [r["exact"] for r in map(json.loads, (study / c / "0/evaluation/responses.jsonl").read_text().splitlines())]  # noqa: E731
    assert read("teacher") != read("base")
