"""The label stage over partitions of prompts: memory bounded by the partition, not the input.

    from prefdata.partition.labels import label_partitions
    out = label_partitions(prompts, candidates, config, stage_dir, store_for, runner_for)  # config: a LabelConfig
    out.data, out.rejects, out.stats   # a StageOutput, as every stage driver returns

Up to `partition_prompts` prompts are one partition: the input itself, in memory. More:

1. Cut the prompt ids into ranges of `partition_prompts` (as the pair stage does) and stream
   prompts and candidates into per-partition files; each candidate keeps its input row number.
2. Judges run one after another: each is built once for the whole stage (a model loads once)
   and labels the partitions in order with `run_judge`; a model judge's shards resume (one
   shard folder per partition).
3. With several judges, each partition's aggregate rows: `rank` and `majority` compare
   candidates of one prompt; `mean` standardizes each judge over the whole run, so its mean
   and std are taken once over every partition's scores first.
4. Statistics combine as declared beside the code that computes them (LABEL_COUNTS, RUN_STATS in
   prefdata/labelling/runner.py); the agreement report is computed once on every partition's
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
from prefdata.labelling.runner import (LABEL_COUNTS, build_items, failed_too_often, finish_labels, judge_scales,
                                      label_stats, merge_run_stats, refuse_broken_judges, run_judge)
from prefdata.ledger import StageOutput, combine_stats, empty_rejects
from prefdata.partition.files import (concat_parts, drop_scratch, finished, mark_finished, once, open_scratch,
                                      prompt_partitions, read_partition, sink_partitions)
from prefdata.records import Judgment


def label_partitions(prompts: pl.LazyFrame, candidates: pl.LazyFrame, config, stage_dir: Path,
                     store_for: Callable, runner_for: Callable, *, console=None, log_file=None, progress=None,
                     key: str | None = None) -> StageOutput:
    """The label stage's one driver: every judge's rows and the aggregate's (a file in stage_dir),
    the rejects and the stats. Up to `config.partition_prompts` prompts are the one-partition case:
    that partition is the input itself, in memory, and nothing is split.

    `store_for(judge_config, partition)`: the judge's ShardStore for that partition (None: the
    whole input; the store is None for judges that run whole); `runner_for(judge_config)`: a
    JudgeRunner, used for every partition. A judge failing on more than `max_error_rate` of the
    candidates stops the stage once every judge has run."""
    scratch = open_scratch(stage_dir, key)
    rows_in = candidates.select(pl.len()).collect().item()
    if prompts.select(pl.len()).collect().item() <= config.partition_prompts:
        n_partitions, whole = 1, build_items(prompts.collect(), candidates.collect())

        def items_of(i: int):
            return whole
    else:
        def split() -> dict:
            parts, n = prompt_partitions([prompts, candidates], config.partition_prompts)
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
                    store = store_for(judge_config, i if n_partitions > 1 else None)
                    rows, stats = run_judge(runner.config, items_of(i)[0], runner, store, config.shard_size, console,
                                            log_file)
                    own = [r for r in rows if r["opponent_id"] is None]
                    write_scratch(frame(own, Judgment), scratch / f"judge-{judge_config.id}-p{i}.parquet")
                    write_scratch(frame([r for r in rows if r["opponent_id"] is not None], Judgment),
                                  scratch / f"pairwise-{judge_config.id}-p{i}.parquet")
                    if not failed_too_often(config, stats):
                        # kept for a rerun; a partition the judge failed on too often is judged again
                        # (a judge server that was down heals by rerunning the same key)
                        mark_finished(scratch, name, stats)
                else:
                    resumed += 1
                parts.append(stats)
                done = len(judge_stats) * n_partitions + i + 1
                crash_point(f"label:partitions:{done}")  # kill tests
                if progress and n_partitions > 1:
                    progress(done, total)
        judge_stats[judge_config.id] = merge_run_stats(parts)
    refuse_broken_judges(config, judge_stats)
    crash_point("label:judged")  # kill tests: every judge has answered, nothing combined yet

    scales = _scales(config, scratch, n_partitions)
    counts, labels, rejects = [], {}, []
    for i in range(n_partitions):
        items, partition_rejects = items_of(i)
        rows = pl.concat([pl.read_parquet(scratch / f"judge-{j.id}-p{i}.parquet") for j in config.judges]).to_dicts()
        aggregate, part_counts, part_labels = finish_labels(config, items, rows, scales)
        write_scratch(frame(aggregate, Judgment), scratch / f"aggregate-p{i}.parquet")
        counts.append(part_counts)
        for j, values in part_labels.items():
            labels.setdefault(j, []).append(values)
        rejects.append(partition_rejects.frame())
    stats = label_stats(config, combine_stats(counts, LABEL_COUNTS), judge_stats,
                        {j: np.concatenate(v) for j, v in labels.items()})
    stats.update(partitions=n_partitions, partitions_resumed=resumed)

    out = concat_parts([scratch / f"judge-{j.id}-p{i}.parquet" for j in config.judges for i in range(n_partitions)]
                       + [scratch / f"aggregate-p{i}.parquet" for i in range(n_partitions)],
                       Path(stage_dir) / ".judgments.parquet")
    pairwise = [scratch / f"pairwise-{j.id}-p{i}.parquet" for j in config.judges for i in range(n_partitions)]
    n_pairwise = pl.scan_parquet(pairwise).select(pl.len()).collect().item()
    listed = Path(stage_dir) / "pairwise_judgments.parquet"
    listed.unlink(missing_ok=True)  # an earlier run's
    if n_pairwise:
        stats["pairwise_judgments"] = {"rows": n_pairwise, "file": str(concat_parts(pairwise, listed))}
    rejects = pl.concat(rejects).sort("row", nulls_last=True) if rejects else empty_rejects()
    drop_scratch(stage_dir)
    return StageOutput(data=out, rejects=rejects, rows_in=rows_in, rows_kept=stats["candidates"], stats=stats)


def _scales(config, scratch: Path, n_partitions: int) -> dict | None:
    """Each judge's (mean, std) over all partitions, for `combine: mean` (None otherwise)."""
    if config.combine != "mean" or len(config.judges) < 2:
        return None
    return judge_scales(config, {
        j.id: pl.scan_parquet([scratch / f"judge-{j.id}-p{i}.parquet" for i in range(n_partitions)])
        .select(pl.col("score").cast(pl.Float64)).collect()["score"].to_numpy() for j in config.judges})
