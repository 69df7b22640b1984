"""Model judges on a pool of Ray actors (`label.executor: ray`): any judge whose `runs()` says
it holds a model (`JudgeRuns(model=True)`: the reward model, a model judge of your own).

    label:
      executor: ray          # the recipe's `ray:` section says which cluster (prefdata/cluster.py)
      ray_actors: 8          # default: one actor per node (one per GPU for a judge that needs one)
      judges: [{type: reward_model, id: rm, path: /models/rm, device: cuda}]

    with ScorerPool(judge_config, actors=2) as pool:      # actors start (and load the model) once
        for index, rows, meta in pool.label([(0, shard0), (1, shard1)]):   # any number of calls
            ...

The actors are spread over the nodes and start once for a whole stage run: a partitioned
label stage hands every partition's shards to the same pool (JudgeRunner keeps it). Each
actor scores one shard at a time, exactly as the in-process judge does (same batches, same
padding), so the rows are the same; shards come back as they finish, and the stage writes
each one at once, so a killed build resumes shard by shard. Each shard's metadata records
the node that scored it.

An actor that dies (its node is lost, the process is killed) gives its shard to a surviving
actor, with a warning naming the shard and the node; when none survives the stage fails
with a message naming the shards still unscored, and a rerun resumes from the saved ones.
An error inside the judge is not retried: it fails the stage with the shard's id.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Iterator

from prefdata.errors import PrefdataError
from prefdata.judges.base import JudgeItem, judge_class, judge_runs, shard_meta

log = logging.getLogger(__name__)

ACTOR_START_TIMEOUT_S = 1800  # a large reward model on a busy cluster: loading is minutes, not hours
START_GRACE_S = 120  # once one actor is up, the others' loading time before the pool starts without them


class ShardScorer:
    """A Ray actor: one model judge, built once from its class and validated config, scoring shards."""

    def __init__(self, block: bytes, paths: list[str]):
        from ray import cloudpickle

        from prefdata.plugins import add_search_paths

        add_search_paths(paths)  # a plugin judge's module, beside the recipe, imports here too
        cls, config = cloudpickle.loads(block)
        if str(getattr(config, "device", "")).startswith("cuda:"):  # Ray shows the actor its one GPU only
            config = config.model_copy(update={"device": "cuda"})
        self.judge = cls(config)

    def node(self) -> str:
        import ray

        return ray.util.get_node_ip_address()

    def score(self, items: list[JudgeItem]) -> tuple[list[dict], dict]:
        return self.judge.judge(items), {**shard_meta(self.judge, items), "node": self.node()}


def actor_layout(gpu: bool, actors: int | None, resources: dict[str, float], nodes: int,
                 judge: str = "the judge") -> tuple[int, int]:
    """(actors, GPUs per actor): a judge that needs a GPU reserves one per actor, one actor per GPU
    by default; on CPU one actor per node. Never more actors than the cluster can hold at once
    (the pool waits for all of them before the first shard)."""
    gpus = 1 if gpu else 0
    fits = int(resources.get("GPU", 0)) if gpus else int(resources.get("CPU", 1))
    if gpus and fits < 1:
        raise PrefdataError(f"label.executor ray: {judge} needs a GPU but the cluster has none "
                            f"(resources: {dict(sorted(resources.items()))}); run it on CPU or use a GPU cluster")
    return max(1, min(actors or (fits if gpus else nodes), fits)), gpus


class ScorerPool:
    """ShardScorer actors, as many as `actor_layout` says (default: one per node, one per GPU for a
    judge that needs one)."""

    def __init__(self, config, actors: int | None = None):
        self.config, self.size = config, actors
        self.actors: dict[Any, str] = {}  # actor handle -> its node
        self.starting: dict[Any, Any] = {}  # the ref of an actor's first call -> the actor, until it is up
        self.lost: list[dict[str, Any]] = []  # {"node", "shard"} of each actor that died mid-shard

    def _start(self) -> None:
        import ray
        from ray import cloudpickle

        from prefdata.cluster import alive_nodes, connect
        from prefdata.plugins import search_paths

        connect()
        size, gpus = actor_layout(judge_runs(self.config).gpu, self.size, ray.cluster_resources(), alive_nodes(),
                                  f"judge {self.config.id!r}")
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=0, scheduling_strategy="SPREAD")(ShardScorer)
        # the class and its validated config, unpickled by the actor once the recipe's folders are on
        # its path (a plugin's class goes by reference; one defined in a notebook, by value)
        block = cloudpickle.dumps((judge_class(self.config), getattr(self.config, "block_config", self.config)))
        actors = [remote.remote(block, search_paths()) for _ in range(size)]
        self.starting = {a.node.remote(): a for a in actors}
        # Every actor loaded before the first shard (else the first one up takes them all), but
        # not waiting forever for one that cannot be placed (a node that died just after it was
        # counted): once one is up the others get START_GRACE_S, then join when they are up.
        self._admit(ACTOR_START_TIMEOUT_S)
        deadline = time.monotonic() + START_GRACE_S
        while self.starting and time.monotonic() < deadline:
            self._admit(max(0.0, deadline - time.monotonic()))  # ray.wait refuses a negative timeout

    def _admit(self, timeout: float) -> list:
        """Wait up to `timeout` s for a starting actor; those up join the pool (returned), those
        that failed are dropped. Fails when no actor is up and none is left starting."""
        import ray

        ready, _ = ray.wait(list(self.starting), num_returns=1, timeout=timeout)
        joined = []
        for ref in ready:
            actor = self.starting.pop(ref)
            try:
                self.actors[actor] = ray.get(ref)
                joined.append(actor)
            except ray.exceptions.RayError as e:
                log.warning("label judge %r: a judge actor failed to start: %s", self.config.id, _cause(e))
                if not self.actors and not self.starting:
                    raise PrefdataError(f"label judge {self.config.id!r}: a judge actor failed to start: "
                                        f"{_cause(e)}") from None
        if not self.actors and not ready:
            self._kill(list(self.starting.values()))
            raise PrefdataError(f"label judge {self.config.id!r}: no judge actor started within {timeout:.0f} s "
                                "(is the cluster short of CPUs?); set label.ray_actors lower")
        return joined

    def label(self, todo: list[tuple[int, list[JudgeItem]]]) -> Iterator[tuple[int, list[dict], dict]]:
        """(index, rows, meta) per shard of `todo`, in the order shards finish."""
        if not todo:
            return
        import ray

        if not self.actors:
            self._start()
        pending, idle, running = deque(todo), list(self.actors), {}
        while pending or running:
            while pending and idle:
                actor, (index, items) = idle.pop(), pending.popleft()
                running[actor.score.remote(items)] = (actor, index, items)
            if not running:  # every actor lost, some still starting
                idle += self._admit(ACTOR_START_TIMEOUT_S)
                continue
            [ref], _ = ray.wait(list(running) + list(self.starting), num_returns=1)
            if ref in self.starting:  # a late actor is up (or failed): it joins
                idle += self._admit(0)
                continue
            actor, index, items = running.pop(ref)
            try:
                rows, meta = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.NodeDiedError,
                    ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError) as e:
                node = self.actors.pop(actor)
                left = sorted([index] + [i for _, i, _ in running.values()] + [i for i, _ in pending])
                if not self.actors and not self.starting:
                    raise PrefdataError(
                        f"label judge {self.config.id!r}: every judge actor is gone (the last on node {node}: "
                        f"{type(e).__name__}); shards {left} were not scored. Finished shards are saved: rerun the "
                        "build once the cluster is back and it resumes from them") from None
                self.lost.append({"node": node, "shard": index})
                log.warning("label judge %r: the actor on node %s died (%s); shard %d goes to another actor",
                            self.config.id, node, type(e).__name__, index)
                pending.appendleft((index, items))
                continue
            except ray.exceptions.RayTaskError as e:
                raise PrefdataError(f"label judge {self.config.id!r}: scoring shard {index} failed on node "
                                    f"{self.actors[actor]}: {_cause(e)}") from None
            idle.append(actor)
            yield index, rows, meta

    def close(self) -> None:
        self._kill([*self.actors, *self.starting.values()])
        self.actors, self.starting = {}, {}

    @staticmethod
    def _kill(actors: list) -> None:
        import ray

        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone with its node
                pass

    def __enter__(self) -> "ScorerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cause(error) -> str:
    """The user-facing cause of a Ray error: the original exception, not Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(error).strip().splitlines()[-1]
