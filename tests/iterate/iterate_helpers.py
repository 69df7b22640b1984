"""Shared by the iterate tests."""

from pathlib import Path


def demo_overrides(policy: Path) -> list[str]:
    """pipelines/iterate_demo.yaml pointed at a prepared policy, at a CI size."""
    return ["--set", f"prompts.path={policy / 'data/dpo_prompts.jsonl'}",
            "--set", f"sample.models.0.model={policy / 'models/sft'}",
            "--set", f"iterate.eval.prompts={policy / 'data/heldout_prompts.jsonl'}",
            "--set", "iterate.prompts_per_round=96", "--set", "train.dpo.num_train_epochs=2"]
