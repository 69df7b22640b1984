#!/usr/bin/env bash
# GPU measurements in one go: bf16 DPO step time + peak memory per reference strategy on a
# 0.5B Qwen2-shaped random model, and vLLM candidates/s. `--tiny` runs the same code on CPU.
#   bash benchmarks/gpu/run.sh [--out results.json]      # on a GPU machine (CUDA torch, vllm, trl)
#   bash benchmarks/gpu/run.sh --tiny                    # CPU smoke run (tests/test_benchmarks.py)
# `--real`: the real-model benchmark at its GPU size instead (SmolLM2-135M-Instruct, full
# fine-tune, 2,000 training prompts, 3 seeds; benchmarks/bench_real.py):
#   bash benchmarks/gpu/run.sh --real [--out runs/bench-real-gpu]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
if [ "${1:-}" = "--real" ]; then
  shift
  exec "$PY" benchmarks/bench_real.py --size gpu --seeds 0 1 2 "$@"
fi
exec "$PY" benchmarks/gpu/bench_gpu.py "$@"
