import polars as pl
import pytest

from prefdata.iterate.evaluate import summarize_eval


def _scores(values, judge="exact", kind="programmatic"):
    return pl.DataFrame({"prompt_id": [f"p{i}" for i in range(len(values))], "judge_id": judge,
                         "judge_type": kind, "score": values}, schema_overrides={"score": pl.Float64})


def test_pass_rate_counts_a_missing_score_as_a_fail_and_the_mean_skips_it():
    out = summarize_eval(_scores([1.0, 0.0, None, 1.0]), None, pass_score=1.0)["exact"]
    assert out == {"prompts": 4, "missing": 1, "mean": pytest.approx(2 / 3), "pass_rate": 0.5}


def test_win_rate_against_pi0_counts_ties_as_half_and_skips_unscored_prompts():
    mine, base = _scores([1.0, 0.0, 1.0, 0.0, None]), _scores([0.0, 1.0, 1.0, 0.0, 1.0])
    out = summarize_eval(mine, base, pass_score=1.0)["exact"]
    assert out["compared"] == 4 and out["win_rate_vs_initial"] == pytest.approx((1 + 0 + 0.5 + 0.5) / 4)


def test_a_reward_model_has_a_mean_and_win_rate_but_no_pass_rate():
    out = summarize_eval(_scores([0.3, -1.2], "rm", "reward_model"), _scores([0.1, -1.0], "rm", "reward_model"),
                         pass_score=1.0)["rm"]
    assert "pass_rate" not in out and out["win_rate_vs_initial"] == 0.5 and out["mean"] == pytest.approx(-0.45)


def test_a_held_out_prompt_without_an_answer_counts_as_missing_and_failed(tmp_path):
    from prefdata.iterate.evaluate import eval_scores

    judgments = tmp_path / "j.parquet"
    pl.DataFrame({"prompt_id": ["p0", "p1", "p0"], "judge_id": ["exact", "exact", "other"],
                  "score": [1.0, 1.0, 0.3]}).write_parquet(judgments)
    scores = eval_scores(judgments, ["p0", "p1", "p2"], {"exact": "programmatic"})  # p2: dropped before labelling
    assert scores["score"].to_list() == [1.0, 1.0, None]
    out = summarize_eval(scores, None, pass_score=1.0)["exact"]
    assert out["prompts"] == 3 and out["missing"] == 1 and out["pass_rate"] == pytest.approx(2 / 3)


def test_the_difference_from_pi0_is_paired_with_an_interval_as_prefdata_eval_compares_models():
    mine, base = _scores([1.0] * 30 + [None] * 2), _scores([0.0] * 20 + [1.0] * 12)
    out = summarize_eval(mine, base, pass_score=1.0)["exact"]["vs_initial"]
    # pass rates 30/32 vs 12/32: a missing score fails, so all 32 prompts are paired
    assert out["prompts"] == 32 and out["diff"] == pytest.approx(18 / 32)
    assert 0 < out["low"] < out["diff"] < out["high"] and out["verdict"] == "holds"
    rm = summarize_eval(_scores([0.5, None, 0.1], "rm", "reward_model"), _scores([0.3, 0.2, 0.4], "rm", "reward_model"),
                        pass_score=1.0)["rm"]["vs_initial"]
    assert rm["prompts"] == 2 and rm["diff"] == pytest.approx((0.2 - 0.3) / 2)  # scores, where both have one
