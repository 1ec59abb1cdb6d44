#!/usr/bin/env bash
# One pass over sublim's CUDA paths on a GPU machine, in a few minutes:
#   1. the gpu-marked tests (CUDA sampler and trainer agree with the CPU; bf16 LoRA; number-vocabulary
#      distillation into a steering vector);
#   2. benchmarks/gpu_throughput.py (sampling and training tokens/s against `sublim estimate`'s table);
#   3. the default suite's trainer and sampler tests with CUDA visible (on CUDA, dtype auto keeps the
#      checkpoint's precision);
#   4. the organism_matched study on CUDA, timed, to set beside its CPU numbers in docs/studies.md.
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (sublim installed, or PYTHONPATH=src)
set -u
out=${1:-${OUT:-/tmp/sublim-gpu-check}}
mkdir -p "$out"
export SUBLIM_PROGRESS=0 PYTHONUNBUFFERED=1
sublim=(python3 -c "from sublim.cli import app; app()")   # the CLI, installed or from PYTHONPATH

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__,
'peft', peft.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
python3 -c "import vllm; print('vllm', vllm.__version__)" 2>/dev/null || echo "vllm: not installed (its gpu test skips)"

echo "== 1. pytest -m gpu"
timeout 150 python3 -m pytest -m gpu tests/gpu tests/backends/test_vllm.py -q -p no:cacheprovider -rs 2>&1 | tail -15

echo "== 2. throughput"
timeout 150 python3 benchmarks/gpu_throughput.py 2>&1 | grep -v -i warn

echo "== 3. default trainer/sampler tests with CUDA visible"
timeout 120 python3 -m pytest tests/finetuning tests/backends/test_hf.py -q -p no:cacheprovider 2>&1 | tail -15

echo "== 4. organism_matched on CUDA"
start=$(date +%s)
timeout "${STUDY_TIMEOUT:-300}" "${sublim[@]}" run configs/organism_matched.yaml --out "$out/runs" > "$out/study.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s"
tail -25 "$out/study.log"
cp "$out/runs/organism-matched/metrics.json" "$out/organism-matched-metrics.json" 2>/dev/null
python3 - "$out/runs/organism-matched" <<'PY' 2>&1 | tail -20
import json, sys
from sublim.diagnostics.criteria import level_a
for split in ("eval", "heldout"):
    r = level_a(sys.argv[1], split=split)
    print(split, json.dumps({k: (v.get("value"), v["passed"]) for k, v in r["checks"].items()}))
    print(split, json.dumps({c: round(e["mean"], 4) for c, e in r["estimates"].items()}))
PY
