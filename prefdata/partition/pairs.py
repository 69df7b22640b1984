"""The pair stage over partitions of prompts: memory bounded by the partition, not the input.

    from prefdata.partition.pairs import pair_partitions
    out = pair_partitions(prompts, candidates, judgments, config, seed, stage_dir)  # config: a PairConfig
    out.data, out.rejects, out.stats   # a StageOutput, as every stage driver returns

Up to `partition_prompts` prompts (run locally) are one partition: `build_pairs` on the input
in memory. More:

1. Decide once over all the labels: the label source and whether to pair on ranks.
2. Cut the prompt ids into ranges of `partition_prompts`, ordered by `prompt_id + ":"`:
   candidate ids start with their prompt id and a colon, so partitions in this order give
   pair ids in sorted order, and the artifact is their concatenation (no global sort;
   `concat_parts` checks the boundaries and sorts only if some ids break the rule).
3. Stream each input into per-partition files (polars streaming sinks); a judgment goes
   with its candidate.
4. Pair each partition with `build_pairs`, here or as Ray Data tasks.
Either way the statistics combine by `PAIR_STATS` (each declares sum, agree or recompute);
margin statistics come from the margin column of the result.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prefdata.atomic import write_parquet, write_scratch
from prefdata.ledger import combine_stats
from prefdata.partition.executor import map_partitions
from prefdata.partition.files import (concat_parts, count_finished, drop_scratch, once, open_scratch,
                                     prompt_partitions, read_partition, sink_partitions)
from prefdata.ledger import StageOutput

INPUTS = ("prompts", "candidates", "judgments")


def pair_partitions(prompts: pl.LazyFrame, candidates: pl.LazyFrame, judgments: pl.LazyFrame, config,
                    seed: int, stage_dir: Path, *, progress=None, key: str | None = None) -> StageOutput:
    """The pair stage's one driver: pairs (a file in stage_dir, or a frame for one partition),
    prompt rejects and stats. Up to `partition_prompts` prompts run locally are the one-partition
    case: that partition is the input itself, in memory, and nothing is split. `key`: the stage
    key; a rerun of the same key keeps the partitions a killed run finished."""
    from prefdata.pairing.build import PAIR_STATS, build_pairs, check_types, describe, pair_plan

    partition_prompts, executor = config.partition_prompts, config.executor
    check_types(judgments)
    label, use_rank = pair_plan(judgments, config)
    n_prompts = prompts.select(pl.len()).collect().item()
    resumed = 0
    if executor == "local" and n_prompts <= partition_prompts:
        pairs, rejects, drops, part = build_pairs(prompts.collect(), candidates.collect(), judgments.collect(),
                                                  config, seed, plan=(label, use_rank))
        parts, n_partitions, margin = [part], 1, part["margin"]
    else:
        scratch = open_scratch(stage_dir, key)
        n_partitions = once(scratch, "pair:split", lambda: {
            "partitions": _split_inputs(prompts, candidates, judgments, partition_prompts, scratch)})["partitions"]
        items = [{"index": i, "scratch": str(scratch), "config": config.model_dump(mode="json"), "seed": seed,
                  "label": label, "use_rank": use_rank} for i in range(n_partitions)]
        resumed = count_finished(scratch, "pair:partitions", n_partitions)
        results = map_partitions(pair_partition, items, executor, progress, name="pair:partitions", scratch=scratch)
        pairs = concat_parts([scratch / f"pairs-{i}.parquet" for i in range(n_partitions)],
                             Path(stage_dir) / ".pairs.parquet", sort_key="pair_id")
        rejects = pl.concat([pl.read_parquet(scratch / f"rejects-{i}.parquet") for i in range(n_partitions)]) \
            .sort("row_id", nulls_last=True)
        drops = pl.concat([pl.read_parquet(scratch / f"candidate-rejects-{i}.parquet")
                           for i in range(n_partitions)]).sort(["reason", "row_id"])
        parts = [r["stats"] for r in results]
        margin = describe(pl.scan_parquet(pairs).select("margin").collect()["margin"])
        drop_scratch(stage_dir)
    stats = {**combine_stats(parts, PAIR_STATS, {"margin": margin}),
             "partitions": n_partitions, "partitions_resumed": resumed}
    listed = Path(stage_dir) / "candidate_rejects.parquet"
    listed.unlink(missing_ok=True)  # an earlier run's list
    if drops.height:
        write_parquet(drops, listed)
    return StageOutput(data=pairs, rejects=rejects, rows_in=stats["prompts_in"], rows_kept=stats["prompts_paired"],
                       stats=stats)


def _split_inputs(prompts: pl.LazyFrame, candidates: pl.LazyFrame, judgments: pl.LazyFrame, size: int,
                  scratch: Path) -> int:
    parts, n_partitions = prompt_partitions([prompts, candidates], size)
    cand_parts = candidates.select("candidate_id", "prompt_id").join(parts, on="prompt_id", how="left") \
        .select("candidate_id", pl.col("part").alias("_cpart"))
    sink_partitions({
        "prompts": prompts.join(parts, on="prompt_id", how="left", maintain_order="left"),
        "candidates": candidates.join(parts, on="prompt_id", how="left", maintain_order="left"),
        # A judgment goes with its candidate; one of an unknown candidate (counted, never used) with its prompt.
        "judgments": judgments.join(cand_parts, on="candidate_id", how="left", maintain_order="left")
        .join(parts, on="prompt_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_cpart", "part", pl.lit(0, dtype=pl.Int32)).alias("part")).drop("_cpart"),
    }, n_partitions, scratch)
    return n_partitions


def pair_partition(item: dict) -> dict:
    """Pair one partition (a task: runs in this process or on a Ray worker)."""
    from prefdata.pairing.build import PairConfig, build_pairs

    scratch, i = Path(item["scratch"]), item["index"]
    frames = {name: read_partition(scratch, name, i) for name in INPUTS}
    pairs, rejects, drops, stats = build_pairs(frames["prompts"], frames["candidates"], frames["judgments"],
                                               PairConfig(**item["config"]), item["seed"],
                                               plan=(item["label"], item["use_rank"]))
    write_scratch(pairs, scratch / f"pairs-{i}.parquet")
    write_scratch(rejects, scratch / f"rejects-{i}.parquet")
    write_scratch(drops, scratch / f"candidate-rejects-{i}.parquet")
    return {"stats": stats}
