"""The demo task and its noisy judges (fast)."""

from prefdata.demo.task import AdditionTask, noisy_exact_match, noisy_reward, position_biased_preference, question


def test_splits_are_disjoint_and_cover_every_problem():
    task = AdditionTask(max_operand=19, seed=3, n_eval=50, n_dpo=100, n_val=30)
    splits = [set(s) for s in (task.eval_problems, task.dpo_problems, task.sft_validation_problems, task.sft_problems)]
    assert sum(map(len, splits)) == len(set().union(*splits)) == 20 * 20
    assert [len(s) for s in splits[:3]] == [50, 100, 30]


def test_noisy_judge_flips_about_the_requested_share_deterministically():
    verdicts = []
    for a in range(40):
        for b in range(40):
            q, right = question(a, b), str(a + b)
            verdicts.append((noisy_exact_match(q, right, right, flip=0.25, salt="a"),
                             noisy_exact_match(q, "x", right, flip=0.25, salt="a")))
    flipped = sum((ok != 1.0) + (bad != 0.0) for ok, bad in verdicts) / (2 * len(verdicts))
    assert 0.22 < flipped < 0.28
    assert noisy_exact_match("1+1=", "2", "2", flip=0.25, salt="a") == noisy_exact_match("1+1=", "2", "2", flip=0.25, salt="a")


def test_two_salts_flip_independently():
    same = sum(
        noisy_exact_match(question(a, b), "0", "0", flip=0.5, salt="a")
        == noisy_exact_match(question(a, b), "0", "0", flip=0.5, salt="b")
        for a in range(30) for b in range(30)
    ) / 900
    assert 0.4 < same < 0.6


def test_noisy_reward_inverts_about_a_quarter_of_right_vs_wrong_comparisons():
    inverted = sum(noisy_reward(question(a, b), "x", str(a + b)) > noisy_reward(question(a, b), str(a + b), str(a + b))
                   for a in range(40) for b in range(40)) / 1600
    assert 0.21 < inverted < 0.29
    assert noisy_reward("1+1=", "2", "2") == noisy_reward("1+1=", "2", "2")


def test_the_pairwise_judge_is_position_biased_only_when_unsure():
    orders = [(position_biased_preference(question(a, b), str(a + b), "x", str(a + b)),
               position_biased_preference(question(a, b), "x", str(a + b), str(a + b)))
              for a in range(40) for b in range(40)]
    flipped = sum(ab == ba for ab, ba in orders) / len(orders)  # the same letter in both orders
    assert 0.1 < flipped < 0.3 and all(ab == "A" for ab, ba in orders if ab == ba)  # a flip always favours A
    assert position_biased_preference("1+1=", "2", "2", "2") == "tie"


def test_demo_recipe_validates_with_either_sampler_and_every_variant(tmp_path, tiny_model_dir):
    from prefdata.demo.run import recipe_overrides
    from prefdata.demo.variants import OVERRIDES
    from prefdata.pipelines import recipe_path
    from prefdata.recipe import load_recipe

    prompts = AdditionTask.write_prompts(tmp_path / "p.jsonl", AdditionTask().dpo_problems[:5])
    for use_vllm in (True, False):
        for variant, overrides in OVERRIDES.items():
            recipe = load_recipe(recipe_path("demo"), recipe_overrides(prompts, tiny_model_dir, 0, use_vllm=use_vllm) + overrides)
            assert recipe.sample.models[0].backend == ("vllm" if use_vllm else "transformers")
            assert recipe.filter.steps[0].type == "quality"
            assert recipe.pair.label_source == ("ab" if variant.startswith("pairwise") else "rm")
