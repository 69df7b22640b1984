"""`label.executor: ray` on a real two-node Ray cluster: reward-model shards scored by a pool
of actors (one per node) give exactly the in-process label stage's output."""

from __future__ import annotations

import json

import pytest

from prefdata.records import Candidate, PromptRecord
from prefdata.stages.base import StageContext
from prefdata.stages.label import LabelConfig, LabelStage
from prefdata.frames import frame


def tables(n_prompts: int):
    prompts = [PromptRecord(prompt_id=f"m{i}", prompt=[{"role": "user", "content": f"What is {i} + {i}?"}],
                            source="t", reference=str(2 * i)) for i in range(n_prompts)]
    cands = [Candidate(candidate_id=f"m{i}:0:{k}", prompt_id=f"m{i}", text=text, model="m", backend="imported")
             for i in range(n_prompts) for k, text in enumerate([f"It is {2 * i}.", "It is 77.", "No idea, sorry."])]
    return frame(prompts, PromptRecord), frame(cands, Candidate)


@pytest.mark.slow
def test_reward_model_on_a_ray_actor_pool_equals_the_local_label_stage(ray_cluster, tiny_reward_model_dir, tmp_path):
    prompts, cands = tables(n_prompts=8)
    judges = [{"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir), "batch_size": 2},
              {"type": "programmatic", "id": "num", "name": "numeric_match"}]
    outs = {}
    for executor in ("local", "ray"):
        config = LabelConfig.model_validate({"judges": judges, "executor": executor, "shard_size": 6})
        stage_dir = tmp_path / executor
        stage_dir.mkdir()
        outs[executor] = LabelStage(config).run({"prompts": prompts, "candidates": cands},
                                                StageContext(run_dir=tmp_path, stage_dir=stage_dir))
    assert outs["ray"].data.equals(outs["local"].data) and outs["ray"].data.height == 24 * 3
    rm = outs["ray"].stats["judges"]["rm"]
    assert rm["shards"] == 4 and rm["requests_sent"] == 24
    assert rm["nodes"] == ["127.0.0.2", "127.0.0.3"], rm  # shards were scored on both nodes
    assert json.dumps(outs["local"].stats["judges"]["rm"]["nodes"]) == "[]"


@pytest.mark.slow
def test_an_llm_judge_through_ray_data_llm_equals_the_local_engine(ray_cluster, tiny_model_dir, tmp_path):
    prompts, cands = tables(n_prompts=4)
    sampler = {"backend": "vllm", "model": str(tiny_model_dir), "max_model_len": 256, "max_num_seqs": 32,
               "dtype": "float32"}
    judge = {"type": "llm", "id": "uf", "mode": "pointwise", "aspects": ["helpfulness"], "sampler": sampler,
             "sampling": {"temperature": 0.0, "max_tokens": 16}}
    outs = {}
    for executor in ("local", "ray"):
        config = LabelConfig.model_validate({"judges": [judge], "executor": executor})
        stage_dir = tmp_path / executor
        stage_dir.mkdir()
        outs[executor] = LabelStage(config).run({"prompts": prompts, "candidates": cands},
                                                StageContext(run_dir=tmp_path, stage_dir=stage_dir))
    local, ray = (outs[e].data for e in ("local", "ray"))
    # the raw judge texts (what the model said) are the same; so are the parsed labels
    assert ray.select("candidate_id", "raw_output", "score", "parse_status").equals(
        local.select("candidate_id", "raw_output", "score", "parse_status"))
    assert outs["ray"].stats["judges"]["uf"]["requests_sent"] == 12
