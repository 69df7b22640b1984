"""The filter steps over consecutive partitions of the pairs: memory bounded by the partition.

    from prefdata.partition.filters import filter_partitions
    out = filter_partitions(pairs_scan, config, stage_dir)   # config: a FilterConfig (partition_pairs, executor)
    out.data, out.rejects, out.stats["funnel"]   # a StageOutput, as every stage driver returns

Up to `partition_pairs` pairs (run locally) are one partition: the input in memory, every step
applied to it in turn, whatever its scope. More pairs: each step runs as its filter's declared
scope says (prefdata/filters/phases.py lists which shipped filter declares what); this module
names no filter:
- `pair` (each pair alone): `apply` on each partition;
- `columns` (a few columns of all pairs): `apply` once on `narrow_columns()` of every
  surviving pair; the partitions keep the pair ids it kept;
- `all` (a filter that declares nothing): as `columns`, on every column, with a warning;
- `prompt` (all prompts' texts): `collect` per partition, `decide_partitions` once (one row per
  dropped prompt), `apply_decided` partition by partition with the filter's own rules.

So the work runs in passes: a pass applies the last global decision and the per-pair steps
up to the next global step, and collects what that step decides on. Every partition's rejects
are in row order, so the concatenated ledger, the pairs and the funnel equal the one-partition
case's (tests/partition/test_partition_filters.py). Either way a step's statistics are its
partitions' (`merge_stats`) updated by its global decision's and by `summarize` over all pairs,
and its funnel entry is made by one function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

from prefdata.atomic import SCRATCH_COMPRESSION, write_scratch
from prefdata.filters import build_filter
from prefdata.filters.base import FilterContractError, check_balance
from prefdata.filters.phases import StepScratch
from prefdata.partition.executor import map_partitions
from prefdata.partition.files import concat_parts, count_finished, drop_scratch, once, open_scratch
from prefdata.ledger import StageOutput, empty_rejects, reasons
from prefdata.ledger import check_balance as ledger_balance
from prefdata.lengths import gap_summary, length_gap


# how each declared scope runs here: per partition (row), once on a few or all columns (narrow), per prompt
KINDS = {"pair": "row", "columns": "narrow", "all": "narrow", "prompt": "prompt"}


def step_scope(step) -> str:
    """The step's declared scope, checked by the filter's own contract (a bug in the filter otherwise)."""
    flt = build_filter(step)
    if (problem := flt.contract_problem()) is not None:
        raise FilterContractError(f"filter {step.type!r}: {problem}")
    return flt.scope()


def filter_partitions(pairs: pl.DataFrame | pl.LazyFrame, config, stage_dir: Path | None = None, *,
                      source: Path | None = None, progress=None, log=None, key: str | None = None) -> StageOutput:
    """The filter stage's one driver: the kept pairs (a file in stage_dir, or a frame for one
    partition), the rejects of every step in order, and stats with the funnel.

    `source`: the parquet file `pairs` scans, read partition by partition in place; without it the
    partitions are copied into the scratch directory first. `key`: the stage key; a rerun of the
    same key keeps the partitions a killed run finished, pass by pass.
    """
    pairs, partition_pairs, executor = pairs.lazy(), config.partition_pairs, config.executor
    total = pairs.select(pl.len()).collect().item()
    if executor == "local" and total <= partition_pairs:
        return _one_partition(pairs.collect(), config, log)
    scratch = open_scratch(stage_dir, key)
    n_partitions = max(1, -(-total // partition_pairs))
    partitions = [(i * partition_pairs, partition_pairs) for i in range(n_partitions)]
    if source is not None:
        sources = [{"file": str(source), "offset": offset, "rows": rows} for offset, rows in partitions]
    else:
        sources = [{"file": str(scratch / f"in-{i}.parquet")} for i in range(n_partitions)]

        def copy() -> dict:
            for i, (offset, rows) in enumerate(partitions):
                pairs.slice(offset, rows).sink_parquet(sources[i]["file"], compression=SCRATCH_COMPRESSION)
            return {}

        once(scratch, "filter:copy", copy)
    steps = [s.model_dump(mode="json") for s in config.steps]
    scopes = [step_scope(s) for s in config.steps]
    kinds = [KINDS[scope] for scope in scopes]
    for j, (step, scope) in enumerate(zip(config.steps, scopes)):
        if log and scope == "all":
            log(f"filter {j + 1}/{len(steps)} {step.type}: declares no scope, so it runs once over all surviving "
                f"pairs in memory (not partition by partition); declare scope() to bound its memory "
                "(prefdata/filters/phases.py)")
    funnel: list[dict] = []
    step_rejects: dict[int, pl.DataFrame] = {}
    pending: dict | None = None  # the last global decision, applied by the next pass
    start = resumed = 0
    while True:
        stop = next((j for j in range(start, len(steps)) if kinds[j] != "row"), len(steps))
        collect = ({"step": stop, "config": steps[stop], "kind": kinds[stop], "parts": n_partitions}
                   if stop < len(steps) else None)
        items = [{"index": i, "scratch": str(scratch), "source": sources[i], "apply": pending,
                  "steps": [(j, steps[j]) for j in range(start, stop)], "collect": collect,
                  "gap_in": start == 0, "gap_out": stop == len(steps)} for i in range(n_partitions)]
        resumed += count_finished(scratch, f"filter:pass{start}", n_partitions)
        results = map_partitions(filter_partition, items, executor, progress, name=f"filter:pass{start}",
                                 scratch=scratch, cleanup=_drop_consumed)
        sources = [r["source"] for r in results]
        for j in ([pending["step"]] if pending else []) + list(range(start, stop)):
            if j not in step_rejects:  # a narrow step's rejects came from its global decision
                step_rejects[j] = pl.concat([pl.read_parquet(scratch / f"rejects-s{j}-p{i}.parquet")
                                             for i in range(n_partitions)])
            entry = _merge_step(j, config.steps[j], [r["steps"][str(j)] for r in results], scratch, pending,
                                step_rejects[j])
            funnel.append(entry)
            if log:
                log(f"filter {j + 1}/{len(steps)} {steps[j]['type']}: {entry['rows_in']} -> {entry['rows_kept']} pairs")
        if stop == len(steps):
            break
        pending = _decide(stop, config.steps[stop], kinds[stop], scratch, n_partitions, step_rejects)
        start = stop + 1
    out = Path(stage_dir) / ".pairs.parquet"
    if all("offset" not in s for s in sources):
        concat_parts([Path(s["file"]) for s in sources], out)
    else:  # no step changed a partition: the input is the output
        pl.scan_parquet(source).sink_parquet(out)
    rejects = pl.concat([step_rejects[j] for j in range(len(steps))]) if steps else empty_rejects()
    gaps = {side: pl.concat([pl.read_parquet(scratch / f"length-gap-{side}-p{i}.parquet")["length_gap"]
                             for i in range(n_partitions)]) for side in ("in", "out")}
    drop_scratch(stage_dir)
    return _output(out, rejects, total, funnel, gaps["in"], gaps["out"], n_partitions, resumed)


def _one_partition(pairs: pl.DataFrame, config, log) -> StageOutput:
    """Every step applied in turn to all the pairs, in memory."""
    current, parts, funnel = pairs, [], []
    for j, step in enumerate(config.steps):
        started = time.perf_counter()
        flt = build_filter(step)
        result = flt.apply(current)
        check_balance(result, current.height, j + 1, step.type)
        before = flt.values(current)
        values = (before, flt.values(result.kept)) if before is not None else None
        funnel.append(_entry(j, step, current.height, result.kept.height, result.rejects,
                             _step_stats(flt, [_plain(result.stats)], values), time.perf_counter() - started))
        if log:
            log(f"filter {j + 1}/{len(config.steps)} {step.type}: {current.height} -> {result.kept.height} pairs")
        parts.append(result.rejects)
        current = result.kept
    rejects = pl.concat(parts) if parts else empty_rejects()
    return _output(current, rejects, pairs.height, funnel, length_gap(pairs), length_gap(current), 1, 0)


def _output(data, rejects: pl.DataFrame, rows_in: int, funnel: list[dict], gap_in: pl.Series, gap_out: pl.Series,
            n_partitions: int, resumed: int) -> StageOutput:
    stats = {"funnel": funnel, "length_gap_before": gap_summary(gap_in), "length_gap_after": gap_summary(gap_out),
             "dropped": reasons(rejects), "partitions": n_partitions, "partitions_resumed": resumed}
    return StageOutput(data=data, rejects=rejects, rows_in=rows_in, stats=stats)


def _entry(j: int, step, rows_in: int, rows_kept: int, rejects: pl.DataFrame, stats: dict, seconds: float) -> dict:
    """One step's funnel entry, its balance checked."""
    ledger_balance(f"filter step {j + 1} ({step.type})", rows_in, rows_kept, rejects.height)
    return {"step": j + 1, "type": step.type, "rows_in": rows_in, "rows_kept": rows_kept,
            "dropped": reasons(rejects), "seconds": round(seconds, 3), "stats": stats}


def _step_stats(flt, parts: list[dict], values: tuple[pl.DataFrame, pl.DataFrame] | None,
                decided: dict | None = None) -> dict:
    """A step's statistics: its partitions' merged, then its global decision's, then `summarize`
    over the values of all pairs before and after it (when the filter gives values)."""
    summary = flt.summarize(*values) if values is not None else {}
    stats = flt.merge_stats([{k: v for k, v in p.items() if k not in summary} for p in parts])
    stats.update(decided or {})
    stats.update(summary)
    return stats


def _merge_step(j: int, step, parts: list[dict], scratch: Path, pending: dict | None,
                rejects: pl.DataFrame) -> dict:
    """One funnel entry from the partitions' counts and statistics (and the step's global decision)."""
    decided = pending if pending and pending["step"] == j else None
    flt, store = build_filter(step), StepScratch(scratch, j)
    values = ((store.read("values-before", len(parts)), store.read("values-after", len(parts)))
              if store.path("values-before", 0).is_file() else None)
    stats = _step_stats(flt, [p["stats"] for p in parts], values, decided["stats"] if decided else None)
    seconds = sum(p["seconds"] for p in parts) + (decided["seconds"] if decided else 0.0)
    return _entry(j, step, sum(p["rows_in"] for p in parts), sum(p["rows_kept"] for p in parts), rejects, stats,
                  seconds)


def filter_partition(item: dict) -> dict:
    """One partition through one pass (a task: runs in this process or on a Ray worker)."""
    from pydantic import TypeAdapter

    from prefdata.filters import FilterStepConfig

    adapter = TypeAdapter(FilterStepConfig)
    scratch, i = Path(item["scratch"]), item["index"]
    source = item["source"]
    df = (pl.scan_parquet(source["file"]).slice(source["offset"], source["rows"]).collect() if "offset" in source
          else pl.read_parquet(source["file"]))
    if item["gap_in"]:
        write_scratch(length_gap(df).to_frame(), scratch / f"length-gap-in-p{i}.parquet")
    out: dict = {"steps": {}}
    pending = item["apply"]
    if pending:
        df = _apply_decision(df, pending, adapter.validate_python(pending["config"]), scratch, i, out)
    for j, step in item["steps"]:
        started = time.perf_counter()
        flt = build_filter(adapter.validate_python(step))
        result = flt.apply(df)
        check_balance(result, df.height, j + 1, step["type"])
        before = flt.values(df)
        if before is not None:
            StepScratch(scratch, j).write(before, "values-before", i)
            StepScratch(scratch, j).write(flt.values(result.kept), "values-after", i)
        write_scratch(result.rejects, scratch / f"rejects-s{j}-p{i}.parquet")
        out["steps"][str(j)] = {"rows_in": df.height, "rows_kept": result.kept.height,
                                "stats": _plain(result.stats), "seconds": time.perf_counter() - started}
        df = result.kept
    if pending or item["steps"]:
        target = scratch / f"pass-{item['collect']['step'] if item['collect'] else 'final'}-p{i}.parquet"
        write_scratch(df, target)
        out["source"] = {"file": str(target)}
    else:
        out["source"] = source
    if item["gap_out"]:
        write_scratch(length_gap(df).to_frame(), scratch / f"length-gap-out-p{i}.parquet")
    if item["collect"]:
        _collect(df, item["collect"], adapter.validate_python(item["collect"]["config"]), scratch, i)
    return out


def _drop_consumed(item: dict, result: dict) -> None:
    """After a partition's pass is marked finished: the scratch copy it read and replaced is no
    longer needed (one copy of the pairs on disk at a time; the input artifact itself is kept)."""
    source = Path(item["source"]["file"])
    if source != Path(result["source"]["file"]) and source.name.startswith(("pass-", "in-")):
        source.unlink(missing_ok=True)


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
    """What the next global step decides on, from this partition."""
    flt, store = build_filter(config), StepScratch(scratch, spec["step"])
    if spec["kind"] == "narrow":
        store.write(df.select(flt.narrow_columns() or pl.all()), "narrow", i)
    else:
        flt.collect(df, i, spec["parts"], store)


def _decide(j: int, config, kind: str, scratch: Path, n_partitions: int, step_rejects: dict) -> dict:
    """The global decision of step j, written for the next pass to apply."""
    started = time.perf_counter()
    flt, store = build_filter(config), StepScratch(scratch, j)
    file = store.path("decided")
    if kind == "narrow":
        narrow = store.read("narrow", n_partitions)
        result = flt.apply(narrow)
        check_balance(result, narrow.height, j + 1, config.type)
        write_scratch(result.kept.select("pair_id"), file)
        step_rejects[j] = result.rejects
        stats = _plain(result.stats)
    else:
        decided, stats = flt.decide_partitions(store, n_partitions)
        write_scratch(decided, file)
    return {"step": j, "kind": kind, "config": config.model_dump(mode="json"), "file": str(file), "stats": stats,
            "seconds": time.perf_counter() - started}


def _plain(stats: dict) -> dict:
    """Statistics as JSON values (numpy numbers from quantiles become floats)."""
    return json.loads(json.dumps(stats, default=float))
