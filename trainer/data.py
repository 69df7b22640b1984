"""Read the dataset directory of `prefdata import`/`build` into TRL-ready datasets.

    from prefdata.trainer.data import read_split
    frame = read_split("data/hh", "train")          # polars frame, columns checked

The trainer's one link to the data side is `schemas/dpo_example.json`: the required columns
are read from it, and a directory without them fails with the command that writes them.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import polars as pl

from prefdata.errors import DataError

TRL_COLUMNS = ["prompt", "chosen", "rejected"]


def required_columns() -> list[str]:
    schema = json.loads(resources.files("prefdata.schemas").joinpath("dpo_example.json").read_text())
    return list(schema["required"])


def split_files(data_dir: str | Path, split: str) -> list[Path]:
    return sorted(Path(data_dir).glob(f"{split}*.parquet"))


def read_split(data_dir: str | Path, split: str) -> pl.DataFrame:
    """All `<split>*.parquet` files of a dataset dir, with the DPOExample columns checked."""
    files = split_files(data_dir, split)
    if not files:
        raise DataError(
            f"{data_dir}: no {split}*.parquet files. Write the dataset with "
            f"`prefdata import SRC --out {data_dir}` or `prefdata build RECIPE --out {data_dir}`."
        )
    frames = []
    for file in files:
        try:
            frame = pl.read_parquet(file)
        except Exception as e:  # a corrupt/partial file: name it
            raise DataError(f"{file}: cannot be read as parquet ({e}); rewrite it with `prefdata import`") from None
        missing = [c for c in required_columns() if c not in frame.columns]
        if missing:
            raise DataError(
                f"{file}: missing column(s) {', '.join(missing)} required by schemas/dpo_example.json "
                f"(has {', '.join(frame.columns)}). Make the dataset with `prefdata import SRC --out DIR` "
                f"or `prefdata build RECIPE --out DIR`."
            )
        frames.append(frame.select(required_columns()))
    return pl.concat(frames, how="vertical_relaxed")


def take_fraction(frame: pl.DataFrame, fraction: float, seed: int) -> pl.DataFrame:
    """A seeded random subset; the same seed and fraction always pick the same rows."""
    if fraction >= 1.0:
        return frame
    n = max(1, round(frame.height * fraction))
    return frame.sample(n=n, seed=seed, shuffle=True)


def to_dataset(frame: pl.DataFrame):
    """A `datasets.Dataset` with TRL's explicit-prompt columns only."""
    from datasets import Dataset

    return Dataset.from_polars(frame.select(TRL_COLUMNS))


def is_conversational(frame: pl.DataFrame) -> bool:
    return frame.schema["prompt"] != pl.String
