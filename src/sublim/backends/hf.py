"""Local Hugging Face backend: sampling and log-probabilities for any causal LM checkpoint.

The same code serves the embedded 0.45M-parameter tiny Llama on a laptop CPU and a 7B model on a
GPU; only the checkpoint and the device differ. Prompts are rendered with the checkpoint's own chat
template (``add_generation_prompt=True``); completions are the decoded new tokens only.

Example:
    >>> from sublim.records import Chat                                  # doctest: +SKIP
    >>> with HFBackend("/path/to/checkpoint") as lm:                     # doctest: +SKIP
    ...     out = lm.generate([Chat.of("Name an animal.")], SamplingParams(temperature=0))
    ...     lp = lm.score([Chat.of("Name an animal.")], ["owl"])
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sublim.backends.base import BackendBase, SamplingParams
from sublim.errors import BackendError, ConfigError
from sublim.records import Chat, Completion

log = logging.getLogger(__name__)

# Names end-of-turn tokens go by in common chat templates (added to the EOS ids when present).
END_OF_TURN_TOKENS = ("<|end|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>", "</s>")


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` when available, else ``"cpu"``; any other value is returned as is."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """The ``dtype`` for ``from_pretrained``: ``"float32"`` / ``"bfloat16"`` / ``"float16"``, or ``"auto"``.

    ``"auto"`` is float32 on the CPU (16-bit matmuls are slow there) and, on CUDA, the precision the
    checkpoint was saved in (``from_pretrained``'s own ``"auto"``): a bf16 Qwen stays bf16, and our
    float32 tiny models stay float32 — rounding a frozen base to bf16 would change every weight of a
    student that is meant to train one vector (seen on an H200: such a checkpoint differed everywhere).
    """
    import torch

    if dtype == "auto":
        return "auto" if device.startswith("cuda") else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ConfigError(f"dtype {dtype!r} is not supported; use one of: auto, {', '.join(table)}")
    return table[dtype]


def load_tokenizer(model: str | Path) -> Any:
    """Load a tokenizer with a chat template and a pad token (EOS when it has none)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(model))
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load tokenizer from {model!r}: {exc}") from None
    if not tok.chat_template:
        raise ConfigError(f"{model}: the tokenizer has no chat template; save one with the checkpoint")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(model: str | Path, *, device: str = "auto", dtype: str = "auto", adapter: str | None = None,
               trainable: bool = False) -> Any:
    """Load a causal LM onto ``device`` in ``dtype``, with an optional peft adapter.

    Args:
        model: local checkpoint directory or hub id.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
        dtype: ``"auto"`` (the checkpoint's precision on CUDA, fp32 on CPU), ``"float32"``, ``"bfloat16"``,
            ``"float16"``.
        adapter: directory of a peft (LoRA) adapter to apply on top.
        trainable: keep the adapter trainable (fine-tuning); otherwise the model is put in eval mode.
    Raises:
        BackendError: the checkpoint cannot be loaded.
    """
    from transformers import AutoModelForCausalLM

    dev = resolve_device(device)
    try:
        net = AutoModelForCausalLM.from_pretrained(str(model), dtype=resolve_dtype(dtype, dev))
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load model from {model!r}: {exc}") from None
    if adapter:
        from peft import PeftModel

        net = PeftModel.from_pretrained(net, str(adapter), is_trainable=trainable)
    net.to(dev)
    if not trainable:
        net.eval()
    return net


def stop_token_ids(tokenizer: Any, model: Any | None = None) -> list[int]:
    """EOS plus end-of-turn token ids: generation stops at any of them."""
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(source)
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return sorted(ids)


def render_prompt(tokenizer: Any, chat: Chat) -> str:
    """The chat rendered by its template, ending with the generation prompt (assistant header)."""
    msgs = [m.model_dump() for m in chat.messages]
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def encode_text(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without extra special tokens (templates already carry their own)."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def left_padded(rows: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any, Any]:
    """Left-pad token id lists into ``(input_ids, attention_mask, position_ids)`` tensors."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


class HFBackend(BackendBase):
    """A Hugging Face causal LM served locally (CPU or GPU).

    Args:
        model: local checkpoint directory (or hub id where the network is available).
        device: ``"auto"`` picks CUDA when available.
        dtype: ``"auto"`` is the checkpoint's own precision on CUDA and fp32 on CPU.
        batch_size: sequences per forward pass (chats × ``n`` for sampling).
        adapter: optional peft adapter directory.
        progress: show a progress bar over batches when there are several.
    """

    def __init__(self, model: str | Path, *, device: str = "auto", dtype: str = "auto", batch_size: int = 64,
                 adapter: str | None = None, progress: bool = False) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be positive (got {batch_size})")
        tokenizer = load_tokenizer(adapter if adapter and Path(adapter, "tokenizer_config.json").exists() else model)
        self._serve(f"hf/{model}", tokenizer, load_model(model, device=device, dtype=dtype, adapter=adapter),
                    batch_size, progress)

    @classmethod
    def from_module(cls, model: Any, tokenizer_dir: str | Path, *, batch_size: int = 64) -> HFBackend:
        """Serve a module already in memory (e.g. one whose weights a diagnostic edits in place)."""
        self = cls.__new__(cls)
        self._serve(f"hf/{tokenizer_dir}", load_tokenizer(tokenizer_dir), model.eval(), batch_size, False)
        return self

    def _serve(self, name: str, tokenizer: Any, model: Any, batch_size: int, progress: bool) -> None:
        self.name, self.batch_size, self.progress = name, batch_size, progress
        self.tokenizer, self.model = tokenizer, model
        self.device = next(model.parameters()).device
        self.stop_ids = stop_token_ids(tokenizer, model)

    # -- sampling -------------------------------------------------------------------------------
    def generate(self, chats: Sequence[Chat], params: SamplingParams) -> list[Completion]:
        """Sample ``params.n`` completions per chat (consecutive, input order); seeded per call."""
        import torch

        prompts = [encode_text(self.tokenizer, render_prompt(self.tokenizer, c)) for c in chats]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding per batch
        per_batch = max(1, self.batch_size // params.n)
        batches = [order[i:i + per_batch] for i in range(0, len(order), per_batch)]
        results: dict[int, list[Completion]] = {}
        with self._progress("sampling", len(batches)) as advance, torch.inference_mode():
            for b, idx in enumerate(batches):
                torch.manual_seed(params.seed * 1_000_003 + b)
                outs = self._generate_batch([prompts[i] for i in idx], params)
                for j, i in enumerate(idx):
                    results[i] = outs[j * params.n:(j + 1) * params.n]
                advance()
        return [c for i in range(len(prompts)) for c in results[i]]

    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        from transformers import GenerationConfig

        ids, mask, _ = left_padded(prompts, self.tokenizer.pad_token_id, self.device)
        sample = not params.greedy
        gen_config = GenerationConfig(
            max_new_tokens=params.max_new_tokens, do_sample=sample, num_return_sequences=params.n,
            temperature=params.temperature if sample else None, top_p=params.top_p if sample else None,
            top_k=0 if sample else None, eos_token_id=self.stop_ids, pad_token_id=self.tokenizer.pad_token_id,
            use_cache=True,
        )
        out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen_config)
        new = out[:, ids.shape[1]:].tolist()
        stops = set(self.stop_ids)
        completions = []
        for row in new:
            cut = next((k for k, t in enumerate(row) if t in stops), None)
            tokens = row if cut is None else row[:cut]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            completions.append(Completion(text=text, finish_reason="length" if cut is None else "stop"))
        return completions

    # -- log-probabilities ----------------------------------------------------------------------
    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[float]:
        """Sum of log-probabilities of each continuation's tokens as the assistant reply (no EOS added)."""
        import torch

        if len(chats) != len(continuations):
            raise ConfigError(f"score: {len(chats)} chats but {len(continuations)} continuations")
        rows = []
        for chat, cont in zip(chats, continuations, strict=True):
            prompt = encode_text(self.tokenizer, render_prompt(self.tokenizer, chat))
            rows.append((prompt, encode_text(self.tokenizer, cont)))
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
        scores = [0.0] * len(rows)
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        with self._progress("scoring", len(batches)) as advance, torch.inference_mode():
            for idx in batches:
                for i, s in zip(idx, self._score_batch([rows[i] for i in idx]), strict=True):
                    scores[i] = s
                advance()
        return scores

    def _score_batch(self, rows: list[tuple[list[int], list[int]]]) -> list[float]:
        import torch

        keep = max(len(c) for _, c in rows)
        if keep == 0:
            return [0.0] * len(rows)
        ids, mask, pos = left_padded([p + c for p, c in rows], self.tokenizer.pad_token_id, self.device)
        # Logits only for the last `keep + 1` positions: the ones that predict continuation tokens.
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep + 1).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # position t predicts token t+1
        targets = ids[:, -keep:]
        picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        lengths = torch.tensor([len(c) for _, c in rows], device=picked.device)
        valid = torch.arange(keep, device=picked.device).unsqueeze(0) >= (keep - lengths).unsqueeze(1)
        return (picked * valid).sum(-1).tolist()

    def single_token_ids(self, texts: Sequence[str]) -> list[int] | None:
        """Each text's one token id as a reply's first token, or ``None`` if any text needs more than one."""
        ids = [encode_text(self.tokenizer, t) for t in texts]
        return [i[0] for i in ids] if all(len(i) == 1 for i in ids) else None

    def next_token_logprobs(self, chats: Sequence[Chat]) -> Any:
        """Log-probabilities ``[len(chats), vocab]`` (float32, CPU) of the assistant reply's first token.

        One forward pass per batch gives the whole distribution: the fast way to read P(answer) for
        every single-token answer at once (multi-token answers: use :meth:`score`).
        """
        import torch

        prompts = [encode_text(self.tokenizer, render_prompt(self.tokenizer, c)) for c in chats]
        out = []
        with torch.inference_mode():
            for s in range(0, len(prompts), self.batch_size):
                ids, mask, pos = left_padded(prompts[s:s + self.batch_size], self.tokenizer.pad_token_id, self.device)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits
                out.append(torch.log_softmax(logits[:, -1].float(), dim=-1).cpu())
        return torch.cat(out) if out else torch.empty(0)

    # -- housekeeping ---------------------------------------------------------------------------
    def _progress(self, what: str, total: int):
        from sublim.progress import progress_bar

        return progress_bar(f"{what} ({self.name})", total, enabled=self.progress and total > 1)

    def close(self) -> None:
        """Free the model's memory (GPU included)."""
        import torch

        if getattr(self, "model", None) is not None:
            on_gpu = self.device.type == "cuda"
            self.model = None
            if on_gpu:  # a full collection costs ~0.5 s; only worth it to hand GPU memory back
                gc.collect()
                torch.cuda.empty_cache()
