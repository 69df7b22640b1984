"""Scratch space of a partitioned stage, and the one-file artifact made from its parts.

    scratch = fresh_scratch(stage_dir)                  # stage_dir/partitions/, emptied
    concat_parts([scratch / "pairs-0.parquet", ...], out, sort_key="pair_id")

A killed partitioned run leaves only scratch files behind; the next run empties the
scratch directory first and starts over (partitions are cheap next to sampling and
labelling, which resume shard by shard).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from prefdata.atomic import atomic_path


# Scratch files are written once and read once: lz4 writes about twice as fast as zstd
# (the artifact's own compression), for files about 1.6x larger.
SCRATCH_COMPRESSION = "lz4"


def write_scratch(df: pl.DataFrame, path: Path) -> Path:
    df.write_parquet(path, compression=SCRATCH_COMPRESSION)
    return path


def fresh_scratch(stage_dir: Path) -> Path:
    scratch = Path(stage_dir) / "partitions"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return scratch


def drop_scratch(stage_dir: Path) -> None:
    shutil.rmtree(Path(stage_dir) / "partitions", ignore_errors=True)


def concat_parts(parts: list[Path], out: Path, sort_key: str | None = None) -> Path:
    """Stream the parts into one parquet file, in order.

    With `sort_key`, each part is sorted by it; when the parts are also in order at their
    boundaries (the usual case) the concatenation is the sorted whole, else the whole is
    sorted by polars' streaming engine.
    """
    with atomic_path(out) as tmp:
        scan = pl.scan_parquet([str(p) for p in parts])
        if sort_key is not None and not _ordered_at_boundaries(parts, sort_key):
            scan = scan.sort(sort_key, maintain_order=True)
        scan.sink_parquet(tmp)
    return out


def _ordered_at_boundaries(parts: list[Path], key: str) -> bool:
    last = None
    for part in parts:
        bounds = pl.scan_parquet(part).select(pl.col(key).first().alias("lo"), pl.col(key).last().alias("hi")).collect()
        lo, hi = bounds["lo"][0], bounds["hi"][0]
        if lo is None:
            continue  # an empty part
        if last is not None and lo < last:
            return False
        last = hi
    return True
