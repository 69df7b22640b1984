"""Bad iterate recipes are refused at load, every problem at once, naming keys and paths."""

import json
from pathlib import Path

import pytest
import yaml

from prefdata.errors import ConfigError
from prefdata.iterate.config import load_plan


@pytest.fixture
def recipe(tmp_path, tiny_model_dir):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"{i}+1=", "reference": str(i + 1)}) + "\n" for i in range(20)))
    data = {
        "prompts": {"path": str(prompts), "reference_column": "reference"},
        "sample": {"k": 2, "models": [{"backend": "vllm", "model": str(tiny_model_dir)}]},
        "label": {"judges": [{"type": "programmatic", "id": "exact", "name": "exact_match"}]},
        "pair": {"strategy": "best_vs_worst"},
        "export": {"format": "conversational", "test_size": 0.0},
        "train": {"peft": {"mode": "full"}, "dpo": {"max_steps": 2, "report_to": "none"}},
        "iterate": {"rounds": 2, "eval": {"holdout": 5}},
    }

    def write(**changes) -> Path:
        merged = {**data, **changes}
        path = tmp_path / "iterate.yaml"
        path.write_text(yaml.safe_dump(merged))
        return path

    return write


def _problems(path, overrides=(), rounds=None) -> str:
    with pytest.raises(ConfigError) as e:
        load_plan(path, list(overrides), rounds)
    return str(e.value)


def test_a_good_recipe_loads_with_pi0_and_the_eval_judges(recipe, tiny_model_dir):
    plan = load_plan(recipe(), rounds=3)
    assert plan.rounds == 3 and plan.policy0 == str(tiny_model_dir) and plan.eval_judges == ["exact"]


def test_rounds_below_one_are_refused(recipe):
    assert "iterate.rounds: Input should be greater than or equal to 1" in _problems(recipe(), rounds=0)


def test_a_train_model_other_than_the_sampled_one_is_refused_with_both_paths(recipe, tmp_path, tiny_model_dir,
                                                                              tiny_reward_model_dir):
    train = tmp_path / "train.yaml"
    train.write_text(yaml.safe_dump({"model": {"path": str(tiny_reward_model_dir)}, "dpo": {"max_steps": 2}}))
    message = _problems(recipe(train=str(train)))
    assert f"model.path {tiny_reward_model_dir} is not the sampled model" in message
    assert f"sample.models.0.model {tiny_model_dir}" in message


def test_eval_judges_that_are_missing_unknown_or_pairwise_are_refused(recipe, tiny_model_dir):
    pairwise = {"type": "llm", "id": "ab", "mode": "pairwise", "sampler": {"backend": "vllm", "model": str(tiny_model_dir)}}
    label = {"judges": [{"type": "programmatic", "id": "exact", "name": "exact_match"}, pairwise]}
    message = _problems(recipe(label=label, iterate={"eval": {"holdout": 5, "judges": ["exact", "ab", "nope"]}}))
    assert "['nope'] are not judges of this recipe" in message and "['ab'] are pairwise" in message
    assert "empty" in _problems(recipe(iterate={"eval": {"holdout": 5, "judges": []}}))
    assert "eval.prompts (a file) or eval.holdout" in _problems(recipe(iterate={"eval": {}}))


def test_a_lora_round_without_a_merge_and_other_problems_are_reported_together(recipe, tiny_model_dir):
    message = _problems(recipe(
        sample={"models": [{"backend": "vllm", "model": str(tiny_model_dir)}] * 2},
        train={"peft": {"mode": "lora"}},
        iterate={"merge": False, "eval": {"holdout": 5}},
    ))
    assert "exactly one model; got 2" in message
    assert "iterate.merge: false with peft.mode lora" in message


def test_train_config_problems_surface_before_any_round(recipe):
    message = _problems(recipe(train={"dpo": {"loss_type": "sigmoidd"}}))
    assert "train: dpo.loss_type" in message


def test_train_sections_of_the_wrong_type_are_named_not_raised(recipe):
    message = _problems(recipe(train={"data": "runs/x", "peft": "lora"}))
    assert "train: data: expected a mapping of keys, got str 'runs/x'" in message
    assert "train: peft: expected a mapping of keys, got str 'lora'" in message


def test_human_budgets_per_round_follow_the_schedule():
    from prefdata.iterate.config import HumanSection
    from prefdata.iterate.human import round_budgets

    sizes = {1: 100, 2: 100, 3: 100}
    assert round_budgets(HumanSection(budget=60), sizes) == {1: 30, 2: 20, 3: 10}  # front-loaded 3:2:1
    assert round_budgets(HumanSection(budget=0.2, schedule="even"), sizes) == {1: 20, 2: 20, 3: 20}
    assert round_budgets(HumanSection(budget=500, schedule=[0.8, 0.2, 0.0]), sizes) == {1: 100, 2: 100, 3: 0}
    with pytest.raises(ValueError, match="summing to 1"):
        HumanSection(budget=10, schedule=[0.5, 0.2])


def test_humans_in_the_loop_need_mixed_labels_and_a_schedule_per_round(recipe):
    human = {"rounds": 2, "eval": {"holdout": 5}, "human": {"budget": 4, "schedule": [1.0]}}
    problems = _problems(recipe(iterate=human))
    assert "iterate.human and label.source: mixed go together" in problems
    assert "iterate.human.schedule: 1 shares for 2 rounds" in problems
    mixed = {"source": "mixed", "judges": [{"type": "programmatic", "id": "exact", "name": "exact_match"}]}
    assert "label.source: mixed without iterate.human" in _problems(recipe(label=mixed))
    previous = {**human, "reference": "previous", "human": {"budget": 4}}
    assert "implicit_margin with reference: previous" in _problems(recipe(label=mixed, iterate=previous))
    plan = load_plan(recipe(label=mixed, iterate={**human, "human": {"budget": 4}}))
    assert plan.recipe.iterate.human.select == "implicit_margin"
    aggregate = {"strategy": "best_vs_worst", "label_source": "exact"}
    with pytest.raises(ConfigError, match="leave the human answers of label.source: mixed unused"):
        load_plan(recipe(label=mixed, pair=aggregate, iterate={**human, "human": {"budget": 4}}))
