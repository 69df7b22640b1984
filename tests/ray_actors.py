"""The Ray actors a test cluster has started, read from the GCS actor table (the public
`ray.util.state` API needs the dashboard, which the test clusters do not run).

    from ray_actors import ray_actors
    engines = ray_actors("vLLMEngineStageUDF")   # {actor id: (class name, node address)}
"""

from __future__ import annotations


def ray_actors(class_part: str) -> dict[str, tuple[str, str]]:
    """Every actor so far, alive or dead, whose class name holds `class_part`."""
    from ray._private.state import actors

    found = {}
    for actor_id, actor in actors().items():
        name = actor.get("ActorClassName") or ""
        if class_part in name:
            found[actor_id] = (name, actor["Address"]["IPAddress"])
    return found
