"""A TrainerCallback that appends every logged metrics dict to `<output_dir>/metrics.jsonl`.

    trainer.add_callback(MetricsJsonl("runs/dpo/metrics.jsonl"))
    rows = read_metrics("runs/dpo/metrics.jsonl")   # list of dicts, one per log event

Each line carries `step`, `epoch` and `split` ("train" or "eval"; eval keys lose their
`eval_` prefix) so the plots and the alarms read one format. Resuming appends.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import TrainerCallback


def split_of(logs: dict) -> str:
    return "eval" if any(k.startswith("eval_") for k in logs) else "train"


def normalise(logs: dict, step: int, epoch: float | None) -> dict:
    """One JSON-safe row: NaN/inf become strings so the file stays valid JSON."""
    split = split_of(logs)
    row = {"step": step, "epoch": epoch, "split": split}
    for key, value in logs.items():
        key = key.removeprefix("eval_") if split == "eval" else key
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)
        row[key] = value
    return row


class MetricsJsonl(TrainerCallback):
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(normalise(logs, state.global_step, state.epoch)) + "\n")


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        rows.append({k: float(v) if v in ("nan", "inf", "-inf") else v for k, v in row.items()})
    return rows
