"""Reward-model labelling on a pool of Ray actors (`label.executor: ray`).

    label:
      executor: ray          # the recipe's `ray:` section says which cluster (prefdata/cluster.py)
      ray_actors: 8          # default: one actor per node
      judges: [{type: reward_model, id: rm, path: /models/rm, device: cuda}]

Each actor loads the reward model once and scores whole shards (one Ray Data row per
shard, `map_batches` over the actor pool); shards come back as they finish, so the label
stage writes each one at once and a killed build resumes shard by shard. An actor scores a
shard exactly as the in-process judge does (same batches, same padding), so the rows are
the same. Each shard's metadata records the node that scored it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Iterator

from prefdata.judges.base import JudgeItem, shard_meta

ACTOR_START_TIMEOUT_S = 1800  # a large reward model on a busy cluster: loading is minutes, not hours


class ShardScorer:
    """A Ray Data actor: one reward-model judge, loaded once, scoring shards."""

    def __init__(self, config: dict[str, Any]):
        from prefdata.judges.reward_model import RewardModelJudge, RewardModelJudgeConfig

        self.judge = RewardModelJudge(RewardModelJudgeConfig(**config))

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        import ray

        node = ray.util.get_node_ip_address()
        out = {"index": [], "rows": [], "meta": []}
        for index, items_json in zip(batch["index"], batch["items"]):
            items = [JudgeItem(**item) for item in json.loads(items_json)]
            rows = self.judge.judge(items)
            out["index"].append(int(index))
            out["rows"].append(json.dumps(rows))
            out["meta"].append(json.dumps({**shard_meta(self.judge, items), "node": node}))
        return {k: np.array(v, dtype=object if k != "index" else np.int64) for k, v in out.items()}


def label_on_ray(config, todo: list[tuple[int, list[JudgeItem]]],
                 actors: int | None = None) -> Iterator[tuple[int, list[dict], dict]]:
    """(index, rows, meta) per shard, in the order shards finish."""
    if not todo:
        return
    import ray

    from prefdata.cluster import connect

    connect()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    # never more actors than CPUs: the pool waits for all of them before it starts (below)
    size = max(1, min(actors or nodes, len(todo), int(ray.cluster_resources().get("CPU", 1))))
    # Which actor scores which shard must not depend on timing or block layout: one block per
    # shard, every actor loaded before the first shard is handed out, one shard in flight per
    # actor (otherwise the first actor up can queue every shard while the others load).
    context = ray.data.DataContext.get_current()
    waited, context.wait_for_min_actors_s = context.wait_for_min_actors_s, ACTOR_START_TIMEOUT_S
    try:
        rows = [{"index": i, "items": json.dumps([asdict(it) for it in shard])} for i, shard in todo]
        scored = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ShardScorer, fn_constructor_kwargs={"config": config.model_dump(mode="json")}, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1), num_cpus=1,
        )
        for row in scored.iter_rows():
            yield int(row["index"]), json.loads(row["rows"]), json.loads(row["meta"])
    finally:
        context.wait_for_min_actors_s = waited
