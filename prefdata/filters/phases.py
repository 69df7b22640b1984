"""How a filter runs when the pairs are filtered in partitions: the scope each filter declares.

    class MyFilter(Filter):
        def scope(self): return "pair"          # or "columns", "prompt"; left out: "all"

| scope | what the decision needs | what the partitioned stage does |
|---|---|---|
| `pair` | each pair alone | `apply` on each partition; statistics merged by `merge_stats` |
| `columns` | a few columns of all pairs (`narrow_columns()`) | `apply` once on those columns of every pair; the partitions keep the pair ids it kept |
| `prompt` | all prompts' texts (dedup, diversity) | `collect` per partition -> `decide_partitions` once -> `apply_decided` per partition |
| `all` | all pairs (the default) | `apply` once on every pair, in memory, with a warning naming the filter |

A filter that declares nothing is never run partition by partition: a decision that needs all pairs
cannot be taken on a partition without changing the result. `StepScratch` holds the files one
step's phases write and read (the partitioned runner hands one to the filter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from prefdata.atomic import write_scratch

Scope = Literal["pair", "columns", "prompt", "all"]
SCOPES: tuple[Scope, ...] = ("pair", "columns", "prompt", "all")


class StepScratch:
    """The scratch files of one filter step: `name` + step + partition, in the stage's scratch dir."""

    def __init__(self, root: Path, step: int):
        self.root, self.step = Path(root), step

    def path(self, name: str, partition: int | None = None, suffix: str = ".parquet") -> Path:
        return self.root / f"{name}-s{self.step}{'' if partition is None else f'-p{partition}'}{suffix}"

    def write(self, df: pl.DataFrame, name: str, partition: int) -> None:
        write_scratch(df, self.path(name, partition))

    def read(self, name: str, n_partitions: int) -> pl.DataFrame:
        """The partitions' frames called `name`, stacked in partition order."""
        return pl.concat([pl.read_parquet(self.path(name, i)) for i in range(n_partitions)])

    def save_array(self, array: np.ndarray, name: str, partition: int) -> None:
        np.save(self.path(name, partition, ".npy"), array)

    def stack(self, name: str, n_partitions: int, rows: np.ndarray) -> np.ndarray:
        """Rows `rows` (ascending) of the partitions' stacked arrays `name`, as a memory-mapped file."""
        arrays = [np.load(self.path(name, i, ".npy"), mmap_mode="r") for i in range(n_partitions)]
        filled = [a for a in arrays if a.shape[0]]
        width, dtype = (filled[0].shape[1], filled[0].dtype) if filled else (1, np.float32)
        out = np.lib.format.open_memmap(self.path(f"{name}-stacked", suffix=".npy"), mode="w+", dtype=dtype,
                                        shape=(len(rows), width))
        offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])])
        written = 0
        for i, a in enumerate(arrays):
            mine = rows[(rows >= offsets[i]) & (rows < offsets[i + 1])] - offsets[i]
            if len(mine):
                out[written:written + len(mine)] = a[mine]
                written += len(mine)
        out.flush()
        return out


def collect_prompts(prompts: pl.DataFrame, partition: int, scratch: StepScratch) -> pl.DataFrame:
    """Record a partition's unique prompts (prompt_id, `_row` in the partition) for `first_seen`; returns them
    with `_part`."""
    prompts = prompts.with_columns(pl.lit(partition, dtype=pl.Int64).alias("_partition"))
    scratch.write(prompts.select("prompt_id", "_partition", "_row"), "prompts", partition)
    return prompts


def first_seen(scratch: StepScratch, n_partitions: int) -> pl.DataFrame:
    """Unique prompts in input order over all partitions (a prompt whose pairs span two partitions counts
    once, first), with `_stacked`: its row in the partitions' stacked arrays."""
    listed = scratch.read("prompts", n_partitions)
    return listed.with_row_index("_stacked").unique("prompt_id", keep="first", maintain_order=True)
