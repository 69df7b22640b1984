"""`prefdata export --format llamafactory` is accepted by LLaMA-Factory's own DPO data loader.

    PREFDATA_LLAMAFACTORY_PYTHON=/path/to/lf-venv/bin/python python -m pytest -q tests/io/test_llamafactory_loader.py

LLaMA-Factory pins its own transformers/datasets, so it lives in a separate virtualenv
(see /work/shared/ENVIRONMENT.md: `pip install -c constraints.txt llamafactory==0.9.5` with
`torch==2.13.0` in the constraints, then uninstall torchvision/torchaudio). Skipped unless
PREFDATA_LLAMAFACTORY_PYTHON names that virtualenv's python.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from prefdata.io.dataset_dir import read_dataset_dir
from prefdata.io.export import export_dataset

pytestmark = pytest.mark.slow
LF_PYTHON = os.environ.get("PREFDATA_LLAMAFACTORY_PYTHON")


@pytest.mark.skipif(not LF_PYTHON, reason="set PREFDATA_LLAMAFACTORY_PYTHON to a python with llamafactory installed")
def test_llamafactory_loads_every_exported_row_unchanged(lf_import, tiny_model_dir, tmp_path):
    data_dir, _ = lf_import
    export_dataset(data_dir, tmp_path / "lf", format="llamafactory", name="demo")
    out = tmp_path / "loaded.json"
    script = Path(__file__).with_name("llamafactory_loader.py")
    run = subprocess.run([LF_PYTHON, str(script), str(tiny_model_dir), str(tmp_path / "lf"), "demo", str(out)],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(out.read_text())
    rows = read_dataset_dir(data_dir)["train"].to_dicts()
    assert loaded["rows"] == len(rows) == 300  # LLaMA-Factory dropped nothing
    for ours, theirs in zip(rows, loaded["examples"]):
        assert theirs["chosen"].strip() == ours["chosen"][0]["content"].strip()
        assert theirs["rejected"].strip() == ours["rejected"][0]["content"].strip()
        for message in ours["prompt"]:  # every turn, the system prompt included, reaches the model input
            assert f"<|im_start|>{message['role']}\n{message['content']}" in theirs["prompt"]
