"""prefdata from Python: build, train and evaluate, and the blocks to extend it, in one place.

    import prefdata

    run = prefdata.build("pipelines/sample_vllm_cpu.yaml", "runs/demo", overrides=["sample.k=8"])
    run.funnel()        # polars frame: step, unit, in, kept, dropped, reasons
    ds = run.dataset()  # datasets.DatasetDict (train/test): prompt, chosen, rejected -- as DPOTrainer loads it
    run.report()        # runs/demo/report.html
    prefdata.train("runs/demo/dataset", config="trainer/configs/lora_cpu.yaml", out="runs/dpo",
                   overrides=["model.path=/tmp/prefdata-tiny"])
    prefdata.evaluate(["models/base", "runs/dpo/merged"], prompts="ifeval.jsonl", out="runs/eval")

`build` takes a YAML path, a dict shaped like one, or a `Recipe`; every function does what its
CLI command does (same checks, same files), so a notebook and a shell make the same runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from prefdata.records import RunManifest, StageManifest
from prefdata.rundir import RunDir


@dataclass
class Run:
    """A build's run directory and what the last `build` did in it."""

    root: Path
    manifest: RunManifest

    @classmethod
    def open(cls, root: str | Path) -> "Run":
        """A run a build wrote earlier (its manifest.json)."""
        run = RunDir(root)
        return cls(run.root, RunManifest.model_validate_json(run.manifest.read_text()))

    @property
    def stages(self) -> list[StageManifest]:
        return list(self.manifest.stages)

    def data(self, stage: str) -> pl.DataFrame:
        """A stage's output artifact (prompts, candidates, judgments, pairs)."""
        return pl.read_parquet(RunDir(self.root).stage(stage).data)

    def funnel(self) -> pl.DataFrame:
        """Rows in, kept and dropped (with reasons) at every step, as `prefdata build` prints it."""
        from prefdata.report import run_funnel

        rows = run_funnel(self.root, [s.name for s in self.stages])
        return pl.DataFrame([{"step": r["name"], "unit": r["unit"], "in": r["rows_in"], "kept": r["rows_kept"],
                              "dropped": r["rows_in"] - r["rows_kept"],
                              "reasons": ", ".join(f"{k}={v}" for k, v in (r.get("dropped") or {}).items())}
                             for r in rows])

    def dataset(self):
        """The exported dataset as a `datasets.DatasetDict` (TRL's explicit-prompt columns)."""
        from datasets import Dataset, DatasetDict

        from prefdata.io.dataset_dir import read_dataset_dir

        return DatasetDict({split: Dataset.from_polars(frame)
                            for split, frame in read_dataset_dir(RunDir(self.root).dataset).items()})

    def report(self, out: str | Path | None = None) -> Path:
        """Write the HTML report (funnel, plots, kept pairs, dropped rows by reason)."""
        from prefdata.html_report import write_report

        return write_report(self.root, out)


def build(recipe: str | Path | dict | Any, out: str | Path, overrides: list[str] = (), **options) -> Run:
    """Run a recipe into `out` (`prefdata build`); options: force_stage, until_stage, external,
    console, verbose."""
    from prefdata.runner import build as run_build

    manifest = run_build(recipe, out, list(overrides), **options)
    return Run(RunDir(out).root, manifest)


def train(data: str | Path, config: str | Path, out: str | Path | None = None, overrides: list[str] = (),
          resume: bool | str = False, overwrite: bool = False):
    """DPO-train on a dataset directory (`prefdata train`, one process); returns the TrainResult
    (output_dir, train_metrics, alarms)."""
    from prefdata.trainer.config import load_train_config
    from prefdata.trainer.dpo import train as run_train

    cfg = load_train_config(config, list(overrides), data_dir=str(data), output_dir=str(out) if out else None)
    return run_train(cfg, resume=resume, overwrite=overwrite)


def evaluate(models: list[str | Path], prompts: str | Path, out: str | Path, baseline: str | Path | None = None,
             **options) -> dict[str, Any]:
    """`prefdata eval` (prefdata/evaluate/): options: sampler, max_tokens, console."""
    from prefdata.evaluate import evaluate as run_eval

    return run_eval([str(m) for m in models], prompts, out, baseline=baseline, **options)
