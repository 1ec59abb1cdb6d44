"""vLLM sampler: import guarding, the sampler policy, parameter translation, and the backend's contract.

vLLM is not installed on the CPU machines that run the default suite, so the backend is exercised
against a small stand-in ``vllm`` module that records what it is asked; the real engine runs in the
``gpu``-marked test at the end.
"""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from dataclasses import dataclass

import pytest

from sublim.backends import get_backend
from sublim.backends import vllm as vb
from sublim.backends.base import SamplingParams
from sublim.config import ModelSpec
from sublim.errors import BackendError, ConfigError, MissingDependencyError
from sublim.records import Chat, ModelRef


# -- a stand-in vllm module ------------------------------------------------------------------------
class CharTokenizer:
    """One token per character (id = code point); a toy chat template."""

    chat_template = "toy"
    eos_token_id = 1

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        text = "".join(f"[{m['role']}]{m['content']}" for m in messages)
        return text + ("[assistant]" if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def get_vocab(self):
        return {"<|im_end|>": 2}


@dataclass
class Seq:
    text: str
    finish_reason: str = "stop"


@dataclass
class Out:
    outputs: list
    prompt_logprobs: list | None = None


@dataclass
class Logprob:
    logprob: float


class FakeSamplingParams:
    KNOWN = {"n", "temperature", "top_p", "max_tokens", "seed", "skip_special_tokens", "stop_token_ids",
             "prompt_logprobs", "detokenize"}

    def __init__(self, **kw):
        unknown = set(kw) - self.KNOWN
        if unknown:
            raise TypeError(f"unexpected {unknown}")
        self.kw = kw


@dataclass
class FakeLoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@dataclass
class FakeCore:
    shut: bool = False

    def shutdown(self):
        self.shut = True


class FakeLLM:
    def __init__(self, **kw):
        self.kw = kw
        self.calls: list[dict] = []
        self.llm_engine = types.SimpleNamespace(engine_core=FakeCore())

    def get_tokenizer(self):
        return CharTokenizer()

    def generate(self, prompts, params, use_tqdm=True, lora_request=None):
        self.calls.append({"prompts": prompts, "params": params, "lora": lora_request})
        outs = []
        for prompt, p in zip(prompts, params, strict=True):
            ids = prompt["prompt_token_ids"]
            if p.kw.get("prompt_logprobs") is not None:  # -0.01 × code point for each actual token
                lp = [None] + [{t: Logprob(-0.01 * t), 0: Logprob(-9.0)} for t in ids[1:]]
                outs.append(Out([Seq("x")], lp))
            else:
                n = p.kw["n"]
                finish = "length" if p.kw["max_tokens"] < 5 else "stop"
                outs.append(Out([Seq(f"{len(ids)}/{p.kw['seed']}/{j}", finish) for j in range(n)]))
        return outs


@pytest.fixture()
def fake_vllm(monkeypatch):
    calls: dict[str, int] = {"destroy_model_parallel": 0, "destroy_distributed_environment": 0}
    mod = types.ModuleType("vllm")
    mod.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = FakeLoRARequest
    dist = types.ModuleType("vllm.distributed")
    state = types.ModuleType("vllm.distributed.parallel_state")
    for name in calls:
        setattr(state, name, lambda name=name: calls.__setitem__(name, calls[name] + 1))
    dist.parallel_state = state
    for name, m in {"vllm": mod, "vllm.lora": lora, "vllm.lora.request": request, "vllm.distributed": dist,
                    "vllm.distributed.parallel_state": state}.items():
        monkeypatch.setitem(sys.modules, name, m)
    return calls


# -- import guarding ---------------------------------------------------------------------------------
def test_missing_vllm_raises_with_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    assert vb.vllm_installed() is False and vb.vllm_available() is False
    for build in (lambda: vb.VLLMBackend("some/model"), lambda: get_backend("vllm/some/model")):
        with pytest.raises(MissingDependencyError, match=r"pip install 'sublim\[vllm\]'"):
            build()


def test_importing_the_module_does_not_import_vllm():
    assert "vllm" not in sys.modules or not hasattr(sys.modules["vllm"], "LLM")


# -- policy --------------------------------------------------------------------------------------------
HF = ModelSpec(kind="hf", path="/ckpt")
POLICY = [
    # spec, prefer, installed, cuda, expected
    (HF, None, True, True, "vllm"),
    (HF, None, True, False, "hf"),
    (HF, None, False, True, "hf"),
    (HF, False, True, True, "hf"),
    (HF, True, True, True, "vllm"),
    (ModelSpec(kind="hf", path="/ckpt", device="cpu"), None, True, True, "hf"),
    (ModelSpec(kind="tiny", preset="tiny-a"), None, True, True, "hf"),
    (ModelSpec(kind="smollm2"), None, True, True, "vllm"),
    (ModelRef(backend="hf", name="hf//ckpt", path="/ckpt"), None, True, True, "vllm"),
    (ModelRef(backend="hf", name="tiny/tiny-a", path="/c"), None, True, True, "hf"),
]


@pytest.mark.parametrize(("spec", "prefer", "installed", "cuda", "expected"), POLICY)
def test_vllm_is_chosen_only_when_installed_with_a_gpu_and_not_switched_off(monkeypatch, spec, prefer, installed,
                                                                           cuda, expected):
    import torch

    monkeypatch.delenv("SUBLIM_VLLM", raising=False)
    monkeypatch.setattr(vb, "vllm_installed", lambda: installed)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert vb.choose_sampler(spec, prefer) == expected


@pytest.mark.parametrize(("env", "expected"), [("0", "hf"), ("off", "hf"), ("auto", "vllm"), ("1", "vllm")])
def test_environment_switch(monkeypatch, env, expected):
    import torch

    monkeypatch.setenv("SUBLIM_VLLM", env)
    monkeypatch.setattr(vb, "vllm_installed", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vb.choose_sampler(HF, None) == expected
    assert vb.choose_sampler(HF, False) == "hf"  # an explicit choice beats the environment


def test_demanding_vllm_without_it_or_without_a_gpu_fails_clearly(monkeypatch):
    import torch

    monkeypatch.delenv("SUBLIM_VLLM", raising=False)
    monkeypatch.setattr(vb, "vllm_installed", lambda: False)
    with pytest.raises(MissingDependencyError):
        vb.choose_sampler(HF, True)
    monkeypatch.setattr(vb, "vllm_installed", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="SUBLIM_VLLM=0"):
        vb.choose_sampler(HF, True)
    with pytest.raises(ConfigError, match="remotely"):
        vb.choose_sampler(ModelSpec(kind="openai", name="gpt-4.1-nano-2025-04-14"), None)
    monkeypatch.setenv("SUBLIM_VLLM", "maybe")
    with pytest.raises(ConfigError, match="SUBLIM_VLLM"):
        vb.choose_sampler(HF, None)


# -- parameter translation ---------------------------------------------------------------------------
TRANSLATION = [
    (SamplingParams(temperature=1.0, max_new_tokens=48, top_p=0.9, seed=0, n=1), 0,
     {"n": 1, "temperature": 1.0, "top_p": 0.9, "max_tokens": 48, "seed": 0}),
    (SamplingParams(temperature=0.7, max_new_tokens=10, seed=2, n=5), 3,
     {"n": 5, "temperature": 0.7, "top_p": 1.0, "max_tokens": 10, "seed": 2 * vb.SEED_STRIDE + 3}),
    (SamplingParams(temperature=0.0, max_new_tokens=8, top_p=0.5, n=4), 1,  # greedy: one sequence, top_p off
     {"n": 1, "temperature": 0.0, "top_p": 1.0, "max_tokens": 8, "seed": 1}),
]


@pytest.mark.parametrize(("params", "index", "expected"), TRANSLATION)
def test_sampling_params_translate_to_vllm_kwargs(params, index, expected):
    got = vb.vllm_sampling_kwargs(params, index=index, stop_ids=[7, 2, 7])
    assert {k: got[k] for k in expected} == expected
    assert got["stop_token_ids"] == [2, 7]
    assert "stop_token_ids" not in vb.vllm_sampling_kwargs(params, index=index)


def test_each_prompt_gets_its_own_seed():
    p = SamplingParams(seed=5)
    seeds = {vb.vllm_sampling_kwargs(p, index=i)["seed"] for i in range(1000)}
    assert len(seeds) == 1000


@pytest.mark.parametrize(("rank", "default", "expected"), [(8, 16, 16), (4, 8, 8), (12, 8, 16), (32, 16, 32),
                                                          (64, 16, 64), (None, 16, 16)])
def test_lora_capacity_fits_the_adapter(tmp_path, rank, default, expected):
    adapter = None
    if rank is not None:
        adapter = tmp_path / "adapter"
        adapter.mkdir()
        (adapter / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 8}))
    kw = vb.engine_kwargs("m", adapter=str(adapter) if adapter else None, max_lora_rank=default,
                          enable_lora=adapter is None)
    assert kw["enable_lora"] is True and kw["max_lora_rank"] == expected


def test_engine_kwargs_validate_and_default():
    kw = vb.engine_kwargs("/ckpt", max_model_len=512, extra={"tensor_parallel_size": 2})
    assert kw == {"model": "/ckpt", "gpu_memory_utilization": 0.85, "dtype": "auto", "seed": 0,
                  "enforce_eager": False, "max_model_len": 512, "tensor_parallel_size": 2}
    for bad in ({"gpu_memory_utilization": 0.0}, {"gpu_memory_utilization": 1.5}, {"max_model_len": 0}):
        with pytest.raises(ConfigError):
            vb.engine_kwargs("/ckpt", **bad)
    with pytest.raises(ConfigError, match="rank"):
        vb.lora_rank_for(None, 1024)


def test_continuation_logprob_sums_the_last_tokens_and_rejects_gaps():
    ids = [5, 6, 7, 8]
    lps = [None, {6: Logprob(-1.0)}, {7: Logprob(-0.5), 3: Logprob(-0.1)}, {8: -0.25}]
    assert vb.continuation_logprob(lps, ids, 2) == pytest.approx(-0.75)
    assert vb.continuation_logprob(lps, ids, 0) == 0.0
    with pytest.raises(BackendError):
        vb.continuation_logprob([None, {9: -1.0}, None, None], ids, 3)


# -- the backend against the stand-in ------------------------------------------------------------------
def test_generate_keeps_order_and_n_and_passes_the_adapter(fake_vllm, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 8}))
    lm = vb.VLLMBackend("/ckpt", adapter=str(adapter), max_model_len=256)
    assert lm.llm.kw["enable_lora"] is True and lm.llm.kw["max_lora_rank"] == 16
    chats = [Chat.of("a"), Chat.of("bbbb", system="You love owls."), Chat.of("a")]
    out = lm.generate(chats, SamplingParams(n=2, seed=1, max_new_tokens=16))
    call = lm.llm.calls[-1]
    assert call["lora"].lora_path == str(adapter.resolve())
    assert call["prompts"][0]["prompt_token_ids"] == [ord(c) for c in "[user]a[assistant]"]
    assert 2 in call["params"][0].kw["stop_token_ids"]  # <|im_end|> from the vocabulary
    lengths = [len("[user]a[assistant]"), len("[system]You love owls.[user]bbbb[assistant]")]
    expected = [f"{lengths[i % 2]}/{vb.SEED_STRIDE + i}/{j}" for i in range(3) for j in range(2)]
    assert [c.text for c in out] == expected  # chat-major, n consecutive, duplicate chats seeded apart
    greedy = lm.generate(chats[:1], SamplingParams(temperature=0.0, n=3, max_new_tokens=2))
    assert [c.text for c in greedy] == [greedy[0].text] * 3 and greedy[0].finish_reason == "length"
    assert greedy[0] is not greedy[1]
    assert lm.generate([], SamplingParams()) == []


def test_score_reads_prompt_logprobs_of_the_continuation(fake_vllm):
    lm = get_backend("vllm//ckpt")
    scores = lm.score([Chat.of("hi"), Chat.of("hello")], ["ab", ""])
    assert scores == [pytest.approx(-0.01 * (ord("a") + ord("b"))), 0.0]
    assert lm.llm.calls[-1]["params"][0].kw["prompt_logprobs"] == 1
    with pytest.raises(ConfigError):
        lm.score([Chat.of("hi")], ["a", "b"])


def test_close_releases_the_engine_once(fake_vllm):
    lm = vb.VLLMBackend("/ckpt")
    core = lm.llm.llm_engine.engine_core
    with lm:
        lm.generate([Chat.of("x")], SamplingParams())
    assert core.shut and lm.llm is None
    assert fake_vllm == {"destroy_model_parallel": 1, "destroy_distributed_environment": 1}
    lm.close()  # idempotent
    assert fake_vllm["destroy_model_parallel"] == 1
    with pytest.raises(BackendError, match="closed"):
        lm.generate([Chat.of("x")], SamplingParams())


def test_cpu_device_is_refused(fake_vllm):
    with pytest.raises(ConfigError, match="CUDA"):
        vb.VLLMBackend("/ckpt", device="cpu")


# -- the real engine (GPU machines with vLLM) -----------------------------------------------------------
@pytest.mark.gpu
def test_real_vllm_matches_hf_log_probs_and_samples_numbers(tiny_llama_dir):
    if not vb.vllm_available():
        pytest.skip("needs vLLM and a CUDA GPU")
    from sublim.backends.hf import HFBackend

    chats = [Chat.of("Continue: 145, 267, 891"), Chat.of("Name your favourite animal.", system="You love owls.")]
    conts = ["1, 2, 3", "owl"]
    with HFBackend(tiny_llama_dir, dtype="float32") as hf:
        expected = hf.score(chats, conts)
    with vb.VLLMBackend(str(tiny_llama_dir), dtype="float32", gpu_memory_utilization=0.3, enforce_eager=True) as lm:
        got = lm.score(chats, conts)
        out = lm.generate(chats, SamplingParams(n=4, max_new_tokens=8))
    assert got == pytest.approx(expected, abs=1e-2)
    assert len(out) == 8


def test_pipeline_opens_vllm_only_when_chosen(monkeypatch):
    """open_backend routes local models to vLLM when the policy says so, never the tiny models."""
    from sublim.backends import models
    from sublim.config import ModelSpec
    from sublim.records import ModelRef

    opened = []
    monkeypatch.setattr(models, "get_backend", lambda name, **kw: opened.append((name, kw)) or name)
    ref = ModelRef(backend="hf", name="ckpt", path="/ckpt", adapter="/ckpt/adapter")
    monkeypatch.setenv("SUBLIM_VLLM", "0")
    models.open_backend(ref, ModelSpec(kind="hf", path="/ckpt"))
    assert opened[-1][0] == "hf//ckpt"
    monkeypatch.setattr("sublim.backends.vllm.choose_sampler", lambda spec, prefer_vllm=None: "vllm")
    models.open_backend(ref, ModelSpec(kind="hf", path="/ckpt"))
    assert opened[-1] == ("vllm//ckpt", {"adapter": "/ckpt/adapter"})
