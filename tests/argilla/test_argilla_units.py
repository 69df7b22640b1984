"""Fast tests without a server: settings, answer parsing, score/rank rules, agreement, the recipe."""

from __future__ import annotations

import pytest

from prefdata.argilla.agreement import annotator_agreement, judge_vs_human
from prefdata.argilla.pull import aggregate, competition_ranks, read_answer, to_score
from prefdata.argilla.push import render_prompt
from prefdata.argilla.settings import ArgillaConfig, dataset_spec, spec_differences
from prefdata.config import validate
from prefdata.errors import ConfigError
from prefdata.pipelines import recipe_path
from prefdata.recipe import load_recipe


def test_competition_ranks_share_ties():
    assert competition_ranks([0.9, 0.1, 0.9], higher_is_better=True) == [1, 3, 1]
    assert competition_ranks([2, 1, 3], higher_is_better=False) == [2, 1, 3]


def test_ranking_answer_ignores_options_of_absent_candidates():
    """A 3-field dataset, a prompt with 2 candidates: ranks 1 and 3 become 1 and 2."""
    response = {"values": {"ranking": {"value": [{"value": "response_1", "rank": 3}, {"value": "response_2", "rank": 2},
                                                  {"value": "response_3", "rank": 1}]},
                           "rationale": {"value": "short"}}}
    raw, rationale = read_answer(response, {"kind": "ranking"}, n=2)
    assert raw == [2.0, 1.0] and rationale == "short"
    assert [to_score(v, raw, {"kind": "ranking"}) for v in raw] == [0.0, 1.0]


def test_rating_scores_run_from_zero_to_one():
    question = {"kind": "rating", "scale": 5}
    raw, _ = read_answer({"values": {"rating_1": {"value": 5}, "rating_2": {"value": 2}}}, question, n=3)
    assert raw == [5, 2, None]
    assert [to_score(v, raw, question) for v in raw] == [1.0, 0.25, None]


def test_aggregate_averages_annotators_and_ranks_within_prompt():
    rows = [{"prompt_id": "p", "candidate_id": c, "annotator": a, "score": s}
            for a, scores in (("alice", (1.0, 0.0)), ("bob", (0.0, 1.0)), ("carol", (1.0, 0.0)))
            for c, s in zip(("p:a", "p:b"), scores)]
    out = {r["candidate_id"]: r for r in aggregate(rows, "argilla:x:mean")}
    assert out["p:a"]["score"] == pytest.approx(2 / 3) and out["p:a"]["rank"] == 1
    assert out["p:b"]["score"] == pytest.approx(1 / 3) and out["p:b"]["rank"] == 2
    assert out["p:a"]["annotator"] == "alice,bob,carol" and out["p:a"]["judge_type"] == "aggregate"


def test_annotator_agreement_hand_computed():
    """Same numbers as the server round trip (see test_argilla_roundtrip.py for the algebra)."""
    alice = {f"i{k}": v for k, v in enumerate([1, 2] * 4)}
    bob = {f"i{k}": v for k, v in enumerate([1, 2, 1, 2, 1, 2, 2, 1])}
    report = annotator_agreement({"alice": alice, "bob": bob})
    assert report["krippendorff_alpha"] == pytest.approx(0.53125)
    assert report["pairwise"]["alice|bob"] == {"n_items": 8, "agreement": 0.75, "cohen_kappa": 0.5}
    partial = annotator_agreement({"alice": alice, "bob": {"i0": 1, "i1": 2}})
    assert partial["pairwise"]["alice|bob"]["n_items"] == 2 and partial["n_items_multi_annotated"] == 2


def test_judge_vs_human_pairs_and_top1():
    groups = ["p0", "p0", "p1", "p1"]
    report = judge_vs_human(groups, [0.9, 0.1, 0.2, 0.8], [1.0, 0.0, 1.0, 0.0], "rm")
    assert report["n_pairs"] == 2 and report["pair_agreement"] == 0.5 and report["top1_agreement"] == 0.5


def test_dataset_spec_and_differences():
    spec = dataset_spec(ArgillaConfig(min_submitted=2), n_responses=3)
    assert [f["name"] for f in spec["fields"]] == ["prompt", "response_1", "response_2", "response_3"]
    assert [f["required"] for f in spec["fields"]] == [True, True, True, False]
    assert [o["value"] for o in spec["questions"][0]["settings"]["options"]] == ["response_1", "response_2", "response_3"]
    assert all(not m["visible_for_annotators"] for m in spec["metadata_properties"])
    assert spec_differences(spec, spec) == []
    rating = dataset_spec(ArgillaConfig(question="rating", rating_scale=3, rationale=False), n_responses=3)
    problems = spec_differences(rating, spec)
    assert any("questions 'ranking'" in p for p in problems) and any("min_submitted" in p for p in problems)


def test_config_errors_show_both_values():
    with pytest.raises(ConfigError, match=r"rating_scale \(7\) applies to question: rating, but question is 'ranking'"):
        validate(ArgillaConfig, {"rating_scale": 7}, "recipe.yaml")
    # RUN_DIR/recipe.resolved.yaml holds every default: it must load again (push's default --recipe).
    resolved = ArgillaConfig().model_dump(mode="json")
    assert validate(ArgillaConfig, resolved, "recipe.resolved.yaml") == ArgillaConfig()
    with pytest.raises(ConfigError, match="questoin: unknown key"):
        validate(ArgillaConfig, {"questoin": "rating"}, "recipe.yaml")


def test_render_prompt():
    assert render_prompt([{"role": "user", "content": "hi"}]) == "hi"
    assert render_prompt([{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]) == (
        "**system:** be nice\n\n**user:** hi")


def test_human_loop_recipe_validates():
    recipe = load_recipe(recipe_path("human_loop"))
    assert recipe.stages()[:2] == ["prompts", "sample"]
    assert recipe.argilla.dataset == "human-loop-round-1" and recipe.argilla.min_submitted == 2
    text = recipe_path("human_loop").read_text()
    assert text.startswith("# The human loop") and "prefdata argilla push" in text
    assert "--force-stage label" in text or "--from-stage label" in text  # --from-stage is the old alias


def test_suggestions_come_from_the_judge_the_pair_stage_pairs_on():
    import polars as pl
    import pytest

    from prefdata.argilla.push import judge_scores
    from prefdata.errors import PrefdataError
    from prefdata.records import Judgment
    from prefdata.frames import frame

    def labels(*judges):
        return frame([Judgment(judgment_id=f"{j}:{c}", prompt_id="p", candidate_id=c, judge_id=j,
                               judge_type="aggregate" if j == "aggregate" else "reward_model", score=s)
                      for j, scores in judges for c, s in scores.items()], Judgment)

    assert judge_scores(labels(("rm", {"a": 1.0, "b": 0.0})), None) == ("rm", {"a": 1.0, "b": 0.0})
    both = labels(("rm", {"a": 1.0}), ("llm", {"a": 0.2}), ("aggregate", {"a": 0.5}))
    assert judge_scores(both, None) == ("aggregate", {"a": 0.5})
    with pytest.raises(PrefdataError, match="set argilla.suggestions_from"):
        judge_scores(labels(("rm", {"a": 1.0}), ("llm", {"a": 0.2})), None)
    assert judge_scores(both, "llm")[0] == "llm" and isinstance(both, pl.DataFrame)


def test_unused_set_keys_are_named():
    from prefdata.cli.argilla import PULL_KEYS, PUSH_KEYS, unused_overrides

    overrides = ["argilla.question=rating", "argilla.dataset=x", "pair.strategy=all_pairs", "argilla.batch_size=5"]
    assert unused_overrides(overrides, PUSH_KEYS) == ["pair.strategy"]
    assert unused_overrides(overrides, PULL_KEYS) == ["argilla.question", "pair.strategy", "argilla.batch_size"]


def test_human_labels_are_never_suggested():
    """A label stage fed by an earlier pull: two annotators disagree; neither becomes a suggestion."""
    from prefdata.argilla.push import judge_scores
    from prefdata.errors import PrefdataError
    from prefdata.records import Judgment
    from prefdata.frames import frame

    rows = [Judgment(judgment_id=f"h:{a}:{c}", prompt_id="p", candidate_id=c, judge_id="argilla:r1", judge_type="human",
                     score=s, annotator=a) for a, s1 in (("alice", 1.0), ("bob", 0.0)) for c, s in (("a", s1), ("b", 1 - s1))]
    humans = frame(rows, Judgment)
    assert judge_scores(humans, None) == (None, {})
    consensus = frame(rows + [Judgment(judgment_id="m:a", prompt_id="p", candidate_id="a", judge_id="argilla:r1:mean",
                                       judge_type="aggregate", score=0.5, annotator="alice,bob")], Judgment)
    assert judge_scores(consensus, None) == (None, {})
    with_rm = frame(rows + [Judgment(judgment_id="rm:a", prompt_id="p", candidate_id="a", judge_id="rm",
                                     judge_type="reward_model", score=0.7)], Judgment)
    assert judge_scores(with_rm, None) == ("rm", {"a": 0.7})
    with pytest.raises(PrefdataError, match="holds human answers"):
        judge_scores(with_rm, "argilla:r1")
    twice = frame([Judgment(judgment_id=f"rm:a:{k}", prompt_id="p", candidate_id="a", judge_id="rm",
                            judge_type="reward_model", score=k) for k in (0.1, 0.2)], Judgment)
    with pytest.raises(PrefdataError, match="has 2 scores for candidate 'a'"):
        judge_scores(twice, None)
