"""The filter steps over consecutive slices of the pairs: memory bounded by the slice.

    from prefdata.partition.filters import filter_partitioned
    out_file, rejects, stats, rows_in = filter_partitioned(pairs_scan, config, stage_dir, partition_pairs=100_000)

Steps are of three kinds:
- per pair (quality, length, decontam, gap on absolute thresholds): run on each slice;
- global on a few columns (gap quantiles and observed scales, margin_quantile, rip):
  `Filter.narrow_columns()`; `apply` runs once on those columns of every surviving pair,
  and the slices keep the pair ids it kept;
- per prompt (dedup, diversity): each slice hands in its unique prompts; exact dedup groups
  normalized texts bucket by bucket (bucket = hash of the text), near dedup stacks the
  slices' MinHash digests into a memory-mapped matrix and bands it one band at a time,
  diversity stacks the slices' embeddings and selects on that matrix. The decision (one
  row per dropped prompt) is applied slice by slice with the filter's own rules.

So the work runs in passes: a pass applies the last global decision and the per-pair steps
up to the next global step, and writes what that step decides on. Every slice's rejects
are in row order, so the concatenated ledger, the pairs and the funnel equal the in-memory
stage's (tests/partition/test_partition_filters.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from prefdata.filters import build_filter
from prefdata.filters.base import check_balance, normalized_text
from prefdata.filters.length import gap_summary, length_gap
from prefdata.partition.executor import Executor, map_partitions
from prefdata.partition.files import SCRATCH_COMPRESSION, concat_parts, drop_scratch, fresh_scratch, write_scratch
from prefdata.tables import empty_rejects, reasons

PROMPT_LEVEL = ("dedup", "diversity")


def step_kind(step) -> str:
    """row | narrow | prompt: how the partitioned stage runs this filter step."""
    if step.type in PROMPT_LEVEL:
        return "prompt"
    return "row" if build_filter(step).narrow_columns() is None else "narrow"


def filter_partitioned(pairs: pl.LazyFrame, config, stage_dir: Path, *, source: Path | None = None,
                       partition_pairs: int, executor: Executor = "local", progress=None, log=None):
    """(kept pairs file in stage_dir, rejects, stats with the funnel, input pairs), as `run_filters` gives.

    `source`: the parquet file `pairs` scans, read slice by slice in place; without it the
    slices are copied into the scratch directory first.
    """
    scratch = fresh_scratch(stage_dir)
    total = pairs.select(pl.len()).collect().item()
    n_parts = max(1, -(-total // partition_pairs))
    slices = [(i * partition_pairs, partition_pairs) for i in range(n_parts)]
    if source is not None:
        sources = [{"file": str(source), "offset": offset, "length": length} for offset, length in slices]
    else:
        sources = []
        for i, (offset, length) in enumerate(slices):
            pairs.slice(offset, length).sink_parquet(scratch / f"in-{i}.parquet", compression=SCRATCH_COMPRESSION)
            sources.append({"file": str(scratch / f"in-{i}.parquet")})
    steps = [s.model_dump(mode="json") for s in config.steps]
    kinds = [step_kind(s) for s in config.steps]
    funnel: list[dict] = []
    step_rejects: dict[int, pl.DataFrame] = {}
    pending: dict | None = None  # the last global decision, applied by the next pass
    start = 0
    while True:
        stop = next((j for j in range(start, len(steps)) if kinds[j] != "row"), len(steps))
        collect = ({"step": stop, "config": steps[stop], "kind": kinds[stop], "parts": n_parts}
                   if stop < len(steps) else None)
        items = [{"index": i, "scratch": str(scratch), "source": sources[i], "apply": pending,
                  "steps": [(j, steps[j]) for j in range(start, stop)], "collect": collect,
                  "gap_in": start == 0, "gap_out": stop == len(steps)} for i in range(n_parts)]
        results = map_partitions(filter_partition, items, executor, progress, name=f"filter:pass{start}")
        sources = [r["source"] for r in results]
        for j in ([pending["step"]] if pending else []) + list(range(start, stop)):
            if j not in step_rejects:  # a narrow step's rejects came from its global decision
                step_rejects[j] = pl.concat([pl.read_parquet(scratch / f"rejects-s{j}-p{i}.parquet")
                                             for i in range(n_parts)])
            entry = _merge_step(j, steps[j], [r["steps"][str(j)] for r in results], scratch, pending,
                                step_rejects[j])
            funnel.append(entry)
            if log:
                log(f"filter {j + 1}/{len(steps)} {steps[j]['type']}: {entry['rows_in']} -> {entry['rows_kept']} pairs")
        if stop == len(steps):
            break
        pending = _decide(stop, config.steps[stop], kinds[stop], scratch, n_parts, step_rejects)
        start = stop + 1
    out = Path(stage_dir) / ".pairs.parquet"
    if all("offset" not in s for s in sources):
        concat_parts([Path(s["file"]) for s in sources], out)
    else:  # no step changed a slice: the input is the output
        pl.scan_parquet(source).sink_parquet(out)
    rejects = pl.concat([step_rejects[j] for j in range(len(steps))]) if steps else empty_rejects()
    gaps = {side: pl.concat([pl.read_parquet(scratch / f"gap-{side}-p{i}.parquet")["gap"] for i in range(n_parts)])
            for side in ("in", "out")}
    stats = {"funnel": funnel, "length_gap_before": gap_summary(gaps["in"]),
             "length_gap_after": gap_summary(gaps["out"]), "partitions": n_parts}
    drop_scratch(stage_dir)
    return out, rejects, stats, total


def _merge_step(j: int, step: dict, parts: list[dict], scratch: Path, pending: dict | None,
                rejects: pl.DataFrame) -> dict:
    """One funnel entry from the slices' counts and statistics (and the step's global decision)."""
    decided = pending if pending and pending["step"] == j else None
    stats: dict = {}
    for part in parts:  # per-slice values that do not add up are the same in every slice
        for key, value in part["stats"].items():
            stats.setdefault(key, value)
    dropped = [part["stats"]["dropped"] for part in parts if "dropped" in part["stats"]]
    if dropped:
        stats["dropped"] = {}
        for counts in dropped:
            for reason, n in counts.items():
                stats["dropped"][reason] = stats["dropped"].get(reason, 0) + n
    if decided:
        stats.update(decided["stats"])
    if step["type"] == "length":
        for side in ("before", "after"):
            gaps = [pl.read_parquet(scratch / f"gap-{side}-s{j}-p{i}.parquet")["gap"] for i in range(len(parts))]
            stats[f"length_gap_{side}"] = gap_summary(pl.concat(gaps))
    seconds = sum(p["seconds"] for p in parts) + (decided["seconds"] if decided else 0.0)
    return {"step": j + 1, "type": step["type"], "rows_in": sum(p["rows_in"] for p in parts),
            "rows_kept": sum(p["rows_kept"] for p in parts), "dropped": reasons(rejects),
            "seconds": round(seconds, 3), "stats": stats}


def filter_partition(item: dict) -> dict:
    """One slice through one pass (a task: runs in this process or on a Ray worker)."""
    from pydantic import TypeAdapter

    from prefdata.filters import FilterStepConfig

    adapter = TypeAdapter(FilterStepConfig)
    scratch, i = Path(item["scratch"]), item["index"]
    source = item["source"]
    df = (pl.scan_parquet(source["file"]).slice(source["offset"], source["length"]).collect() if "offset" in source
          else pl.read_parquet(source["file"]))
    if item["gap_in"]:
        write_scratch(length_gap(df).to_frame(), scratch / f"gap-in-p{i}.parquet")
    out: dict = {"steps": {}}
    pending = item["apply"]
    if pending:
        df = _apply_decision(df, pending, adapter.validate_python(pending["config"]), scratch, i, out)
    for j, step in item["steps"]:
        started = time.perf_counter()
        result = build_filter(adapter.validate_python(step)).apply(df)
        check_balance(result, df.height, j + 1, step["type"])
        if step["type"] == "length":
            write_scratch(length_gap(df).to_frame(), scratch / f"gap-before-s{j}-p{i}.parquet")
            write_scratch(length_gap(result.kept).to_frame(), scratch / f"gap-after-s{j}-p{i}.parquet")
        write_scratch(result.rejects, scratch / f"rejects-s{j}-p{i}.parquet")
        out["steps"][str(j)] = {"rows_in": df.height, "rows_kept": result.kept.height,
                                "stats": _plain(result.stats), "seconds": time.perf_counter() - started}
        df = result.kept
    if pending or item["steps"]:
        target = scratch / f"pass-{item['collect']['step'] if item['collect'] else 'final'}-p{i}.parquet"
        write_scratch(df, target)
        if Path(source["file"]).name.startswith(("pass-", "in-")):
            Path(source["file"]).unlink()  # read in full above: one copy of the pairs on disk at a time
        out["source"] = {"file": str(target)}
    else:
        out["source"] = source
    if item["gap_out"]:
        write_scratch(length_gap(df).to_frame(), scratch / f"gap-out-p{i}.parquet")
    if item["collect"]:
        _collect(df, item["collect"], adapter.validate_python(item["collect"]["config"]), scratch, i)
    return out


def _apply_decision(df: pl.DataFrame, pending: dict, config, scratch: Path, i: int, out: dict) -> pl.DataFrame:
    started, j = time.perf_counter(), pending["step"]
    if pending["kind"] == "narrow":
        keep = pl.read_parquet(pending["file"])["pair_id"]
        kept, stats = df.filter(pl.col("pair_id").is_in(keep.implode())), {}  # stats: the decision's own
    else:
        result = build_filter(config).apply_decided(df, pl.read_parquet(pending["file"]), {})
        check_balance(result, df.height, j + 1, config.type)
        write_scratch(result.rejects, scratch / f"rejects-s{j}-p{i}.parquet")
        kept, stats = result.kept, _plain(result.stats)
    out["steps"][str(j)] = {"rows_in": df.height, "rows_kept": kept.height, "stats": stats,
                            "seconds": time.perf_counter() - started}
    return kept


def _collect(df: pl.DataFrame, spec: dict, config, scratch: Path, i: int) -> None:
    """What the next global step decides on, from this slice."""
    j = spec["step"]
    if spec["kind"] == "narrow":
        write_scratch(df.select(build_filter(config).narrow_columns()), scratch / f"narrow-s{j}-p{i}.parquet")
        return
    prompts = (build_filter(config).prompts(df.with_row_index("_row"), "_row")
               .with_columns(pl.lit(i, dtype=pl.Int64).alias("_part")))
    if config.type == "dedup":
        buckets = spec["parts"]
        prompts = prompts.with_columns(normalized_text(pl.col("_text")).alias("_norm"))
        prompts = prompts.with_columns((pl.col("_norm").hash(0) % buckets).alias("_bucket"))
        for b in range(buckets):
            write_scratch(prompts.filter(pl.col("_bucket") == b).drop("_text", "_bucket"),
                          scratch / f"exact-s{j}-b{b}-p{i}.parquet")
        if config.near:
            from prefdata.filters.minhash import minhash_digests

            np.save(scratch / f"digests-s{j}-p{i}.npy", minhash_digests(
                prompts["_text"], threshold=config.threshold, num_perm=config.num_perm, ngram=config.ngram,
                seed=config.seed))
    else:
        from prefdata.embeddings import embed

        vectors = (embed(prompts["_text"].to_list(), config.model, config.batch_size) if prompts.height
                   else np.zeros((0, 1), np.float32))
        np.save(scratch / f"vectors-s{j}-p{i}.npy", vectors)
        write_scratch(df.group_by("prompt_id").len(), scratch / f"counts-s{j}-p{i}.parquet")
    write_scratch(prompts.select("prompt_id", "_part", "_row"), scratch / f"prompts-s{j}-p{i}.parquet")


def _decide(j: int, config, kind: str, scratch: Path, n_parts: int, step_rejects: dict) -> dict:
    """The global decision of step j, written for the next pass to apply."""
    started = time.perf_counter()
    flt = build_filter(config)
    file = scratch / f"decided-s{j}.parquet"
    if kind == "narrow":
        narrow = pl.concat([pl.read_parquet(scratch / f"narrow-s{j}-p{i}.parquet") for i in range(n_parts)])
        result = flt.apply(narrow)
        write_scratch(result.kept.select("pair_id"), file)
        step_rejects[j] = result.rejects
        stats = _plain(result.stats)
    elif config.type == "dedup":
        decided, stats = _dedup(config, scratch, j, n_parts)
        write_scratch(decided, file)
    else:
        decided, stats = _diversity(flt, scratch, j, n_parts)
        write_scratch(decided, file)
    return {"step": j, "kind": kind, "config": config.model_dump(mode="json"), "file": str(file), "stats": stats,
            "seconds": time.perf_counter() - started}


def _first_seen(scratch: Path, j: int, n_parts: int) -> pl.DataFrame:
    """Unique prompts in input order (a prompt whose pairs span two slices counts once, first)."""
    listed = pl.concat([pl.read_parquet(scratch / f"prompts-s{j}-p{i}.parquet") for i in range(n_parts)])
    return listed.with_row_index("_stacked").unique("prompt_id", keep="first", maintain_order=True)


def _dedup(config, scratch: Path, j: int, n_parts: int) -> tuple[pl.DataFrame, dict]:
    """Exact duplicates bucket by bucket, then MinHash near duplicates over the stacked digests."""
    unique = _first_seen(scratch, j, n_parts)
    decided = pl.DataFrame(schema={"prompt_id": pl.String, "_dup_reason": pl.String, "duplicate_of": pl.String})
    if config.exact:
        first = pl.col("prompt_id").first().over("_norm")
        for b in range(n_parts):
            bucket = pl.concat([pl.read_parquet(scratch / f"exact-s{j}-b{b}-p{i}.parquet") for i in range(n_parts)])
            bucket = bucket.sort("_part", "_row").unique("prompt_id", keep="first", maintain_order=True)
            bucket = bucket.with_columns(first.alias("duplicate_of")).filter(pl.col("prompt_id") != pl.col("duplicate_of"))
            decided = pl.concat([decided, bucket.select(
                "prompt_id", pl.lit("duplicate_prompt").alias("_dup_reason"), "duplicate_of")])
    near_checked = 0
    if config.near:
        from prefdata.filters.dedup import mark_near
        from prefdata.filters.minhash import near_duplicate_of_digests

        survivors = unique.join(decided.select("prompt_id"), on="prompt_id", how="anti", maintain_order="left")
        near_checked = survivors.height
        digests = _stack(scratch, f"digests-s{j}", n_parts, survivors["_stacked"].to_numpy())
        dup_local = near_duplicate_of_digests(digests, threshold=config.threshold, num_perm=config.num_perm)
        near = survivors.select("prompt_id").with_columns(
            pl.lit(None, dtype=pl.String).alias("_dup_reason"), pl.lit(None, dtype=pl.String).alias("duplicate_of"))
        near = mark_near(near, np.arange(near.height), dup_local)
        decided = pl.concat([decided, near.filter(pl.col("_dup_reason").is_not_null())])
    return decided, {"unique_prompts": unique.height, "near_checked_prompts": near_checked}


def _diversity(flt, scratch: Path, j: int, n_parts: int) -> tuple[pl.DataFrame, dict]:
    """Semantic duplicates and the budget on the stacked embeddings of the unique prompts."""
    unique = _first_seen(scratch, j, n_parts)
    vectors = np.asarray(_stack(scratch, f"vectors-s{j}", n_parts, unique["_stacked"].to_numpy()))
    counts = (pl.concat([pl.read_parquet(scratch / f"counts-s{j}-p{i}.parquet") for i in range(n_parts)])
              .group_by("prompt_id").agg(pl.col("len").sum()))
    decided = flt.decide(unique["prompt_id"], vectors, counts)
    return decided.filter(pl.col("_div_reason").is_not_null()), {"embedded_prompts": unique.height}


def _stack(scratch: Path, name: str, n_parts: int, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` (ascending) of the partitions' stacked .npy matrices, into a memory-mapped file."""
    arrays = [np.load(scratch / f"{name}-p{i}.npy", mmap_mode="r") for i in range(n_parts)]
    filled = [a for a in arrays if a.shape[0]]
    width, dtype = (filled[0].shape[1], filled[0].dtype) if filled else (1, np.float32)
    out = np.lib.format.open_memmap(scratch / f"{name}-stacked.npy", mode="w+", dtype=dtype, shape=(len(rows), width))
    offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays])])
    written = 0
    for i, a in enumerate(arrays):
        mine = rows[(rows >= offsets[i]) & (rows < offsets[i + 1])] - offsets[i]
        if len(mine):
            out[written:written + len(mine)] = a[mine]
            written += len(mine)
    out.flush()
    return out


def _plain(stats: dict) -> dict:
    """Statistics as JSON values (numpy numbers from quantiles become floats)."""
    return json.loads(json.dumps(stats, default=float))
