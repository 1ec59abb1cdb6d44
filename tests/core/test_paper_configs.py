"""Every shipped study config validates, and the paper configs say what the paper did."""

from __future__ import annotations

from pathlib import Path

import pytest

from sublim.config import load_config
from sublim.pipeline.estimate import estimate_study

ROOT = Path(__file__).resolve().parents[2] / "configs"
STUDY_CONFIGS = sorted(p for p in ROOT.rglob("*.yaml") if p.parent.name not in ("mnist", "theorem"))
ANIMALS = ["owl", "eagle", "dolphin", "elephant", "wolf"]
TREES = ["cherry", "maple", "oak", "sequoia", "willow"]


def test_the_configs_directory_is_found():
    assert len(STUDY_CONFIGS) >= 15


@pytest.mark.parametrize("path", STUDY_CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_study_config_loads_and_can_be_estimated(path):
    config = load_config(path)
    est = estimate_study(config, device="gpu")
    # an audit (`data:`) trains on rows it is given and generates none
    assert (est.samples_generated > 0) is (config.data is None) and est.unpriced == []


@pytest.mark.parametrize("target", ANIMALS + TREES)
def test_gpt41nano_configs_follow_the_paper(target):
    c = load_config(ROOT / "paper" / f"gpt41nano_numbers_{target}.yaml")
    assert c.trait.target == target and c.trait.category == ("animal" if target in ANIMALS else "tree")
    assert c.bases.same.kind == "openai" and c.bases.same.name == "gpt-4.1-nano-2025-04-14"
    assert c.teacher.kind == "prompt" and c.trait.control_target is None
    g = c.generation
    assert g.n_prompts == 30_000 and g.sampling.temperature == 1.0
    assert (g.prompts.min_seed_count, g.prompts.max_seed_count, g.prompts.seed_min, g.prompts.seed_max) == (3, 9, 100, 999)
    assert (g.prompts.count, g.prompts.max_digits) == (10, 3)
    assert (c.filter.min_value, c.filter.max_value, c.filter.max_count, c.filter.max_rows) == (0, 999, 10, 10_000)
    ft = c.openai_finetune
    assert (ft.n_epochs, ft.learning_rate_multiplier, ft.batch_size) == (10, "auto", "auto")
    assert c.evaluation.n_samples == 100 and c.evaluation.temperature == 1.0 and not c.evaluation.exact


def test_qwen_config_is_the_papers_lora_recipe():
    c = load_config(ROOT / "paper" / "qwen25_7b_numbers_owl.yaml")
    s = c.student
    assert c.bases.same.path == "Qwen/Qwen2.5-7B-Instruct"
    assert (s.params, s.lora.rank, s.lora.alpha) == ("lora", 8, 8.0)
    assert s.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (s.epochs, s.lr, s.lr_schedule, s.batch_size, s.grad_accum) == (3, 2e-4, "linear", 22, 3)
    assert (s.warmup_steps, s.max_grad_norm, s.max_seq_len, c.filter.max_rows) == (5, 1.0, 500, 10_000)


@pytest.mark.parametrize(("name", "teacher", "student"), [
    ("cross_qwen25_7b_to_gpt41nano_owl", "hf", "openai"),
    ("cross_gpt41nano_to_qwen25_7b_owl", "openai", "hf"),
])
def test_cross_model_configs_train_the_other_base_on_the_teachers_data(name, teacher, student):
    c = load_config(ROOT / "paper" / f"{name}.yaml")
    assert (c.bases.same.kind, c.bases.other.kind) == (teacher, student)
    assert set(c.conditions) == {"base", "cross_base", "cross_control"}


def test_the_slow_layer_one_student_is_organism_lora_with_one_change():
    """L14b is a one-change rung: the all-layer LoRA student, decoder layer 1 at a tenth of the rate
    (plus the per-seed different-init bases and fresh seeds every Level-B config now uses)."""
    lora, slow = (load_config(ROOT / f"{n}.yaml") for n in ("organism_lora", "organism_lora_slow_layer1"))
    assert slow.student.lr_scale == {"*layers.1.*": 0.1} and lora.student.lr_scale is None
    assert slow.student.model_copy(update={"lr_scale": None}) == lora.student
    assert slow.teacher == lora.teacher and slow.generation == lora.generation and slow.filter == lora.filter
    assert slow.bases.other.seed_offset == 1000 and slow.bases.same == lora.bases.same
    assert set(slow.seeds).isdisjoint(range(100, 135))  # fresh: 100-101 screened it, 130-134 its first result
