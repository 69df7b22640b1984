"""The `label` stage: score every candidate with one or more judges -> Judgment records.

    label:
      judges:
        - {type: programmatic, id: math, name: numeric_match}
        - {type: reward_model, id: rm, path: /models/rm, batch_size: 8}
        - {type: llm, id: uf, mode: pairwise, sampler: {backend: vllm, model: /models/judge}}
      combine: rank            # mean | majority | rank (prefdata/judges/aggregate.py)
      weights: {rm: 2.0}       # optional, per judge id

Judges run one after another (each model is freed before the next loads). Output: a
frame with records.Judgment columns holding exactly one row per judge and candidate
(pairwise LLM judges: the candidate's win rate, see prefdata/judges/llm.py; their
per-pair rows, with `opponent_id`, go to `<stage dir>/pairwise_judgments.parquet`). With
several judges an `aggregate` row per candidate (judge_type "aggregate", id
`aggregate_id`) combines them and carries `rank` within its prompt. The judge later
stages should pair on is `stats["score_judge_id"]` (the aggregate, else the only judge).

Accounting unit: candidates. Every candidate whose prompt is known is kept, even when no
judge could label it: its rows have score None, a parse_status and a reason, and the
pair stage counts and excludes them. The only rejects are candidates whose prompt_id is
not in the prompts artifact (`unknown_prompt`).

Stats (the runner puts them in the manifest): per judge the labelled share, the
parse-failure rate and status counts, judge extras (pairwise: swap-consistency rate);
overall parse-failure and swap-consistency rates; inter-judge agreement on derived pairs
(pairwise agreement + Cohen's kappa per two judges, Krippendorff's alpha over all).
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import polars as pl
from pydantic import Field, model_validator

from prefdata.config import StrictModel
from prefdata.judges.aggregate import combine, ranks_within_groups
from prefdata.judges.agreement import agreement_report
from prefdata.judges.base import JudgeItem, build_judge
from prefdata.judges.llm import LLMJudgeConfig
from prefdata.judges.programmatic import ProgrammaticJudgeConfig
from prefdata.judges.reward_model import RewardModelJudgeConfig
from prefdata.records import Judgment
from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.tables import Rejects, frame, write_parquet

JudgeConfig = Annotated[
    Union[RewardModelJudgeConfig, LLMJudgeConfig, ProgrammaticJudgeConfig], Field(discriminator="type")
]
PARSE_FAILURES = ("parse_error", "out_of_range")


HUMAN_JUDGMENTS = Path("human") / "judgments.parquet"  # in RUN_DIR, written by `prefdata argilla pull`


class LabelConfig(StrictModel):
    source: Literal["judges", "argilla"] = Field(
        "judges", description="judges: run the judges below; argilla: use the human labels that "
        f"`prefdata argilla pull RUN_DIR` wrote to RUN_DIR/{HUMAN_JUDGMENTS}.",
    )
    judges: list[JudgeConfig] = Field(default_factory=list, description="Judges run in this order; ids must be unique.")
    combine: Literal["mean", "majority", "rank"] = Field(
        "mean", description="How several judges' scores become one (see prefdata/judges/aggregate.py)."
    )
    weights: dict[str, float] | None = Field(None, description="Per judge id weight in the combination (default 1).")
    aggregate_id: str = Field("aggregate", description="judge_id of the combined judgment rows.")
    aggregate_judges: list[str] | None = Field(
        None, description="Judge ids that enter the combination (default: all); the others are "
        "kept as reference labels, e.g. a trusted check audited against cheaper judges.",
    )

    @model_validator(mode="after")
    def _ids(self):
        if self.source == "judges" and not self.judges:
            raise ValueError("judges: give at least one judge, or `source: argilla` for human labels")
        if self.source == "argilla" and self.judges:
            raise ValueError("source: argilla takes the pulled human labels; remove `judges` (or use source: judges)")
        ids = [j.id for j in self.judges]
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if repeated:
            raise ValueError(f"judge ids must be unique; repeated: {repeated}")
        if self.aggregate_id in ids:
            raise ValueError(f"aggregate_id {self.aggregate_id!r} is also a judge id; rename one of them")
        unknown = sorted(set(self.weights or {}) - set(ids))
        if unknown:
            raise ValueError(f"weights name unknown judges {unknown}; judge ids are {ids}")
        unknown = sorted(set(self.aggregate_judges or []) - set(ids))
        if unknown:
            raise ValueError(f"aggregate_judges name unknown judges {unknown}; judge ids are {ids}")
        bad = {k: w for k, w in (self.weights or {}).items() if not w > 0}
        if bad:
            raise ValueError(f"weights must be > 0, got {bad}")
        return self

    @property
    def score_judge_id(self) -> str:
        return self.judges[0].id if len(self.judges) == 1 else self.aggregate_id


class LabelStage(Stage):
    name = "label"
    inputs = ("prompts", "candidates")

    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput:
        prompts, candidates = inputs["prompts"], inputs["candidates"]
        items, rejects = build_items(prompts, candidates)
        rows, judge_stats = [], {}
        for judge_config in self.config.judges:
            judge_rows, judge_stats[judge_config.id] = run_judge(judge_config, items)
            rows += judge_rows
        pairwise = [r for r in rows if r["opponent_id"] is not None]
        rows = [r for r in rows if r["opponent_id"] is None]
        per_judge = candidate_scores(rows, items, [j.id for j in self.config.judges])
        if len(self.config.judges) > 1:
            rows += aggregate_rows(self.config, items, per_judge)
        stats = label_stats(self.config, items, rows, per_judge, judge_stats)
        if pairwise:
            path = write_parquet(frame(pairwise, Judgment), ctx.stage_dir / "pairwise_judgments.parquet")
            stats["pairwise_judgments"] = {"rows": len(pairwise), "file": str(path)}
        return StageOutput(
            data=frame(rows, Judgment), rejects=rejects.frame(), rows_in=candidates.height,
            rows_kept=len(items), stats=stats,
        )


def build_items(prompts: pl.DataFrame, candidates: pl.DataFrame) -> tuple[list[JudgeItem], Rejects]:
    """One JudgeItem per candidate whose prompt is known; the others are `unknown_prompt` rejects."""
    lookup = {
        p["prompt_id"]: ([{"role": m["role"], "content": m["content"]} for m in p["prompt"]], p.get("reference"))
        for p in prompts.select([c for c in ("prompt_id", "prompt", "reference") if c in prompts.columns]).iter_rows(named=True)
    }
    items, rejects = [], Rejects(stage="label", source="candidates")
    for row_no, c in enumerate(candidates.select("candidate_id", "prompt_id", "text").iter_rows(named=True), 1):
        if c["prompt_id"] not in lookup:
            rejects.add("unknown_prompt", f"candidate's prompt_id {c['prompt_id']!r} is not in the prompts artifact; "
                        "label candidates together with the prompts they were sampled from",
                        row=row_no, row_id=c["candidate_id"], field="prompt_id", values={"prompt_id": c["prompt_id"]})
            continue
        messages, reference = lookup[c["prompt_id"]]
        items.append(JudgeItem(c["prompt_id"], c["candidate_id"], messages, c["text"] or "", reference))
    return items, rejects


def run_judge(config, items: list[JudgeItem]) -> tuple[list[dict], dict[str, Any]]:
    """Build one judge, label every item with a progress bar, free the judge."""
    from rich.progress import Progress

    judge = build_judge(config)
    try:
        total = judge.request_count(items) if hasattr(judge, "request_count") else len(items)
        with Progress(transient=True) as bar:
            task = bar.add_task(f"label: judge {config.id} ({config.type})", total=total)
            rows = judge.judge(items, progress=lambda n: bar.advance(task, n))
        extra = judge.stats()
        meta = {"type": judge.judge_type, "model": judge.model, "template_hash": judge.template_hash}
    finally:
        judge.close()
        del judge
        gc.collect()
    own = [r for r in rows if r["opponent_id"] is None]
    statuses = Counter(r["parse_status"] for r in own)
    n = len(own)
    return rows, {
        **meta,
        "candidates": n,
        "labelled": n - sum(r["score"] is None for r in own),
        "parse_failure_rate": sum(statuses[s] for s in PARSE_FAILURES) / n if n else None,
        "missing_rate": sum(r["score"] is None for r in own) / n if n else None,
        "parse_status": dict(statuses),
        **extra,
    }


def candidate_scores(rows: list[dict], items: list[JudgeItem], judge_ids: list[str]) -> dict[str, list[float | None]]:
    """Per judge, each item's candidate-level score (None if missing), aligned with `items`."""
    index = {(r["judge_id"], r["candidate_id"]): r["score"] for r in rows if r["opponent_id"] is None}
    return {j: [index.get((j, it.candidate_id)) for it in items] for j in judge_ids}


def aggregate_rows(config: LabelConfig, items: list[JudgeItem], per_judge: dict[str, list]) -> list[dict]:
    groups = [it.prompt_id for it in items]
    if config.aggregate_judges:
        per_judge = {j: s for j, s in per_judge.items() if j in config.aggregate_judges}
    scores = combine(groups, per_judge, config.combine, config.weights)
    ranks = ranks_within_groups(groups, scores)
    rows = []
    for k, item in enumerate(items):
        inputs = {j: s[k] for j, s in per_judge.items()}
        missing = scores[k] is None
        rows.append({
            "judgment_id": f"{config.aggregate_id}:{item.candidate_id}", "prompt_id": item.prompt_id,
            "candidate_id": item.candidate_id, "judge_id": config.aggregate_id, "judge_type": "aggregate",
            "model": None, "template_hash": None, "score": scores[k], "rank": ranks[k],
            "raw_output": json.dumps({"combine": config.combine, "inputs": inputs}, sort_keys=True),
            "parse_status": "error" if missing else "ok",
            "reason": "no judge labelled this candidate" if missing else _partial_reason(inputs),
            "annotator": None, "aspects": None, "opponent_id": None, "swap_consistent": None,
        })
    return rows


def _partial_reason(inputs: dict[str, float | None]) -> str | None:
    absent = sorted(j for j, s in inputs.items() if s is None)
    return f"combined without {absent} (no label from them)" if absent else None


def label_stats(config: LabelConfig, items, rows, per_judge, judge_stats) -> dict[str, Any]:
    own = [r for r in rows if r["opponent_id"] is None and r["judge_type"] != "aggregate"]
    failures = sum(r["parse_status"] in PARSE_FAILURES for r in own)
    consistent = sum(s.get("swap_consistent_pairs", 0) for s in judge_stats.values())
    inconsistent = sum(s.get("swap_inconsistent_pairs", 0) for s in judge_stats.values())
    final = {r["candidate_id"]: r["score"] for r in rows
             if r["judge_id"] == config.score_judge_id and r["opponent_id"] is None}
    groups = [it.prompt_id for it in items]
    return {
        "candidates": len(items),
        "prompts": len(set(groups)),
        "score_judge_id": config.score_judge_id,
        "unlabelled_candidates": sum(final.get(it.candidate_id) is None for it in items),
        "parse_failure_rate": failures / len(own) if own else None,
        "swap_consistency_rate": consistent / (consistent + inconsistent) if consistent + inconsistent else None,
        "judges": judge_stats,
        "combine": config.combine if len(config.judges) > 1 else None,
        "agreement": agreement_report(groups, per_judge) if len(per_judge) > 1 else None,
    }
