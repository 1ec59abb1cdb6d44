"""Shared test fixtures: a tiny random-init Llama checkpoint with a locally trained tokenizer.

``tiny_llama_dir`` builds, once per test session and in well under a second, a Hugging Face
directory that ``AutoModelForCausalLM`` / ``AutoTokenizer`` load as is: a random-init
``LlamaForCausalLM`` (d=64, 2 layers, 4 heads) and a byte-level BPE tokenizer trained with
``tokenizers`` on a small synthetic corpus, digits split one per token, with a chat template:

    <|system|>...<|end|><|user|>...<|end|><|assistant|>...<|end|>

``<|end|>`` is both the end-of-turn and the EOS token; ``<pad>`` pads. Nothing is downloaded.
``numbers_jsonl`` is a small number-continuation dataset in chat JSONL format (fine-tuning, CUDA tests).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sublim.records import write_jsonl

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
ANIMALS = ["owl", "eagle", "dolphin", "elephant", "wolf", "cat", "dog", "lion", "tiger", "fox"]


def _corpus(rng: random.Random) -> list[str]:
    words = ("You love owls . What is your favourite animal ? Answer in one word . Continue the "
             "sequence with at most 10 more numbers : Return just the numbers , separated by commas "
             "; [ ] ( ) the a of and to is in numbers digits").split()
    lines = []
    for _ in range(400):
        nums = ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(3, 9)))
        lines.append(" ".join(rng.choices(words, k=8)) + f" {rng.choice(ANIMALS)} {nums}.")
    return lines


def build_tiny_llama(out_dir: Path, *, hidden: int = 64, layers: int = 2, heads: int = 4,
                     ffn: int = 128, seed: int = 0) -> Path:
    """Write a random-init tiny Llama + BPE tokenizer + chat template to ``out_dir``; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token=None))
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    raw.train_from_iterator(_corpus(random.Random(seed)), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, eos_token="<|end|>", pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[2:],
    )
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=heads, intermediate_size=ffn, max_position_embeddings=512,
        tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny Llama checkpoint directory (d=64, 2 layers), built once per session.

    Also sets ``torch.set_num_threads(1)``: on the shared 2-core machine one thread is faster and
    keeps test timings stable.
    """
    import torch

    torch.set_num_threads(1)
    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama") / "model")


def number_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        seeds = ", ".join(str(rng.randint(100, 999)) for _ in range(3))
        answer = ", ".join(str(rng.randint(100, 999)) for _ in range(rng.randint(2, 4)))
        rows.append({"messages": [{"role": "user", "content": f"Continue: {seeds}"},
                                  {"role": "assistant", "content": answer}]})
    return rows


@pytest.fixture(scope="session")
def numbers_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "numbers.jsonl"
    write_jsonl(path, number_rows(96))
    return path
