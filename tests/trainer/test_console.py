"""`prefdata train` on the console: a few lines and one progress line, no TRL log dicts; the
engines' output (transformers, TRL, datasets) is in OUTPUT_DIR/logs/train.log."""

from __future__ import annotations

import subprocess
import sys


def test_a_short_train_prints_at_most_40_lines_and_no_log_dicts(tiny_model_dir, dpo_dir, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"model:\n  path: {tiny_model_dir}\ndata:\n  eval_split: null\n"
                      "dpo:\n  max_steps: 4\n  per_device_train_batch_size: 2\n  report_to: none\n"
                      "  max_length: 128\n  save_strategy: 'no'\n  learning_rate: 0.001\n")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "prefdata.cli", "train", "--data", str(dpo_dir), "--config",
                           str(config), "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    text = "\n".join(lines)
    assert "{'loss'" not in text and "Loading weights" not in text and "Tokenizing" not in text
    assert "train 4/4" in text and "loss " in text and "acc " in text and "margin " in text
    assert "Tokenizing" in (out / "logs" / "train.log").read_text()
