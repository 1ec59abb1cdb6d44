"""Measured GPU throughput of the Hugging Face paths against ``sublim estimate``'s assumptions.

``sublim estimate`` predicts hours from a throughput table (``sublim.pipeline.estimate.THROUGHPUT``)
that was written without a GPU. This times the same kinds of work on random-init models of real
shapes (no download: weights are drawn on the GPU, so only the shapes are real):

* sampling with ``model.generate`` (the HF sampler), batch 64, 48 new tokens forced, bf16;
* one LoRA step (rank 8, attention + MLP projections) and, for small models, a full-weight step,
  batch 16 × 128 tokens, AdamW.

and prints tokens/s next to the table's prediction (ratio measured / assumed). With ``--sample-batches``
it times sampling alone at several batch sizes instead (what ``generation.sampler_batch_size`` buys on
a GPU).

Usage: python benchmarks/gpu_throughput.py [--shapes smollm2-135m,qwen2.5-0.5b,qwen2.5-7b]
       python benchmarks/gpu_throughput.py --shapes smollm2-135m --sample-batches 64,256,1024
"""

from __future__ import annotations

import argparse
import time

import torch

from sublim.pipeline.estimate import local_rate

# (family, hidden, layers, heads, kv_heads, intermediate, vocab): the published configs' shapes
SHAPES = {
    "smollm2-135m": ("llama", 576, 30, 9, 3, 1536, 49152),
    "qwen2.5-0.5b": ("qwen2", 896, 24, 14, 2, 4864, 151936),
    "qwen2.5-7b": ("qwen2", 3584, 28, 28, 4, 18944, 152064),
}


def build(shape: str, dtype: torch.dtype = torch.bfloat16) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    family, hidden, layers, heads, kv, inter, vocab = SHAPES[shape]
    config_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if family == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    config = config_cls(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        num_key_value_heads=kv, intermediate_size=inter, vocab_size=vocab,
                        max_position_embeddings=4096, tie_word_embeddings=shape != "qwen2.5-7b")
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = model_cls(config).to(dtype)
    return model.eval()


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (kernels, allocator)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def sample_rate(model, batch: int = 64, prompt: int = 40, new: int = 48) -> float:
    ids = torch.randint(100, 1000, (batch, prompt), device="cuda")
    args = dict(max_new_tokens=new, min_new_tokens=new, do_sample=True, top_k=0, temperature=1.0,
                pad_token_id=0, eos_token_id=None)
    with torch.inference_mode():
        seconds = timed(lambda: model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **args), 2)
    return batch * new / seconds


def train_rate(model, *, lora: bool, batch: int = 16, seq: int = 128) -> float:
    from peft import LoraConfig, get_peft_model

    if lora:
        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=8, target_modules=targets))
    else:
        model = model.float()  # full fine-tunes keep float32 weights (AdamW in pure bf16 loses updates)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    ids = torch.randint(100, 1000, (batch, seq), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=not lora):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    seconds = timed(step, 5)
    return batch * seq / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sample-batches", default="", help="comma-separated batch sizes: time sampling "
                        "alone at each (ratio against the first), instead of the table")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"],
                        help="--sample-batches: weight precision (float32: what dtype auto keeps for a "
                        "float32 checkpoint, e.g. the prepared SmolLM2)")
    args = parser.parse_args()
    print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}")
    if args.sample_batches:
        batches = [int(b) for b in args.sample_batches.split(",")]
        print(f"{'shape':14} {'dtype':9} {'batch':>6} {'tokens/s':>10} {'ratio':>6}")
        for shape in args.shapes.split(","):
            model = build(shape, getattr(torch, args.dtype))
            first = None
            for b in batches:  # printed as measured: a run cut short still reports what it reached
                rate = sample_rate(model, batch=b)
                first = first or rate
                print(f"{shape:14} {args.dtype:9} {b:6d} {rate:10.0f} {rate / first:6.2f}", flush=True)
            del model
            torch.cuda.empty_cache()
        return
    print(f"{'shape':14} {'params':>7} {'work':12} {'tokens/s':>10} {'assumed':>9} {'ratio':>6}")
    for shape in args.shapes.split(","):
        model = build(shape)
        n = sum(p.numel() for p in model.parameters())
        rows = [("sample (hf)", sample_rate(model), "sample"), ("train lora", train_rate(model, lora=True), "train")]
        if n < 1e9:
            del model
            torch.cuda.empty_cache()
            rows.append(("train full", train_rate(build(shape), lora=False), "train"))
        for work, rate, kind in rows:
            assumed = local_rate("gpu", kind, n, "hf")
            print(f"{shape:14} {n / 1e9:6.2f}B {work:12} {rate:10.0f} {assumed:9.0f} {rate / assumed:6.2f}",
                  flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
