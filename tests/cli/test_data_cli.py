"""`prefdata import | export | validate` through the real entry point.

    python -m pytest -q tests/cli/test_data_cli.py
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from prefdata.cli import app

H, A = "\n\nHuman: ", "\n\nAssistant: "


def _prefdata(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefdata.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def hh_file(tmp_path):
    path = tmp_path / "hh.jsonl"
    rows = [{"chosen": f"{H}q{i}{A}good {i}", "rejected": f"{H}q{i}{A}bad {i}"} for i in range(20)]
    rows.append({"chosen": f"{H}x{A}", "rejected": f"{H}x{A}y"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    return path


@pytest.mark.parametrize("args, says", [
    (["import", "{tmp}/missing.jsonl", "--out", "{tmp}/o"], "no such file"),
    (["import", "{tmp}/hh.jsonl", "--format", "alpaca", "--out", "{tmp}/o"], "unknown format 'alpaca'"),
    (["import", "{tmp}/notjson.txt", "--out", "{tmp}/o"], "no line is valid JSON"),
    (["import", "{tmp}/hh.jsonl", "--format", "llamafactory", "--name", "x", "--out", "{tmp}/o"], "--name needs --dataset-info"),
    (["import", "{tmp}/hh.jsonl", "--format", "ultrafeedback", "--out", "{tmp}/o"], "all 22 rows rejected as ultrafeedback"),
    (["export", "{tmp}/nodir", "--format", "jsonl", "--out", "{tmp}/o"], "no such dataset directory"),
    (["export", "{tmp}/ds", "--format", "csv", "--out", "{tmp}/o"], "unknown export format"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path, hh_file, args, says):
    (tmp_path / "notjson.txt").write_text("this is not json\nat all\n")
    result = _prefdata(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_export_validate(tmp_path, hh_file, tiny_model_dir):
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(app, ["import", str(hh_file), "--out", str(out), "--test-size", "0.2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["import_format"] == "hh-rlhf"  # sniffed
    assert (stats["input_rows"], stats["kept"], stats["rejected_by_reason"]) == (22, 20, {"empty_chosen": 1, "bad_json": 1})
    assert stats["splits"] == {"train": 16, "test": 4}
    for fmt, expected in (("trl", "train.parquet"), ("jsonl", "train.jsonl"), ("llamafactory", "dataset_info.json")):
        result = runner.invoke(app, ["export", str(out), "--format", fmt, "--out", str(tmp_path / fmt)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / fmt / expected).is_file()
    ok = runner.invoke(app, ["validate", str(out), "--model", str(tiny_model_dir), "--max-length", "256",
                             "--report", str(tmp_path / "report.json")])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "report.json").read_text())["examples"] == 20
    short = runner.invoke(app, ["validate", str(out), "--model", str(tiny_model_dir), "--max-length", "8"])
    assert short.exit_code == 1  # every prompt alone reaches 8 tokens
    loose = runner.invoke(app, ["validate", str(out), "--model", str(tiny_model_dir), "--max-length", "8",
                                "--max", "prompt_too_long=1", "--max", "truncated=1"])
    assert loose.exit_code == 0, loose.output


def test_help_is_fast_and_lists_the_commands():
    result = _prefdata("--help")
    assert result.returncode == 0
    for command in ("import", "export", "validate"):
        assert command in result.stdout


def test_validate_with_a_missing_model_names_the_flag(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "validate", str(tmp_path), "--model",
                           str(tmp_path / "no-model")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--model" in proc.stderr and "does not exist" in proc.stderr
