"""Step time of the prefdata harness vs a plain TRL script with the same settings (target: < 5% overhead).

    python benchmarks/bench_trainer_overhead.py            # ~1-2 min on 2 CPU cores
    python benchmarks/bench_trainer_overhead.py --steps 60 --repeats 5 --hidden 256

Both sides train the same local tiny Llama on the same DPO parquet dir with the same
DPOConfig; the plain side is what a user would write by hand (AutoModel + datasets + DPOTrainer),
the harness side is `prefdata.trainer.dpo.prepare` (checks, metrics JSONL, alarms callbacks).
Only `trainer.train()` is timed; runs alternate so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))


def dpo_kwargs(out: Path, steps: int) -> dict:
    return {"output_dir": str(out), "max_steps": steps, "per_device_train_batch_size": 4, "learning_rate": 1e-4,
            "report_to": "none", "save_strategy": "no", "logging_steps": 1, "max_length": 256, "seed": 0,
            "bf16": False, "gradient_checkpointing": False, "disable_tqdm": True, "dataloader_pin_memory": False}


def plain_trl(model_dir: Path, data_dir: Path, out: Path, steps: int) -> float:
    from datasets import Dataset
    import polars as pl
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    frame = pl.read_parquet(data_dir / "train.parquet").select("prompt", "chosen", "rejected")
    trainer = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(model_dir),
                         args=DPOConfig(**dpo_kwargs(out, steps)), train_dataset=Dataset.from_polars(frame),
                         processing_class=AutoTokenizer.from_pretrained(model_dir))
    start = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - start) / steps


def harness(model_dir: Path, data_dir: Path, out: Path, steps: int) -> float:
    from rich.console import Console

    from prefdata.trainer.config import validate_train_config
    from prefdata.trainer.dpo import prepare

    cfg = validate_train_config({"model": {"path": str(model_dir)}, "data": {"dir": str(data_dir), "eval_split": None},
                                 "dpo": dpo_kwargs(out, steps)})
    run = prepare(cfg, Console(file=open(os.devnull, "w")))
    spent = _time_callbacks(run.trainer)
    start = time.perf_counter()
    run.trainer.train()
    elapsed = time.perf_counter() - start
    CALLBACK_SHARE.append(spent[0] / elapsed)
    return elapsed / steps


CALLBACK_SHARE: list[float] = []


def _time_callbacks(trainer) -> list[float]:
    """Wrap the harness's own callbacks (metrics JSONL, alarms) to time them: a load-robust overhead figure."""
    from prefdata.trainer.alarms import DPOAlarms
    from prefdata.trainer.metrics import MetricsJsonl

    spent = [0.0]
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, (DPOAlarms, MetricsJsonl)):
            original = callback.on_log

            def timed(*args, _original=original, **kwargs):
                start = time.perf_counter()
                _original(*args, **kwargs)
                spent[0] += time.perf_counter() - start

            callback.on_log = timed
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=128)
    opts = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from conftest import write_dpo_dir
    from prefdata.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    model_dir = build_tiny_model(root / "model", hidden_size=opts.hidden)
    data_dir = write_dpo_dir(root / "data", n_train=opts.steps * 4, n_test=0)
    plain_trl(model_dir, data_dir, root / "warm", 2)  # warm imports and kernels
    plain, ours = [], []
    for i in range(opts.repeats):
        plain.append(plain_trl(model_dir, data_dir, root / f"plain{i}", opts.steps))
        ours.append(harness(model_dir, data_dir, root / f"harness{i}", opts.steps))
    # min: the least-disturbed run of each side (the box is shared; medians swing by +-20% here)
    p, h = min(plain), min(ours)
    print(f"median overhead: {100 * (statistics.median(ours) / statistics.median(plain) - 1):+.1f}%")
    print(f"plain TRL step: {p * 1000:.1f} ms (runs {[round(x * 1000, 1) for x in plain]})")
    print(f"harness step:   {h * 1000:.1f} ms (runs {[round(x * 1000, 1) for x in ours]})")
    print(f"overhead: {100 * (h / p - 1):+.1f}% (target < 5%)")
    print(f"time inside the harness callbacks: {100 * statistics.median(CALLBACK_SHARE):.2f}% of train time")


if __name__ == "__main__":
    main()
