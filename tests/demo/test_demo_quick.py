"""`prefdata demo --quick` end to end: the CLI, every stage, training, the report.

The accuracy claims (which training set beats which) are measured over 3 seeds by
benchmarks/bench_evidence.py. Here: what must hold on any seed if the pipeline is wired
right (prefdata's pairs never tie, the naive rule's do; the same steps for every set).
"""

import json
import subprocess
import sys

import pytest

from prefdata.demo.run import BEST


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "prefdata.cli", "demo", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 60, "\n".join(lines)  # one line per build and training; engines in logs/
    assert "INFO" not in proc.stderr and "{'loss'" not in proc.stderr and "held-out" in proc.stderr
    report = json.loads((out / "results.json").read_text())
    results = report["results"]
    assert set(results) == {"sft", "ultrafeedback", BEST}
    # k=8 answers to an addition prompt repeat: the naive rule pairs an answer with its own copy
    assert results["ultrafeedback"]["identical"] > 0 and results["ultrafeedback"]["ties"] > 0
    assert results[BEST]["identical"] == 0 and results[BEST]["ties"] == 0
    # the noisy reward model inverts some pairs in both sets; the clean check sees it
    assert 0 < results[BEST]["inverted"] < 0.5 and results["ultrafeedback"]["label_noise"] > 0
    # The SFT policy is right only part of the time: there is something to learn.
    assert 0.05 < results["sft"]["accuracy"] < 0.95
    for name in ("accuracy.png", "training_curves.png"):
        assert (out / name).stat().st_size > 1000
    steps = set()
    for variant in ("ultrafeedback", BEST):
        metrics = [json.loads(line) for line in (out / "models" / f"dpo-{variant}" / "metrics.jsonl").open()]
        steps.add(max(m["step"] for m in metrics))
        assert (out / "models" / f"dpo-{variant}" / "DONE").is_file()
    assert steps == {report["size"]["train_steps"]}  # every set trains for the same number of steps
    manifest = json.loads((out / "runs" / BEST / "manifest.json").read_text())
    for stage in manifest["stages"]:
        assert stage["rows_in"] == stage["rows_kept"] + sum(stage["dropped"].values()), stage["name"]
