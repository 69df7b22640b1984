"""The `sample` stage: k candidate responses per prompt from one or more models.

    sample:
      k: 4
      sampling: {temperature: 1.0, top_p: 0.95, max_tokens: 32}
      models:
        - {backend: vllm, model: /tmp/tiny, max_model_len: 512}
        - {backend: openai, model: gpt-4o-mini, base_url: https://api.openai.com/v1}

Work is cut into shards of `shard_size` prompts, written atomically to
`RUN_DIR/stages/sample/shards/<key>/shard-NNNNN.*` as they complete (a `.json` marker last):
after a kill the same command reuses finished shards and redoes only the missing ones.
Every request has its own seed (hash of recipe seed, prompt id, model index), so a
resumed run produces exactly the candidates of an uninterrupted one.

Accounting unit: one (prompt, model) request. A request whose prompt does not fit the
model's context (`prompt_too_long`) or that the server refuses (`backend_refused`) is a
reject; kept + rejected = prompts x models.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, model_validator

from prefdata.backends import SamplerConfig, make_sampler
from prefdata.backends.base import Request, Sampler, SamplingParams
from prefdata.config import StrictModel, stable_hash
from prefdata.fingerprint import code_fingerprint
from prefdata.plugins import plugin_files
from prefdata.faults import crash_point
from prefdata.errors import PrefdataError
from prefdata.progress import Heartbeat
from prefdata.backends.sizing import EngineNeeds
from prefdata.records import Candidate
from prefdata.shards import ShardStore
from prefdata.stages.base import GENERATION_ENGINES, Stage, StageContext, StageOutput
from prefdata.frames import frame
from prefdata.ledger import REJECT_SCHEMA, Rejects, empty_rejects, reasons


MAX_K = 1024
TRUNCATION_WARNING = 0.2  # share of candidates cut at max_tokens above which the console says so
STALL_HINT = ("On a slow CPU: lower sampling.max_tokens, max_model_len or max_num_seqs, set dtype: float32, or "
              "try backend: transformers; `prefdata doctor RECIPE` shows the engine settings and a time estimate.")


class DynamicConfig(StrictModel):
    max_per_prompt: int = Field(
        ge=2, description="Candidates one prompt may have over all rounds and models; a round adds k per model.")
    budget: int | None = Field(
        None, ge=1, description="Candidates the whole run may sample, the first round included (None: only "
        "max_per_prompt limits it). When a round does not fit, the prompts with the fewest candidates go first.")


class SampleConfig(StrictModel):
    k: int = Field(4, ge=1, le=MAX_K, description="Candidates per prompt and model.")
    models: list[SamplerConfig] = Field(
        min_length=1, description="Candidate sources; each candidate is tagged with its model."
    )
    sampling: SamplingParams = Field(default_factory=SamplingParams, description="Shared by every model.")
    shard_size: int = Field(16, ge=1, description="Prompts per shard: a kill loses at most one shard of work.")
    dynamic: DynamicConfig | None = Field(
        None, description="Dynamic sampling: prompts whose answers give no pair get k more per model, in rounds "
        "(prefdata/dynamic/).")

    @property
    def per_round(self) -> int:
        """Candidates one round of sampling gives a prompt: k per model."""
        return self.k * len(self.models)

    @model_validator(mode="after")
    def _room_for_a_round(self):
        per_round = self.per_round
        if self.dynamic is not None and self.dynamic.max_per_prompt < 2 * per_round:
            raise ValueError(
                f"dynamic.max_per_prompt {self.dynamic.max_per_prompt} leaves no room for a second round of k={self.k} "
                f"x {len(self.models)} model(s) = {per_round} candidates per prompt; set it to at least "
                f"{2 * per_round}, or remove sample.dynamic")
        return self


def request_seed(run_seed: int, prompt_id: str, model_index: int, round: int = 0) -> int:
    """Per-request seed: independent of batching, so resumes reproduce the same candidates; each
    round of dynamic sampling draws anew."""
    what = f"{run_seed}:{prompt_id}:{model_index}" + (f":{round}" if round else "")
    digest = hashlib.sha256(what.encode()).hexdigest()
    # vLLM seeds the i-th of n samples with seed + i: multiples of MAX_K never overlap.
    return (int(digest[:8], 16) % (2**31 // MAX_K)) * MAX_K


def shard_requests(sampler: Sampler, shard: list[dict], model_index: int, config: SampleConfig,
                   run_seed: int, round: int = 0) -> tuple[list[tuple[dict, Request]], Rejects]:
    """A shard's requests (prompt record, request) and the prompts refused before generation:
    those whose tokens plus max_tokens do not fit the model's context (an answer could not be
    whole)."""
    rejects = Rejects("sample")
    max_len = sampler.max_model_len
    max_tokens = config.sampling.max_tokens
    todo: list[tuple[dict, Request]] = []
    for rec in shard:
        messages = [{"role": m["role"], "content": m["content"]} for m in rec["prompt"]]
        n_tokens = sampler.prompt_tokens(messages) if max_len else None
        if n_tokens is not None and n_tokens + max_tokens > max_len:
            rejects.add(
                "prompt_too_long",
                f"prompt has {n_tokens} tokens + sampling.max_tokens {max_tokens} = {n_tokens + max_tokens} > "
                f"{max_len}, the context of model {sampler.model_id}: lower max_tokens, shorten the prompt or raise "
                "max_model_len",
                row=rec.get("source_row"), row_id=rec["prompt_id"], field="prompt",
                values={"prompt_tokens": n_tokens, "max_tokens": max_tokens, "max_model_len": max_len,
                        "model": sampler.model_id},
            )
            continue
        seed = request_seed(run_seed, rec["prompt_id"], model_index, round)
        todo.append((rec, Request(messages=messages, n=config.k, seed=seed, prompt_tokens=n_tokens)))
    return todo, rejects


def engine_needs(prepared: list[list[tuple[dict, Request]]], max_tokens: int) -> EngineNeeds | None:
    """What the requests still to generate ask of an engine (None: nothing to generate)."""
    requests = [(rec, req) for todo in prepared for rec, req in todo]
    if not requests:
        return None
    rec, longest = max(requests, key=lambda item: item[1].prompt_tokens or 0)
    return EngineNeeds(prompt_tokens=longest.prompt_tokens or 0, max_tokens=max_tokens,
                       sequences=sum(req.n for _, req in requests), prompt_id=rec["prompt_id"])


def shard_candidates(sampler: Sampler, todo: list[tuple[dict, Request]], outputs: list[list],
                     rejects: Rejects, model_index: int, config: SampleConfig,
                     round: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidates (and the requests the backend refused) from a shard's generations; round r of
    dynamic sampling numbers its answers from r * k."""
    refused = getattr(sampler, "refused", {})
    sampling = json.dumps({**config.sampling.model_dump(mode="json"), "n": config.k}, sort_keys=True)
    cands = []
    for i, ((rec, req), gens) in enumerate(zip(todo, outputs)):
        if not gens:
            rejects.add(
                "backend_refused", f"{sampler.backend} returned no output: {refused.get(i, 'no reason given')}",
                row=rec.get("source_row"), row_id=rec["prompt_id"], values={"model": sampler.model_id},
            )
            continue
        for j, g in enumerate(gens, start=round * config.k):
            cands.append(Candidate(
                candidate_id=f"{rec['prompt_id']}:{model_index}:{j}", prompt_id=rec["prompt_id"],
                text=g.text, num_tokens=g.num_tokens, finish_reason=g.finish_reason,
                model=sampler.model_id, backend=sampler.backend, seed=req.seed, sampling=sampling,
                sample_index=j,
            ))
    return frame(cands, Candidate), rejects.frame()


class SampleStage(Stage):
    name, Config = "sample", SampleConfig
    inputs, output, unit = ("prompts",), "candidates", "prompts"
    engines = GENERATION_ENGINES

    def __init__(self, config: SampleConfig, round: int = 0):
        super().__init__(config)
        self.round = round  # dynamic sampling's round (prefdata/dynamic/); 0: the stage itself

    def fingerprint(self) -> dict[str, Any]:
        out = super().fingerprint()
        out["config"].pop("dynamic", None)  # how far later rounds may go does not change this one's answers
        if self.round:
            out["round"] = self.round
        return out

    def warnings(self, out: StageOutput) -> list[str]:
        found = []
        cut = int((out.data["finish_reason"] == "length").sum()) if out.data.height else 0
        if out.data.height and cut / out.data.height > TRUNCATION_WARNING:
            found.append(f"{cut / out.data.height:.0%} of the candidates were cut at sampling.max_tokens="
                         f"{self.config.sampling.max_tokens} (finish_reason length); raise it, or the quality "
                         "filter drops them as truncated")
        if out.stats.get("short_requests"):
            found.append(f"{out.stats['short_requests']} requests returned fewer than k={self.config.k} candidates")
        return found

    @staticmethod
    def _say_refused(prepared: dict[int, tuple[list, Rejects]], beat: Heartbeat) -> None:
        """One line before any engine starts when prompts do not fit the model's context."""
        refused = pl.concat([r.frame() for _, r in prepared.values()])
        if refused.height:
            first = refused.row(0, named=True)
            beat.note(f"warning: {refused.height} prompt(s) refused before sampling (prompt_too_long); e.g. prompt "
                      f"{first['row_id']} (row {first['row']}): {first['message']}")

    def check(self) -> list[str]:
        from prefdata.backends.transformers import model_path_problems
        from prefdata.model_dirs import LOCAL_BACKENDS

        return model_path_problems([(f"sample.models.{i}.model", m.model) for i, m in enumerate(self.config.models)
                                    if m.backend in LOCAL_BACKENDS])

    def run(self, inputs: dict[str, pl.DataFrame], ctx: StageContext) -> StageOutput:
        config: SampleConfig = self.config
        records = inputs["prompts"].to_dicts()
        shards = [records[i : i + config.shard_size] for i in range(0, len(records), config.shard_size)]
        cand_parts, reject_parts, stats = [], [], {"unit": "prompt x model request", "models": {}}
        fingerprint = self.fingerprint()
        for m, model_config in enumerate(config.models):
            cands, rejects, model_stats = self._run_model(m, model_config, shards, ctx, fingerprint)
            cand_parts += cands
            reject_parts += rejects
            stats["models"][f"{m}:{model_config.model}"] = model_stats
        data = pl.concat(cand_parts) if cand_parts else frame([], Candidate)
        rejects = pl.concat(reject_parts).cast(REJECT_SCHEMA) if reject_parts else empty_rejects()
        rows_in = len(records) * len(config.models)
        kept = data.select("prompt_id", "model").unique().height if data.height else 0
        tokens = int(data["num_tokens"].fill_null(0).sum()) if data.height else 0
        # A request answered with fewer than k candidates is kept, but never silently.
        per_request = data.group_by("prompt_id", "model").len() if data.height else None
        short = int((per_request["len"] < config.k).sum()) if per_request is not None else 0
        stats.update(candidates=data.height, prompts=len(records), generated_tokens=tokens, short_requests=short)
        return StageOutput(data=data, rejects=rejects, rows_in=rows_in, rows_kept=kept, stats=stats)

    def _run_model(self, m: int, model_config: Any, shards: list[list[dict]], ctx: StageContext,
                   fingerprint: dict[str, Any]):
        config: SampleConfig = self.config
        what = model_config.model_dump(mode="json", exclude=set(getattr(model_config, "transport_fields", ())))
        # The model's files and the engine versions are part of a shard's identity: a model
        # retrained into the same directory never gets the old model's shards back.
        rounds = {"round": self.round} if self.round else {}  # round 0 keeps the keys of runs without rounds
        key = stable_hash({"model": what, "model_index": m, "k": config.k, **rounds,
                           "sampling": config.sampling.model_dump(mode="json"), "seed": ctx.seed,
                           "model_files": fingerprint.get("paths", {}).get(model_config.model),
                           "engines": fingerprint.get("engines"),
                           "code": code_fingerprint(plugin_files(model_config))})  # an edited plugin sampler resamples
        store = ShardStore(ctx.stage_dir / "shards" / key)
        sampler: Sampler | None = None
        cands, rejects = [], []
        t0 = time.perf_counter()
        identities = [[r["prompt_id"] for r in shard] for shard in shards]
        finished, todo = store.resume(identities)
        done = {i: (parts[""], parts["rejects"]) for i, (parts, _) in finished.items()}
        timing: dict[str, float] = {}
        engine: dict[str, Any] = {}
        beat = Heartbeat(ctx.console, f"{model_config.backend}:{Path(model_config.model).name}",
                         total=sum(map(len, shards)) * config.k, log_file=ctx.log_file, hint=STALL_HINT)
        try:
            with beat:
                beat.advance(sum(done[i][0].height for i in finished), resumed=True)
                if todo:
                    beat.phase("loading")
                    sampler = make_sampler(model_config)
                    sampler.progress = beat
                    timing["sampler_ready_s"] = time.perf_counter() - t0
                    beat.phase("counting prompt tokens")
                    prepared = {i: shard_requests(sampler, shards[i], m, config, ctx.seed, self.round) for i in todo}
                    self._say_refused(prepared, beat)
                    beat.total = beat.done + sum(len(t) for t, _ in prepared.values()) * config.k
                    needs = engine_needs([t for t, _ in prepared.values()], config.sampling.max_tokens)
                    if needs is not None:
                        sampler.reserve(needs)
                    requests = ((i, [r for _, r in prepared[i][0]]) for i in todo)
                    beat.phase("generating")
                    # shards come back as they finish (all at once on ray: one job, engines started once)
                    for i, outputs in sampler.generate_shards(requests, config.sampling):
                        shard_todo, shard_rejects = prepared.pop(i)
                        done[i] = shard_candidates(sampler, shard_todo, outputs, shard_rejects, m, config, self.round)
                        store.save(i, identities[i], {"": done[i][0], "rejects": done[i][1]},
                                   {"candidates": done[i][0].height})
                        crash_point(f"sample:shard:{len(done) - len(finished)}")  # kill tests: n shards saved
                        beat.reach(sum(done[j][0].height for j in done))
                        timing.setdefault("first_shard_s", time.perf_counter() - t0)
                    if prepared:  # a backend that lost shards: never a silent gap in the candidates
                        raise PrefdataError(f"sample: {model_config.backend} returned no result for shard(s) "
                                            f"{sorted(prepared)} of {store.root}; rerun to resume (finished shards "
                                            "are kept)")
                    engine = sampler.engine_stats()
        finally:
            if sampler is not None:
                sampler.close()
        for i in range(len(shards)):
            cands.append(done[i][0])
            rejects.append(done[i][1])
        dropped = reasons(pl.concat(rejects)) if rejects else {}
        # where the time went: building the sampler (a local engine starts here), the first shard back
        # (a Ray job's replicas start before it), the whole run
        return cands, rejects, {"shards": len(shards), "shards_resumed": len(finished), "dropped": dropped,
                                "seconds": round(time.perf_counter() - t0, 3), **engine,
                                **{k: round(v, 3) for k, v in timing.items()}, "shard_dir": str(store.root)}

