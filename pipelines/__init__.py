"""Shipped recipes (`*.yaml`); each file opens with the command that runs it.

    from prefdata.pipelines import recipe_path; recipe_path("sample_vllm_cpu")
"""

from pathlib import Path

PIPELINE_DIR = Path(__file__).parent


def recipe_path(name: str) -> Path:
    return PIPELINE_DIR / f"{name}.yaml"
