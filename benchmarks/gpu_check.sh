#!/usr/bin/env bash
# One pass over sublim's CUDA paths on a GPU machine, in a few minutes:
#   1. the gpu-marked tests (CUDA sampler and trainer agree with the CPU; bf16 LoRA; number-vocabulary
#      distillation into a steering vector);
#   2. benchmarks/gpu_throughput.py (sampling and training tokens/s against `sublim estimate`'s table,
#      then sampling alone at batches 64-1024: what generation.sampler_batch_size buys);
#   3. the default suite's trainer and sampler tests with CUDA visible (on CUDA, dtype auto keeps the
#      checkpoint's precision);
#   4. a study on CUDA from an EMPTY cache, timed (default: the demo, configs/organism.yaml, whose six
#      tiny bases are built first, one CPU process each), with the Level-A checks and each base's
#      sha256 (to compare with bases built on another machine: same config, same bytes?).
# Usage: bash benchmarks/gpu_check.sh [OUT_DIR]   (sublim installed, or PYTHONPATH=src)
#   STUDY=organism_matched  another config;  SKIP="2 3"  steps to leave out.
set -u
out=${1:-${OUT:-/tmp/sublim-gpu-check}}
mkdir -p "$out"
export SUBLIM_PROGRESS=0 PYTHONUNBUFFERED=1
sublim=(python3 -c "from sublim.cli import app; app()")   # the CLI, installed or from PYTHONPATH

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__,
'peft', peft.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
python3 -c "import vllm; print('vllm', vllm.__version__)" 2>/dev/null || echo "vllm: not installed (its gpu test skips)"

skip() { [[ " ${SKIP:-} " == *" $1 "* ]] && echo "(skipped)"; }

echo "== 1. pytest -m gpu"
skip 1 ||
timeout 150 python3 -m pytest -m gpu tests/gpu tests/backends/test_vllm.py -q -p no:cacheprovider -rs 2>&1 | tail -15

echo "== 2. throughput"
skip 2 || { timeout 150 python3 benchmarks/gpu_throughput.py 2>&1 | grep -v -i warn
  timeout 90 python3 benchmarks/gpu_throughput.py --shapes smollm2-135m --sample-batches 64,256,1024 --dtype float32 2>&1 | grep -v -i warn; }

echo "== 3. default trainer/sampler tests with CUDA visible"
skip 3 || timeout 120 python3 -m pytest tests/finetuning tests/backends/test_hf.py -q -p no:cacheprovider 2>&1 | tail -15

study=${STUDY:-organism}
echo "== 4. $study on CUDA, from an empty cache"
export SUBLIM_CACHE_DIR="$out/cache"
rm -rf "$SUBLIM_CACHE_DIR" "$out/runs"
start=$(date +%s)
timeout "${STUDY_TIMEOUT:-420}" "${sublim[@]}" run "configs/$study.yaml" --out "$out/runs" > "$out/study.log" 2>&1
echo "exit $? after $(( $(date +%s) - start )) s"
grep -i "tiny base .* built\|build\|→ .*seed" "$out/study.log" | head -12
tail -20 "$out/study.log"
run=$(ls -d "$out"/runs/*/ 2>/dev/null | head -1)
python3 - "$run" "$SUBLIM_CACHE_DIR" <<'PY' 2>&1 | tail -30
import hashlib, json, sys
from pathlib import Path
from sublim.diagnostics.criteria import level_a
run, cache = Path(sys.argv[1]), Path(sys.argv[2])
for base in sorted((cache / "tiny").glob("*/manifest.json")):
    m = json.loads(base.read_text())
    digest = hashlib.sha256((base.parent / "model.safetensors").read_bytes()).hexdigest()[:16]
    print("base", base.parent.name, "seed", m["config"]["seed"], "sha256", digest,
          "built in", round(m["wall_time"]["total_s"]), "s")
for split in ("eval", "heldout"):
    r = level_a(run, split=split)
    print(split, "passed:", {k: v["passed"] for k, v in r["checks"].items()})
    cross = r["checks"]["cross_init_null"]["value"]
    print(split, "different-init rise %+.4f [%+.4f, %+.4f]" % (cross["difference"], cross["low"], cross["high"]))
    print(split, json.dumps({c: round(e["mean"], 4) for c, e in r["estimates"].items()}))
PY
