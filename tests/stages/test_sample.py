"""The sample stage: sharding, resume, too-long prompts, refusals, several models, seeds.

Control flow is tested with a small deterministic Sampler (text derived from the seed);
the real backends are covered in tests/backends and by the end-to-end recipe tests.
"""

from __future__ import annotations

import polars as pl
import pytest

from prefdata.errors import PrefdataError
from prefdata.backends.base import Generation, Sampler
from prefdata.records import Candidate, PromptRecord
from prefdata.stages import sample as sample_mod
from prefdata.stages.base import StageContext
from prefdata.stages.prompts import prompt_id
from prefdata.stages.sample import MAX_K, SampleConfig, SampleStage, request_seed
from prefdata.frames import frame


class SeedEcho(Sampler):
    """Text is a function of (seed, sample index): lets tests check seeds reach the backend."""

    backend = "fake"

    def __init__(self, model="echo", max_len=None, fail_after=None, refuse=()):
        self._model, self._max_len, self.fail_after, self.refuse = model, max_len, fail_after, refuse
        self.calls, self.refused = 0, {}

    @property
    def model_id(self):
        return self._model

    @property
    def max_model_len(self):
        return self._max_len

    def prompt_tokens(self, messages):
        return sum(len(m["content"].split()) for m in messages)

    def generate(self, requests, params):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("backend died")
        self.refused = {i: "too long for server" for i, r in enumerate(requests) if r.messages[-1]["content"] in self.refuse}
        return [
            [] if i in self.refused else
            [Generation(f"{self._model}-{r.seed}-{j}", 3, "stop") for j in range(r.n)]
            for i, r in enumerate(requests)
        ]


def prompts_frame(texts):
    rows = []
    for i, t in enumerate(texts):
        msgs = [{"role": "user", "content": t}]
        rows.append(PromptRecord(prompt_id=prompt_id(msgs), prompt=msgs, source="t", source_row=i + 1))
    return frame(rows, PromptRecord)


def config(models=1, **kw):
    return SampleConfig(models=[{"backend": "transformers", "model": f"m{i}"} for i in range(models)], **kw)


@pytest.fixture
def samplers(monkeypatch):
    """make_sampler returns SeedEcho samplers; the dict lets tests shape them per model name."""
    made = {}

    def make(cfg):
        made[cfg.model] = made.get(cfg.model) or SeedEcho(cfg.model)
        return made[cfg.model]

    monkeypatch.setattr(sample_mod, "make_sampler", make)
    return made


def run(tmp_path, cfg, prompts, seed=0):
    out = SampleStage(cfg).run({"prompts": prompts}, StageContext(run_dir=tmp_path, stage_dir=tmp_path, seed=seed))
    assert out.rows_in == out.rows_kept + out.rejects.height
    return out


def test_k_candidates_per_prompt_with_provenance(tmp_path, samplers):
    prompts = prompts_frame(["a b", "c d e", "f"])
    out = run(tmp_path, config(k=3, shard_size=2), prompts)
    assert out.data.height == 9 and out.rows_in == 3
    for row in out.data.to_dicts():
        Candidate.model_validate(row)
        assert row["text"] == f"m0-{row['seed']}-{row['sample_index']}"
        assert row["seed"] == request_seed(0, row["prompt_id"], 0)
        assert row["candidate_id"] == f"{row['prompt_id']}:0:{row['sample_index']}"
    assert '"n": 3' in out.data["sampling"][0]


def test_seeds_depend_on_prompt_not_batching(tmp_path, samplers):
    prompts = prompts_frame([f"p{i}" for i in range(7)])
    one = run(tmp_path / "a", config(shard_size=1), prompts).data
    many = run(tmp_path / "b", config(shard_size=5), prompts).data
    assert one.equals(many)
    assert run(tmp_path / "c", config(shard_size=5), prompts, seed=1).data["text"].to_list() != many["text"].to_list()


def test_request_seeds_leave_room_for_k_samples():
    seeds = [request_seed(0, f"p{i}", 0) for i in range(2000)]
    assert all(s % MAX_K == 0 and 0 <= s < 2**31 for s in seeds)  # vLLM uses seed + i for sample i
    assert len(set(seeds)) > 1990 and seeds == [request_seed(0, f"p{i}", 0) for i in range(2000)]
    assert request_seed(0, "p0", 1) != seeds[0] and request_seed(1, "p0", 0) != seeds[0]


def test_crash_keeps_finished_shards_and_resume_redoes_only_the_rest(tmp_path, samplers):
    prompts = prompts_frame([f"p{i}" for i in range(10)])
    cfg = config(shard_size=3)
    samplers["m0"] = SeedEcho("m0", fail_after=2)
    with pytest.raises(RuntimeError, match="backend died"):
        run(tmp_path, cfg, prompts)
    shard_dirs = list((tmp_path / "shards").iterdir())
    assert len(list(shard_dirs[0].glob("shard-*.json"))) == 2
    samplers["m0"] = SeedEcho("m0")
    resumed = run(tmp_path, cfg, prompts)
    assert samplers["m0"].calls == 2  # shards 3 and 4 only
    assert resumed.stats["models"]["0:m0"]["shards_resumed"] == 2
    fresh = run(tmp_path / "fresh", cfg, prompts)
    assert resumed.data.equals(fresh.data)
    assert resumed.data["candidate_id"].is_unique().all()


def test_changed_prompts_invalidate_only_their_shards(tmp_path, samplers):
    cfg = config(shard_size=2)
    run(tmp_path, cfg, prompts_frame(["a", "b", "c", "d"]))
    samplers["m0"].calls = 0
    run(tmp_path, cfg, prompts_frame(["a", "b", "c", "X"]))
    assert samplers["m0"].calls == 1


def test_too_long_and_refused_prompts_become_rejects(tmp_path, samplers):
    samplers["m0"] = SeedEcho("m0", max_len=4, refuse=("refuse me",))
    prompts = prompts_frame(["short", "one two three four five", "refuse me"])
    out = run(tmp_path, config(k=2, sampling={"max_tokens": 1}), prompts)  # 5 tokens + 1 > 4
    assert out.data["prompt_id"].unique().to_list() == [prompts["prompt_id"][0]]
    rej = {r["reason"]: r for r in out.rejects.to_dicts()}
    assert set(rej) == {"prompt_too_long", "backend_refused"}
    assert rej["prompt_too_long"]["row"] == 2 and '"prompt_tokens": 5' in rej["prompt_too_long"]["values"]
    assert "too long for server" in rej["backend_refused"]["message"]


def test_several_models_each_tagged(tmp_path, samplers):
    samplers["m1"] = SeedEcho("m1", max_len=2)
    prompts = prompts_frame(["a", "b c d"])
    out = run(tmp_path, config(models=2, k=2, sampling={"max_tokens": 1}), prompts)
    assert out.rows_in == 4 and out.rows_kept == 3 and out.rejects["reason"].to_list() == ["prompt_too_long"]
    by_model = out.data.group_by("model").len().sort("model")
    assert by_model.rows() == [("m0", 4), ("m1", 2)]
    assert out.data.filter(pl.col("model") == "m1")["candidate_id"][0].endswith(":1:0")


def test_k_below_one_is_a_config_error():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        config(k=0)


@pytest.mark.slow
def test_transformers_backend_through_the_stage(tmp_path, tiny_model_dir):
    cfg = SampleConfig(models=[{"backend": "transformers", "model": str(tiny_model_dir), "max_model_len": 40}],
                       k=2, sampling={"max_tokens": 8}, shard_size=2)
    prompts = prompts_frame(["hello there", "what is 2 + 2?", " ".join(["word"] * 60)])
    out = run(tmp_path, cfg, prompts)
    assert out.data.height == 4 and out.rejects["reason"].to_list() == ["prompt_too_long"]
    assert set(out.data["finish_reason"]) <= {"stop", "length"} and out.data["backend"][0] == "transformers"
    again = run(tmp_path / "again", cfg, prompts)
    assert again.data.equals(out.data)


class Streaming(SeedEcho):
    """All shards as one job (as the ray backend runs them): finished out of order, or one lost."""

    def __init__(self, model="m0", lose=None):
        super().__init__(model)
        self.lose, self.jobs = lose, 0

    def generate_shards(self, shards, params):
        self.jobs += 1
        shards = list(shards)
        for index, requests in reversed(shards):
            if index != self.lose:
                yield index, self.generate(requests, params)


def test_a_streaming_backend_runs_one_job_and_its_shards_land_in_prompt_order(tmp_path, samplers):
    prompts = prompts_frame([f"p{i}" for i in range(10)])
    samplers["m0"] = Streaming()
    streamed = run(tmp_path / "a", config(shard_size=3), prompts)
    assert samplers["m0"].jobs == 1 and samplers["m0"].calls == 4
    samplers["m0"] = SeedEcho("m0")
    assert streamed.data.equals(run(tmp_path / "b", config(shard_size=3), prompts).data)


def test_a_shard_the_backend_never_returns_is_an_error_naming_it_and_the_rerun_resumes(tmp_path, samplers):
    prompts = prompts_frame([f"p{i}" for i in range(10)])
    samplers["m0"] = Streaming(lose=2)
    with pytest.raises(PrefdataError, match=r"returned no result for shard\(s\) \[2\]"):
        run(tmp_path, config(shard_size=3), prompts)
    samplers["m0"] = Streaming()
    resumed = run(tmp_path, config(shard_size=3), prompts)
    assert samplers["m0"].calls == 1 and resumed.stats["models"]["0:m0"]["shards_resumed"] == 3
    samplers["m0"] = SeedEcho("m0")
    assert resumed.data.equals(run(tmp_path / "fresh", config(shard_size=3), prompts).data)
