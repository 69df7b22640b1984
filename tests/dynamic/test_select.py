"""Which prompts dynamic sampling samples again, and why the others are left: hand-made scores, no model.

    python -m pytest -q tests/dynamic/test_select.py
"""

from __future__ import annotations

import json

import pytest

from prefdata.stages.sample import DynamicConfig
from prefdata.dynamic.select import SelectStage
from prefdata.errors import ConfigError
from prefdata.ledger import check_balance
from prefdata.pairing.build import PairConfig
from prefdata.recipe import Recipe
from prefdata.config import validate
from prefdata.stages.base import StageContext
from stages.test_pair import make_tables


def select(table: dict, tmp_path, per_round: int = 2, partition_prompts: int = 100_000, **limits):
    pair = PairConfig(partition_prompts=partition_prompts)
    stage = SelectStage(DynamicConfig(**limits), round=1, per_round=per_round, pair=pair)
    prompts, candidates, judgments = make_tables(table)
    out = stage.run({"prompts": prompts, "candidates": candidates, "judgments": judgments},
                    StageContext(run_dir=tmp_path, stage_dir=tmp_path))
    check_balance("select", out.rows_in, out.rows_kept, out.rejects.height)
    why = dict(zip(out.rejects["row_id"], out.rejects["reason"]))
    return set(out.data["prompt_id"]), why, out.stats


@pytest.mark.parametrize("partition_prompts", [100_000, 2])  # pairs in one partition or three, as the pair stage
def test_prompts_without_a_pair_are_sampled_again_and_the_others_say_why(tmp_path, partition_prompts):
    chosen, why, stats = select({
        "paired": [1.0, 0.0],
        "tie": [1.0, 1.0],
        "one_scored": [1.0, None],
        "full_tie": [0.0, 0.0, 0.0, 0.0],  # 4 already: another 2 would pass max_per_prompt 5
        "no_answers": [],
    }, tmp_path, max_per_prompt=5, partition_prompts=partition_prompts)
    assert chosen == {"tie", "one_scored"}
    assert why == {"paired": "has_pair", "full_tie": "max_per_prompt", "no_answers": "cannot_help"}
    assert stats["prompts_with_pair"] == 1 and stats["prompts_without_pair"] == 4 and stats["pairs"] == 1
    assert stats["candidates"] == 10 and stats["yield_per_1k_candidates"] == 100.0
    assert stats["no_pair"] == {"missing_score": 1, "no_candidates": 1, "tie": 2}


def test_the_budget_goes_to_the_prompts_with_the_fewest_candidates(tmp_path):
    table = {"a": [1.0, 1.0, 1.0, 1.0], "b": [0.0, 0.0], "c": [0.5, 0.5], "d": [2.0, 2.0, 2.0]}
    # 11 candidates so far; a budget of 16 leaves room for 2 more prompts at 2 candidates each
    chosen, why, stats = select(table, tmp_path, max_per_prompt=8, budget=16)
    assert chosen == {"b", "c"} and why == {"a": "budget", "d": "budget"}
    assert stats["budget_left"] == 5 and stats["candidates_requested"] == 4
    chosen, why, _ = select(table, tmp_path, max_per_prompt=8, budget=11)
    assert chosen == set() and set(why.values()) == {"budget"}


def _recipe(**sample) -> dict:
    return {"prompts": {"path": "p.jsonl"}, "label": {"judges": [{"type": "programmatic", "id": "x",
                                                                  "name": "exact_match"}]},
            "pair": {}, "sample": {"k": 4, "models": [{"backend": "transformers", "model": "m"}], **sample}}


@pytest.mark.parametrize("change, message", [
    (lambda r: r["sample"].update(dynamic={"max_per_prompt": 3}), "max_per_prompt 3 leaves no room"),
    (lambda r: r["sample"].update(dynamic={"max_per_prompt": 6}), "set it to at least 8"),
    (lambda r: r.pop("pair"), "needs label and pair sections"),
    (lambda r: r["label"].update(judges=[{"type": "llm", "id": "j", "mode": "pairwise",
                                          "sampler": {"backend": "transformers", "model": "m"}}]), "pointwise judges"),
    (lambda r: r["label"].update(source="argilla", judges=[]), "label.source: judges"),
])
def test_recipes_dynamic_sampling_cannot_run_are_refused_at_load(change, message, tmp_path):
    recipe = _recipe(dynamic={"max_per_prompt": 16})
    validate(Recipe, recipe, "r.yaml", tmp_path)  # the recipe as it is loads
    change(recipe)
    with pytest.raises(ConfigError, match=message):
        validate(Recipe, json.loads(json.dumps(recipe)), "r.yaml", tmp_path)
