"""Labelling candidates with judges: shards that resume, the aggregate, the label statistics.

    from prefdata.labelling.runner import JudgeRunner, build_items, run_judge
    items, rejects = build_items(prompts, candidates)
    with JudgeRunner(judge_config) as runner:        # the judge (a model) is built once, at its first shard
        rows, stats = run_judge(judge_config, items, runner, store=ShardStore(...), shard_size=256)

The label stage (prefdata/stages/label.py) runs this over all candidates at once, the
partitioned label stage (prefdata/partition/labels.py) partition by partition with one
runner per judge for the whole stage; both end with `finish_labels` (aggregate rows and
additive counts) and `label_stats`, so the two give the same labels and statistics.
"""

from __future__ import annotations

import gc
import json
from collections import Counter
from typing import Any

import numpy as np
import polars as pl

from prefdata.config import stable_hash
from prefdata.errors import PrefdataError
from prefdata.frames import frame
from prefdata.labelling.combine import combine, ranks_within_groups, zscale
from prefdata.labelling.agreement import agreement_of_labels, derived_pair_labels
from prefdata.judges.base import JudgeItem, build_judge, judge_runs, shard_meta
from prefdata.ledger import AGREE, RECOMPUTE, SUM, Rejects, combine_stats
from prefdata.progress import Heartbeat
from prefdata.records import Judgment
from prefdata.shards import ShardStore

PARSE_FAILURES = ("parse_error", "out_of_range")
MISSING_REASONS = 3  # distinct reasons for a missing label kept in a judge's statistics


class JudgeRunner:
    """One judge for a whole stage run: built at its first shard, reused by every later call
    (every partition), closed once. Where it runs is the judge's declaration (`Judge.runs`): a
    judge that holds a model, under `executor="ray"`, scores on a Ray actor pool
    (prefdata/labelling/ray_pool.py), likewise started once; a judge that drives a sampler gets all
    the shards of a call at once (`judge_shards`: on Ray, one job whose engines start once)."""

    def __init__(self, config, executor: str = "local", actors: int | None = None):
        self.config, self.executor, self.actors = config, executor, actors
        self.runs = judge_runs(config)
        self.judge = self.pool = None

    @property
    def placement(self) -> str:
        """Where the judge runs, for the stage's statistics: never a silent in-process run under Ray."""
        if self.executor == "ray" and self.runs.model:
            return "ray actors"
        engine = getattr(self.config, self.runs.engine) if self.runs.engine else None
        if engine is not None and getattr(engine, "backend", None) == "ray":
            return "ray engine replicas"
        return "this process"

    def label(self, todo: list[tuple[int, list[JudgeItem]]], progress=None):
        """(index, rows, meta) per shard of `todo`, in the order they finish; engine phases and
        steps go to `progress`."""
        if not todo:
            return
        if self.placement == "ray actors":
            if self.pool is None:
                from prefdata.labelling.ray_pool import ScorerPool

                self.pool = ScorerPool(self.config, self.actors)
            yield from self.pool.label(todo)
            return
        if self.judge is None:
            self.judge = build_judge(self.config)
        if progress is not None:
            self.judge.watch(progress)
        shards = dict(todo)
        for index, rows, stats in self.judge.judge_shards(todo):
            yield index, rows, shard_meta(self.judge, shards[index], stats)

    @property
    def lost(self) -> list[dict]:
        """Ray actors that died mid-shard ({"node", "shard"}); their shards were scored elsewhere."""
        return self.pool.lost if self.pool is not None else []

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if self.judge is not None:
            self.judge.close()
            self.judge = None
            gc.collect()

    def __enter__(self) -> "JudgeRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def build_items(prompts: pl.DataFrame, candidates: pl.DataFrame) -> tuple[list[JudgeItem], Rejects]:
    """One JudgeItem per candidate whose prompt is known; the others are `unknown_prompt` rejects.
    A `_row` column (the partitioned stage) gives the candidate's row in the whole input."""
    lookup = {
        p["prompt_id"]: ([{"role": m["role"], "content": m["content"]} for m in p["prompt"]], p.get("reference"))
        for p in prompts.select([c for c in ("prompt_id", "prompt", "reference") if c in prompts.columns]).iter_rows(named=True)
    }
    items, rejects = [], Rejects(stage="label", source="candidates")
    rows = candidates["_row"] if "_row" in candidates.columns else range(1, candidates.height + 1)
    for row_no, c in zip(rows, candidates.select("candidate_id", "prompt_id", "text").iter_rows(named=True)):
        if c["prompt_id"] not in lookup:
            rejects.add("unknown_prompt", f"candidate's prompt_id {c['prompt_id']!r} is not in the prompts artifact; "
                        "label candidates together with the prompts they were sampled from",
                        row=row_no, row_id=c["candidate_id"], field="prompt_id", values={"prompt_id": c["prompt_id"]})
            continue
        messages, reference = lookup[c["prompt_id"]]
        items.append(JudgeItem(c["prompt_id"], c["candidate_id"], messages, c["text"] or "", reference))
    return items, rejects


def run_judge(config, items: list[JudgeItem], runner: JudgeRunner, store: ShardStore | None = None,
              shard_size: int = 256, console=None, log_file=None) -> tuple[list[dict], dict[str, Any]]:
    """Label every item with one judge, shard by shard (whole prompts per shard).

    With a `store`, finished shards are read back and only the missing ones are judged, so a
    resumed run sends only the missing requests."""
    shards = _shards(items, shard_size) if store is not None else [items]
    finished, todo = store.resume([_shard_identity(s) for s in shards]) if store is not None else ({}, [0])
    results = {index: (frames["judgments"].to_dicts(), meta) for index, (frames, meta) in finished.items()}
    sent, lost_before = 0, len(runner.lost)
    with Heartbeat(console, f"judge {config.id} ({config.type})", total=len(items), unit="candidates",
                   log_file=log_file) as beat:
        beat.advance(sum(len(shards[i]) for i in results), resumed=True)
        beat.phase("judging")
        for index, shard_rows, meta in runner.label([(i, shards[i]) for i in todo if shards[i]], beat.steps_only()):
            _check_rows(config, runner.runs, shard_rows)
            if store is not None:
                store.save(index, _shard_identity(shards[index]), {"judgments": frame(shard_rows, Judgment)}, meta)
            results[index] = (shard_rows, meta)
            sent += meta["requests"]
            beat.advance(len(shards[index]))
    rows = [r for i in range(len(shards)) if i in results for r in results[i][0]]
    shard_stats = [dict(results[i][1]) for i in range(len(shards)) if i in results]
    meta = next((s["judge_meta"] for s in shard_stats if "judge_meta" in s), {})
    for s in shard_stats:
        s.pop("judge_meta", None)
        s.pop("node", None)
    own = [r for r in rows if r["opponent_id"] is None]
    statuses = Counter(r["parse_status"] for r in own)
    unlabelled = Counter(r["reason"] or r["parse_status"] for r in own if r["score"] is None)
    sharding = {"shards": len(shards), "shards_resumed": len(shards) - len(todo), "requests_sent": sent,
                "nodes": sorted({results[i][1]["node"] for i in todo if i in results and results[i][1].get("node")}),
                **({"actors_lost": runner.lost[lost_before:]} if len(runner.lost) > lost_before else {})} \
        if store is not None else {}
    return rows, _rates({
        "type": config.type, "ran_in": runner.placement,
        "model": meta.get("model"), "template_hash": meta.get("template_hash"),
        "candidates": len(own), "labelled": sum(r["score"] is not None for r in own), "parse_status": dict(statuses),
        # the commonest reasons a candidate got no label, quoted by the stage's warnings and error
        **({"missing_reasons": dict(unlabelled.most_common(MISSING_REASONS))} if unlabelled else {}),
        **merge_judge_stats(shard_stats), **sharding,
    })


def _check_rows(config, runs, rows: list[dict]) -> None:
    """A judge keeps its declaration: verdicts on two answers (rows with an opponent) only from a
    judge that runs `per="pair"`; otherwise the pair stage would read them as candidate labels."""
    if runs.per != "pair" and any(r.get("opponent_id") is not None for r in rows):
        raise PrefdataError(f"label judge {config.id!r}: it returned rows with an opponent_id (pairwise verdicts) but "
                            f"declares runs per={runs.per!r}; return JudgeRuns(per='pair') from its runs()")


def _rates(stats: dict[str, Any]) -> dict[str, Any]:
    n, statuses = stats["candidates"], stats["parse_status"]
    stats["parse_failure_rate"] = sum(statuses.get(s, 0) for s in PARSE_FAILURES) / n if n else None
    stats["missing_rate"] = (n - stats["labelled"]) / n if n else None
    stats["error_rate"] = statuses.get("error", 0) / n if n else None
    return stats


# run_judge's own statistics, with how each combines over partitions; a judge's own (judge.stats())
# combine by merge_judge_stats: counts add up, rates are recomputed
RUN_STATS = {
    "type": AGREE, "ran_in": AGREE,
    "candidates": SUM, "labelled": SUM, "parse_status": SUM, "shards": SUM, "shards_resumed": SUM, "requests_sent": SUM,
    "model": RECOMPUTE, "template_hash": RECOMPUTE, "missing_reasons": RECOMPUTE, "nodes": RECOMPUTE,
    "actors_lost": RECOMPUTE, "parse_failure_rate": RECOMPUTE, "missing_rate": RECOMPUTE, "error_rate": RECOMPUTE,
}


def merge_run_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One judge's `run_judge` statistics over several partitions, by RUN_STATS and merge_judge_stats."""
    recomputed: dict[str, Any] = {
        "model": next((p["model"] for p in parts if p.get("model")), None),
        "template_hash": next((p["template_hash"] for p in parts if p.get("template_hash")), None)}
    reasons = sum((Counter(p.get("missing_reasons", {})) for p in parts), Counter())
    if reasons:
        recomputed["missing_reasons"] = dict(reasons.most_common(MISSING_REASONS))
    if any("nodes" in p for p in parts):
        recomputed["nodes"] = sorted({n for p in parts for n in p.get("nodes", [])})
    if any("actors_lost" in p for p in parts):
        recomputed["actors_lost"] = [lost for p in parts for lost in p.get("actors_lost", [])]
    own = merge_judge_stats([{k: v for k, v in p.items() if k not in RUN_STATS} for p in parts])
    ours = combine_stats([{k: v for k, v in p.items() if k in RUN_STATS} for p in parts], RUN_STATS, recomputed)
    return _rates({**ours, **own})


def _shards(items: list[JudgeItem], size: int) -> list[list[JudgeItem]]:
    """Consecutive items cut into shards of about `size`, never splitting a prompt's candidates
    (pairwise judges compare within a prompt)."""
    shards, current = [], []
    for i, item in enumerate(items):
        current.append(item)
        last_of_prompt = i + 1 == len(items) or items[i + 1].prompt_id != item.prompt_id
        if len(current) >= size and last_of_prompt:
            shards.append(current)
            current = []
    return shards + ([current] if current else [])


def _shard_identity(shard: list[JudgeItem]) -> str:
    """Digest of exactly what is judged: a re-sampled candidate (same id, new text) is judged anew."""
    return stable_hash([[it.prompt_id, it.candidate_id, it.prompt, it.response, it.reference] for it in shard])


def merge_judge_stats(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Judge statistics over shards: counts add up; rates are recomputed from the summed counts."""
    total: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.endswith("_rate"):
                total[k] = total.get(k, 0) + v
            elif not k.endswith("_rate"):
                total.setdefault(k, v)
    if "failed_outputs" in total and total.get("requests"):
        total["output_parse_failure_rate"] = total["failed_outputs"] / total["requests"]
    judged = total.get("swap_consistent_pairs", 0) + total.get("swap_inconsistent_pairs", 0)
    if "swap_consistent_pairs" in total:
        total["swap_consistency_rate"] = total["swap_consistent_pairs"] / judged if judged else None
    return total


def candidate_scores(rows: list[dict], items: list[JudgeItem], judge_ids: list[str]) -> dict[str, list[float | None]]:
    """Per judge, each item's candidate-level score (None if missing), aligned with `items`."""
    index = {(r["judge_id"], r["candidate_id"]): r["score"] for r in rows if r["opponent_id"] is None}
    return {j: [index.get((j, it.candidate_id)) for it in items] for j in judge_ids}


def judge_scales(config, scores: dict[str, np.ndarray]) -> dict[str, tuple[float, float] | None] | None:
    """Each aggregated judge's (mean, std) over all its scores, for `combine: mean` (None otherwise)."""
    if config.combine != "mean" or len(config.judges) < 2:
        return None
    return {j: zscale(np.asarray(v, dtype=float)) for j, v in scores.items()}


# finish_labels' counts, with how each combines over partitions (partition/labels.py)
LABEL_COUNTS = {"candidates": SUM, "prompts": SUM, "unlabelled_candidates": SUM, "judged": SUM, "parse_failures": SUM}


def finish_labels(config, items: list[JudgeItem], rows: list[dict],
                  scales: dict[str, tuple[float, float] | None] | None = None) -> tuple[list[dict], dict, dict]:
    """(aggregate rows, additive counts, each judge's derived pair labels) of a set of whole prompts.

    `rows`: every judge's candidate-level rows for `items`. `scales`: the judges' scales over
    the whole run (`judge_scales`), when `items` are a part of it."""
    judge_ids = [j.id for j in config.judges]
    per_judge = candidate_scores(rows, items, judge_ids)
    aggregate = aggregate_rows(config, items, per_judge, scales) if len(judge_ids) > 1 else []
    score_rows = aggregate or [r for r in rows if r["opponent_id"] is None]
    final = {r["candidate_id"]: r["score"] for r in score_rows if r["judge_id"] == config.judges_score_id}
    groups = [it.prompt_id for it in items]
    counts = {
        "candidates": len(items), "prompts": len(set(groups)),
        "unlabelled_candidates": sum(final.get(it.candidate_id) is None for it in items),
        "judged": sum(r["opponent_id"] is None for r in rows),
        "parse_failures": sum(r["opponent_id"] is None and r["parse_status"] in PARSE_FAILURES for r in rows),
    }
    labels = {j: derived_pair_labels(groups, s) for j, s in per_judge.items()} if len(judge_ids) > 1 else {}
    return aggregate, counts, labels


def aggregate_rows(config, items: list[JudgeItem], per_judge: dict[str, list],
                   scales: dict[str, tuple[float, float] | None] | None = None) -> list[dict]:
    groups = [it.prompt_id for it in items]
    if config.aggregate_judges:
        per_judge = {j: s for j, s in per_judge.items() if j in config.aggregate_judges}
    scores = combine(groups, per_judge, config.combine, config.weights, scales)
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


def label_stats(config, counts: dict[str, int], judge_stats: dict[str, dict],
                labels: dict[str, np.ndarray]) -> dict[str, Any]:
    """The stage's statistics from the counts and pair labels of all its prompts (summed and
    concatenated over partitions)."""
    consistent = sum(s.get("swap_consistent_pairs", 0) for s in judge_stats.values())
    inconsistent = sum(s.get("swap_inconsistent_pairs", 0) for s in judge_stats.values())
    return {
        "candidates": counts["candidates"],
        "prompts": counts["prompts"],
        "score_judge_id": config.score_judge_id,
        "unlabelled_candidates": counts["unlabelled_candidates"],
        "parse_failure_rate": counts["parse_failures"] / counts["judged"] if counts["judged"] else None,
        "swap_consistency_rate": consistent / (consistent + inconsistent) if consistent + inconsistent else None,
        "judges": judge_stats,
        "combine": config.combine if len(config.judges) > 1 else None,
        "agreement": agreement_of_labels(labels) if len(labels) > 1 else None,
    }


def missing_labels(stats: dict) -> str:
    """'3 of 32 candidates have no label (error: 3); commonest reasons: ...' from a judge's statistics."""
    n = stats.get("candidates") or 0
    missing = n - (stats.get("labelled") or 0)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted((stats.get("parse_status") or {}).items()) if k != "ok" and v)
    reasons = "; ".join(f"{r!r} x{c}" for r, c in (stats.get("missing_reasons") or {}).items())
    return (f"{missing} of {n} candidates have no label ({statuses or 'no score'})"
            + (f"; commonest reasons: {reasons}" if reasons else ""))


def failed_too_often(config, stats: dict) -> bool:
    """A judge's run (or one partition of it) that errored on more than label.max_error_rate of its candidates."""
    return (stats.get("error_rate") or 0) > config.max_error_rate


def refuse_broken_judges(config, judge_stats: dict[str, dict]) -> None:
    """A judge that failed on more than label.max_error_rate of the candidates stops the stage (its
    finished shards stay: a rerun after the fix re-judges only what the fix changes)."""
    broken = [f"judge {j}: {missing_labels(s)}" for j, s in judge_stats.items() if failed_too_often(config, s)]
    if broken:
        raise PrefdataError(f"label: a judge failed on more than label.max_error_rate={config.max_error_rate:g} of "
                            "the candidates "
                            f"(fix the judge, or raise the limit): {'; '.join(broken)}")
