"""`prefdata doctor` through the real entry point: the machine, and a recipe's engine settings.

    python -m pytest -q tests/test_doctor.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prefdata.hardware import cpu_info

REPO = Path(__file__).resolve().parents[1]


def doctor(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "doctor", "--json", *args], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_the_machine_report_names_the_cpu_and_its_instruction_sets():
    machine = doctor()["machine"]
    cpu = cpu_info()
    assert machine["cpu"] == cpu.model and machine["cores"] == cpu.cores
    assert machine["native_bf16"] == cpu.native_bf16 and machine["auto_dtype_on_cpu"] in ("float32", "bfloat16")
    assert set(machine["isa"]) <= cpu.flags and "torch" in machine["packages"]
    assert 0 < machine["memory_gib"]["available"] <= machine["memory_gib"]["total"]


@pytest.mark.slow
def test_a_recipe_gets_its_engine_settings_and_a_measured_estimate(tiny_model_dir):
    pytest.importorskip("vllm")
    recipe = REPO / "pipelines" / "sample_vllm_cpu.yaml"
    report = doctor(str(recipe), "--set", f"sample.models.0.model={tiny_model_dir}",
                    "--set", "sample.models.0.max_model_len=null", "--measure", "1")
    [model] = report["models"]
    assert model["prompts"] > 0 and model["answers"] == 4 * model["prompts"] and model["max_tokens"] == 32
    engine, why = model["engine"], model["engine_reasons"]
    assert engine["max_model_len"] == 256 and "longest prompt" in why["max_model_len"]  # need < 256, model has 512
    assert engine["enable_chunked_prefill"] is False and engine["dtype"] == "float32"
    estimate = model["estimate"]
    assert estimate["tokens_per_s"] > 0 and estimate["generation_s_upper_bound"] >= 0
