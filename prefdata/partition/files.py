"""Scratch space of a partitioned stage, and the one-file artifact made from its parts.

    scratch = open_scratch(stage_dir, key)             # stage_dir/partitions/, kept for a rerun of `key`
    parts, n = prompt_partitions([prompts, candidates], 100_000)   # prompt_id -> part, in prompt-key order
    sink_partitions({"candidates": candidates.join(parts, on="prompt_id", how="left")}, n, scratch)
    read_partition(scratch, "candidates", 3)
    concat_parts([scratch / "pairs-0.parquet", ...], out, sort_key="pair_id")

The scratch directory belongs to one stage key (`KEY.json`): a killed partitioned run
rerun with the same key keeps what it finished (each finished partition task leaves a marker
`done/<pass>-<i>.json` holding its result, written after its files), and any other run
empties it first. A partition killed half way is redone from its inputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from prefdata.atomic import SCRATCH_COMPRESSION, atomic_path, mark_done, read_done

def open_scratch(stage_dir: Path, key: str | None = None) -> Path:
    """stage_dir/partitions/: kept as it is when a run of the same stage key left it, else emptied."""
    scratch = Path(stage_dir) / "partitions"
    if key and (read_done(scratch / "KEY.json") or {}).get("key") == key:
        return scratch
    drop_scratch(stage_dir)
    scratch.mkdir(parents=True)
    if key:
        mark_done(scratch / "KEY.json", {"key": key})
    return scratch


def finished(scratch: Path | None, name: str) -> dict | None:
    """The result a finished partition task `name` left in `scratch`, None if it has not finished."""
    info = read_done(Path(scratch) / "done" / f"{name}.json") if scratch is not None else None
    return info["result"] if info is not None and "result" in info else None


def once(scratch: Path, name: str, fn) -> dict:
    """fn()'s result (a JSON object), computed unless an earlier run of the same key finished it."""
    result = finished(scratch, name)
    if result is None:
        result = fn()
        mark_finished(scratch, name, result)
    return result


def count_finished(scratch: Path, name: str, n: int) -> int:
    """How many of the tasks `name-0` .. `name-<n-1>` an earlier run finished (for the stage's stats)."""
    return sum(finished(scratch, f"{name}-{i}") is not None for i in range(n))


def mark_finished(scratch: Path | None, name: str, result: dict) -> None:
    """Called after the task's files are written: a rerun of the same key skips the task."""
    if scratch is not None:
        (Path(scratch) / "done").mkdir(exist_ok=True)
        mark_done(Path(scratch) / "done" / f"{name}.json", {"result": result})


def drop_scratch(stage_dir: Path) -> None:
    """Remove the scratch dir; its key goes first, so a deletion killed half way leaves no marker
    that a rerun would trust."""
    scratch = Path(stage_dir) / "partitions"
    (scratch / "KEY.json").unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)


def prompt_partitions(frames: list[pl.LazyFrame], size: int) -> tuple[pl.LazyFrame, int]:
    """(prompt_id -> part, number of parts): the prompt ids of `frames` cut into ranges of `size`,
    ordered by `prompt_id + ":"` (candidate ids start with their prompt id and a colon, so parts
    in this order hold ids in sorted order)."""
    ids = pl.concat([f.select("prompt_id") for f in frames]).unique().collect()
    keyed = ids.with_columns((pl.col("prompt_id") + ":").alias("_key")).sort("_key")
    part = keyed.select("prompt_id", (pl.int_range(pl.len()) // size).cast(pl.Int32).alias("part"))
    return part.lazy(), max(1, -(-part.height // size))


def sink_partitions(routed: dict[str, pl.LazyFrame], n_partitions: int, scratch: Path) -> None:
    """Stream each frame (with a `part` column; null: part 0) into `scratch/<name>/part=<i>/`; a
    part that some frame has no rows for gets an empty file of the right schema."""
    schemas = {}
    for name, frame in routed.items():
        shutil.rmtree(scratch / name, ignore_errors=True)  # a split killed half way left some files
        frame.with_columns(pl.col("part").fill_null(0)).sink_parquet(
            pl.PartitionBy(scratch / name, key="part", include_key=False), compression=SCRATCH_COMPRESSION)
        schemas[name] = {k: v for k, v in frame.collect_schema().items() if k != "part"}
    for i in range(n_partitions):
        for name, schema in schemas.items():
            folder = scratch / name / f"part={i}"
            if not folder.is_dir():
                folder.mkdir(parents=True)
                pl.DataFrame(schema=schema).write_parquet(folder / "empty.parquet")


def read_partition(scratch: Path, name: str, index: int) -> pl.DataFrame:
    return pl.read_parquet(sorted((Path(scratch) / name / f"part={index}").glob("*.parquet")))


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
