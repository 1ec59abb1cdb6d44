"""Theorem 1 on a causal language model (transformers ``LlamaForCausalLM``).

The model constructor is pluggable: a ``ModelFactory`` maps a draw's seed to a model. By default the
shared init is a randomly initialised tiny Llama (legitimate: the theorem holds for any shared
init); ``lm.lm_path`` loads a Hugging Face model directory instead — e.g. the project's tiny
pretrained base from ``sublim.tiny.build.build_base(config)`` — and ``lm.other_lm_path`` (or a fresh
random init of the same architecture) gives the 'different init' student.

Teacher: θ₀ after ``teacher_steps`` gradient steps of next-token cross-entropy on random token
sequences from the first half of the vocabulary. Student inputs: random sequences from the second
half (a different distribution); the student imitates the teacher's full-vocabulary logits at every
position.

Example:
    >>> from sublim.theorem.config import load_theorem_config
    >>> cfg = load_theorem_config(None, "quick", ["models=[lm]"])
    >>> rows = lm_records(cfg)                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from sublim.errors import ConfigError
from sublim.theorem.alignment import imitation_loss, inner_and_cosine, relative_norm
from sublim.theorem.config import LmProbe, TheoremConfig

ModelFactory = Callable[[int], nn.Module]


def random_llama(probe: LmProbe, dtype: torch.dtype) -> ModelFactory:
    """Factory of randomly initialised tiny Llamas (``seed`` → weights)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=probe.vocab_size, hidden_size=probe.hidden_size, intermediate_size=probe.intermediate_size,
        num_hidden_layers=probe.num_layers, num_attention_heads=probe.num_heads, num_key_value_heads=probe.num_heads,
        max_position_embeddings=max(64, probe.seq_len), tie_word_embeddings=False,
    )

    def make(seed: int) -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return LlamaForCausalLM(config).to(dtype).eval()

    return make


def pretrained(path: str, dtype: torch.dtype) -> ModelFactory:
    """Factory returning the model stored at ``path`` (the same weights for every seed)."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"field 'lm.lm_path': cannot load a causal LM from {path!r}: {exc}") from None
    return lambda seed: model


def default_factories(probe: LmProbe, dtype: torch.dtype) -> tuple[ModelFactory, ModelFactory]:
    """(shared-init factory, different-init factory) as the config asks."""
    shared = pretrained(probe.lm_path, dtype) if probe.lm_path else random_llama(probe, dtype)
    if probe.other_lm_path:
        other = pretrained(probe.other_lm_path, dtype)
    elif probe.lm_path:
        base = shared(0)
        other = _random_like(base, dtype)
    else:
        other = random_llama(probe, dtype)
    return shared, other


def _random_like(model: nn.Module, dtype: torch.dtype) -> ModelFactory:
    """Fresh random inits with ``model``'s architecture."""
    def make(seed: int) -> nn.Module:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return type(model)(model.config).to(dtype).eval()

    return make


def _logits(model: nn.Module, params: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    return functional_call(model, params, (ids,), {"use_cache": False}).logits


def lm_records(cfg: TheoremConfig, factories: tuple[ModelFactory, ModelFactory] | None = None,
               on_draw: Callable[[], None] | None = None) -> list[dict]:
    """All (step × init × loss × draw) alignment measurements for the language model.

    Args:
        cfg: the check's config (``cfg.lm`` holds the probe settings).
        factories: (shared, different) model constructors; default from ``cfg.lm``.
        on_draw: called after each draw.
    Raises:
        ConfigError: the two models' parameters differ in shape (inner products undefined).
    """
    dtype = getattr(torch, cfg.dtype)
    probe = cfg.lm
    shared, other = factories if factories is not None else default_factories(probe, dtype)
    rows: list[dict] = []
    for d in range(probe.n_draws or cfg.n_draws):
        seed = cfg.seed * 100_003 + d
        model = shared(seed)
        theta0 = {k: v.detach().clone() for k, v in model.named_parameters()}
        starts = {"same": theta0}
        if "different" in cfg.inits:
            alt = {k: v.detach().clone().to(dtype) for k, v in other(seed + 50_000).named_parameters()}
            if {k: v.shape for k, v in alt.items()} != {k: v.shape for k, v in theta0.items()}:
                raise ConfigError("field 'lm.other_lm_path': the different-init model must have the same parameter shapes")
            starts["different"] = alt
        vocab = model.config.vocab_size
        gen = torch.Generator().manual_seed(seed)
        teacher_ids = torch.randint(0, vocab // 2, (probe.teacher_batch, probe.seq_len), generator=gen)
        student_ids = torch.randint(vocab // 2, vocab, (probe.student_inputs, probe.seq_len), generator=gen)
        names = list(theta0)
        for lr in cfg.step_sizes:
            params = {k: v.clone().requires_grad_(True) for k, v in theta0.items()}
            for _ in range(cfg.teacher_steps):
                out = _logits(model, params, teacher_ids)[:, :-1]
                loss = F.cross_entropy(out.reshape(-1, vocab), teacher_ids[:, 1:].reshape(-1))
                grads = torch.autograd.grad(loss, [params[k] for k in names])
                params = {k: (params[k] - lr * g).detach().requires_grad_(True) for k, g in zip(names, grads, strict=True)}
            delta_t = [params[k].detach() - theta0[k] for k in names]
            rel = float(relative_norm(delta_t, [theta0[k] for k in names], model_dim=False))
            with torch.no_grad():
                targets = _logits(model, {k: v.detach() for k, v in params.items()}, student_ids)
            for init_kind in cfg.inits:
                phi = {k: v.clone().requires_grad_(True) for k, v in starts[init_kind].items()}
                out = _logits(model, phi, student_ids)
                for loss_kind in cfg.student_losses:
                    loss = imitation_loss(out, targets, loss_kind).mean()
                    grads = torch.autograd.grad(loss, [phi[k] for k in names], retain_graph=True)
                    inner, cos = inner_and_cosine([-g for g in grads], delta_t, model_dim=False)
                    rows.append({
                        "model": "lm", "objective": "random_tokens", "loss": loss_kind, "init": init_kind,
                        "step": lr, "draw": d, "inner": float(inner), "cos": float(cos), "teacher_update_rel": rel,
                    })
        if on_draw:
            on_draw()
    return rows
