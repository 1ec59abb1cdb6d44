"""Benchmark: stacked MNIST MLPs vs a plain per-model loop of ``nn.Linear`` models, plus the preset's wall time.

Both implementations train the same number of models (10 by default) on the same batches with Adam:
a teacher step (cross-entropy on one shared digit batch) and a student step (KL on each model's own
noise batch). Timings are taken in the same process, alternating, after a warm-up; the ratio is
loop time / stacked time. Then the default ``cpu`` preset of ``sublim mnist`` is run end to end in a
temporary directory and its wall time printed. The load average is printed too: on a shared machine
the absolute times are inflated, the ratio much less so.

Run:
    python benchmarks/mnist_stacked.py                  # ~3 min: micro-benchmark (batch 1024 and 64) + default preset
    python benchmarks/mnist_stacked.py --skip-preset    # micro-benchmark only (~20 s)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sublim.mnist.model import StackedMLP, init_weights

SIZES = (784, 256, 256, 13)


def plain_models(n: int) -> list[nn.Sequential]:
    """``n`` ordinary MLPs with the same initial weights as the stacked ones."""
    out = []
    for seed in range(n):
        w1, b1, w2, b2, w3, b3 = init_weights(SIZES, seed)
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 13))
        with torch.no_grad():
            for lin, w, b in zip(net[0::2], (w1, w2, w3), (b1, b2, b3), strict=True):
                lin.weight.copy_(w.T)
                lin.bias.copy_(b)
        out.append(net)
    return out


def kl(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    t = F.log_softmax(target, -1)
    return (t.exp() * (t - F.log_softmax(student, -1))).sum(-1).mean(-1)


def time_steps(step, n_steps: int) -> float:
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    return (time.perf_counter() - t0) / n_steps


def micro(n_models: int, batch: int, n_steps: int, repeats: int) -> dict[str, tuple[float, float]]:
    x = torch.randn(batch, 784)
    y = torch.randint(0, 10, (batch,))
    noise = torch.empty(n_models, batch, 784).uniform_(-1, 1)
    target = torch.randn(n_models, batch, 3)
    stacked = StackedMLP.initialised(n_models, SIZES, list(range(n_models)))
    s_opt = torch.optim.Adam(stacked.parameters(), lr=1e-3)
    loop = plain_models(n_models)
    l_opts = [torch.optim.Adam(m.parameters(), lr=1e-3) for m in loop]

    def stacked_teacher():
        out = stacked(x)[..., :10]
        loss = F.cross_entropy(out.reshape(-1, 10), y.repeat(n_models), reduction="sum") / batch
        s_opt.zero_grad()
        loss.backward()
        s_opt.step()

    def loop_teacher():
        for m, opt in zip(loop, l_opts, strict=True):
            loss = F.cross_entropy(m(x)[:, :10], y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def stacked_student():
        loss = kl(stacked(noise)[..., 10:], target).sum()
        s_opt.zero_grad()
        loss.backward()
        s_opt.step()

    def loop_student():
        for i, (m, opt) in enumerate(zip(loop, l_opts, strict=True)):
            loss = kl(m(noise[i])[:, 10:], target[i])
            opt.zero_grad()
            loss.backward()
            opt.step()

    results = {}
    for name, (fast, slow) in {"teacher step": (stacked_teacher, loop_teacher),
                               "student step": (stacked_student, loop_student)}.items():
        ts, tl = [], []
        for _ in range(repeats):  # alternate so both see the same machine load
            ts.append(time_steps(fast, n_steps))
            tl.append(time_steps(slow, n_steps))
        results[name] = (statistics.median(ts), statistics.median(tl))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--batch", type=int, nargs="+", default=[1024, 64], help="Batch sizes to time.")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-preset", action="store_true", help="Do not time the default `sublim mnist` preset.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (above ~0.5 means other jobs share the CPU)")
    for batch in args.batch:
        print(f"{args.models} MLPs {'-'.join(map(str, SIZES))}, batch {batch}, median of {args.repeats}×{args.steps} steps")
        for name, (fast, slow) in micro(args.models, batch, args.steps, args.repeats).items():
            print(f"  {name:13s} stacked {1000 * fast:7.1f} ms | per-model nn.Linear loop {1000 * slow:7.1f} ms "
                  f"| ratio loop/stacked {slow / fast:.2f}x")
    if args.skip_preset:
        return
    from sublim.mnist.experiment import run_mnist

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_dir = run_mnist(None, "cpu", [f"threads={args.threads}"], Path(tmp))
        wall = time.perf_counter() - t0
        report = (run_dir / "report.md").read_text().splitlines()[2]
    print(f"default 'cpu' preset (10 seeds, teacher + same/diff-init aux students): wall time {wall:.1f} s "
          f"(load average now {os.getloadavg()[0]:.2f})")
    print(f"  {report[:220]}")


if __name__ == "__main__":
    main()
