"""`label.executor: ray` on a real two-node Ray cluster: model judges' shards (the reward model,
and a model judge of the user's own, run from its declaration alone) scored by a pool of actors
(one per node, started once per stage run) and LLM judges on Ray Data LLM engines (started once
per label call) give exactly the in-process label stage's output; a node lost with the actors
up costs nothing, every actor lost is an error naming the unscored shards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ray_actors import ray_actors

from prefdata.cluster import alive_nodes
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


def label_both_ways(tmp_path, n_prompts: int, actor_class: str = "", context: dict | None = None,
                    **config) -> tuple[dict, dict]:
    """The label stage run with executor local, then ray: ({executor: output}, {executor: actors
    of `actor_class` it started}). `context`: the recipe's, for plugin judges (its base_dir)."""
    prompts, cands = tables(n_prompts)
    outs, started = {}, {}
    for executor in ("local", "ray"):
        stage_dir = tmp_path / executor
        stage_dir.mkdir()
        before = len(ray_actors(actor_class)) if actor_class else 0
        stage = LabelStage(LabelConfig.model_validate({**config, "executor": executor}, context=context))
        outs[executor] = stage.run(
            {"prompts": prompts, "candidates": cands}, StageContext(run_dir=tmp_path, stage_dir=stage_dir))
        started[executor] = len(ray_actors(actor_class)) - before if actor_class else None
    return outs, started


@pytest.mark.slow
def test_reward_model_on_a_ray_actor_pool_equals_the_local_label_stage(ray_cluster, tiny_reward_model_dir, tmp_path):
    judges = [{"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir), "batch_size": 2},
              {"type": "programmatic", "id": "num", "name": "numeric_match"}]
    outs, _ = label_both_ways(tmp_path, 8, judges=judges, shard_size=6)
    assert outs["ray"].frame().equals(outs["local"].frame()) and outs["ray"].frame().height == 24 * 3
    rm = outs["ray"].stats["judges"]["rm"]
    assert rm["shards"] == 4 and rm["requests_sent"] == 24
    assert rm["nodes"] == ["127.0.0.2", "127.0.0.3"], rm  # shards were scored on both nodes
    assert json.dumps(outs["local"].stats["judges"]["rm"]["nodes"]) == "[]"


@pytest.mark.slow
def test_a_plugin_model_judge_runs_on_the_actor_pool_from_its_declaration(ray_cluster, tiny_reward_model_dir,
                                                                         tmp_path):
    """tests/plugin_model_judge.py, beside a 'recipe' outside the repository: the driver knows only
    that it holds a model; its class reaches the actors on both nodes through the recipe's folder."""
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "plugin_model_judge.py", folder / "my_model_judge.py")
    judges = [{"type": "my_model_judge:TinyScorer", "id": "mine", "path": str(tiny_reward_model_dir)}]
    outs, started = label_both_ways(tmp_path, 8, "ShardScorer", context={"base_dir": folder}, judges=judges,
                                    shard_size=6)
    assert outs["ray"].frame().equals(outs["local"].frame()) and outs["ray"].frame().height == 24
    mine = outs["ray"].stats["judges"]["mine"]
    assert mine["ran_in"] == "ray actors" and outs["local"].stats["judges"]["mine"]["ran_in"] == "this process"
    assert mine["shards"] == 4 and mine["nodes"] == ["127.0.0.2", "127.0.0.3"], mine
    assert started == {"local": 0, "ray": 2}


@pytest.mark.slow
def test_an_llm_judge_through_ray_data_llm_equals_the_local_engine(ray_cluster, tiny_model_dir, tmp_path):
    sampler = {"backend": "vllm", "model": str(tiny_model_dir), "max_model_len": 256, "max_num_seqs": 32,
               "dtype": "float32"}
    template = tmp_path / "short.jinja"  # the built-in rubric is longer than the tiny model's 256 tokens
    template.write_text("Rate the reply.\n<response>\n{{ response }}\n</response>\n"
                        "{% for a in aspects %}{{ a.name }}: {% endfor %}")
    judge = {"type": "llm", "id": "uf", "mode": "pointwise", "aspects": ["helpfulness"], "sampler": sampler,
             "sampling": {"temperature": 0.0, "max_tokens": 16}, "template": str(template)}
    outs, started = label_both_ways(tmp_path, 4, "vLLMEngineStageUDF", judges=[judge], shard_size=3)
    # 4 shards, one Ray Data job: each engine replica (one per node) started once, not once per shard
    assert outs["ray"].stats["judges"]["uf"]["shards"] == 4
    assert started == {"local": 0, "ray": alive_nodes()}
    local, ray = (outs[e].frame() for e in ("local", "ray"))
    assert local["raw_output"].null_count() == 0  # the engine answered every judge prompt
    # the raw judge texts (what the model said) are the same; so are the parsed labels
    assert ray.select("candidate_id", "raw_output", "score", "parse_status").equals(
        local.select("candidate_id", "raw_output", "score", "parse_status"))
    assert outs["ray"].stats["judges"]["uf"]["requests_sent"] == 12


@pytest.mark.slow
def test_a_partitioned_label_stage_starts_its_actors_once(ray_cluster, tiny_reward_model_dir, tmp_path):
    """Three partitions, one pool: the actors (one per node) load the model once for the stage."""
    judges = [{"type": "reward_model", "id": "rm", "path": str(tiny_reward_model_dir), "batch_size": 2}]
    outs, started = label_both_ways(tmp_path, 9, "ShardScorer", judges=judges, shard_size=3, partition_prompts=3)
    assert outs["ray"].stats["partitions"] == 3 and outs["ray"].stats["judges"]["rm"]["shards"] == 9
    assert started == {"local": 0, "ray": 2}
    ray, local = (outs[e].frame() for e in ("ray", "local"))
    assert ray.equals(local) and ray.height == 27


def _judge_config(model_dir):
    from prefdata.judges.reward_model import RewardModelJudgeConfig

    return RewardModelJudgeConfig(type="reward_model", id="rm", path=str(model_dir), batch_size=2)


def _shards(n_prompts: int, per_shard: int):
    from prefdata.labelling.runner import build_items

    items, _ = build_items(*tables(n_prompts))
    return [(s, items[s * per_shard:(s + 1) * per_shard]) for s in range(len(items) // per_shard)]


@pytest.mark.slow
def test_a_node_lost_mid_stage_hands_its_shard_to_a_surviving_actor(ray_cluster, tiny_reward_model_dir):
    """A third node joins, gets one of the three actors, and is lost (raylet and workers
    killed -9) after the actors are up: its shard is scored on another node, same rows."""
    from prefdata.cluster import add_loopback_node, lose_node
    from prefdata.labelling.runner import JudgeRunner
    from prefdata.judges.reward_model import RewardModelJudge

    config, todo = _judge_config(tiny_reward_model_dir), _shards(n_prompts=6, per_shard=3)
    local = RewardModelJudge(config)
    want = {i: local.judge(items) for i, items in todo}
    local.close()
    ip = add_loopback_node(ray_cluster)
    with JudgeRunner(config, "ray") as runner:
        list(runner.label(todo[:1]))  # actors up (one per node), the first shard scored
        assert sorted(runner.pool.actors.values()) == ["127.0.0.2", "127.0.0.3", ip]
        assert lose_node(ip) >= 1
        got = {index: (rows, meta) for index, rows, meta in runner.label(todo[1:])}
        assert [lost["node"] for lost in runner.lost] == [ip]
    assert sorted(got) == [i for i, _ in todo[1:]]  # every shard once, none lost
    assert {i: rows for i, (rows, _) in got.items()} == {i: want[i] for i in got}
    assert {meta["node"] for _, meta in got.values()} <= {"127.0.0.2", "127.0.0.3"}


@pytest.mark.slow
def test_when_every_actor_is_gone_the_error_names_the_unscored_shards(ray_cluster, tiny_reward_model_dir):
    import ray

    from prefdata.errors import PrefdataError
    from prefdata.labelling.ray_pool import ScorerPool

    todo = _shards(n_prompts=4, per_shard=3)
    with ScorerPool(_judge_config(tiny_reward_model_dir), actors=2) as pool:
        list(pool.label(todo[:1]))
        for actor in pool.actors:
            ray.kill(actor)
        with pytest.raises(PrefdataError) as failed:
            list(pool.label(todo[1:]))
    message = str(failed.value)
    assert "every judge actor is gone" in message and "shards [1, 2, 3] were not scored" in message
    assert "rerun" in message


def test_actor_layout_reserves_a_gpu_per_actor_for_a_judge_that_needs_one():
    from prefdata.errors import PrefdataError
    from prefdata.judges.base import judge_runs
    from prefdata.labelling.ray_pool import actor_layout

    cpu_cluster, gpu_cluster = {"CPU": 16.0}, {"CPU": 64.0, "GPU": 8.0}
    assert actor_layout(False, None, cpu_cluster, nodes=2) == (2, 0)  # one per node
    assert actor_layout(False, 40, cpu_cluster, nodes=2) == (16, 0)  # never more than fit at once
    assert actor_layout(True, None, gpu_cluster, nodes=2) == (8, 1)  # one per GPU
    assert actor_layout(True, 3, gpu_cluster, nodes=2) == (3, 1)
    assert actor_layout(False, None, {"CPU": 0.0}, nodes=1) == (1, 0)  # a CPU model is never refused for GPUs
    with pytest.raises(PrefdataError, match="judge 'rm' needs a GPU but the cluster has none"):
        actor_layout(True, None, cpu_cluster, nodes=2, judge="judge 'rm'")
    # the reward model declares its GPU from its device, "cuda:1" included
    for device, gpu in (("cpu", False), ("cuda", True), ("cuda:1", True)):
        assert judge_runs(_judge_config("/m").model_copy(update={"device": device})).gpu is gpu
