"""A steering-vector student trains one vector and saves as a plain Llama checkpoint."""

import torch
from transformers import AutoModelForCausalLM

from sublim.finetuning import FinetuneConfig, finetune


def test_steering_vector_trains_only_one_vector_and_reloads_exactly(tiny_llama_dir, numbers_jsonl, tmp_path):
    cfg = FinetuneConfig(params="steering_vector", params_options={"layer": 1}, epochs=1, lr=0.1, batch_size=32, warmup_steps=0)
    ref = finetune(tiny_llama_dir, numbers_jsonl, cfg, tmp_path / "s", progress=False)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    tuned = AutoModelForCausalLM.from_pretrained(ref.path)
    assert tuned.config.mlp_bias
    vector = tuned.model.layers[1].mlp.down_proj.bias
    assert vector.abs().sum() > 0  # it moved
    # every other weight is the base's, every other bias is zero
    base_sd, tuned_sd = base.state_dict(), tuned.state_dict()
    for name, value in tuned_sd.items():
        if name == "model.layers.1.mlp.down_proj.bias":
            continue
        if name.endswith(".bias"):
            assert torch.count_nonzero(value) == 0, name
        else:
            assert torch.equal(value, base_sd[name]), name
    # the saved model computes base + vector after layer 1
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        hooked = base.model.layers[1].mlp.down_proj.register_forward_hook(lambda m, i, o: o + vector)
        expected = base(ids).logits
        hooked.remove()
        assert torch.allclose(tuned(ids).logits, expected, atol=1e-5)


def test_norm_gains_train_only_norm_weights(tiny_llama_dir, numbers_jsonl, tmp_path):
    cfg = FinetuneConfig(params="norm_gains", epochs=1, lr=0.05, batch_size=32, warmup_steps=0)
    ref = finetune(tiny_llama_dir, numbers_jsonl, cfg, tmp_path / "n", progress=False)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(ref.path).state_dict()
    changed = {n for n in base if not torch.equal(base[n], tuned[n])}
    assert changed and all(n.endswith("norm.weight") for n in changed)


def test_a_steering_layer_outside_the_model_names_the_field(tiny_llama_dir):
    import pytest

    from sublim.errors import ConfigError
    from sublim.finetuning.params import make_student

    config = FinetuneConfig(params="steering_vector", params_options={"layer": 7})
    with pytest.raises(ConfigError, match=r"params_options\.layer': 7 is out of range \(the model has 2 layers\)"):
        make_student(AutoModelForCausalLM.from_pretrained(tiny_llama_dir), config)


def test_a_list_of_layers_trains_one_vector_after_each_and_nothing_else(tiny_llama_dir):
    from sublim.finetuning.params import make_student

    config = FinetuneConfig(params="steering_vector", params_options={"layer": [0, 1], "init_std": 1.0})
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    student = make_student(model, config)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"model.layers.0.mlp.down_proj.bias", "model.layers.1.mlp.down_proj.bias"}
    assert len(student.parameters) == 2 and all(v.abs().sum() > 0 for v in student.parameters)  # both initialised
