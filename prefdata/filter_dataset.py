"""Filter (and optionally re-pair) an existing dataset directory: `prefdata filter`.

    from prefdata.filter_dataset import filter_dataset_dir
    stats = filter_dataset_dir("data/hh", "filters.yaml", "data/hh-filtered", overrides=[])

    # filters.yaml
    pair: {strategy: all_pairs, min_margin: 1.0}   # optional: re-pair rated completions
    steps:
      - {type: gap, min_normalized_margin: 0.1}
      - {type: dedup}

With a `pair:` section the pairs are formed again by the pair stage from the directory's
`prompts/candidates/judgments.parquet` (written by `prefdata import --format
ultrafeedback`), and the result is written in the conversational format, split by prompt
with `test_size`. Without it, rows become pairs (chosen/rejected text, scores, margin; `strategy` = "imported"), run
through the filter steps, and the kept rows are written back unchanged in their original
split and format with a card, plots and `rejects.parquet` (reason + deciding values per
dropped row, `row` = 1-based row in the input split order). The funnel starts with the
input directory's own import counts, so `prefdata inspect` shows the whole story.
The steps run through the filter stage's own driver, so `partition_pairs` and `executor`
hold here as in a build.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import polars as pl
from pydantic import Field

from prefdata.config import load_config
from prefdata.errors import DataError
from prefdata.records import PairRecord
from prefdata.stages.base import StageContext, StageOutput
from prefdata.stages.filter import FilterConfig, FilterStage
from prefdata.stages.pair import PairConfig
from prefdata.frames import MESSAGES, polars_schema
from prefdata.ledger import funnel_entry, reasons

LABELLED = ("prompts", "candidates", "judgments")


class DatasetFilterConfig(FilterConfig):
    """The `prefdata filter --config` file: filter steps, plus an optional re-pairing."""

    pair: PairConfig | None = Field(None, description="Re-pair rated completions before filtering.")
    test_size: float = Field(0.0, ge=0.0, lt=1.0, description="Test share when re-pairing (split by prompt).")
    seed: int = Field(0, description="Seed for pairing and the split when re-pairing.")


def examples_to_pairs(examples: pl.DataFrame) -> pl.DataFrame:
    """DPOExample rows (standard or conversational) -> PairRecord frame; pair_id = row number."""
    def text(column: str) -> pl.Expr:
        if examples.schema[column] == pl.String:
            return pl.col(column)
        return pl.col(column).list.last().struct.field("content")

    prompt = (pl.col("prompt") if examples.schema["prompt"] != pl.String
              else pl.concat_list(pl.struct(pl.lit("user").alias("role"), pl.col("prompt").alias("content"))))
    row = pl.int_range(1, pl.len() + 1).cast(pl.String)
    pairs = examples.select(
        pl.concat_str([pl.lit("row"), row]).alias("pair_id"), "prompt_id", prompt.cast(MESSAGES).alias("prompt"),
        text("chosen").alias("chosen"), text("rejected").alias("rejected"),
        pl.concat_str([pl.lit("row"), row, pl.lit(":chosen")]).alias("chosen_id"),
        pl.concat_str([pl.lit("row"), row, pl.lit(":rejected")]).alias("rejected_id"),
        "chosen_score", "rejected_score", "margin", pl.col("source").alias("label_source"),
        pl.lit("imported").alias("strategy"),
    )
    schema = polars_schema(PairRecord)
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in schema.items() if c not in pairs.columns]
    return pairs.with_columns(missing).select([pl.col(c).cast(t) for c, t in schema.items()])


def filter_dataset_dir(data_dir: str | Path, config_path: str | Path, out: str | Path,
                       overrides: list[str] = ()) -> dict:
    """Run the filter steps of `config_path` (DatasetFilterConfig YAML) over a dataset directory."""
    data_dir, out = Path(data_dir), Path(out)
    config = load_config(DatasetFilterConfig, config_path, list(overrides))
    if config.pair is not None:
        return _repair_and_filter(data_dir, config, config_path, out)
    return _filter_rows(data_dir, config, config_path, out)


def run_filter_stage(pairs: pl.DataFrame, config: FilterConfig, out: Path) -> StageOutput:
    """The filter stage's driver on `pairs` (in partitions above `partition_pairs`); scratch space beside
    `out`, removed after. The output's data is a DataFrame."""
    from rich.console import Console

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.filter-") as tmp:
        artifact = Path(tmp) / "pairs.parquet"
        pairs.write_parquet(artifact)
        ctx = StageContext(run_dir=Path(tmp), stage_dir=Path(tmp), input_files={"pairs": artifact},
                           console=Console(stderr=True))
        result = FilterStage(config).run({"pairs": pl.scan_parquet(artifact)}, ctx)
        result.data = result.frame()
    return result


def _filter_rows(data_dir: Path, config: DatasetFilterConfig, config_path, out: Path) -> dict:
    from prefdata.io.dataset_dir import read_dataset_dir, write_dataset_dir
    from prefdata.report import filter_step, import_step, write_report

    splits = read_dataset_dir(data_dir)
    examples = pl.concat([df.with_columns(pl.lit(name).alias("_split")) for name, df in splits.items()],
                         how="vertical")
    pairs = examples_to_pairs(examples.drop("_split"))
    result = run_filter_stage(pairs, config, out)
    kept_rows = result.data["pair_id"].str.strip_prefix("row").cast(pl.Int64) - 1
    kept = examples[kept_rows.to_list()]
    rejects = result.rejects.with_columns(
        pl.col("row_id").str.strip_prefix("row").cast(pl.Int64).alias("row"),
        pl.lit(str(data_dir)).alias("source"))
    input_stats = _read_stats(data_dir)
    funnel = import_step(input_stats) + [filter_step(step) for step in result.stats["funnel"]]
    images, sections, report = write_report(out, before=pairs, after=result.data, funnel=funnel)
    source = f"{input_stats.get('source', data_dir)}, filtered with {config_path}"
    return write_dataset_dir(
        out, kept.drop("_split"), rejects, splits=kept["_split"].to_list(), seed=input_stats.get("seed", 0),
        source=source, title=f"{data_dir.name} (filtered)", input_rows=examples.height,
        stats_extra={**report, "filters": config.model_dump(mode="json")["steps"]},
        card_sections=sections, images=images)


def _repair_and_filter(data_dir: Path, config: DatasetFilterConfig, config_path, out: Path) -> dict:
    from prefdata.io.dataset_dir import write_dataset_dir
    from prefdata.report import filter_step, write_report
    from prefdata.stages.export import pairs_to_examples
    from prefdata.partition.pairs import pair_partitions

    missing = [f"{name}.parquet" for name in LABELLED if not (data_dir / f"{name}.parquet").is_file()]
    if missing:
        raise DataError(f"{data_dir}: no {', '.join(missing)}; re-pairing (`pair:` in {config_path}) needs a "
                        "dataset imported from rated completions (prefdata import --format ultrafeedback). "
                        "Remove the `pair:` section to filter the existing pairs.")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.pair-") as tmp:
        paired = pair_partitions(*(pl.scan_parquet(data_dir / f"{name}.parquet") for name in LABELLED), config.pair,
                                 config.seed, Path(tmp))
        pairs = paired.frame()
    result = run_filter_stage(pairs, config, out)
    funnel = [funnel_entry("pair", "prompts", paired.rows_in, paired.rows_kept, reasons(paired.rejects),
                           pairs=paired.stats["pairs"])]
    funnel += [filter_step(step) for step in result.stats["funnel"]]
    images, sections, report = write_report(out, before=pairs, after=result.data, funnel=funnel)
    input_stats = _read_stats(data_dir)
    source = f"{input_stats.get('source', data_dir)}, re-paired and filtered with {config_path}"
    examples = pairs_to_examples(result.data, "conversational", source=str(input_stats.get("source", data_dir)))
    return write_dataset_dir(
        out, examples, pl.concat([paired.rejects, result.rejects]), test_size=config.test_size, seed=config.seed,
        source=source, title=f"{data_dir.name} (re-paired, filtered)",
        stats_extra={**report, "pair": paired.stats, "filters": config.model_dump(mode="json")["steps"]},
        card_sections=sections, images=images)



def _read_stats(data_dir: Path) -> dict:
    path = data_dir / "stats.json"
    return json.loads(path.read_text()) if path.is_file() else {}
