"""A TrainerCallback that appends every logged metrics dict to `<output_dir>/metrics.jsonl`.

    trainer.add_callback(MetricsJsonl("runs/dpo/metrics.jsonl"))
    rows = read_metrics("runs/dpo/metrics.jsonl")   # list of dicts, one per log event

Each line carries `step`, `epoch` and `split` ("train" or "eval"; eval keys lose their
`eval_` prefix) so the plots and the alarms read one format.

The file describes one run: when training begins it is cut back to the rows of steps up to
the trainer's starting step (none for a fresh run, the checkpoint's step on resume), so a
resumed run never logs a step twice and a rerun never mixes with the previous one. A
half-written last line (the process was killed mid-write) is dropped too.
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

    def on_train_begin(self, args, state, control, **kwargs):
        # The state is already the checkpoint's when resuming (transformers loads it first).
        if state.is_world_process_zero:
            truncate_metrics(self.path, state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(normalise(logs, state.global_step, state.epoch)) + "\n")


def truncate_metrics(path: str | Path, step: int) -> int:
    """Keep only the rows logged at steps <= `step` (all steps up to a checkpoint); returns how many."""
    path = Path(path)
    if not path.is_file():
        return 0
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill -9
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)
    return len(kept)


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        rows.append({k: float(v) if v in ("nan", "inf", "-inf") else v for k, v in row.items()})
    return rows
