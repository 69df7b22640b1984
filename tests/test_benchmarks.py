"""The GPU benchmark runs in CI at a tiny size on CPU, so it cannot rot before a GPU runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_benchmark_runs_at_a_tiny_size_on_cpu(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu" / "run.sh"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [s["strategy"] for s in result["strategies"]] == ["model", "adapter_disabled", "adapter", "precomputed"]
    assert all(s["s_per_step"] > 0 and s["peak_memory_gib"] > 0 for s in result["strategies"])
    assert result["vllm"]["candidates_per_s"] > 0 and result["device"] == "cpu"
