"""Benchmarks run in CI at a tiny size, so they cannot rot before someone runs them at full size:
the GPU benchmark on CPU, the 10M pairing benchmark partitioned at a few thousand candidates,
the real-model benchmark's every arm on the tiny model."""

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


@pytest.mark.slow
@pytest.mark.timeout(1500)  # about 10 minutes on the slower CPU kind: a stall fails, a slow machine passes
def test_real_model_benchmark_runs_every_arm_at_a_tiny_size(tmp_path, tiny_model_dir, shared_data):
    out = tmp_path / "real"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_real.py"), "--size", "tiny", "--seeds", "0",
                           "--model", str(tiny_model_dir), "--out", str(out), "--shared", str(shared_data)],
                          capture_output=True, text=True, timeout=1400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert list(summary["arms"]) == ["base", "ultrafeedback", "max_min", "prefdata", "prefdata+dynamic", "iterative"]
    for arm, entry in summary["arms"].items():
        assert 0.0 <= entry["strict_prompt"] <= 1.0 and entry["num_tokens"] > 0
        if arm not in ("base", "ultrafeedback"):
            low, high = entry["strict_prompt_vs_ultrafeedback"]["ci95"]
            assert low <= entry["strict_prompt_vs_ultrafeedback"]["diff"] <= high
    # equal candidate budgets: 40 prompts x 4, fixed or spent by dynamic sampling
    assert summary["yield"]["prefdata"]["candidates"] == 160
    assert 80 < summary["yield"]["prefdata+dynamic"]["candidates"] <= 160
    assert [t["met"] in (True, False) for t in summary["targets"]] == [True] * 4
    timings = json.loads((out / "seed0" / "timings.json").read_text())
    steps = {c["step"] for c in timings["commands"]}
    assert timings["cpu"] and steps >= {"labels", "build prefdata+dynamic", "train prefdata", "iterate", "eval"}
    assert "| prefdata+dynamic |" in (out / "summary.md").read_text()
    iterate = json.loads((out / "seed0" / "iterate" / "report.json").read_text())  # scored as by prefdata eval
    assert all(set(r["ifeval"]) == {"strict_prompt", "loose_instruction"} for r in iterate["rounds"])
    assert iterate["rounds"][2]["ifeval"]["strict_prompt"]["vs_initial"]["prompt_strict"]["prompts"] == 2
    reading = (out / "seed0" / "guard_reading.md").read_text()
    assert "## without the guard" in reading and "## with the guard" in reading


def test_bench_real_pools_seeds_and_marks_each_target():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_real

    def arm(strict, kept, candidates):
        n = len(strict)
        return {"per_prompt": {"prompt_id": [f"p{i}" for i in range(n)], "strict_prompt": strict,
                               "loose_instruction": strict, "relevance": [0.5] * n, "num_tokens": [10] * n},
                "pairs": sum(kept), "yield": {"prompt_id": [f"p{i}" for i in range(n)], "candidates": candidates,
                                              "pairs": kept, "kept": kept}}

    def seed(prefdata):
        arms = {"base": arm([0] * 20, [0] * 20, [4] * 20), "ultrafeedback": arm([1, 0] * 10, [1] * 20, [4] * 20),
                "prefdata": arm(prefdata, [1, 0] * 10, [4] * 20), "prefdata+dynamic": arm(prefdata, [1] * 20, [4] * 20)}
        return {"arms": arms, "yield": {a: arms[a].pop("yield") for a in bench_real.PREFDATA}}

    summary = bench_real.summarize({0: seed([1] * 20), 1: seed([1] * 18 + [0, 0])})
    vs_uf = summary["arms"]["prefdata"]["strict_prompt_vs_ultrafeedback"]
    assert vs_uf["diff"] == 0.45 and vs_uf["verdict"] == "holds"  # 38 of 40 against 20 of 40, over both seeds
    assert summary["arms"]["prefdata"]["pairs"] == [10, 10]
    assert summary["yield"]["ratio"]["ratio"] == 2.0 and summary["yield"]["prefdata"]["candidates"] == 160
    assert [t["met"] for t in summary["targets"]] == [True, True, True, True]
    worse = bench_real.summarize({0: seed([0] * 20)})
    assert [t["met"] for t in worse["targets"]] == [False, False, True, True]
    assert "| prefdata+dynamic |" in bench_real.markdown(summary, bench_real.SIZES["tiny"], [0, 1])


def test_bench_evidence_compares_the_arms_that_ran():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_evidence

    per_seed = {s: {"ultrafeedback": {"correct": [0, 1, 0, 1]}, "prefdata": {"correct": [1, 1, 0, 1]},
                    "sft": {"correct": [0, 0, 0, 1]}} for s in range(3)}
    compared = bench_evidence.compare(per_seed)
    assert compared["prefdata - ultrafeedback"]["diff"] == 0.25 and compared["ultrafeedback - sft"]["diff"] == 0.25
    assert "margin_quantile - prefdata" not in compared  # arms that did not run are left out


@pytest.mark.slow
def test_active_benchmark_runs_every_setting_at_a_tiny_size(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_active.py"), "--out", str(tmp_path),
                           "--seeds", "0", "--tiny"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    settings = summary["summary"]
    assert list(settings)[:2] == ["sft", "judges"] and list(settings)[-1] == "human"
    assert len(settings) == 2 + 3 * 5 + 1  # sft, judges, 5 criteria x 3 budgets, human
    assert settings["judges"]["human_prompts"] == 0 and settings["human"]["human_prompts"] == 40
    for budget, n in (("0.1", 4), ("0.25", 10), ("0.5", 20)):
        assert all(settings[f"{c}@{budget}"]["human_prompts"] <= n for c in ("margin", "random", "implicit_margin"))
    assert settings["random@0.5"]["human_prompts"] == 20
    assert "implicit_margin@0.25 - random@0.25" in summary["paired"]
    assert "| human |" in proc.stdout


def test_bench_dynamic_yield_compares_yields_at_equal_candidates():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_dynamic_yield
    import polars as pl

    def arm(kept, candidates):
        return pl.DataFrame({"prompt_id": [f"p{i}" for i in range(len(kept))], "candidates": candidates,
                             "pairs": kept, "kept": kept})

    per_prompt = {a: arm([1, 0] * 20, [8] * 40) for a in ("fixed_k4", "fixed_k8", "dynamic", "fixed_k4+complete",
                                                          "fixed_k8+complete", "dynamic+complete")}
    per_prompt["fixed_k4"] = arm([1, 0] * 20, [4] * 40)
    per_prompt["dynamic"] = arm([1, 1] * 20, [4, 12] * 20)  # 8 per prompt on average, every prompt paired
    report = bench_dynamic_yield.summarize(per_prompt, n_boot=500)
    assert report["arms"]["dynamic"] == {"candidates": 320, "prompts": 40, "prompts_paired": 40, "pairs": 40,
                                         "kept": 40, "yield_per_1k": 125.0}
    equal = report["ratios"]["dynamic / fixed_k8"]  # 125 vs 62.5 kept pairs per 1,000 candidates
    assert equal["ratio"] == 2.0 and equal["ci95"][0] <= 2.0 <= equal["ci95"][1]
    assert report["ratios"]["dynamic / fixed_k4"]["ratio"] == 1.0  # 125 vs 125: k=4 spends half as much
