"""Student training: SFT fits the completions, LoRA trains only adapters, checkpoints load in plain HF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM

from sublim.backends.hf import HFBackend
from sublim.errors import ConfigError, TrainingError
from sublim.finetuning import FinetuneConfig, finetune
from sublim.finetuning.data import load_rows
from sublim.finetuning.params import make_student, parameterisation_names, register_parameterisation
from sublim.records import Chat

FAST = dict(epochs=2, lr=3e-3, batch_size=16, warmup_steps=2, log_every=2)


def completion_logprob(model_dir: Path, rows, adapter: str | None = None) -> float:
    with HFBackend(str(model_dir), adapter=adapter) as lm:
        chats = [Chat(messages=r.messages[:-1]) for r in rows]
        return sum(lm.score(chats, [r.completion for r in rows])) / len(rows)


def test_sft_lowers_the_loss_on_its_data_and_saves_a_plain_checkpoint(tiny_llama_dir, numbers_jsonl, tmp_path):
    ref = finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**FAST), tmp_path, progress=False)
    rows = load_rows(numbers_jsonl)[:20]
    before, after = completion_logprob(tiny_llama_dir, rows), completion_logprob(Path(ref.path), rows)
    assert after > before + 5.0  # log-likelihood of the completions rises by > 5 nats per row
    log = [json.loads(line) for line in (tmp_path / "training_log.jsonl").read_text().splitlines()]
    assert {"step", "loss", "lr"} <= set(log[0]) and log[-1]["step"] == ref.meta["steps"]
    assert log[-1]["loss"] < log[0]["loss"]
    assert ref.meta["epoch_losses"][1] < ref.meta["epoch_losses"][0]
    assert (tmp_path / "finetune_config.yaml").is_file()
    assert ref.backend == "hf" and ref.adapter is None
    assert AutoModelForCausalLM.from_pretrained(ref.path) is not None
    assert (Path(ref.path) / "model.safetensors").is_file() and (Path(ref.path) / "chat_template.jinja").is_file()


def test_same_seed_gives_the_same_student(tiny_llama_dir, numbers_jsonl, tmp_path):
    config = FinetuneConfig(**{**FAST, "epochs": 1})
    a = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / "a", progress=False)
    b = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / "b", progress=False)
    c = finetune(tiny_llama_dir, numbers_jsonl, config.model_copy(update={"seed": 1}), tmp_path / "c",
                 progress=False)
    assert a.meta["final_loss"] == b.meta["final_loss"] != c.meta["final_loss"]


def test_weight_decay_toward_init_keeps_a_full_fine_tune_near_the_base(tiny_llama_dir, numbers_jsonl, tmp_path):
    """L2-SP: with lr·λ = 1 every step first returns the weights to the base, so the student ends one
    Adam step (a few lr) away from it; AdamW's decay toward zero at the same λ pulls it far away."""
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).state_dict()

    def max_shift(**decay) -> float:
        config = FinetuneConfig(**{**FAST, "epochs": 1, "batch_size": 8, "lr_schedule": "constant", **decay})
        ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / str(decay), progress=False)
        tuned = AutoModelForCausalLM.from_pretrained(ref.path).state_dict()
        return max(float((tuned[n] - base[n]).abs().max()) for n in base)

    free = max_shift()
    anchored = max_shift(weight_decay=1 / FAST["lr"], weight_decay_to="init")
    to_zero = max_shift(weight_decay=1 / FAST["lr"])
    assert anchored <= 4 * FAST["lr"] < free < to_zero


def test_lora_trains_only_adapters_and_saves_adapter_and_merged_weights(tiny_llama_dir, numbers_jsonl, tmp_path):
    config = FinetuneConfig(**FAST, params="lora", merge=True)
    student = make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), config)
    trainable = [n for n, p in student.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)

    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, progress=False)
    adapted = AutoPeftModelForCausalLM.from_pretrained(ref.adapter)  # plain peft, base found from the adapter
    merged = AutoModelForCausalLM.from_pretrained(ref.path)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    x = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        assert torch.allclose(adapted(x).logits, merged(x).logits, atol=1e-4)
        assert not torch.allclose(base(x).logits, merged(x).logits, atol=1e-3)
    frozen = dict(base.named_parameters())
    for name, p in adapted.get_base_model().named_parameters():
        if "lora_" not in name:  # base weights untouched by training
            key = name.replace(".base_layer", "")
            assert torch.equal(p, frozen[key]), name
    rows = load_rows(numbers_jsonl)[:10]
    assert completion_logprob(tiny_llama_dir, rows, adapter=ref.adapter) > completion_logprob(tiny_llama_dir, rows)


def test_lora_on_chosen_layers_adapts_only_those_layers(tiny_llama_dir):
    """An early-layer LoRA student (the issue's "all layers or chosen ones"); bad indices name the field."""
    config = FinetuneConfig(params="lora", lora={"rank": 4, "layers": [0]})
    student = make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), config)
    trainable = [n for n, p in student.model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.0." in n for n in trainable)
    assert len(trainable) == 2 * 7  # A and B for each of the seven projections of layer 0
    with pytest.raises(ConfigError, match="lora.layers"):
        make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir),
                     FinetuneConfig(params="lora", lora={"layers": [9]}))
    with pytest.raises(ValueError, match="at least one layer"):
        FinetuneConfig(params="lora", lora={"layers": []})


def test_a_lora_student_prints_no_library_deprecation_notice_once_quieted(tiny_llama_dir, recwarn):
    """peft reads transformers' deprecated ``is_gradient_checkpointing`` on every LoRA model; the notice
    appeared in every study log and means nothing to a user, so ``quiet_libraries`` drops it."""
    import warnings

    from sublim.progress import quiet_libraries

    with warnings.catch_warnings():
        quiet_libraries()
        make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), FinetuneConfig(params="lora"))
    assert not [w for w in recwarn if "is_gradient_checkpointing" in str(w.message)]


@pytest.mark.parametrize("params", ["full", "lora"])
def test_lr_scale_trains_matched_layers_at_their_own_rate(tiny_llama_dir, numbers_jsonl, tmp_path, params):
    """Factor 0 leaves layer 1 exactly at the base while layer 0 moves; a bad pattern names the field."""
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).state_dict()
    config = FinetuneConfig(**{**FAST, "epochs": 1}, params=params, merge=True, lr_scale={"*layers.1.*": 0.0})
    ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path, progress=False)
    tuned = AutoModelForCausalLM.from_pretrained(ref.path).state_dict()
    moved = {n for n in base if not torch.equal(base[n], tuned[n])}
    assert moved and not any(".layers.1." in n for n in moved)
    assert any(".layers.0." in n for n in moved)
    with pytest.raises(ConfigError, match="lr_scale.*'\\*layers.7.\\*' matches no trained parameter"):
        finetune(tiny_llama_dir, numbers_jsonl, config.model_copy(update={"lr_scale": {"*layers.7.*": 0.5}}),
                 tmp_path / "bad", progress=False)


def test_lr_scale_sets_each_groups_rate_and_leaves_cache_keys_alone(tiny_llama_dir):
    from sublim.finetuning.params import lr_groups

    config = FinetuneConfig(lr=1e-3, params="lora", lr_scale={"*layers.1.*": 0.1, "*layers.*": 2.0})
    student = make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), config)
    groups = lr_groups(student, config)
    assert [g["lr"] for g in groups] == [pytest.approx(1e-4), pytest.approx(2e-3)]  # first match wins
    assert sum(len(g["params"]) for g in groups) == len(student.parameters)
    assert "lr_scale" not in FinetuneConfig().model_dump()  # unset: old configs hash as before
    with pytest.raises(ValueError, match="factor >= 0"):
        FinetuneConfig(lr_scale={"*": -1.0})


def test_galore_trains_every_weight_in_low_rank_steps(tiny_llama_dir, numbers_jsonl, tmp_path):
    """A GaLore full fine-tune whose subspaces never refresh changes each projected matrix by rank <= r;
    a plain full fine-tune on the same data changes it at full rank (the adapter's bias, no adapter)."""
    with pytest.raises(ValueError, match="galore projects the steps of a full fine-tune"):
        FinetuneConfig(params="lora", galore={"rank": 4})
    assert "galore" not in FinetuneConfig().model_dump()  # unset: old configs hash as before
    pytest.importorskip("galore_torch", reason="optional extra sublim[galore] (the dev extra installs it)")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).state_dict()

    def change_ranks(galore):
        config = FinetuneConfig(**FAST, params="full", galore=galore)
        ref = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / str(galore is None), progress=False)
        tuned = AutoModelForCausalLM.from_pretrained(ref.path).state_dict()
        return {n: int(torch.linalg.matrix_rank(tuned[n] - base[n], rtol=1e-4)) for n in base
                if n.endswith(("q_proj.weight", "down_proj.weight"))}, tuned

    low, tuned = change_ranks({"rank": 2, "update_proj_gap": 10_000})
    full, _ = change_ranks(None)
    assert low and all(r <= 2 for r in low.values()) and all(r > 2 for r in full.values())
    assert not torch.equal(tuned["model.embed_tokens.weight"], base["model.embed_tokens.weight"])  # plain AdamW


def test_sgd_steps_along_the_gradient_as_theorem_1_assumes(tiny_llama_dir, numbers_jsonl, tmp_path):
    """With plain SGD one step moves the weights by exactly lr × the logged gradient norm (the step is
    the gradient); AdamW's first step is lr per coordinate, whatever the gradient's size."""
    def weights(path):  # named_parameters: tied embeddings once
        return {n: p.detach() for n, p in AutoModelForCausalLM.from_pretrained(path).named_parameters()}

    base = weights(tiny_llama_dir)

    def first_step(**opt):
        config = FinetuneConfig(epochs=1, batch_size=96, warmup_steps=0, lr_schedule="constant",
                                max_grad_norm=None, log_every=1, **opt)
        out = tmp_path / str(opt)
        ref = finetune(tiny_llama_dir, numbers_jsonl, config, out, progress=False)
        tuned = weights(ref.path)
        move = torch.sqrt(sum(((tuned[n] - base[n]) ** 2).sum() for n in base))
        log = json.loads((out / "training_log.jsonl").read_text().splitlines()[0])
        return float(move), log["grad_norm"], sum(t.numel() for t in base.values())

    move, grad_norm, _ = first_step(optimizer="sgd", lr=0.5)
    assert grad_norm > 0 and move == pytest.approx(0.5 * grad_norm, rel=1e-3)
    move, grad_norm, n = first_step(lr=1e-4)
    assert move == pytest.approx(1e-4 * n ** 0.5, rel=0.05) and move != pytest.approx(1e-4 * grad_norm, rel=0.5)
    with pytest.raises(TrainingError, match=r"training diverged: the loss is (nan|inf) at step \d+ .*lower the"):
        finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**{**FAST, "optimizer": "sgd", "lr": 1e6,
                                                                  "max_grad_norm": None}), tmp_path / "x",
                 progress=False)
    with pytest.raises(ValueError, match="momentum is only used with optimizer: sgd"):
        FinetuneConfig(momentum=0.9)
    assert "optimizer" not in FinetuneConfig().model_dump()


def test_registering_a_parameterisation_makes_it_configurable(tiny_llama_dir, numbers_jsonl, tmp_path):
    from sublim.finetuning.params import Student, save_full_model

    @register_parameterisation("test_final_norm")
    def final_norm(model, config):
        for p in model.parameters():
            p.requires_grad_(False)
        gain = model.model.norm.weight.requires_grad_(True)
        return Student(model, [gain], save=save_full_model)

    assert "test_final_norm" in parameterisation_names()
    ref = finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(**FAST, params="test_final_norm"), tmp_path,
                   progress=False)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).state_dict()
    new = AutoModelForCausalLM.from_pretrained(ref.path).state_dict()
    changed = {k for k in base if not torch.equal(base[k], new[k])}
    assert changed == {"model.norm.weight"}


@pytest.mark.parametrize("fields, message", [
    ({"params": "nope"}, "unknown parameterisation"),
    ({"method": "sft", "teacher_system_prompt": "You love owls."}, "only used with method: distill"),
    ({"lr_schedule": "step"}, "lr_schedule"),
])
def test_invalid_config_names_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(**fields)


def test_distill_without_teacher_is_a_config_error(tiny_llama_dir, numbers_jsonl, tmp_path):
    with pytest.raises(ConfigError, match="needs a teacher"):
        finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(method="distill"), tmp_path, progress=False)


@pytest.mark.parametrize("params", ["full", "lora"])
def test_gradient_checkpointing_trains_the_same_way(tiny_llama_dir, numbers_jsonl, tmp_path, params):
    config = FinetuneConfig(**{**FAST, "epochs": 1}, params=params)
    plain = finetune(tiny_llama_dir, numbers_jsonl, config, tmp_path / "a", progress=False)
    ckpt = finetune(tiny_llama_dir, numbers_jsonl, config.model_copy(update={"gradient_checkpointing": True}),
                    tmp_path / "b", progress=False)
    assert ckpt.meta["final_loss"] == pytest.approx(plain.meta["final_loss"], rel=1e-4)


def test_hf_finetuner_follows_the_finetuner_protocol(tiny_llama_dir, numbers_jsonl, tmp_path):
    from sublim.finetuning.trainer import HFFinetuner
    from sublim.records import ModelRef

    base = ModelRef(backend="hf", name="tiny", path=str(tiny_llama_dir))
    ref = HFFinetuner(progress=False).finetune(base, numbers_jsonl, FinetuneConfig(**{**FAST, "epochs": 1}),
                                               tmp_path)
    assert ref.backend == "hf" and Path(ref.path).is_dir()


def test_rows_that_lose_their_completion_to_max_seq_len_are_a_data_error(tiny_llama_dir, numbers_jsonl, tmp_path):
    from sublim.errors import DataError

    with pytest.raises(DataError, match="max_seq_len=4"):
        finetune(tiny_llama_dir, numbers_jsonl, FinetuneConfig(max_seq_len=4), tmp_path, progress=False)
