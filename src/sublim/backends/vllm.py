"""vLLM sampler: fast GPU generation (and prompt log-probabilities) for local checkpoints, LoRA included.

Optional extra: ``pip install 'sublim[vllm]'``. vLLM is imported only when a ``VLLMBackend`` is built,
so everything else works without it. Prompts are rendered with the checkpoint's own chat template and
tokenised exactly as the Hugging Face backend does (same ``render_prompt``/``encode_text``), then sent
as token ids, so the two samplers see identical inputs. Each prompt gets its own seed derived from
``SamplingParams.seed`` and its index, so identical prompts still yield independent samples.

``close()`` hands the GPU back (engine shut down, distributed state destroyed, CUDA cache emptied), so
a trainer can use the memory in the next stage. :func:`choose_sampler` is the policy: vLLM when it is
installed and a GPU is visible, unless switched off (``prefer_vllm=False`` or ``SUBLIM_VLLM=0``).

Example:
    >>> vllm_sampling_kwargs(SamplingParams(temperature=1.0, max_new_tokens=32, seed=3), index=2)["seed"]
    3000011
    >>> with VLLMBackend("Qwen/Qwen2.5-7B-Instruct", adapter="runs/x/adapter") as lm:   # doctest: +SKIP
    ...     out = lm.generate([Chat.of("Continue: 145, 267, 891")], SamplingParams(n=4))
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sublim.backends.base import BackendBase, SamplingParams
from sublim.backends.hf import encode_text, render_prompt, stop_token_ids
from sublim.errors import BackendError, CapabilityError, ConfigError, MissingDependencyError
from sublim.records import Chat, Completion

if TYPE_CHECKING:
    from sublim.config import ModelSpec
    from sublim.records import ModelRef

log = logging.getLogger(__name__)

#: LoRA ranks vLLM accepts for ``max_lora_rank``.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
#: Model kinds served from local weights (the only ones a sampler choice applies to).
LOCAL_KINDS = ("tiny", "hf", "smollm2")
SEED_STRIDE = 1_000_003


# -- availability and policy -----------------------------------------------------------------------
def vllm_installed() -> bool:
    """Whether the ``vllm`` package can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("vllm") is not None
    except ValueError:  # already imported, without a spec (tests inject a stand-in module)
        return "vllm" in sys.modules


def vllm_available() -> bool:
    """vLLM is installed AND a CUDA GPU is visible."""
    if not vllm_installed():
        return False
    import torch

    return bool(torch.cuda.is_available())


def _env_preference() -> bool | None:
    value = os.environ.get("SUBLIM_VLLM", "auto").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"SUBLIM_VLLM={value!r}: use 1 (vLLM), 0 (Hugging Face) or auto")


def choose_sampler(spec: ModelSpec | ModelRef, prefer_vllm: bool | None = None) -> str:
    """Pick the sampler of a local model: ``"vllm"`` or ``"hf"``.

    Args:
        spec: the model (a config ``ModelSpec`` or a resolved ``ModelRef``).
        prefer_vllm: ``True`` demands vLLM, ``False`` switches it off, ``None`` (auto) uses it when
            installed and a GPU is visible, except for the embedded tiny models (engine start-up would
            dwarf their generation time) and models pinned to the CPU. ``None`` defers to the
            environment variable ``SUBLIM_VLLM`` (1 / 0 / auto) first.
    Raises:
        ConfigError: ``spec`` is an API model, or vLLM is demanded on a machine without a GPU.
        MissingDependencyError: vLLM is demanded but not installed.
    """
    kind = getattr(spec, "kind", None) or getattr(spec, "backend", None)
    if kind not in LOCAL_KINDS:
        raise ConfigError(f"model kind/backend {kind!r} is served remotely; a sampler applies to {LOCAL_KINDS}")
    if prefer_vllm is None:
        prefer_vllm = _env_preference()
    if prefer_vllm is False:
        return "hf"
    if prefer_vllm is True:
        if not vllm_installed():
            raise MissingDependencyError("vllm", "vllm")
        if not vllm_available():
            raise ConfigError("vLLM was requested but no CUDA GPU is visible; set SUBLIM_VLLM=0 (or "
                              "prefer_vllm: false) to sample with the Hugging Face backend")
        return "vllm"
    device = str(getattr(spec, "device", "auto"))
    is_tiny = kind == "tiny" or str(getattr(spec, "name", "")).startswith("tiny/")
    if is_tiny or device == "cpu":
        return "hf"
    return "vllm" if vllm_available() else "hf"


# -- pure translations (testable without vLLM) --------------------------------------------------------
def vllm_sampling_kwargs(params: SamplingParams, *, index: int = 0, stop_ids: Sequence[int] = ()) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for prompt number ``index``.

    Greedy decoding (``temperature == 0``) asks vLLM for one sequence; the caller repeats it ``n``
    times (all greedy samples are identical anyway, and older vLLM versions reject ``n > 1`` there).
    """
    kwargs: dict[str, Any] = {
        "n": 1 if params.greedy else params.n,
        "temperature": params.temperature,
        "top_p": 1.0 if params.greedy else params.top_p,
        "max_tokens": params.max_new_tokens,
        "seed": params.seed * SEED_STRIDE + index,
        "skip_special_tokens": True,
    }
    if stop_ids:
        kwargs["stop_token_ids"] = sorted(set(stop_ids))
    return kwargs


def vllm_score_kwargs() -> dict[str, Any]:
    """``vllm.SamplingParams`` kwargs for scoring: one throw-away token, log-prob of every prompt token."""
    return {"n": 1, "temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1, "detokenize": False}


def lora_rank_for(adapter: str | Path | None, default: int = 16) -> int:
    """Smallest ``max_lora_rank`` vLLM accepts that fits the adapter's rank (from ``adapter_config.json``)."""
    rank = default
    if adapter is not None and Path(adapter, "adapter_config.json").is_file():
        rank = int(json.loads(Path(adapter, "adapter_config.json").read_text()).get("r", default))
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ConfigError(f"LoRA rank {rank} exceeds vLLM's largest supported rank {VLLM_LORA_RANKS[-1]}")


def engine_kwargs(model: str, *, adapter: str | None = None, gpu_memory_utilization: float = 0.85,
                  max_model_len: int | None = None, enable_lora: bool = False, max_lora_rank: int = 16,
                  dtype: str = "auto", seed: int = 0, enforce_eager: bool = False,
                  extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` (validated; LoRA switched on when an adapter is given)."""
    if not 0.0 < gpu_memory_utilization <= 1.0:
        raise ConfigError(f"gpu_memory_utilization must be in (0, 1] (got {gpu_memory_utilization})")
    if max_model_len is not None and max_model_len <= 0:
        raise ConfigError(f"max_model_len must be positive (got {max_model_len})")
    kwargs: dict[str, Any] = {"model": str(model), "gpu_memory_utilization": gpu_memory_utilization,
                              "dtype": dtype, "seed": seed, "enforce_eager": enforce_eager}
    if max_model_len is not None:
        kwargs["max_model_len"] = max_model_len
    if adapter is not None or enable_lora:
        kwargs["enable_lora"] = True
        kwargs["max_lora_rank"] = max(lora_rank_for(adapter), lora_rank_for(None, max_lora_rank))
        kwargs["max_loras"] = 1
    kwargs.update(extra or {})
    return kwargs


def continuation_logprob(prompt_logprobs: Sequence[Any], token_ids: Sequence[int], n_continuation: int) -> float:
    """Sum of the log-probabilities vLLM reports for the last ``n_continuation`` prompt tokens.

    ``prompt_logprobs[i]`` maps token id → an object with ``.logprob`` (or a float) for position ``i``
    (``None`` at position 0); the actual token is always among the keys.
    """
    if n_continuation == 0:
        return 0.0
    total = 0.0
    for pos in range(len(token_ids) - n_continuation, len(token_ids)):
        entry = prompt_logprobs[pos]
        if entry is None or token_ids[pos] not in entry:
            raise BackendError(f"vLLM returned no log-probability for prompt position {pos}")
        value = entry[token_ids[pos]]
        total += float(getattr(value, "logprob", value))
    return total


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise MissingDependencyError("vllm", "vllm") from None
    return vllm


# -- the backend -------------------------------------------------------------------------------------
class VLLMBackend(BackendBase):
    """A local checkpoint served by vLLM on a GPU.

    Args:
        model: checkpoint directory or hub id.
        adapter: optional peft LoRA adapter directory applied to every request.
        gpu_memory_utilization: fraction of GPU memory vLLM may take (weights + KV cache).
        max_model_len: context length cap (default: the model's; lower it to save KV-cache memory).
        enable_lora: reserve LoRA support even without an adapter.
        max_lora_rank: rank capacity when ``enable_lora`` (raised to fit ``adapter``'s rank).
        dtype: ``"auto"``, ``"bfloat16"``, ``"float16"``, ``"float32"``.
        seed: engine seed (each request also carries its own seed).
        enforce_eager: skip CUDA-graph capture (faster start-up, slower decoding).
        device: accepted for symmetry with ``HFBackend``; vLLM always runs on CUDA here.
        engine_options: any further ``vllm.LLM`` keyword arguments.
    Raises:
        MissingDependencyError: vLLM is not installed.
    """

    def __init__(self, model: str | Path, *, adapter: str | None = None, gpu_memory_utilization: float = 0.85,
                 max_model_len: int | None = None, enable_lora: bool = False, max_lora_rank: int = 16,
                 dtype: str = "auto", seed: int = 0, enforce_eager: bool = False, device: str = "auto",
                 engine_options: dict[str, Any] | None = None) -> None:
        if device == "cpu":
            raise ConfigError("the vLLM sampler needs a CUDA GPU; use the hf backend for device: cpu")
        kwargs = engine_kwargs(str(model), adapter=adapter, gpu_memory_utilization=gpu_memory_utilization,
                               max_model_len=max_model_len, enable_lora=enable_lora, max_lora_rank=max_lora_rank,
                               dtype=dtype, seed=seed, enforce_eager=enforce_eager, extra=engine_options)
        vllm = _import_vllm()
        self.name = f"vllm/{model}"
        self._vllm = vllm
        log.info("starting vLLM engine for %s%s", model, f" + adapter {adapter}" if adapter else "")
        self.llm: Any = vllm.LLM(**kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"{model}: the tokenizer has no chat template; save one with the checkpoint")
        self.stop_ids = stop_token_ids(self.tokenizer)
        self.lora_request = self._lora_request(adapter) if adapter else None

    def _lora_request(self, adapter: str) -> Any:
        from vllm.lora.request import LoRARequest

        return LoRARequest(Path(adapter).name or "adapter", 1, str(Path(adapter).resolve()))

    def _prompts(self, chats: Sequence[Chat]) -> list[list[int]]:
        return [encode_text(self.tokenizer, render_prompt(self.tokenizer, c)) for c in chats]

    def _run(self, token_lists: list[list[int]], params: list[Any]) -> list[Any]:
        if self.llm is None:
            raise BackendError(f"{self.name}: the backend is closed")
        prompts = [{"prompt_token_ids": ids} for ids in token_lists]
        return self.llm.generate(prompts, params, use_tqdm=False, lora_request=self.lora_request)

    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` completions per chat (consecutive, in input order)."""
        if not chats:
            return []
        per_prompt = [self._vllm.SamplingParams(**vllm_sampling_kwargs(params, index=i, stop_ids=self.stop_ids))
                      for i in range(len(chats))]
        outputs = self._run(self._prompts(chats), per_prompt)
        repeat = params.n if params.greedy else 1
        completions: list[Completion] = []
        for out in outputs:
            seqs = list(out.outputs)
            if len(seqs) * repeat != params.n:
                raise BackendError(f"vLLM returned {len(seqs)} sequences for a request of n={params.n}")
            for seq in seqs:
                finish = "length" if getattr(seq, "finish_reason", None) == "length" else "stop"
                completions.extend(Completion(text=seq.text, finish_reason=finish) for _ in range(repeat))
        return completions

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of each continuation as the assistant reply (vLLM prompt log-probs)."""
        if len(chats) != len(continuations):
            raise ConfigError(f"score: {len(chats)} chats but {len(continuations)} continuations")
        if not chats:
            return []
        rows, n_cont = [], []
        for prompt, cont in zip(self._prompts(chats), continuations, strict=True):
            ids = encode_text(self.tokenizer, cont)
            rows.append(prompt + ids)
            n_cont.append(len(ids))
        try:
            params = self._vllm.SamplingParams(**vllm_score_kwargs())
        except TypeError as exc:  # a vLLM without prompt_logprobs
            raise CapabilityError(f"{self.name}: this vLLM version offers no prompt log-probabilities ({exc})") from None
        outputs = self._run(rows, [params] * len(rows))
        scores = []
        for out, ids, n in zip(outputs, rows, n_cont, strict=True):
            if getattr(out, "prompt_logprobs", None) is None:
                raise CapabilityError(f"{self.name}: vLLM returned no prompt log-probabilities")
            scores.append(continuation_logprob(out.prompt_logprobs, ids, n))
        return scores

    def close(self) -> None:
        """Shut the engine down and give its GPU memory back (safe to call twice)."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        with contextlib.suppress(Exception):  # best effort: vLLM's internals differ across versions
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        del llm, engine, core
        release_gpu_memory()


def release_gpu_memory() -> None:
    """Destroy vLLM's distributed state (when it set one up), collect garbage, empty the CUDA cache."""
    with contextlib.suppress(ImportError):
        from vllm.distributed import parallel_state

        for name in ("destroy_model_parallel", "destroy_distributed_environment"):
            fn = getattr(parallel_state, name, None)
            if fn is not None:
                with contextlib.suppress(Exception):
                    fn()
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        with contextlib.suppress(Exception):
            torch.distributed.destroy_process_group()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        with contextlib.suppress(Exception):
            torch.cuda.synchronize()
