"""The `label` stage: score every candidate with one or more judges -> Judgment records.

    label:
      judges:
        - {type: programmatic, id: math, name: numeric_match}
        - {type: reward_model, id: rm, path: /models/rm, batch_size: 8}
        - {type: llm, id: uf, mode: pairwise, sampler: {backend: vllm, model: /models/judge}}
      combine: rank            # mean | majority | rank (prefdata/labelling/combine.py)
      weights: {rm: 2.0}       # optional, per judge id

Judges run one after another (each model is freed before the next loads). Model judges
(reward models, LLM judges) label in shards of about `shard_size` candidates, whole
prompts per shard, written to `<stage dir>/shards/<judge>-<key>/` as they finish: a build
killed while labelling resumes with only the missing shards' requests (stats: per judge
`shards_resumed`, `requests_sent`). Programmatic judges run whole (they are cheap). Above
`partition_prompts` prompts the stage labels partition by partition in bounded memory, with
the same labels and statistics (prefdata/partition/labels.py); the labelling itself is
prefdata/labelling/runner.py. Output: a
frame with records.Judgment columns holding exactly one row per judge and candidate
(pairwise judges, LLM or programmatic: the candidate's win rate, see prefdata/judges/pairwise.py; their
per-pair rows, with `opponent_id`, go to `<stage dir>/pairwise_judgments.parquet`). With
several judges an `aggregate` row per candidate (judge_type "aggregate", id
`aggregate_id`) combines them and carries `rank` within its prompt. The judge later
stages should pair on is `stats["score_judge_id"]` (the aggregate, else the only judge).

With `source: argilla` the stage takes the human labels `prefdata argilla pull` wrote to
`RUN_DIR/human/judgments.parquet` instead (a declared input: pulling new answers re-runs
this stage and those after it). With `source: mixed` the judges run as usual and a `mixed`
row per candidate takes the annotators' ranking where a prompt was answered, the judges'
labels elsewhere (prefdata/labelling/mixed.py; the human file is a declared input once it
exists, and model judges resume from their shards, so a re-pull re-labels nothing).

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

from collections import Counter
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from prefdata.atomic import atomic_path, write_parquet
from prefdata.config import StrictModel, stable_hash
from prefdata.errors import PrefdataError
from prefdata.fingerprint import code_fingerprint
from prefdata.frames import read_record_file
from prefdata.judges import JudgeConfig
from prefdata.judges.base import judge_runs
from prefdata.labelling.runner import JudgeRunner, missing_labels
from prefdata.plugins import plugin_files
from prefdata.records import Judgment
from prefdata.rundir import RunDir
from prefdata.shards import ShardStore
from prefdata.stages.base import GENERATION_ENGINES, Stage, StageContext, StageOutput

PARSE_FAILURE_WARNING = 0.2  # parse-failure rate of a judge above which the console says so


class LabelConfig(StrictModel):
    source: Literal["judges", "argilla", "mixed"] = Field(
        "judges", description="judges: run the judges below; argilla: use the human labels that "
        "`prefdata argilla pull RUN_DIR` wrote to RUN_DIR/human/judgments.parquet; mixed: the judges, "
        "with the human ranking wherever a prompt was answered (prefdata/labelling/mixed.py).",
    )
    mixed_id: str = Field("mixed", description="source mixed: judge_id of the mixed rows.")
    judges: list[JudgeConfig] = Field(default_factory=list, description="Judges run in this order; ids must be unique.")
    combine: Literal["mean", "majority", "rank"] = Field(
        "mean", description="How several judges' scores become one (see prefdata/labelling/combine.py)."
    )
    weights: dict[str, float] | None = Field(None, description="Per judge id weight in the combination (default 1).")
    aggregate_id: str = Field("aggregate", description="judge_id of the combined judgment rows.")
    shard_size: int = Field(256, ge=1, description="Candidates per finished shard of a model judge (whole "
                            "prompts): a kill loses at most one shard of judge calls.")
    partition_prompts: int = Field(
        100_000, ge=1, description="More prompts than this are labelled in partitions of this many (same labels, "
        "memory bounded by the partition).")
    executor: Literal["local", "ray"] = Field(
        "local", description="ray: judges that hold a model (reward models, your own model judges) score "
        "shards on a pool of Ray actors, each loading the model once; judges that drive a vllm sampler (LLM "
        "judges) run it as Ray Data LLM engine replicas; cheap checks run in this process (the stage's stats "
        "say where each judge ran). Same output as local.")
    ray_actors: int | None = Field(None, ge=1, description="executor ray: actors per model judge (default: one "
                                      "per node; a judge that needs a GPU: one per GPU, each reserving one).")
    max_error_rate: float = Field(
        0.5, ge=0.0, le=1.0, description="A judge that failed on a larger share of the candidates (parse_status "
        "error: a check that raised, a prompt too long for the judge model, an engine error) fails the stage, "
        "naming the judge and its first errors. Missing labels below it are warned about.")
    aggregate_judges: list[str] | None = Field(
        None, description="Judge ids that enter the combination (default: all); the others are "
        "kept as reference labels, e.g. a trusted check audited against cheaper judges.",
    )

    @model_validator(mode="after")
    def _ids(self):
        if self.source != "argilla" and not self.judges:
            raise ValueError(f"judges: give at least one judge, or `source: argilla` for human labels only "
                             f"(source {self.source} runs the judges)")
        if self.source == "argilla" and self.judges:
            raise ValueError("source: argilla takes the pulled human labels; remove `judges` (or use source: judges)")
        ids = [j.id for j in self.judges]
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if repeated:
            raise ValueError(f"judge ids must be unique; repeated: {repeated}")
        if self.aggregate_id in ids:
            raise ValueError(f"aggregate_id {self.aggregate_id!r} is also a judge id; rename one of them")
        if self.source == "mixed" and self.mixed_id in (*ids, self.aggregate_id):
            raise ValueError(f"mixed_id {self.mixed_id!r} is also a judge or aggregate id; rename one of them")
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
        """The judge later stages pair on: the mixed rows, else the aggregate, else the only judge."""
        return self.mixed_id if self.source == "mixed" else self.judges_score_id

    @property
    def judges_score_id(self) -> str:
        return self.judges[0].id if len(self.judges) == 1 else self.aggregate_id


class LabelStage(Stage):
    name, Config = "label", LabelConfig
    inputs, output, unit = ("prompts", "candidates"), "judgments", "candidates"
    lazy_inputs = True

    @property
    def engines(self) -> tuple[str, ...]:
        """The generation engines, and the packages each judge declares (an instruction checker's)."""
        declared = (p for j in self.config.judges for p in judge_runs(j).packages)
        return GENERATION_ENGINES + tuple(dict.fromkeys(p for p in declared if p not in GENERATION_ENGINES))

    def extra_inputs(self, run_dir: Path) -> dict[str, Path]:
        if self.config.source == "judges":
            return {}
        path = RunDir(run_dir).human_judgments
        if self.config.source == "mixed":  # nothing pulled yet: the judges' labels alone
            return {"human_judgments": path} if path.is_file() else {}
        if not path.is_file():
            raise PrefdataError(
                f"{path}: no human labels yet (label.source is argilla). Push, annotate and pull first: "
                f"`prefdata argilla push {run_dir}` ... `prefdata argilla pull {run_dir}`"
            )
        return {"human_judgments": path}

    def check(self) -> list[str]:
        from prefdata.backends.transformers import model_path_problems
        from prefdata.model_dirs import LOCAL_BACKENDS

        paths = []
        for i, judge in enumerate(self.config.judges):
            runs = judge_runs(judge)
            paths += [(f"label.judges.{i}.{field}", getattr(judge, field)) for field in runs.model_fields]
            sampler = getattr(judge, runs.engine) if runs.engine else None
            if sampler is not None and sampler.backend in LOCAL_BACKENDS:
                paths.append((f"label.judges.{i}.{runs.engine}.model", sampler.model))
        return model_path_problems(paths)

    def warnings(self, out: StageOutput) -> list[str]:
        found = []
        for judge_id, stats in (out.stats.get("judges") or {}).items():
            if stats.get("missing_rate"):
                found.append(f"judge {judge_id}: {missing_labels(stats)}")
            rate = stats.get("parse_failure_rate")
            if rate is not None and rate > PARSE_FAILURE_WARNING:
                found.append(f"judge {judge_id}: {rate:.0%} of its outputs did not parse (see parse_status in "
                             "the judgments); check the judge model and template")
            for lost in stats.get("actors_lost", []):
                found.append(f"judge {judge_id}: its Ray actor on node {lost['node']} died while scoring shard "
                             f"{lost['shard']}; another actor scored it (same rows)")
        return found

    def code_files(self) -> list[Path]:
        """This module, each judge type's code, plus the source of every `module:function` check: an
        edited judge or check re-labels."""
        import importlib.util

        import prefdata.labelling.combine as aggregate
        import prefdata.labelling.agreement as agreement
        import prefdata.labelling.runner as labelling
        import prefdata.labelling.mixed as mixed
        import prefdata.partition.files as scratch
        import prefdata.partition.labels as partitioned
        from prefdata.judges.base import judge_class

        files = [*super().code_files(), *(Path(m.__file__) for m in (labelling, aggregate, agreement, partitioned,
                                                                      scratch, mixed))]
        for cls in sorted({judge_class(j) for j in self.config.judges}, key=lambda c: c.__qualname__):
            files += cls.code_files()
        for judge in self.config.judges:
            module = (getattr(judge, "function", None) or "").partition(":")[0]
            spec = importlib.util.find_spec(module) if module else None
            if spec is not None and spec.origin and Path(spec.origin).is_file():
                files.append(Path(spec.origin))
        return files

    def run(self, inputs: dict[str, pl.LazyFrame], ctx: StageContext) -> StageOutput:
        from prefdata.partition.executor import console_progress
        from prefdata.partition.labels import label_partitions

        c = self.config
        if c.source == "argilla":
            return human_labels(ctx.extra["human_judgments"], inputs["candidates"].lazy().collect())
        candidates = inputs["candidates"].lazy()
        out = label_partitions(inputs["prompts"].lazy(), candidates, c, ctx.stage_dir, self._store_for(ctx.stage_dir),
                               self._runner, console=ctx.console, log_file=ctx.log_file,
                               progress=console_progress(ctx.console, "label"), key=ctx.key)
        if c.source == "mixed":
            mixed = self._mixed(pl.scan_parquet(out.data), candidates, ctx, out.stats)
            with atomic_path(out.data) as tmp:
                pl.concat([pl.scan_parquet(out.data), mixed]).sink_parquet(tmp)
        return out

    def _mixed(self, labels: pl.LazyFrame, candidates: pl.LazyFrame, ctx: StageContext, stats: dict) -> pl.LazyFrame:
        """source mixed: the mixed rows; their statistics go into `stats`, contradictions to a file."""
        from prefdata.labelling.mixed import human_scores, mix

        human, orphans = None, 0
        if "human_judgments" in ctx.extra:
            pulled = read_record_file(ctx.extra["human_judgments"], Judgment, what="human judgments ")
            human, orphans = human_scores(pulled, candidates)
        rows, contradictions, stats["mixed"] = mix(labels, human, self.config.judges_score_id, self.config.mixed_id)
        stats["mixed"]["human_rows_of_unknown_candidates"] = orphans
        listed = ctx.stage_dir / "contradictions.parquet"
        listed.unlink(missing_ok=True)  # an earlier pull's list
        if contradictions.height:
            stats["mixed"]["contradictions_file"] = str(write_parquet(contradictions, listed))
        return rows

    def _runner(self, judge_config) -> JudgeRunner:
        """The judge as this stage's executor runs it (an LLM judge's vllm sampler as Ray engine replicas)."""
        c = self.config
        return JudgeRunner(on_ray(judge_config) if c.executor == "ray" else judge_config, c.executor, c.ray_actors)

    def _store_for(self, stage_dir: Path):
        """store_for(judge_config, partition=None): a model judge's ShardStore, keyed by what decides
        its labels (config, engines, model files, plugin code); None for judges that run whole."""
        fingerprint = self.fingerprint()

        def store_for(judge_config, partition: int | None = None) -> ShardStore | None:
            if not judge_runs(judge_config).shards:
                return None
            key = stable_hash({"judge": judge_config.model_dump(mode="json"), "engines": fingerprint.get("engines"),
                               "paths": fingerprint.get("paths"),  # model files and templates
                               "code": code_fingerprint(plugin_files(judge_config))})  # e.g. a plugin sampler
            root = stage_dir / "shards" / f"{judge_config.id}-{key}"
            return ShardStore(root if partition is None else root / f"p{partition}")
        return store_for


def on_ray(judge_config):
    """A judge that drives a vllm sampler, with that sampler run as Ray Data LLM engine replicas
    instead: the same engine arguments and seeds, so the same verdicts (the shard key is the
    original config's)."""
    field = judge_runs(judge_config).engine
    sampler = getattr(judge_config, field) if field else None
    if sampler is None or sampler.backend != "vllm":
        return judge_config
    from prefdata.backends.ray import RayConfig

    # only what the user set: the ray config's defaults stay defaults (the CPU KV cache is sized from them)
    return judge_config.model_copy(update={field: RayConfig(**sampler.model_dump(exclude={"backend"},
                                                                                exclude_unset=True))})


def human_labels(path: Path, candidates: pl.DataFrame) -> StageOutput:
    """The pulled human labels; those of candidates no longer in the run (a re-sample since the
    pull) are `orphan_judgment` rejects. Accounting unit here: judgment rows of the file."""
    from prefdata.pairing.blocks import orphan_judgments

    human = read_record_file(path, Judgment, what="human judgments ")
    known = human.join(candidates.select("candidate_id").unique(), on="candidate_id", how="semi")
    rejects = orphan_judgments(human, candidates).with_columns(pl.lit("label").alias("stage"))
    return StageOutput(data=known, rejects=rejects, rows_in=human.height,
                       stats={"source": "argilla", "file": str(path), "orphan_judgments": rejects.height})
