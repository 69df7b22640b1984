"""Reward-model judge through the real transformers path on a tiny local model.

    python -m pytest -q tests/judges/test_reward_model.py
"""

from __future__ import annotations

import math

import pytest

from prefdata.errors import PrefdataError
from prefdata.judges.base import build_judge
from prefdata.judges.reward_model import RewardModelJudgeConfig

RESPONSES = ["4", "The answer is four, because 2 + 2 = 4.", "5", "I do not know.", "Sure " * 30]


def rm_judge(path, **kw):
    return build_judge(RewardModelJudgeConfig(id="rm", path=str(path), **kw))


@pytest.fixture(scope="module")
def items(item):
    return [item("What is 2 + 2?", r, "4", index=i) for i, r in enumerate(RESPONSES)]


def test_scores_match_a_direct_forward_pass(tiny_reward_model_dir, items):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    rows = rm_judge(tiny_reward_model_dir, batch_size=2).judge(items)
    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_reward_model_dir).eval()
    for item, row in zip(items, rows):
        messages = item.prompt + [{"role": "assistant", "content": item.response}]
        ids = tokenizer.apply_chat_template(messages, tokenize=False)
        enc = tokenizer(ids, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            expected = model(**enc).logits[0, 0].item()
        assert row["score"] == pytest.approx(expected, abs=1e-5)
        assert row["judge_type"] == "reward_model" and row["model"] == str(tiny_reward_model_dir)
        assert row["parse_status"] == "ok" and float(row["raw_output"]) == pytest.approx(row["score"])
        assert row["candidate_id"] == item.candidate_id
    assert len({round(r["score"], 6) for r in rows}) > 1  # a random head still separates texts


def test_batching_does_not_change_scores(tiny_reward_model_dir, items):
    one = [r["score"] for r in rm_judge(tiny_reward_model_dir, batch_size=1).judge(items)]
    many = [r["score"] for r in rm_judge(tiny_reward_model_dir, batch_size=5).judge(items)]
    assert many == pytest.approx(one, abs=1e-5)


def test_long_inputs_are_left_truncated_and_say_so(tiny_reward_model_dir, items):
    rows = rm_judge(tiny_reward_model_dir, max_length=24).judge(items)
    long_row = rows[-1]
    assert long_row["score"] is not None and "left-truncated" in long_row["reason"]
    assert rows[0]["reason"] is None  # "4" fits in 24 tokens


def test_head_must_be_one_dimensional(two_label_model_dir):
    with pytest.raises(PrefdataError, match="2-dimensional head; a reward model must output one score"):
        rm_judge(two_label_model_dir)


def test_nan_scores_become_missing_labels(nan_reward_model_dir, item):
    items = [item("Email?", "write to me @ home", index=0), item("Email?", "no thanks", index=1)]
    rows = rm_judge(nan_reward_model_dir, batch_size=2).judge(items)
    assert rows[0]["score"] is None and rows[0]["parse_status"] == "invalid_score"
    assert "reward model returned nan" in rows[0]["reason"]
    assert rows[1]["parse_status"] == "ok" and math.isfinite(rows[1]["score"])


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(PrefdataError, match="cannot load its config"):
        rm_judge(tmp_path / "nope")
