"""Trainer fixtures: a tiny DPO dataset directory and a config factory for quick CPU runs.

Runs use the session's tiny Llama (`tiny_model_dir`), max_steps of 2-6 and batch size 2,
so a training test takes ~1-3 s after the ~9 s TRL import paid once per session.
"""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from prefdata.tiny import default_corpus


def write_dpo_dir(out: Path, n_train: int = 16, n_test: int = 4, seed: int = 0, conversational: bool = True) -> Path:
    """A dataset dir as `prefdata import` writes it (through write_dataset_dir, so with its
    completion marker): train.parquet / test.parquet, DPOExample columns."""
    from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
    from prefdata.ledger import REJECT_SCHEMA

    rng = random.Random(seed)
    lines = default_corpus(200, seed=seed)
    rows, splits = [], []
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            q, good, bad = rng.sample(lines, 3)
            q, good, bad = q[:60], good[:40], bad[:25]
            if conversational:
                prompt = [{"role": "user", "content": q}]
                chosen = [{"role": "assistant", "content": good}]
                rejected = [{"role": "assistant", "content": bad}]
            else:
                prompt, chosen, rejected = q, good, bad
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "prompt_id": f"{split}-{i}",
                         "chosen_score": 1.0, "rejected_score": 0.0, "margin": 1.0, "source": "test"})
            splits.append(split)
    write_dataset_dir(out, examples_frame(rows), pl.DataFrame(schema=REJECT_SCHEMA), splits=splits, source="test")
    return out


def rewrite_split(data_dir: Path, split: str, frame: pl.DataFrame) -> Path:
    """Replace one split file of a complete dataset dir and mark the dir complete again (tests of bad data)."""
    from prefdata.io.dataset_dir import mark_complete

    frame.write_parquet(data_dir / f"{split}.parquet")
    mark_complete(data_dir, {"note": "rewritten by a test"})
    return data_dir


@pytest.fixture(scope="session")
def data_dirs():
    """data_dirs.write(path) -> a complete dataset dir; data_dirs.rewrite(dir, split, frame) replaces a split."""
    return SimpleNamespace(write=write_dpo_dir, rewrite=rewrite_split)


@pytest.fixture(scope="session")
def dpo_dir(tmp_path_factory) -> Path:
    return write_dpo_dir(tmp_path_factory.mktemp("dpo-data"))


@pytest.fixture
def make_cfg(tiny_model_dir, dpo_dir, tmp_path):
    """cfg = make_cfg(peft={"mode": "lora"}, dpo={"loss_type": "ipo"}) -> a validated TrainConfig."""
    from prefdata.trainer.config import validate_train_config

    def make(**sections):
        dpo = {"output_dir": str(tmp_path / "run"), "max_steps": 2, "per_device_train_batch_size": 2,
               "per_device_eval_batch_size": 2, "learning_rate": 1e-3, "report_to": "none",
               "save_strategy": "no", "logging_steps": 1, "max_length": 128, "seed": 0,
               "disable_tqdm": True, **sections.pop("dpo", {})}
        raw = {"model": {"path": str(tiny_model_dir)}, "data": {"dir": str(dpo_dir), "eval_split": None},
               "reference": {"cache_dir": str(tmp_path / "ref-cache")}, "dpo": dpo}
        for key, value in sections.items():
            raw[key] = {**raw.get(key, {}), **value}
        return validate_train_config(raw, "test")

    return make
