#!/usr/bin/env bash
# GPU measurements in one go: bf16 DPO step time + peak memory per reference strategy on a
# 0.5B Qwen2-shaped random model, and vLLM candidates/s. `--tiny` runs the same code on CPU.
#   bash benchmarks/gpu/run.sh [--out results.json]      # on a GPU machine (CUDA torch, vllm, trl)
#   bash benchmarks/gpu/run.sh --tiny                    # CPU smoke run (tests/test_benchmarks.py)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PY" benchmarks/gpu/bench_gpu.py "$@"
