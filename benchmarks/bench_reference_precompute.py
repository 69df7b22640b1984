"""Precomputed + persisted reference log-probs vs an on-the-fly reference model (second run).

    python benchmarks/bench_reference_precompute.py        # ~1-2 min on 2 CPU cores
    python benchmarks/bench_reference_precompute.py --rows 512 --hidden 256

Three full-fine-tuning runs on the same data: (a) reference.strategy=model (a frozen copy,
forward pass every step), (b) precomputed, first run (reference pass + store), (c) precomputed,
second run (log-probs read back from disk, no reference pass). Reported: setup (prepare) and
training wall time per run, and the speed-up of (c) over (a).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "trainer"))


def run(model_dir: Path, data_dir: Path, out: Path, strategy: str, cache: Path, rows: int) -> tuple[float, float, dict]:
    from rich.console import Console

    from prefdata.trainer.config import validate_train_config
    from prefdata.trainer.dpo import prepare

    cfg = validate_train_config({
        "model": {"path": str(model_dir)}, "data": {"dir": str(data_dir), "eval_split": None},
        "reference": {"strategy": strategy, "cache_dir": str(cache)},
        "dpo": {"output_dir": str(out), "num_train_epochs": 1, "per_device_train_batch_size": 8,
                "precompute_ref_batch_size": 16, "learning_rate": 1e-4, "report_to": "none", "save_strategy": "no",
                "logging_steps": 1, "max_length": 256, "disable_tqdm": True}})
    start = time.perf_counter()
    prepared = prepare(cfg, Console(file=open(os.devnull, "w")))
    setup = time.perf_counter() - start
    start = time.perf_counter()
    prepared.trainer.train()
    store = getattr(prepared.plan.trainer_class, "ref_store", None)
    return setup, time.perf_counter() - start, (dict(store.hits) if store else {})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    opts = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from conftest import write_dpo_dir
    from prefdata.tiny import build_tiny_model

    root = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    model_dir = build_tiny_model(root / "model", hidden_size=opts.hidden, num_layers=4)
    data_dir = write_dpo_dir(root / "data", n_train=opts.rows, n_test=0)
    results = {}
    for name, strategy in (("on-the-fly (model)", "model"), ("precomputed, 1st run", "precomputed"),
                           ("precomputed, 2nd run", "precomputed")):
        setup, train_s, hits = run(model_dir, data_dir, root / name.replace(" ", "_"), strategy, root / "cache", opts.rows)
        results[name] = setup + train_s
        print(f"{name:22s} setup {setup:6.2f} s  train {train_s:6.2f} s  total {setup + train_s:6.2f} s"
              f"{'  (reference read from disk)' if hits else ''}")
    base = results["on-the-fly (model)"]
    print(f"2nd precomputed run vs on-the-fly: {base / results['precomputed, 2nd run']:.2f}x faster end to end")
    print(f"1st precomputed run vs on-the-fly: {base / results['precomputed, 1st run']:.2f}x")


if __name__ == "__main__":
    main()
