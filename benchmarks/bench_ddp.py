"""Two-process (accelerate DDP over gloo) vs one-process DPO training on CPU, same global batch.

    python benchmarks/bench_ddp.py --steps 20 --rows 64

`prefdata train` runs twice on the same synthetic dataset and tiny model: one process with
batch 4, then `--num-processes 2` with batch 2 per process (global batch 4). Prints seconds
per optimizer step (TRL's train_runtime / steps) and wall time of each, their ratio, and the
largest weight difference between the two final models. For the record: on 2 cores the two
ranks share the machine with each other (and with the gloo all-reduce).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml


def make_data(out: Path, rows: int) -> Path:
    from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
    from prefdata.ledger import empty_rejects

    examples = [{"prompt": [{"role": "user", "content": f"what is {i} plus {i}?"}],
                 "chosen": [{"role": "assistant", "content": f"{2 * i}"}],
                 "rejected": [{"role": "assistant", "content": f"{2 * i + 1}"}],
                 "prompt_id": f"p{i}", "source": "bench"} for i in range(rows)]
    write_dataset_dir(out, examples_frame(examples), empty_rejects(), source="synthetic")
    return out


def train(data: Path, model: Path, out: Path, steps: int, batch: int, processes: int) -> tuple[float, float]:
    config = out.with_suffix(".yaml")
    config.write_text(yaml.safe_dump({"model": {"path": str(model)}, "data": {"eval_split": None}, "dpo": {
        "max_steps": steps, "per_device_train_batch_size": batch, "learning_rate": 1e-3, "report_to": "none",
        "save_strategy": "no", "logging_steps": 1, "max_length": 128, "seed": 0, "disable_tqdm": True}}))
    cmd = [sys.executable, "-m", "prefdata.cli", "train", "--data", str(data), "--config", str(config),
           "--out", str(out), "--num-processes", str(processes)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    return json.loads((out / "train_metrics.json").read_text())["train_runtime"] / steps, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rows", type=int, default=64)
    args = ap.parse_args()
    from safetensors.torch import load_file

    from prefdata.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp())
    model = build_tiny_model(root / "model", seed=0)
    data = make_data(root / "data", args.rows)
    one = train(data, model, root / "one", args.steps, 4, 1)
    two = train(data, model, root / "two", args.steps, 2, 2)
    a, b = load_file(str(root / "one" / "model.safetensors")), load_file(str(root / "two" / "model.safetensors"))
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(json.dumps({"steps": args.steps, "global_batch": 4,
                      "one_process": {"s_per_step": round(one[0], 4), "wall_s": round(one[1], 1)},
                      "two_processes": {"s_per_step": round(two[0], 4), "wall_s": round(two[1], 1)},
                      "step_time_ratio_two_over_one": round(two[0] / one[0], 2),
                      "max_abs_weight_difference": diff}, indent=2))


if __name__ == "__main__":
    main()
