"""One row per evaluation prompt from a model's judged answers.

    table = prompt_scores(run_dir, prompts)

Columns: prompt_id, key (the source's own id, IFEval's `key`), prompt_strict and
prompt_loose (1.0 when every instruction is followed: IFEval's prompt-level accuracy),
instruction_strict and instruction_loose (the share followed; their mean over prompts weighs
prompts, IFEval's instruction-level figure weighs instructions: both are reported),
instructions (how many), relevance (MiniLM cosine of the answer with the question),
answer_tokens, truncated, answered, stand_in (scored with the punkt stand-ins). A prompt
without an answer or a judgment fails every check and counts, never silently left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from prefdata.evaluate.answers import JUDGE_ID
from prefdata.rundir import RunDir

ACCURACY = ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose")
METRICS = (*ACCURACY, "relevance", "answer_tokens")


def _verdicts(aspects: str | None) -> dict[str, float | int | None]:
    instructions = (json.loads(aspects) if aspects else {}).get("instructions") or {}
    strict = [bool(v["strict"]) for v in instructions.values()]
    loose = [bool(v["loose"]) for v in instructions.values()]
    if not strict:
        return {"prompt_strict": 0.0, "prompt_loose": 0.0, "instruction_strict": 0.0, "instruction_loose": 0.0}
    return {"prompt_strict": float(all(strict)), "prompt_loose": float(all(loose)),
            "instruction_strict": sum(strict) / len(strict), "instruction_loose": sum(loose) / len(loose)}


def prompt_scores(run_dir: Path, prompts: pl.DataFrame, judge_id: str = JUDGE_ID) -> pl.DataFrame:
    """The per-prompt table of one model's evaluation run (see the module docstring), from the
    `ifeval` judge `judge_id` (prefdata iterate's evaluation names its own)."""
    from prefdata.instructions import parse_spec, uses_stand_in

    run = RunDir(run_dir)
    answers = pl.read_parquet(run.stage("sample").data).select(
        "prompt_id", pl.col("num_tokens").alias("answer_tokens"),
        (pl.col("finish_reason") == "length").alias("truncated"))
    judged = pl.read_parquet(run.stage("label").data).filter(pl.col("judge_id") == judge_id)
    rows = []
    for r in judged.select("prompt_id", "aspects").iter_rows(named=True):
        aspects = json.loads(r["aspects"]) if r["aspects"] else {}
        rows.append({"prompt_id": r["prompt_id"], **_verdicts(r["aspects"]), "relevance": aspects.get("relevance")})
    schema = {"prompt_id": pl.String, **dict.fromkeys(ACCURACY, pl.Float64), "relevance": pl.Float64}
    scored = pl.DataFrame(rows, schema=schema)
    meta = [json.loads(m) if m else {} for m in prompts["metadata"]] if "metadata" in prompts.columns else [{}] * prompts.height
    specs = [parse_spec(ref) for ref in prompts["reference"]]
    base = pl.DataFrame({
        "prompt_id": prompts["prompt_id"],
        "key": [m.get("id") for m in meta],
        "instructions": [len(s.ids) for s in specs],
        "stand_in": [uses_stand_in(s) for s in specs],
    })
    table = base.join(answers, on="prompt_id", how="left").join(scored, on="prompt_id", how="left")
    return table.with_columns(
        pl.col("answer_tokens").is_not_null().alias("answered"),
        pl.col(list(ACCURACY)).fill_null(0.0),  # no answer, no judgment: every check failed
        pl.col("truncated").fill_null(False),
    ).sort("prompt_id")
