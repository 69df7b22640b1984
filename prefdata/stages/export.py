"""The `export` stage: pairs -> a TRL dataset directory with a dataset card and plots.

    export:
      format: conversational     # | standard (plain strings)
      test_size: 0.1             # split by prompt: no prompt in both splits
      seed: null                 # default: the recipe seed

Writes `RUN_DIR/dataset/`: `train.parquet` (+ `test.parquet`), `rejects.parquet`,
`stats.json`, `README.md` (Hugging Face dataset-card YAML header, funnel table, length gap
before/after the filters) and `plots/{margin_hist,length_gap_hist,funnel}.png`. Load it with
`datasets.load_dataset("parquet", data_dir="RUN_DIR/dataset")`; `prefdata inspect RUN_DIR`
prints the same summary. Columns are records.DPOExample's (TRL's explicit-prompt format).
Standard format renders the prompt as its user turn when it is the only turn, else as
"role: content" lines; conversational keeps the messages.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from prefdata.atomic import atomic_path
from prefdata.config import StrictModel
from prefdata.rundir import RunDir
from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.ledger import empty_rejects, funnel_entry, provenance_of


class ExportConfig(StrictModel):
    format: Literal["conversational", "standard"] = Field("conversational", description="TRL dataset format.")
    test_size: float = Field(0.0, ge=0.0, lt=1.0, description="Share of rows (whole prompts) in the test split.")
    seed: int | None = Field(None, description="Split seed; default: the recipe seed.")
    title: str | None = Field(None, description="Dataset card title; default: from the recipe name.")
    plots: bool = Field(True, description="Write the PNG plots and add them to the card.")


def pairs_to_examples(pairs: pl.DataFrame | pl.LazyFrame, kind: str, source: str) -> pl.DataFrame | pl.LazyFrame:
    """PairRecord frame -> DPOExample frame (vectorised; a LazyFrame stays lazy)."""
    from prefdata.io.dataset_dir import COLUMNS, example_schema

    if kind == "conversational":
        prompt = pl.col("prompt")
        chosen, rejected = (pl.concat_list(pl.struct(pl.lit("assistant").alias("role"), pl.col(c).alias("content")))
                            for c in ("chosen", "rejected"))
    else:
        turns = pl.col("prompt").list.eval(pl.concat_str([pl.element().struct.field("role"),
                                                          pl.element().struct.field("content")], separator=": "))
        prompt = (pl.when(pl.col("prompt").list.len() == 1)
                  .then(pl.col("prompt").list.first().struct.field("content"))
                  .otherwise(turns.list.join("\n\n")))
        chosen, rejected = pl.col("chosen"), pl.col("rejected")
    examples = pairs.select(prompt.alias("prompt"), chosen.alias("chosen"), rejected.alias("rejected"), "prompt_id",
                            "chosen_score", "rejected_score", "margin", pl.lit(source).alias("source"), "provenance")
    return examples.select(COLUMNS).cast(example_schema(kind))


class ExportStage(Stage):
    name, Config = "export", ExportConfig
    inputs, output, unit = ("pairs",), "dataset", "pairs"
    optional_inputs = ("pair.pairs",)  # the pairs before filtering, for the before/after plots
    lazy_inputs = True  # the dataset is streamed from the pairs: memory does not grow with them
    config: ExportConfig

    def run(self, inputs: dict[str, pl.LazyFrame], ctx: StageContext) -> StageOutput:
        from prefdata.io.dataset_dir import write_dataset_dir
        from prefdata.report import run_funnel, write_report

        c = self.config
        pairs = inputs["pairs"].lazy()
        n_pairs = pairs.select(pl.len()).collect().item()
        name = getattr(ctx.recipe, "name", None) or "prefdata"
        source = f"prefdata build run {name!r} ({ctx.run_dir})"
        examples = pairs_to_examples(pairs, c.format, source=name)
        out = RunDir(ctx.run_dir).dataset
        stages = [s for s in ctx.recipe.stages() if s != "export"] if ctx.recipe is not None else None
        by_provenance = provenance_of(pairs)
        funnel = run_funnel(ctx.run_dir, stages) + [funnel_entry(
            "export", "pairs", n_pairs, n_pairs, {}, **({"provenance": by_provenance} if by_provenance else {}))]
        filtered = stages is None or "filter" in stages
        before = inputs.get("pair.pairs") if filtered else None
        images, sections, report = ([], [], {"funnel": funnel})
        if c.plots:
            images, sections, report = write_report(out, before=before, after=pairs, funnel=funnel)
        if by_provenance:
            sections = [*sections, ("Label provenance", provenance_section(by_provenance, ctx.run_dir))]
        stats = write_dataset_dir(
            out, examples, empty_rejects(), test_size=c.test_size,
            seed=c.seed if c.seed is not None else ctx.seed, source=source,
            title=c.title or f"prefdata DPO dataset: {name}", stats_extra=report,
            card_sections=sections, images=images)
        artifact = ctx.stage_dir / ".dataset.parquet"
        with atomic_path(artifact) as tmp:
            examples.sink_parquet(tmp)
        return StageOutput(data=artifact, rejects=empty_rejects(), rows_in=n_pairs, rows_kept=n_pairs,
                           stats={"dataset_dir": str(out), "splits": stats["splits"], "format": c.format,
                                  **({"provenance": by_provenance} if by_provenance else {})})


def provenance_section(by_provenance: dict[str, int], run_dir) -> str:
    """The dataset card's account of who decided the pairs (the `provenance` column), and for
    mixed labels the prompts where the annotators overruled the judges (label stage stats)."""
    import json

    label = RunDir(run_dir).stage("label")
    mixed = json.loads(label.manifest().stats or "{}").get("mixed") if label.is_finished() else None
    intro = ("Mixed labels (`label.source: mixed`): the annotators' ranking where a prompt was answered, "
             "the judges' labels elsewhere." if mixed else "Who decided each pair (the `provenance` column):")
    lines = [intro, "", "| decided by | pairs |", "|---|---|",
             f"| annotators, judges agree (`both`) | {by_provenance['both']} |",
             f"| annotators, judges disagree or cannot tell (`human`) | {by_provenance['human']} |",
             f"| judges (`judges`) | {by_provenance['judges']} |"]
    if mixed:
        lines += ["", f"Answered prompts: {mixed['prompts_human']} of {mixed['prompts_human'] + mixed['prompts_judges']}. "
                  f"Prompts where the annotators order the judges' own pair the other way (the annotators win): "
                  f"{mixed['contradictions']}" + (f", listed in `{mixed['contradictions_file']}`"
                                                 if mixed.get("contradictions_file") else "") + "."]
    return "\n".join(lines)
