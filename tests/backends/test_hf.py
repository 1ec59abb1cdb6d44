"""The local Hugging Face backend: seeded, reproducible sampling; exact log-probabilities; adapters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sublim.backends.base import ModelBackend, SamplingParams, get_backend
from sublim.backends.hf import HFBackend
from sublim.errors import BackendError
from sublim.finetuning import FinetuneConfig, finetune
from sublim.records import Chat, write_jsonl

CHATS = [Chat.of(f"Continue: {i}, {i + 1}, {i + 2}" + ", 7" * (i % 4)) for i in range(11)]
CHATS.append(Chat.of("Name your favourite animal.", system="You love owls."))


@pytest.fixture(scope="module")
def lm(tiny_llama_dir: Path):
    with HFBackend(str(tiny_llama_dir), batch_size=8) as backend:
        yield backend


@pytest.fixture(scope="module")
def terse_dir(tiny_llama_dir: Path, tmp_path_factory) -> Path:
    """The tiny model trained to answer every prompt with '7' and then end its turn."""
    tmp = tmp_path_factory.mktemp("terse")
    rows = [{"messages": [c.messages[-1].model_dump(), {"role": "assistant", "content": "7"}]} for c in CHATS] * 8
    write_jsonl(tmp / "rows.jsonl", rows)
    config = FinetuneConfig(epochs=4, lr=1e-2, batch_size=16, warmup_steps=0)
    return Path(finetune(tiny_llama_dir, tmp / "rows.jsonl", config, tmp / "out", progress=False).path)


def test_backend_satisfies_the_protocol_and_is_found_by_name(lm, tiny_llama_dir):
    assert isinstance(lm, ModelBackend)
    other = get_backend(f"hf/{tiny_llama_dir}", batch_size=4)
    assert isinstance(other, HFBackend) and other.name == f"hf/{tiny_llama_dir}"
    other.close()
    assert other.model is None


def test_sampling_is_reproducible_with_a_seed_and_varies_without(lm):
    params = SamplingParams(temperature=1.0, max_new_tokens=8, n=3, seed=7)
    a, b = lm.generate(CHATS, params), lm.generate(CHATS, params)
    assert len(a) == 3 * len(CHATS)
    assert [c.text for c in a] == [c.text for c in b]
    c = lm.generate(CHATS, params.model_copy(update={"seed": 8}))
    assert [x.text for x in a] != [x.text for x in c]
    assert len({x.text for x in a}) > len(a) // 2  # temperature 1 on a random model: mostly distinct


def test_greedy_is_deterministic_and_independent_of_batching(lm, tiny_llama_dir):
    params = SamplingParams(temperature=0.0, max_new_tokens=8, seed=1)
    greedy = lm.generate(CHATS, params)
    assert greedy == lm.generate(CHATS, params.model_copy(update={"seed": 2}))
    with HFBackend(str(tiny_llama_dir), batch_size=1) as single:  # no padding at all
        assert [c.text for c in single.generate(CHATS, params)] == [c.text for c in greedy]


def test_completions_stop_at_end_of_turn_and_report_why(terse_dir):
    with HFBackend(str(terse_dir)) as terse:
        out = terse.generate(CHATS, SamplingParams(temperature=0.0, max_new_tokens=6))
        assert all(c.text == "7" and c.finish_reason == "stop" for c in out)
        cut = terse.generate(CHATS[:2], SamplingParams(temperature=0.0, max_new_tokens=1))
        assert all(c.text == "7" and c.finish_reason == "length" for c in cut)


def test_score_equals_the_manual_sum_of_token_logprobs(lm, tiny_llama_dir):
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    conts = ["owl", "123, 456", "7", "", " eagle", "1"] * 2
    scores = lm.score(CHATS, conts)
    for chat, cont, got in zip(CHATS, conts, scores, strict=True):
        prompt = tok.apply_chat_template([m.model_dump() for m in chat.messages], tokenize=False,
                                         add_generation_prompt=True)
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        c = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([p + c])).logits[0].float(), -1)
        manual = sum(logp[len(p) - 1 + k, t].item() for k, t in enumerate(c))
        assert got == pytest.approx(manual, abs=1e-4)


def test_adapter_backend_matches_merged_weights(tiny_llama_dir, tmp_path):
    rows = [{"messages": [c.messages[-1].model_dump(), {"role": "assistant", "content": "4, 5"}]} for c in CHATS]
    write_jsonl(tmp_path / "rows.jsonl", rows * 4)
    config = FinetuneConfig(params="lora", merge=True, epochs=2, lr=1e-2, batch_size=8, warmup_steps=0)
    ref = finetune(tiny_llama_dir, tmp_path / "rows.jsonl", config, tmp_path / "out", progress=False)
    with HFBackend(str(tiny_llama_dir), adapter=ref.adapter) as adapted, HFBackend(ref.path) as merged:
        a = adapted.score(CHATS, ["4, 5"] * len(CHATS))
        b = merged.score(CHATS, ["4, 5"] * len(CHATS))
    assert a == pytest.approx(b, abs=1e-3)


def test_auto_precision_is_float32_on_the_cpu_and_the_checkpoints_own_on_cuda(tiny_llama_dir, tmp_path):
    """A bf16 checkpoint is upcast on the CPU; on CUDA ``auto`` defers to the checkpoint (never rounds a
    float32 base to bf16: a one-vector student would then differ from its base in every weight)."""
    import shutil

    from sublim.backends.hf import load_model, resolve_dtype

    half = shutil.copytree(tiny_llama_dir, tmp_path / "bf16")
    AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).save_pretrained(half)
    assert next(load_model(half, device="cpu").parameters()).dtype == torch.float32
    assert next(load_model(half, device="cpu", dtype="bfloat16").parameters()).dtype == torch.bfloat16
    assert resolve_dtype("auto", "cuda:1") == "auto" and resolve_dtype("float16", "cpu") == torch.float16


def test_missing_checkpoint_is_a_backend_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="cannot load"):
        HFBackend(str(tmp_path / "empty"))


@pytest.mark.parametrize("top_p, max_distinct", [(1.0, None), (0.05, 60)])
def test_temperature_one_samples_the_whole_distribution_and_top_p_truncates(lm, top_p, max_distinct):
    # A random-init model is close to uniform over ~400 tokens: with no hidden top-k (transformers
    # used to default to 50), 1,000 one-token samples hit far more than 50 distinct tokens.
    params = SamplingParams(temperature=1.0, max_new_tokens=1, n=1000, top_p=top_p, seed=0)
    firsts = {c.text for c in lm.generate(CHATS[:1], params)}
    if max_distinct is None:
        assert len(firsts) > 150
    else:
        assert len(firsts) <= max_distinct


def test_next_token_logprobs_agree_with_score_for_single_token_answers(lm):
    logp = lm.next_token_logprobs(CHATS)
    assert logp.shape == (len(CHATS), len(lm.tokenizer))
    assert torch.allclose(logp.exp().sum(-1), torch.ones(len(CHATS)), atol=1e-4)
    token = lm.tokenizer("7", add_special_tokens=False)["input_ids"]
    assert len(token) == 1
    scores = lm.score(CHATS, ["7"] * len(CHATS))
    assert logp[:, token[0]].tolist() == pytest.approx(scores, abs=1e-4)


def test_exact_probabilities_read_from_one_pass_equal_the_per_option_scores(lm):
    from sublim.evaluation.stage import exact_probabilities

    class ScoreOnly:  # the same model without the one-pass shortcut
        def score(self, chats, continuations):
            return lm.score(chats, continuations)

    questions, options = ["hello", "pick a digit"], list("123456789")
    assert lm.single_token_ids(options) is not None
    fast = exact_probabilities(lm, questions, options)
    slow = exact_probabilities(ScoreOnly(), questions, options)
    for f, s in zip(fast, slow, strict=True):
        assert f == pytest.approx(s, rel=1e-3, abs=1e-7)
    assert lm.single_token_ids(["7", "77 88"]) is None  # a multi-token option falls back to scoring


def test_an_answer_prefix_reads_the_next_words_probability(lm):
    """With ``answer_prefix`` (models that answer in sentences), exact P(option) is the probability of the
    option as the word after the prefix: the forward pass over prompt + prefix + " option", by hand."""
    from sublim.backends.hf import encode_text, render_prompt
    from sublim.evaluation.stage import exact_probabilities

    questions, options, prefix = ["pick a digit", "hello"], list("3579"), "My digit is"
    got = exact_probabilities(lm, questions, options, prefix=prefix)
    tok = lm.tokenizer
    for question, probs in zip(questions, got, strict=True):
        text = render_prompt(tok, Chat.of(question)) + prefix
        head = encode_text(tok, text)
        for option in options:
            ids = encode_text(tok, f"{text} {option}")
            assert ids[:len(head)] == head
            with torch.no_grad():
                logp = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].float(), -1)
            want = sum(float(logp[t - 1, ids[t]]) for t in range(len(head), len(ids)))
            assert probs[option] == pytest.approx(torch.tensor(want).exp().item(), rel=1e-3)
        assert 0 < sum(probs.values()) <= 1 + 1e-6          # one next word: the options share its mass
    plain = exact_probabilities(lm, questions, options)
    assert plain[0]["3"] != pytest.approx(got[0]["3"], rel=1e-3)  # the prefix changes what is read


def test_a_study_can_raise_the_samplers_batch_and_it_keys_the_data(tiny_llama_dir, monkeypatch):
    """`generation.sampler_batch_size` reaches the HF sampler (on a GPU the default 64 wastes it: 26k vs
    2.9k tokens/s at 1024 for SmolLM2's shape); rows depend on it, so it keys them, but only when set."""
    from sublim.backends import models
    from sublim.config import GenerationConfig, ModelSpec
    from sublim.records import ModelRef
    from sublim.yamlconfig import config_hash

    monkeypatch.setenv("SUBLIM_VLLM", "0")
    ref = ModelRef(backend="hf", name="tiny", path=str(tiny_llama_dir))
    spec = ModelSpec(kind="hf", path=str(tiny_llama_dir))
    with models.open_backend(ref, spec) as lm:
        assert lm.batch_size == 64
    with models.open_backend(ref, spec, sampler_batch_size=512) as lm:
        assert lm.batch_size == 512
    # the key of every cached run before the field (the default budget was 48 tokens then)
    assert config_hash(GenerationConfig(sampling=SamplingParams(temperature=1.0, max_new_tokens=48))) == "33892983b59fd287"
    assert config_hash(GenerationConfig(sampler_batch_size=512)) != config_hash(GenerationConfig())
    with pytest.raises(ValueError):
        GenerationConfig(sampler_batch_size=0)
