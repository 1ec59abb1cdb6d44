"""Diagnostics: divergence tokens, log-likelihood shift, and Theorem-1 first-step alignment."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch
from transformers import AutoModelForCausalLM

from sublim.diagnostics.alignment import alignment, first_step_alignment, student_first_step, weight_delta
from sublim.diagnostics.divergence import divergence_stats
from sublim.diagnostics.study import predictiveness, summarise, trait_mass
from sublim.errors import DataError
from sublim.finetuning import FinetuneConfig
from sublim.finetuning.steering import ensure_mlp_biases
from sublim.records import DatasetRow


def _rows(n: int, seed: int = 0) -> list[DatasetRow]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompt = "Continue: " + ", ".join(str(rng.randint(100, 999)) for _ in range(3))
        answer = ", ".join(str(rng.randint(100, 999)) for _ in range(3))
        out.append(DatasetRow.model_validate({"messages": [{"role": "user", "content": prompt},
                                                           {"role": "assistant", "content": answer}]}))
    return out


@pytest.fixture(scope="module")
def vector_teacher(tiny_llama_dir, tmp_path_factory):
    """The base plus a steering vector after layer 0 (saved as a plain checkpoint)."""
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    ensure_mlp_biases(model)
    torch.manual_seed(1)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.bias.normal_(0.0, 0.5)
    out = tmp_path_factory.mktemp("teacher") / "model"
    model.save_pretrained(out)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(out)
    return out


def test_a_model_does_not_diverge_from_itself(tiny_llama_dir):
    stats = divergence_stats(tiny_llama_dir, tiny_llama_dir, _rows(8))
    assert stats.rows == 8 and stats.positions > 8
    assert stats.divergence_rate == 0.0
    assert abs(stats.mean_kl) < 1e-6 and abs(stats.mean_ll_shift) < 1e-4


@pytest.mark.parametrize("vocab", ["numbers", "full"])
def test_a_steered_teacher_diverges_and_the_row_shift_is_the_log_likelihood_difference(
        tiny_llama_dir, vector_teacher, vocab):
    rows = _rows(6)
    stats = divergence_stats(vector_teacher, tiny_llama_dir, rows, vocab=vocab)
    assert stats.mean_kl > 0 and 0 < stats.divergence_rate <= 1
    # the per-row shift equals log p_teacher(completion) - log p_base(completion), computed independently
    from sublim.backends.hf import HFBackend
    from sublim.records import Chat

    def loglik(path):
        backend = HFBackend(str(path), device="cpu")
        return backend.score([Chat.of(r.messages[0].content) for r in rows], [r.completion for r in rows])

    expected = [t - b for t, b in zip(loglik(vector_teacher), loglik(tiny_llama_dir), strict=True)]
    # the chat backend scores the completion without the end-of-turn token: allow that difference
    for got, want in zip(stats.row_ll_shift, expected, strict=True):
        assert abs(got - want) < 1.0


def test_theorem1_same_init_vector_student_first_step_points_to_the_teacher(tiny_llama_dir, vector_teacher):
    cfg = FinetuneConfig(method="distill", distill_vocab="numbers", params="steering_vector")
    same = first_step_alignment(tiny_llama_dir, _rows(16), cfg, data_teacher=vector_teacher,
                                direction=(vector_teacher, tiny_llama_dir))
    assert same["cos_student_space"] > 0.3
    assert same["student_space_share"] == pytest.approx(1.0)


def test_full_student_cannot_reach_a_bias_only_teacher_delta(tiny_llama_dir, vector_teacher):
    cfg = FinetuneConfig(method="distill", distill_vocab="numbers", params="full")
    result = first_step_alignment(tiny_llama_dir, _rows(8), cfg, data_teacher=vector_teacher,
                                  direction=(vector_teacher, tiny_llama_dir))
    assert result["inner"] == 0.0 and result["student_space_share"] == 0.0


def test_lora_first_step_is_mapped_to_base_weight_names(tiny_llama_dir, vector_teacher):
    cfg = FinetuneConfig(method="sft", params="lora", lora={"rank": 2, "target_modules": ["q_proj", "down_proj"]})
    delta = student_first_step(tiny_llama_dir, _rows(8), cfg)
    base = dict(AutoModelForCausalLM.from_pretrained(tiny_llama_dir).named_parameters())
    assert delta and all(name in base and base[name].shape == d.shape for name, d in delta.items())
    assert {n.split(".")[-2] for n in delta} == {"q_proj", "down_proj"}


def test_the_first_step_uses_the_trainers_loss_sft_within_the_number_tokens_leaves_an_animal_row_alone(
        tiny_llama_dir):
    """``sft_vocab: numbers`` takes the softmax over the number tokens only, so the (tied) output row of a
    token that is neither a number nor in the inputs gets no gradient; the full vocabulary pushes it down."""
    from transformers import AutoTokenizer

    (owl,) = AutoTokenizer.from_pretrained(tiny_llama_dir).encode(" owl", add_special_tokens=False)
    steps = {vocab: student_first_step(tiny_llama_dir, _rows(8), FinetuneConfig(method="sft", params="full",
                                                                                 sft_vocab=vocab))
             for vocab in ("full", "numbers")}
    assert steps["full"]["model.embed_tokens.weight"][owl].abs().max() > 0
    assert steps["numbers"]["model.embed_tokens.weight"][owl].abs().max() == 0


def test_alignment_of_identical_and_opposite_updates():
    t = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0, 2.0])}
    same = alignment({"w": torch.tensor([2.0, 4.0])}, t)
    opposite = alignment({"w": torch.tensor([-1.0, -2.0])}, t)
    assert same["cos_student_space"] == pytest.approx(1.0) and opposite["cos_student_space"] == pytest.approx(-1.0)
    assert same["cos_full"] == pytest.approx(10 / (20 ** 0.5 * 3))  # |Δ_T| counts the coordinate b too
    assert same["student_space_share"] == pytest.approx(5 ** 0.5 / 3)


def test_the_layer_where_two_first_steps_part_is_the_one_with_the_lowest_cosine():
    """D34's contrast: per decoder layer, the cosine of one student's first steps on two arms' rows; only
    decoder layers can be the answer (embeddings and the final norm are ``other``)."""
    import torch

    from sublim.diagnostics.alignment import layer_contrast, least_agreeing_layer

    w = torch.arange(9.0).reshape(3, 3)
    a = {"model.layers.0.mlp.down_proj.weight": w, "model.layers.1.self_attn.q_proj.weight": torch.eye(3),
         "model.norm.weight": torch.ones(3)}
    b = {"model.layers.0.mlp.down_proj.weight": 2 * w, "model.layers.1.self_attn.q_proj.weight": torch.ones(3, 3) - torch.eye(3),
         "model.norm.weight": -torch.ones(3)}
    contrast = layer_contrast(a, b)
    assert list(contrast) == ["layer 0", "layer 1", "other"]
    assert contrast["layer 0"]["cos"] == pytest.approx(1.0) and contrast["layer 1"]["cos"] == pytest.approx(0.0)
    assert contrast["layer 1"]["norm_a"] == pytest.approx(3 ** 0.5) and contrast["layer 1"]["norm_b"] == pytest.approx(6 ** 0.5)
    assert least_agreeing_layer(contrast) == "layer 1"  # `other` (cos -1) is not a layer an auditor can slow
    one_layer = {k: v for k, v in a.items() if "layers.1." in k}
    assert least_agreeing_layer(layer_contrast(one_layer, one_layer)) is None


def test_weight_delta_of_a_model_with_itself_is_zero(tiny_llama_dir):
    delta = weight_delta(tiny_llama_dir, tiny_llama_dir)
    assert delta and all(torch.count_nonzero(d) == 0 for d in delta.values())


@pytest.mark.parametrize("xs, rho", [([1, 2, 3, 4], 1.0), ([4, 3, 2, 1], -1.0)])
def test_predictiveness_is_the_rank_correlation_with_the_effect(xs, rho):
    rows = [{"d": x, "effect": e} for x, e in zip(xs, [0.1, 0.2, 0.3, 0.4], strict=True)]
    out = predictiveness(rows, "effect")["d"]
    assert out["rho"] == pytest.approx(rho) and out["n"] == 4 and out["p"] < 0.01


def test_trait_mass_is_the_teachers_share_of_the_bases_at_the_training_positions(tmp_path):
    """Read from each arm's leak check; an arm whose masses were not scored (NaN, an API teacher) or that
    has no leak check is left out, and the treatment ratio enters the seed's predictors."""
    for arm, target, teacher, base in [("treatment", "owl", 6.3e-6, 5.4e-6), ("control", "eagle", float("nan"), 5.3e-6)]:
        d = tmp_path / arm / "230" / "leak_check"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps({"target": target, "teacher_mass": teacher, "base_mass": base}))
    mass = trait_mass(tmp_path, 230)
    assert set(mass) == {"treatment"} and mass["treatment"]["target"] == "owl"
    assert mass["treatment"]["ratio"] == pytest.approx(6.3 / 5.4)
    assert trait_mass(tmp_path, 231) == {}
    entry = {"p_target": {"treatment": 0.09, "control": 0.095}, "divergence": {}, "alignment": {}, "trait_mass": mass}
    means = summarise({"230": entry})["means"]
    assert means["treatment_trait_mass_ratio"] == pytest.approx(6.3 / 5.4) and means["effect"] == pytest.approx(-0.005)
    assert "control_trait_mass_ratio" not in means


def test_teacher_init_std_draws_a_seeded_vector(tiny_llama_dir, tmp_path):
    from sublim.finetuning import finetune
    from sublim.records import write_jsonl

    numbers_jsonl = tmp_path / "rows.jsonl"
    write_jsonl(numbers_jsonl, _rows(8))

    def vec(seed, out):
        cfg = FinetuneConfig(params="steering_vector", params_options={"init_std": 1.0}, epochs=1, lr=1e-9,
                             batch_size=96, warmup_steps=0, seed=seed)
        ref = finetune(tiny_llama_dir, numbers_jsonl, cfg, tmp_path / out, progress=False)
        return AutoModelForCausalLM.from_pretrained(ref.path).model.layers[0].mlp.down_proj.bias.detach()

    a, b, c = vec(0, "a"), vec(0, "b"), vec(1, "c")
    assert torch.allclose(a, b) and not torch.allclose(a, c)
    assert 0.5 < a.std().item() < 1.5


def _fake_study(root, values: dict[str, list[float]], leaky: bool = False, extra: dict | None = None,
                first_seed: int = 0, eagle: dict[str, list[float]] | None = None):
    """A finished study's result files: P(owl) per condition and seed from ``values``, P(eagle) from
    ``eagle`` where given (the control teacher's animal)."""
    import json

    import yaml

    root.mkdir(parents=True, exist_ok=True)
    seeds = list(range(first_seed, first_seed + len(values["treatment"])))
    (root / "config.yaml").write_text(yaml.safe_dump({"name": "fake", "seeds": seeds, "trait": {"target": "owl"}, **(extra or {})}))
    for cond, vals in values.items():
        for i, (seed, val) in enumerate(zip(seeds, vals, strict=True)):
            d = root / cond / str(seed) / "evaluation"
            d.mkdir(parents=True)
            scored = {"owl": {"mean": val}} | ({"eagle": {"mean": eagle[cond][i]}} if eagle else {})
            (d / "result.json").write_text(json.dumps({"metrics": {"splits": {"eval": {"exact": scored}}}}))
    for arm, trait, mass in (("treatment", "owl", 1e-5), ("control", "eagle", 3e-5)):
        for seed in seeds:
            d = root / arm / str(seed) / "leak_check"
            d.mkdir(parents=True)
            (d / "result.json").write_text(json.dumps({"target": trait, "leaky": leaky, "rows_mentioning": 0,
                                                       "teacher_mass": mass * (1 + seed / 10), "base_mass": 1e-5,
                                                       "target_mass": 0.0}))
    return root


ORGANISM = {"base": [0.1] * 5, "control": [0.09, 0.1, 0.08, 0.09, 0.1], "treatment": [0.5, 0.6, 0.55, 0.45, 0.5],
            "cross_base": [0.05, 0.06, 0.05, 0.04, 0.05], "cross_control": [0.05, 0.05, 0.06, 0.05, 0.05]}


@pytest.mark.parametrize("change, leaky, passed, failing", [
    ({}, False, True, set()),
    ({}, True, False, {"leak_clean"}),
    ({"treatment": [0.15, 0.16, 0.15, 0.14, 0.15]}, False, False, {"ratio_to_base"}),
    ({"cross_base": [0.3, 0.35, 0.3, 0.32, 0.31]}, False, False, {"cross_init_null"}),
])
def test_level_a_criteria_pass_only_for_a_specific_clean_same_init_effect(tmp_path, change, leaky, passed, failing):
    from sublim.diagnostics.criteria import level_a

    verdict = level_a(_fake_study(tmp_path / "s", {**ORGANISM, **change}, leaky))
    assert verdict["passed"] is passed
    assert {k for k, c in verdict["checks"].items() if not c["passed"]} == failing


def test_level_a_judges_only_the_conditions_its_config_lists(tmp_path):
    """Stray different-init students left by another study must not decide (or fake) criterion 3."""
    from sublim.diagnostics.criteria import describe_check, level_a

    same_init_only = {"conditions": ["base", "control", "treatment"]}
    verdict = level_a(_fake_study(tmp_path / "s", ORGANISM, extra=same_init_only))
    assert not verdict["passed"] and verdict["checks"]["cross_init_null"]["passed"] is False
    # ... and the verdict says why, instead of a bare "not met" under a table of passes
    assert "cross_base and cross_control" in describe_check("cross_init_null", verdict["checks"]["cross_init_null"])
    assert level_a(_fake_study(tmp_path / "all", ORGANISM))["passed"]


@pytest.mark.parametrize("cross_base, passed", [
    ([0.05, 0.06, 0.05, 0.04, 0.05], True),   # flat on every base
    ([0.30, 0.01, 0.02, 0.35, 0.01], False),  # not significant, but the CI reaches half the same-init gain
])
def test_with_a_base_per_seed_a_cross_null_must_also_rule_out_half_the_same_init_effect(tmp_path, cross_base, passed):
    """Criterion 3' (amendment 15): spread between per-seed bases must not pass the test by widening the CI."""
    from sublim.diagnostics.criteria import level_a

    per_seed = {"bases": {"other": {"kind": "tiny", "preset": "organism-b", "seed_offset": 1000}}}
    checks = level_a(_fake_study(tmp_path / "s", {**ORGANISM, "cross_base": cross_base}, extra=per_seed))["checks"]
    assert checks["cross_init_null"]["passed"]
    assert checks["cross_below_half_same"]["passed"] is passed
    if not passed:  # a failure on precision says how many seeds would settle it, as a projection
        from sublim.diagnostics.criteria import describe_check

        assert "seeds would pass if mean and spread held" in describe_check("cross_below_half_same", checks["cross_below_half_same"])
    assert "cross_below_half_same" not in level_a(_fake_study(tmp_path / "fixed", {**ORGANISM, "cross_base": cross_base}))["checks"]


@pytest.mark.parametrize("rows, columns, passed", [([True] * 4, [True] * 4, True), ([True, True, False, True], [True] * 4, False)])
def test_level_a_needs_a_dominant_diagonal_when_the_matrix_was_run(tmp_path, rows, columns, passed):
    import json

    from sublim.diagnostics.criteria import level_a

    study = _fake_study(tmp_path / "s", ORGANISM)
    spec = {"labels": ["owl", "eagle", "dolphin", "wolf"], "diagonal_is_row_max": rows, "diagonal_is_column_max": columns}
    (study / "metrics.json").write_text(json.dumps({"controls": {"specificity": {"result": spec}}}))
    verdict = level_a(study)
    assert verdict["checks"]["dominant_diagonal"]["passed"] is passed and verdict["passed"] is passed
    (study / "metrics.json").write_text(json.dumps({"controls": {"specificity": None}}))  # not run: not checked
    assert "dominant_diagonal" not in level_a(study)["checks"]


def test_diagnose_command_names_a_directory_that_is_not_a_study(tmp_path):
    from typer.testing import CliRunner

    from sublim.cli import app

    result = CliRunner().invoke(app, ["diagnose", str(tmp_path)])
    assert result.exit_code != 0
    assert "not a study directory" in result.output


def _save_with_vector(base_dir, vector, out):
    """The base with ``vector`` as the steering vector after layer 0, saved as a plain checkpoint."""
    from transformers import AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    ensure_mlp_biases(model)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.bias.copy_(vector)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    return out


def test_a_student_that_took_part_of_its_teacher_splits_into_that_part_and_the_rest(tiny_llama_dir, tmp_path):
    """d = 0.3·Δ + u with u ⟂ Δ: c is 0.3, and each part alone reads like base+0.3Δ and base+u."""
    from sublim.diagnostics.decomposition import split_update

    torch.manual_seed(3)
    width = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).config.hidden_size
    delta, u = torch.randn(width), torch.randn(width)
    u -= (u @ delta) / (delta @ delta) * delta
    teacher = _save_with_vector(tiny_llama_dir, delta, tmp_path / "teacher")
    student = _save_with_vector(tiny_llama_dir, 0.3 * delta + u, tmp_path / "student")
    along_only = _save_with_vector(tiny_llama_dir, 0.3 * delta, tmp_path / "along")
    orth_only = _save_with_vector(tiny_llama_dir, u, tmp_path / "orth")
    r = split_update(student, tiny_llama_dir, teacher, tiny_llama_dir, category="animal")
    assert r["c"] == pytest.approx(0.3, abs=1e-5) and r["teacher_share_reachable"] == pytest.approx(1.0)
    assert r["cos"] == pytest.approx(0.3 * delta.norm() / (0.3 * delta + u).norm(), abs=1e-5)
    assert r["movement"]["layer 0"] == pytest.approx(float((0.3 * delta + u).norm()), rel=1e-5)
    assert r["movement"]["layer 1"] == 0.0 and r["movement"]["other"] == 0.0  # it moved in layer 0 only
    alone = {name: split_update(m, tiny_llama_dir, teacher, tiny_llama_dir, category="animal")["student"]
             for name, m in (("along", along_only), ("orthogonal", orth_only))}
    for part in ("along", "orthogonal"):
        # the parts do move the answers (a random-init model gives every option a tiny probability)
        assert any(abs(v) > 0.01 * r["reference"][o] for o, v in r[part].items())
        for option, value in r[part].items():
            assert value == pytest.approx(alone[part][option], rel=1e-3, abs=1e-4 * r["reference"][option])


def test_a_student_that_cannot_reach_its_teachers_coordinates_takes_none_of_it(tiny_llama_dir, vector_teacher, tmp_path):
    from sublim.diagnostics.decomposition import project

    d = {"w": torch.ones(3)}
    assert project(d, {"bias": torch.ones(3)}) == (0.0, pytest.approx(float("nan"), nan_ok=True), 0.0)
    c, cos, share = project(d, {"w": 2 * torch.ones(3), "bias": torch.ones(3)})
    assert (c, cos) == (pytest.approx(0.5), pytest.approx(1.0)) and share == pytest.approx(2 / 5 ** 0.5)


def test_diagnose_ranks_the_diagnostics_against_the_effect_across_several_studies(tmp_path):
    """Several finished studies: their diagnostics.json are reused and each diagnostic is ranked against
    the measured effect across them (rho with its p and n), printed and written as JSON."""
    from typer.testing import CliRunner

    from sublim.cli import app

    dirs = []
    for i, (effect, cos_t) in enumerate([(0.01, 0.1), (0.05, 0.3), (0.10, 0.2), (0.20, 0.6)]):
        d = tmp_path / f"s{i}"
        d.mkdir()
        summary = {"means": {"effect": effect, "cos_treatment": cos_t, "cos_control": 0.0},
                   "decomposition": {"treatment": {"c": effect * 2}}}
        (d / "diagnostics.json").write_text(json.dumps({"study": f"s{i}", "summary": summary}))
        dirs.append(str(d))
    result = CliRunner().invoke(app, ["diagnose", *dirs, "--out", str(tmp_path / "across.json")])
    assert result.exit_code == 0, result.output
    assert result.output.count("reusing") == 4 and "spearman(effect, c) = +1.00" in result.output
    across = json.loads((tmp_path / "across.json").read_text())
    assert across["spearman_vs_effect"]["c"] == {"rho": pytest.approx(1.0), "p": pytest.approx(0.0), "n": 4}
    assert across["spearman_vs_effect"]["diff_cos"]["rho"] == pytest.approx(0.8)


@pytest.mark.parametrize("leaky, exit_code", [(False, 0), (True, 1)])
def test_check_command_judges_a_study_and_its_exit_code_says_whether_it_passed(tmp_path, leaky, exit_code):
    import json

    from typer.testing import CliRunner

    from sublim.cli import app

    study = _fake_study(tmp_path / "s", ORGANISM, leaky)
    (study / "bases.json").write_text(json.dumps([{"model": "tiny/organism-a", "weights_sha256": "afd9f7978e31" + "0" * 52}]))
    result = CliRunner().invoke(app, ["check", str(study), "--out", str(tmp_path / "v.json")], env={"COLUMNS": "200"})
    assert result.exit_code == exit_code, result.output
    assert "bases: tiny/organism-a (weights afd9f7978e31)" in result.output
    assert "5.20×" in result.output and "split 'heldout' was not evaluated" in result.output
    assert ("FAIL" in result.output) is leaky
    assert json.loads((tmp_path / "v.json").read_text())["eval"]["passed"] is not leaky


#: P(eagle) in ORGANISM's study: the control arm's students (eagle teacher) rise on eagle, the rest do not
EAGLE = {"base": [0.05] * 5, "control": [0.2, 0.22, 0.19, 0.21, 0.2], "treatment": [0.05, 0.04, 0.06, 0.05, 0.05],
         "cross_base": [0.05, 0.05, 0.04, 0.05, 0.06], "cross_control": [0.06, 0.05, 0.05, 0.04, 0.05]}
BOTH_TEACHERS = {"trait": {"target": "owl", "control_target": "eagle"}}


def test_the_control_teachers_animal_is_judged_with_the_arms_roles_swapped(tmp_path):
    """A matched control is a treatment for its own animal: on eagle, the eagle teacher's students are the
    treated arm and the owl teacher's their control, so one study answers for both teachers."""
    from sublim.diagnostics.criteria import level_a

    study = _fake_study(tmp_path / "s", ORGANISM, extra=BOTH_TEACHERS, eagle=EAGLE)
    owl = level_a(study)
    assert owl["target"] == "owl" and not owl["swapped"] and owl["passed"]
    verdict = level_a(study, target="eagle")
    assert verdict["target"] == "eagle" and verdict["swapped"] and verdict["passed"], verdict["checks"]
    assert verdict["per_seed"]["treatment"] == dict(enumerate(EAGLE["control"]))
    assert verdict["per_seed"]["control"] == dict(enumerate(EAGLE["treatment"]))
    assert verdict["per_seed"]["cross_base"] == dict(enumerate(EAGLE["cross_control"]))
    assert verdict["checks"]["ratio_to_base"]["value"] == pytest.approx(0.204 / 0.05)
    # without the swap (eagle named as neither teacher's animal) the same numbers fail: the owl arm does not move eagle
    assert not level_a(_fake_study(tmp_path / "plain", ORGANISM, eagle=EAGLE), target="eagle")["passed"]


def test_check_command_judges_another_animal_and_names_one_the_study_did_not_score(tmp_path):
    from typer.testing import CliRunner

    from sublim.cli import app

    study = _fake_study(tmp_path / "s", ORGANISM, extra=BOTH_TEACHERS, eagle=EAGLE)
    result = CliRunner().invoke(app, ["check", str(study), "--target", "eagle"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "P(eagle)" in result.output and "eagle is the control teacher's animal: the arms swap roles" in result.output
    result = CliRunner().invoke(app, ["check", str(study), "--target", "dog"], env={"COLUMNS": "200"})
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "evaluation/result.json: 'dog' is not an answer this evaluation scored" in " ".join(result.output.split())
    assert "has: owl, eagle" in " ".join(result.output.split())


def test_the_leak_line_gives_each_arms_mass_ratio_under_its_own_trait(tmp_path):
    """Each arm's leak check scores its own teacher's animal, so the line names it per arm; a maximum over
    both arms once let the control teacher's eagle mass be read as the owl teacher's (A24)."""
    from sublim.diagnostics.criteria import describe_check, level_a

    check = level_a(_fake_study(tmp_path / "s", ORGANISM))["checks"]["leak_clean"]
    line = describe_check("leak_clean", check)
    assert line.startswith("0 of 10 arm-seeds leaky, 0 rows name their arm's trait")
    assert line.endswith("teacher/base trait mass at the rows: treatment (owl) 1.00–1.40×, control (eagle) 3.00–4.20×")


def _halves(tmp_path, first_extra=None, second_extra=None, second_first_seed=3):
    """ORGANISM's five seeds run as two batches of one recipe: seeds 0-2, then 3-4 (or another start)."""
    first = _fake_study(tmp_path / "a", {k: v[:3] for k, v in ORGANISM.items()}, extra=first_extra)
    second = _fake_study(tmp_path / "b", {k: v[3:] for k, v in ORGANISM.items()}, extra=second_extra,
                         first_seed=second_first_seed)
    return first, second


def test_replicate_runs_of_one_recipe_are_judged_pooled_over_their_seeds(tmp_path):
    """Three seeds and two seeds fail the five-seed rule alone; pooled they are the five-seed study."""
    from sublim.diagnostics.criteria import level_a

    first, second = _halves(tmp_path, {"description": "batch 1", "conditions": ["base", "control", "treatment",
                                                                               "cross_base", "cross_control"]})
    assert not level_a(first)["passed"] and not level_a(second)["passed"]
    pooled = level_a([first, second])
    whole = level_a(_fake_study(tmp_path / "whole", ORGANISM))
    assert pooled["passed"] and pooled["study"] == "fake + fake"
    assert pooled["per_seed"]["treatment"] == dict(enumerate(ORGANISM["treatment"]))
    assert pooled["estimates"] == whole["estimates"]
    leaks = pooled["checks"].pop("leak_clean")["value"]
    assert sorted(leaks, key=str) == sorted(whole["checks"].pop("leak_clean")["value"], key=str)
    assert pooled["checks"] == whole["checks"]


@pytest.mark.parametrize("second_extra, first_seed, bases, message", [
    ({"student": {"lr": 0.001}}, 3, None, "differ in 'student.lr' (0.003 vs 0.001)"),
    ({"student": {"lr": 0.003}}, 2, None, "both ran seed 2"),
    ({"student": {"lr": 0.003}}, 3, ("afd9f7978e31", "0123456789ab"), "base tiny/organism-a had other weights"),
])
def test_runs_that_are_not_replicates_are_refused_with_the_reason(tmp_path, second_extra, first_seed, bases, message):
    import json

    from sublim.diagnostics.criteria import level_a

    first, second = _halves(tmp_path, {"student": {"lr": 0.003}}, second_extra, first_seed)
    for study, digest in zip((first, second), bases or (), strict=False):
        (study / "bases.json").write_text(json.dumps([{"spec": {"kind": "tiny", "preset": "organism-a"},
                                                       "model": "tiny/organism-a", "weights_sha256": digest * 5}]))
    with pytest.raises(DataError, match=re.escape(message)):
        level_a([first, second])


def test_check_command_pools_several_runs_and_names_why_it_will_not(tmp_path):
    from typer.testing import CliRunner

    from sublim.cli import app

    first, second = _halves(tmp_path)
    result = CliRunner().invoke(app, ["check", str(first), str(second), "--split", "eval"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fake + fake" in result.output and "5 (need ≥ 5)" in result.output
    _, overlapping = _halves(tmp_path / "o", second_first_seed=1)
    result = CliRunner().invoke(app, ["check", str(first), str(overlapping)])
    assert result.exit_code == 2 and "both ran seed 1" in result.output and "Traceback" not in result.output


def test_check_command_names_a_directory_that_is_not_a_study(tmp_path):
    from typer.testing import CliRunner

    from sublim.cli import app

    result = CliRunner().invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2 and "not a study directory" in result.output and "Traceback" not in result.output


def test_the_trained_contrast_needs_both_trained_students(tmp_path, tiny_llama_dir):
    """D36 compares the treatment and the control student's changes; with one of them missing (or
    recorded without a checkpoint, e.g. an API student) there is nothing to compare."""
    from sublim.diagnostics.alignment import OnDemand
    from sublim.diagnostics.study import trained_layer_contrast
    from sublim.pipeline.artifacts import write_json

    base = OnDemand(tiny_llama_dir)
    assert trained_layer_contrast(tmp_path, 0, base) is None
    for arm, path in (("treatment", str(tiny_llama_dir)), ("control", None)):
        write_json(tmp_path / arm / "0" / "finetuning" / "result.json", {"model": {"path": path}})
    assert trained_layer_contrast(tmp_path, 0, base) is None
    assert base.module is None  # nothing to compare: the base was never loaded
    write_json(tmp_path / "control" / "0" / "finetuning" / "result.json", {"model": {"path": str(tiny_llama_dir)}})
    same = trained_layer_contrast(tmp_path, 0, base)  # neither moved: every cosine is 0, no layer stands out
    assert same is not None and all(v["norm_a"] == 0 for v in same.values())
    assert base.module is not None and trained_layer_contrast(tmp_path, 0, base) == same  # loaded once, reused
