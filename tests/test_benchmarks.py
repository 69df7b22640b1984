"""Benchmarks run in CI at a tiny size, so they cannot rot before someone runs them at full size:
the GPU benchmark on CPU, the 10M pairing benchmark partitioned at a few thousand candidates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
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


def test_pairing_10m_benchmark_runs_partitioned_at_a_tiny_size(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_pairing_10m.py"), "--prompts", "600",
                           "--partition-prompts", "200", "--partition-pairs", "250", "--data", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    prefdata = json.loads(re.search(r"prefdata: (\{.*\})", proc.stdout).group(1))
    floor = json.loads(re.search(r"floor: (\{.*\})", proc.stdout).group(1))
    assert (prefdata["pair_partitions"], prefdata["filter_partitions"]) == (3, 3)
    assert 0 < prefdata["kept"] < prefdata["pairs"] <= 600 and 0 < floor["kept"] <= prefdata["pairs"]
    assert "ratio prefdata / floor wall time" in proc.stdout
