"""The label stage over partitions of prompts: memory bounded by the partition, not the input.

    from prefdata.partition.labels import label_partitioned
    out_file, rejects, stats = label_partitioned(prompts, candidates, config, stage_dir, store_for, runner_for,
                                                 partition_prompts=100_000)

1. Cut the prompt ids into ranges of `partition_prompts` (as the pair stage does) and stream
   prompts and candidates into per-partition files; each candidate keeps its input row number.
2. Judges run one after another, as in memory: each is built once for the whole stage (a
   model loads once) and labels the partitions in order with the in-memory stage's
   `run_judge`; a model judge's shards resume as in memory (one shard folder per partition).
3. With several judges, each partition's aggregate rows: `rank` and `majority` compare
   candidates of one prompt; `mean` standardizes each judge over the whole run, so its mean
   and std are taken once over every partition's scores first.
4. Statistics: counts add up; the agreement report is computed once on every partition's
   derived pair labels (pairs never cross prompts, so no partition splits one).
The artifact is every judge's rows (judge by judge, partition by partition), then the
aggregate's. A killed run of the same stage key keeps every finished (judge, partition).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from prefdata.atomic import write_scratch
from prefdata.faults import crash_point
from prefdata.frames import frame
from prefdata.labelling.runner import build_items, finish_labels, judge_scales, label_stats, merge_run_stats, run_judge
from prefdata.ledger import empty_rejects
from prefdata.partition.files import (concat_parts, drop_scratch, finished, mark_finished, once, open_scratch,
                                      prompt_partitions, read_partition, sink_partitions)
from prefdata.records import Judgment

COUNTS = ("candidates", "prompts", "unlabelled_candidates", "judged", "parse_failures")


def label_partitioned(prompts: pl.LazyFrame, candidates: pl.LazyFrame, config, stage_dir: Path,
                      store_for: Callable, runner_for: Callable, *, partition_prompts: int, console=None,
                      progress=None, key: str | None = None) -> tuple[Path, pl.DataFrame, dict]:
    """(judgments file in stage_dir, rejects, stats), as the in-memory stage gives.

    `store_for(judge_config, partition)`: the judge's ShardStore for that partition (None for
    judges that run whole); `runner_for(judge_config)`: a JudgeRunner, used for every partition."""
    scratch = open_scratch(stage_dir, key)

    def split() -> dict:
        parts, n = prompt_partitions([prompts, candidates], partition_prompts)
        sink_partitions({
            "prompts": prompts.join(parts, on="prompt_id", how="left", maintain_order="left"),
            "candidates": candidates.with_row_index("_row", offset=1)
            .join(parts, on="prompt_id", how="left", maintain_order="left"),
        }, n, scratch)
        return {"partitions": n}

    n_partitions = once(scratch, "label:split", split)["partitions"]

    def items_of(i: int):
        return build_items(read_partition(scratch, "prompts", i), read_partition(scratch, "candidates", i))

    judge_stats, resumed, total = {}, 0, len(config.judges) * n_partitions
    for judge_config in config.judges:
        parts = []
        with runner_for(judge_config) as runner:
            for i in range(n_partitions):
                name = f"label:{judge_config.id}-{i}"
                stats = finished(scratch, name)
                if stats is None:
                    rows, stats = run_judge(runner.config, items_of(i)[0], runner, store_for(judge_config, i),
                                            config.shard_size, console)
                    own = [r for r in rows if r["opponent_id"] is None]
                    write_scratch(frame(own, Judgment), scratch / f"judge-{judge_config.id}-p{i}.parquet")
                    write_scratch(frame([r for r in rows if r["opponent_id"] is not None], Judgment),
                                  scratch / f"pairwise-{judge_config.id}-p{i}.parquet")
                    mark_finished(scratch, name, stats)
                else:
                    resumed += 1
                parts.append(stats)
                done = len(judge_stats) * n_partitions + i + 1
                crash_point(f"label:partitions:{done}")  # kill tests
                if progress:
                    progress(done, total)
        judge_stats[judge_config.id] = merge_run_stats(parts)

    scales = _scales(config, scratch, n_partitions)
    counts, labels, rejects = dict.fromkeys(COUNTS, 0), {}, []
    for i in range(n_partitions):
        items, partition_rejects = items_of(i)
        rows = pl.concat([pl.read_parquet(scratch / f"judge-{j.id}-p{i}.parquet") for j in config.judges]).to_dicts()
        aggregate, part_counts, part_labels = finish_labels(config, items, rows, scales)
        write_scratch(frame(aggregate, Judgment), scratch / f"aggregate-p{i}.parquet")
        for k in COUNTS:
            counts[k] += part_counts[k]
        for j, values in part_labels.items():
            labels.setdefault(j, []).append(values)
        rejects.append(partition_rejects.frame())
    stats = label_stats(config, counts, judge_stats, {j: np.concatenate(v) for j, v in labels.items()})
    stats.update(partitions=n_partitions, partitions_resumed=resumed)

    out = concat_parts([scratch / f"judge-{j.id}-p{i}.parquet" for j in config.judges for i in range(n_partitions)]
                       + [scratch / f"aggregate-p{i}.parquet" for i in range(n_partitions)],
                       Path(stage_dir) / ".judgments.parquet")
    pairwise = [scratch / f"pairwise-{j.id}-p{i}.parquet" for j in config.judges for i in range(n_partitions)]
    n_pairwise = pl.scan_parquet(pairwise).select(pl.len()).collect().item()
    if n_pairwise:
        stats["pairwise_judgments"] = {"rows": n_pairwise, "file": str(concat_parts(
            pairwise, Path(stage_dir) / "pairwise_judgments.parquet"))}
    rejects = pl.concat(rejects).sort("row", nulls_last=True) if rejects else empty_rejects()
    drop_scratch(stage_dir)
    return out, rejects, stats


def _scales(config, scratch: Path, n_partitions: int) -> dict | None:
    """Each judge's (mean, std) over all partitions, for `combine: mean` (None otherwise)."""
    if config.combine != "mean" or len(config.judges) < 2:
        return None
    return judge_scales(config, {
        j.id: pl.scan_parquet([scratch / f"judge-{j.id}-p{i}.parquet" for i in range(n_partitions)])
        .select(pl.col("score").cast(pl.Float64)).collect()["score"].to_numpy() for j in config.judges})
