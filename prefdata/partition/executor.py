"""Run one function over partitions: in this process, or as Ray Data tasks (`executor: ray`).

    from prefdata.partition.executor import map_partitions
    results = map_partitions(pair_partition, [{"index": 0, ...}, {"index": 1, ...}], "ray")

The function takes one JSON-able dict and returns one; it reads and writes files, so with
Ray every node must see the run directory (a shared filesystem, as for the ray backend's
outputs). Results come back in the order of `items`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Literal

from prefdata.faults import crash_point
from prefdata.partition.files import finished, mark_finished

Executor = Literal["local", "ray"]


def map_partitions(fn: Callable[[dict], dict], items: list[dict], executor: Executor = "local",
                   progress: Callable[[int, int], None] | None = None, name: str = "partitions",
                   scratch: Path | None = None, cleanup: Callable[[dict, dict], None] | None = None) -> list[dict]:
    """fn(item) for every item; `progress(done, total)` after each (local) or at the end (ray).

    With `scratch`, an item finished by an earlier run of the same stage key is not run again
    (its result is read back), and each finished item is marked there (local: as it finishes;
    ray: when the job is done). `cleanup(item, result)` runs after an item is marked (e.g.
    deleting an input it has consumed). Crash point `<name>:<done>` after each item (local) for the
    kill -9 tests.
    """
    results: dict[int, dict] = {}
    for i in range(len(items)):
        if (done := finished(scratch, f"{name}-{i}")) is not None:
            results[i] = done
    todo = [i for i in range(len(items)) if i not in results]
    if executor == "ray":
        for i, result in zip(todo, _on_ray(fn, [items[i] for i in todo])):
            results[i] = result
            _finish(scratch, name, i, result, cleanup, items[i])
        if progress:
            progress(len(items), len(items))
        return [results[i] for i in range(len(items))]
    for i in todo:
        results[i] = fn(items[i])
        _finish(scratch, name, i, results[i], cleanup, items[i])
        crash_point(f"{name}:{len(results)}")
        if progress:
            progress(len(results), len(items))
    return [results[i] for i in range(len(items))]


def _finish(scratch: Path | None, name: str, i: int, result: dict, cleanup, item: dict) -> None:
    mark_finished(scratch, f"{name}-{i}", result)
    if cleanup is not None:
        cleanup(item, result)


class _Task:
    """A Ray Data row function: one partition per row, arguments and result as JSON. `paths`: the
    recipe folders the driver imported the user's blocks from, so a worker imports them too."""

    def __init__(self, fn: Callable[[dict], dict], paths: list[str]):
        self.fn, self.paths = fn, paths

    def __call__(self, row: dict) -> dict:
        from prefdata.plugins import add_search_paths

        add_search_paths(self.paths)
        return {"index": row["index"], "result": json.dumps(self.fn(json.loads(row["item"])))}


def _on_ray(fn: Callable[[dict], dict], items: list[dict]) -> list[dict]:
    if not items:
        return []
    import ray

    from prefdata.cluster import connect
    from prefdata.plugins import search_paths

    connect()
    rows = [{"index": i, "item": json.dumps(item)} for i, item in enumerate(items)]
    # One block per partition, so each partition is its own task and spreads over the cluster.
    done = ray.data.from_items(rows, override_num_blocks=len(rows)).map(_Task(fn, search_paths())).take_all()
    by_index: dict[int, Any] = {int(r["index"]): json.loads(r["result"]) for r in done}
    return [by_index[i] for i in range(len(items))]


def console_progress(console, what: str) -> Callable[[int, int], None]:
    """A progress callback that prints about ten lines per run: `pair: partition 30/100`."""
    def report(done: int, total: int) -> None:
        if console is not None and (done == total or done % max(1, total // 10) == 0):
            console.print(f"{'':>8}  {what}: partition {done}/{total}")
    return report
