"""Each model's greedy answers on the evaluation prompts, judged by IFEval's checkers: a
`prefdata build` to the label stage in OUT/models/<name>/ (prompts given as an artifact, k=1,
temperature 0, the `ifeval` judge with relevance recorded but never used to score). Like every
build it reuses finished stages and shards: a killed evaluation resumes per model, and a model
already evaluated on the same prompts and settings is not run again.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from prefdata.atomic import write_text_if_changed

JUDGE_ID = "ifeval"


def model_slug(model: str) -> str:
    """A folder name for a model: its last path parts and a short hash of the whole path."""
    tail = "-".join(Path(model).parts[-2:]) or "model"
    digest = hashlib.sha256(str(Path(model).expanduser().resolve()).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', tail)[:60]}-{digest}"


def eval_recipe(model: str, sampler: dict[str, Any], max_tokens: int, shard_size: int = 64) -> dict[str, Any]:
    """The build recipe that answers and judges (its prompts stage is replaced by the artifact)."""
    return {
        "name": "eval", "seed": 0,
        "prompts": {"path": "prompts.parquet", "reference_kind": "instructions", "reference_column": "reference"},
        "sample": {"k": 1, "shard_size": shard_size, "sampling": {"temperature": 0.0, "max_tokens": max_tokens},
                   "models": [{**sampler, "model": model}]},
        # relevance is measured (min_relevance -1 never fires) and reported beside the accuracy
        "label": {"judges": [{"type": "ifeval", "id": JUDGE_ID, "level": "instruction", "min_relevance": -1.0}],
                  "max_error_rate": 1.0},
    }


def answer(model: str, prompts_file: Path, out: Path, sampler: dict[str, Any], max_tokens: int,
           console=None) -> Path:
    """Build `model`'s answers and judgments into out/models/<slug>/run; returns that run dir."""
    from prefdata.runner import build

    root = Path(out) / "models" / model_slug(model)
    root.mkdir(parents=True, exist_ok=True)
    recipe = root / "recipe.yaml"
    write_text_if_changed(recipe, yaml.safe_dump(eval_recipe(model, sampler, max_tokens), sort_keys=False))
    build(recipe, root / "run", until_stage="label", external={"prompts": prompts_file}, console=console)
    return root / "run"
