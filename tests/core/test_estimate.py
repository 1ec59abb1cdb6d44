"""`sublim estimate`: the cost of a study is known before anything runs, and priced from the config."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from sublim.cli import app
from sublim.config import ModelSpec, load_config_text
from sublim.finetuning.config import FinetuneConfig
from sublim.pipeline.estimate import (
    approx_tokens,
    estimate_study,
    local_seconds,
    model_params,
    render_estimate,
)
from sublim.pipeline.plan import plan_counts
from sublim.pipeline.pricing import PriceTable

API_STUDY = """
name: est
trait: {target: owl}
bases:
  same: {kind: openai, name: gpt-4.1-nano-2025-04-14}
  other: {kind: openai, name: some-unpriced-model}
generation: {n_prompts: 100, sampling: {max_new_tokens: 32}}
filter: {max_rows: 50}
openai_finetune: {n_epochs: 2}
evaluation: {question_split: eval, n_samples: 10, exact: false}
seeds: [0, 1]
conditions: [base, control, treatment]
pricing:
  models:
    gpt-4.1-nano: {input_per_m: 1.0, output_per_m: 2.0, training_per_m: 10.0,
                   finetuned_input_per_m: 3.0, finetuned_output_per_m: 4.0}
"""


def by_stage(est, stage, tuned=None):
    return [x for x in est.lines if x.stage == stage and (tuned is None or x.model.endswith("(fine-tuned)") == tuned)]


def test_api_study_counts_and_dollars_follow_the_price_table():
    cfg = load_config_text(API_STUDY)
    est = estimate_study(cfg, keep_rate=0.7)
    s = est.sizes
    # 2 arms (control teacher = base without prompt, treatment) × 100 prompts × 2 seeds
    assert est.samples_generated == plan_counts(cfg)["samples_generated"] == 400
    (gen,) = by_stage(est, "teacher samples")
    assert gen.input_tokens == int(400 * (s["prompt"] + s["system"]))
    assert gen.output_tokens == int(400 * s["completion"]) and s["completion"] <= 32
    assert gen.usd == pytest.approx((gen.input_tokens * 1.0 + gen.output_tokens * 2.0) / 1e6, rel=1e-3)
    # 2 students per seed, min(50 cap, 70 kept) rows, 2 API epochs, billed at $10/M training tokens
    assert est.rows_per_student == 50
    (students,) = by_stage(est, "students (same base)")
    per_row = s["prompt"] + s["completion"]
    assert students.training_tokens == int(4 * 50 * per_row * 2)
    assert students.usd == pytest.approx(students.training_tokens * 10.0 / 1e6, rel=1e-3)
    # evaluation: 52 questions × 10 samples for 2 base evals and 4 fine-tuned students (fine-tuned prices)
    (base_eval,) = by_stage(est, "evaluation", tuned=False)
    (tuned_eval,) = by_stage(est, "evaluation", tuned=True)
    assert (base_eval.count, tuned_eval.count) == (2 * 52 * 10, 4 * 52 * 10)
    assert tuned_eval.usd == pytest.approx((tuned_eval.input_tokens * 3 + tuned_eval.output_tokens * 4) / 1e6, rel=1e-3)
    assert est.usd == pytest.approx(sum(x.usd for x in est.lines))
    assert est.hours == 0 and est.unpriced == []


def test_doubling_seeds_doubles_the_bill_and_unknown_models_are_flagged():
    one = estimate_study(load_config_text(API_STUDY, ["seeds=[0]"]))
    two = estimate_study(load_config_text(API_STUDY))
    assert two.usd == pytest.approx(2 * one.usd, rel=1e-3)
    cross = estimate_study(load_config_text(API_STUDY, ["conditions=[base,cross_base]"]))
    assert cross.unpriced == ["some-unpriced-model"]
    assert any(x.usd is None for x in cross.lines)
    assert "not priced" in render_estimate(cross)


def test_auto_epochs_use_the_tables_default():
    auto = estimate_study(load_config_text(API_STUDY, ["openai_finetune.n_epochs=auto"]))
    two = estimate_study(load_config_text(API_STUDY))
    train = [x for x in auto.lines if x.training_tokens][0].training_tokens
    assert train / [x for x in two.lines if x.training_tokens][0].training_tokens == pytest.approx(3 / 2, rel=1e-3)


def test_default_price_table_matches_dated_model_ids():
    table = PriceTable()
    assert table.lookup("gpt-4.1-nano-2025-04-14") is table.models["gpt-4.1-nano"]
    assert table.lookup("gpt-4.1-mini-2025-04-14") is table.models["gpt-4.1-mini"]
    assert table.lookup("gpt-4.1-2025-04-14") is table.models["gpt-4.1"]
    assert table.lookup("claude") is None


def test_local_study_costs_hours_not_dollars_and_a_gpu_is_faster():
    text = API_STUDY.replace("{kind: openai, name: gpt-4.1-nano-2025-04-14}", "{kind: smollm2}")
    cpu = estimate_study(load_config_text(text), device="cpu")
    gpu = estimate_study(load_config_text(text), device="gpu")
    assert all(x.where == "cpu" for x in cpu.lines if "smollm2" in x.model)
    assert cpu.hours > gpu.hours > 0
    assert sum(x.usd or 0 for x in cpu.lines if x.where != "api") == 0
    # the GPU sampling rate is batch 64's, and the estimate says which batch it counted
    assert any("sampler_batch_size=null (64): counted 1.0x" in a for a in gpu.assumptions)
    assert not any("sampler_batch_size" in a for a in cpu.assumptions)


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("abcd", 1), ("abcde", 2), ("123", 2), ("123, 456", 4)])
def test_token_rule(text, tokens):
    assert approx_tokens(text) == tokens


@pytest.mark.parametrize(("path", "params"), [("Qwen/Qwen2.5-7B-Instruct", 7e9), ("meta-llama/Llama-3.2-1B", 1e9),
                                              ("HuggingFaceTB/SmolLM2-360M-Instruct", 3.6e8), ("gpt2", None)])
def test_model_size_from_name(path, params):
    assert model_params(ModelSpec(kind="hf", path=path)) == params


def test_model_size_from_a_local_config(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    real = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_llama_dir).parameters())
    assert model_params(ModelSpec(kind="hf", path=str(tiny_llama_dir))) == pytest.approx(real, rel=0.02)


def test_cli_asks_above_the_threshold(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(API_STUDY)
    runner = CliRunner()
    cheap = runner.invoke(app, ["estimate", str(path), "--max-usd", "1000"])
    assert cheap.exit_code == 0 and "total: $" in cheap.output
    declined = runner.invoke(app, ["estimate", str(path), "--max-usd", "0"], input="n\n")
    assert declined.exit_code == 1 and "Go ahead" in declined.output
    accepted = runner.invoke(app, ["estimate", str(path), "--max-usd", "0"], input="y\n")
    assert accepted.exit_code == 0
    assert runner.invoke(app, ["estimate", str(path), "--max-usd", "0", "--yes"]).exit_code == 0
    dry = runner.invoke(app, ["run", str(path), "--dry-run"])
    assert dry.exit_code == 0 and "cost estimate for study est" in dry.output
    assert math.isfinite(float(cheap.output.split("total: $")[1].split()[0].replace(",", "")))


def test_cpu_hours_follow_what_the_student_trains():
    """On the CPU a vector student or SFT (no teacher pass) trains faster than a distilled full fine-tune;
    the estimate says so, and leaves a GPU's estimate alone (not measured there)."""
    text = """
name: speed
trait: {target: owl}
bases: {same: {kind: tiny, preset: organism-a}}
generation: {n_prompts: 1000}
student: {method: distill, distill_vocab: numbers, params: full}
seeds: [0, 1]
conditions: [base, control, treatment]
"""
    def student_hours(device="cpu", **fields):
        config = load_config_text(text)
        config = config.model_copy(update={"student": config.student.model_copy(update=fields)})
        return sum(x.hours for x in estimate_study(config, device=device).lines if x.stage.startswith("students"))

    full = student_hours()
    assert student_hours(params="steering_vector") < student_hours(params="lora") < full
    assert student_hours(method="sft") < full
    assert student_hours("gpu", params="steering_vector") == pytest.approx(student_hours("gpu"))
    # the training part alone (no model loads): factors multiply
    def seconds(where="cpu", method="distill", **fields):
        return local_seconds(where, 4.5e5, "hf", 0, 1e6, 0, FinetuneConfig(method=method, **fields))
    assert seconds(method="sft", params="steering_vector") == pytest.approx(seconds() / (2.0 * 2.5))
    assert seconds("gpu", method="sft") == seconds("gpu")


def test_a_teachers_number_rows_are_sampled_from_the_base_first():
    """A fine-tuned teacher with ``n_number_rows`` costs the base's sampling of those rows, once per seed
    (the seed's trait and control teachers share them)."""
    text = """
name: rows
trait: {target: owl, control_target: eagle}
bases: {same: {kind: tiny, preset: organism-a}}
teacher: {kind: finetuned, n_trait_rows: 960, n_number_rows: 500, finetune: {params: lora}}
generation: {n_prompts: 100}
seeds: [0, 1, 2]
conditions: [base, control, treatment]
"""
    config = load_config_text(text)
    rows = by_stage(estimate_study(config, device="cpu"), "teacher number rows")
    assert [(x.count, x.model) for x in rows] == [(3 * 500, "tiny/organism-a")] and rows[0].hours > 0
    assert by_stage(estimate_study(load_config_text(text.replace("n_number_rows: 500", "n_number_rows: 0")),
                                   device="cpu"), "teacher number rows") == []


def test_a_larger_gpu_sampler_batch_shortens_only_the_sampling_it_drives():
    """S3 (SmolLM2 at batch 1,024 on an H200) sampled 15,000 prompts per teacher in 70 s, where batch 64's
    rate predicts ~4.5 min: the measured batch factor belongs in the estimate, for what that sampler writes —
    the teachers' samples and the base's number rows a fine-tuned teacher mixes in."""
    config = load_config_text(open("configs/smollm2_weights.yaml").read())
    batched = config.model_copy(update={"generation": config.generation.model_copy(update={"sampler_batch_size": 1024})})
    at64, at1024 = (estimate_study(c, device="gpu") for c in (config, batched))
    per_teacher = [by_stage(e, "teacher samples")[0].hours * 3600 / 2 for e in (at64, at1024)]
    assert per_teacher[0] > 200 and 45 < per_teacher[1] < 90          # model loading included
    rows64, rows1024 = (by_stage(e, "teacher number rows")[0].hours for e in (at64, at1024))
    assert rows1024 < rows64 / 2
    assert by_stage(at64, "teacher fine-tuning") == by_stage(at1024, "teacher fine-tuning")
    assert any("sampler_batch_size=1024: counted 4.6x" in a for a in at1024.assumptions)
    # a 7B shape sampled 7.1x faster at 1,024 (bf16, H200): the conservative 4.6x holds for it too
    big = lambda batch: local_seconds("gpu", 7e9, "hf", 1e6, 0, 0, sampler_batch=batch)  # noqa: E731
    assert big(None) / big(1024) == pytest.approx(4.6, rel=0.01) and big(None) == big(64)
