"""`sample.<r>` and `label.<r>`: the recipe's sample and label stages on round r's prompts.

    stages/sample.2/data.parquet   every candidate so far: rounds 0-1's, then round 2's new ones
    stages/label.2/data.parquet    every judgment so far, the aggregate recomputed over all of them

Round r's answers are new shards (their own seeds, candidate ids numbered from r * k), so a
killed round resumes shard by shard and gives the candidates of an uninterrupted one. Only
the new candidates are judged; with several judges the aggregate (mean: z-scores over the
run; rank and majority: within each prompt) is recomputed over every round's labels, so it
is what one label stage over all the candidates would give. The new candidates are judged in
the label stage's partitions; the union (and its aggregate) is assembled in memory, so a round
holds every judgment of the run at once. Accounting covers the round's own work: sample.<r>
counts its (prompt, model) requests, label.<r> the candidates it judged.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import polars as pl

from prefdata.atomic import atomic_path
from prefdata.frames import frame
from prefdata.labelling.runner import build_items, finish_labels
from prefdata.ledger import StageOutput
from prefdata.records import Judgment
from prefdata.stages.base import StageContext
from prefdata.stages.label import LabelConfig, LabelStage
from prefdata.stages.sample import SampleConfig, SampleStage


class RoundSampleStage(SampleStage):
    inputs = ("resample", "candidates")

    def __init__(self, config: SampleConfig, round: int):
        super().__init__(config, round)
        self.name = f"sample.{round}"

    def code_files(self) -> list[Path]:
        return [*super().code_files(), Path(inspect.getfile(SampleStage))]

    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput:
        before = inputs["candidates"]
        out = super().run({"prompts": inputs["resample"]}, ctx)
        union = pl.concat([before, out.data])
        stats = {**out.stats, "round": self.round, "candidates_before": before.height, "candidates": union.height}
        return StageOutput(data=union, rejects=out.rejects, rows_in=out.rows_in, rows_kept=out.rows_kept, stats=stats)


class RoundLabelStage(LabelStage):
    inputs = ("prompts", "candidates", "judgments")

    def __init__(self, config: LabelConfig, round: int):
        super().__init__(config)
        self.round = round
        self.name = f"label.{round}"

    def code_files(self) -> list[Path]:
        return [*super().code_files(), Path(inspect.getfile(LabelStage))]

    def run(self, inputs: dict[str, pl.LazyFrame], ctx: StageContext) -> StageOutput:
        c = self.config
        prompts, candidates, before = (inputs[name].lazy() for name in self.inputs)
        new = candidates.join(before.select("candidate_id").unique(), on="candidate_id", how="anti",
                              maintain_order="left")
        out = super().run({"prompts": prompts.join(new.select("prompt_id").unique(), on="prompt_id", how="semi"),
                           "candidates": new}, ctx)
        judges = [j.id for j in c.judges]
        rows = pl.concat([before, pl.scan_parquet(out.data)]).filter(pl.col("judge_id").is_in(judges)).collect()
        if len(judges) > 1:
            items, _ = build_items(prompts.collect(), candidates.collect())
            aggregate, _, _ = finish_labels(c, items, rows.to_dicts())
            rows = pl.concat([rows, frame(aggregate, Judgment)])
        union = Path(ctx.stage_dir) / ".union.parquet"
        with atomic_path(union) as tmp:
            rows.write_parquet(tmp)
        stats = {**out.stats, "round": self.round, "candidates_judged": out.rows_in, "judgments": rows.height}
        return StageOutput(data=union, rejects=out.rejects, rows_in=out.rows_in, rows_kept=out.rows_kept,
                           stats=stats)
