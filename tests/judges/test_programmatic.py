"""Programmatic judges on the shipped math set, user functions, and config errors.

    python -m pytest -q tests/judges/test_programmatic.py
"""

from __future__ import annotations

import pytest

from prefdata.config import validate
from prefdata.errors import ConfigError
from prefdata.judges.base import build_judge
from prefdata.judges.programmatic import ProgrammaticJudgeConfig
from prefdata.stages.label import LabelConfig


def judge(**config):
    return build_judge(ProgrammaticJudgeConfig(id="j", **config))


def answers(reference: str) -> dict[str, float]:
    """Hand-written responses to a math prompt and whether numeric_match must accept them."""
    return {
        f"The answer is {reference}.": 1.0,
        f"Let me think step by step... so the result is \\boxed{{{reference}}}.": 1.0,
        f"{reference}": 1.0,
        "I am not sure, maybe 1234567?": 0.0,
        "I cannot compute that.": 0.0,  # no number: wrong, not unlabelled
    }


def test_numeric_match_on_math_set(math_rows, item):
    j = judge(name="numeric_match")
    items, expected = [], []
    for n, row in enumerate(math_rows):
        for k, (response, ok) in enumerate(answers(row["reference"]).items()):
            items.append(item(row["prompt"], response, row["reference"], prompt_id=f"m{n}", index=k))
            expected.append(ok)
    rows = j.judge(items)
    assert [r["score"] for r in rows] == expected
    assert all(r["parse_status"] == "ok" and r["judge_type"] == "programmatic" for r in rows)
    assert rows[0]["model"] == "builtin:numeric_match" and rows[0]["judge_id"] == "j"
    assert len({r["judgment_id"] for r in rows}) == len(rows)


def test_numeric_match_tolerance_and_formats(item):
    j = judge(name="numeric_match", params={"abs_tol": 0.01})
    got = [r["score"] for r in j.judge([
        item("1/3?", "about 0.333", "1/3"), item("x", "12000", "12,000"), item("x", "0.5", "1/3"),
    ])]
    assert got == [1.0, 1.0, 0.0]


def test_missing_reference_is_a_missing_label(item):
    rows = judge(name="exact_match").judge([item("2+2?", "4", None), item("2+2?", "4", "  ")])
    assert [r["score"] for r in rows] == [None, None]
    assert all(r["parse_status"] == "error" and "no reference answer" in r["reason"] for r in rows)
    bad_ref = judge(name="numeric_match").judge([item("x", "4", "four")])[0]
    assert bad_ref["score"] is None and "contains no number" in bad_ref["reason"]


def test_exact_match_normalisation(item):
    rows = judge(name="exact_match").judge([item("q", "  Paris \n", "paris"), item("q", "Paris, France", "Paris")])
    assert [r["score"] for r in rows] == [1.0, 0.0]
    strict = judge(name="exact_match", params={"normalize": False}).judge([item("q", "paris", "Paris")])
    assert strict[0]["score"] == 0.0


def test_regex_json_length(item):
    rx = judge(name="regex", params={"pattern": r"^Answer: \d+$", "mode": "fullmatch"})
    assert [r["score"] for r in rx.judge([item("q", "Answer: 12"), item("q", "Answer: 12!")])] == [1.0, 0.0]
    js = judge(name="json_valid")
    texts = ['{"a": 1}', '```json\n{"a": [1, 2]}\n```', "{'a': 1}", ""]
    assert [r["score"] for r in js.judge([item("q", t) for t in texts])] == [1.0, 1.0, 0.0, 0.0]
    ln = judge(name="length", params={"unit": "words", "min": 2, "max": 3})
    assert [r["score"] for r in ln.judge([item("q", "one"), item("q", "one two three")])] == [0.0, 1.0]
    shorter = judge(name="length")
    assert [r["score"] for r in shorter.judge([item("q", "abc"), item("q", "a")])] == [-3.0, -1.0]


def test_user_function(user_checks, item):
    j = judge(function=f"{user_checks}:mentions_reference", params={"bonus": 0.5})
    rows = j.judge([item("q", "it is 42", "42"), item("q", "it is 41", "42")])
    assert [r["score"] for r in rows] == [1.5, 0.5]
    assert rows[0]["model"] == f"{user_checks}:mentions_reference"
    msgs = judge(function=f"{user_checks}:sees_messages", prompt_as="messages").judge([item("q", "r")])
    assert msgs[0]["score"] == 1.0


@pytest.mark.parametrize(
    "function, status, reason_part",
    [
        ("crashes", "error", "raised RuntimeError: boom"),
        ("returns_text", "invalid_score", "returned str 'good'"),
        ("returns_nan", "invalid_score", "not a finite score"),
    ],
)
def test_misbehaving_user_function_never_sinks_the_batch(user_checks, item, function, status, reason_part):
    rows = judge(function=f"{user_checks}:{function}").judge([item("q", "a"), item("q", "b")])
    assert len(rows) == 2
    assert all(r["score"] is None and r["parse_status"] == status and reason_part in r["reason"] for r in rows)


def test_config_errors_at_load(user_checks):
    recipe = {"judges": [
        {"type": "programmatic", "id": "a", "function": "no_such_module_xyz:score"},
        {"type": "programmatic", "id": "b", "function": f"{user_checks}:missing"},
        {"type": "programmatic", "id": "c", "function": f"{user_checks}:NOT_CALLABLE"},
        {"type": "programmatic", "id": "d", "name": "regex", "params": {"pattern": "(unclosed"}},
        {"type": "programmatic", "id": "e", "name": "exact_match", "function": f"{user_checks}:crashes"},
        {"type": "programmatic", "id": "f", "name": "levenshtein"},
        {"type": "programmatic", "id": "g", "name": "length", "params": {"min": 5, "max": 2, "typo": 1}},
        {"type": "gpt_judge", "id": "h"},
    ]}
    with pytest.raises(ConfigError) as e:
        validate(LabelConfig, recipe, "recipe.yaml")
    text = str(e.value)
    for expected in [
        "judges.0.programmatic: cannot import module 'no_such_module_xyz'",
        f"judges.1.programmatic: module '{user_checks}' has no attribute 'missing'",
        "judges.2.programmatic: 'user_checks_mod:NOT_CALLABLE' is not callable",
        "judges.3.programmatic: params of regex: <root>: pattern '(unclosed' is not a valid regular expression",
        "judges.4.programmatic: give exactly one of 'name'",
        "judges.5.programmatic.name",
        "typo: unknown key",
        "judges.7.plugin: unknown judge 'gpt_judge'; built-in: reward_model, llm, programmatic",
    ]:
        assert expected in text, text


def test_label_config_cross_checks():
    judges = [{"type": "programmatic", "id": "x", "name": "json_valid"},
              {"type": "programmatic", "id": "x", "name": "length"}]
    with pytest.raises(ConfigError, match=r"judge ids must be unique; repeated: \['x'\]"):
        validate(LabelConfig, {"judges": judges}, "r.yaml")
    judges[1]["id"] = "y"
    with pytest.raises(ConfigError, match=r"weights name unknown judges \['z'\]"):
        validate(LabelConfig, {"judges": judges, "weights": {"z": 1.0}}, "r.yaml")
    with pytest.raises(ConfigError, match="aggregate_id 'x' is also a judge id"):
        validate(LabelConfig, {"judges": judges, "aggregate_id": "x"}, "r.yaml")
    with pytest.raises(ConfigError, match="weights must be > 0"):
        validate(LabelConfig, {"judges": judges, "weights": {"x": 0}}, "r.yaml")


def test_a_pairwise_check_runs_in_both_orders_and_its_position_bias_shows(user_checks, item):
    items = [item("q", text, index=i) for i, text in enumerate(("aaa", "b", "cc"))]
    biased = judge(mode="pairwise", function=f"{user_checks}:first_shown")
    rows = biased.judge(items)
    per_candidate = [r for r in rows if r["opponent_id"] is None]
    assert len(rows) == 3 * 2 + 3 and biased.judge_type == "programmatic_pairwise"
    assert all(r["swap_consistent"] is False and r["score"] == 0.5 for r in per_candidate)  # every verdict flips
    assert biased.stats()["swap_consistency_rate"] == 0.0
    fair = judge(mode="pairwise", function=f"{user_checks}:longer")
    scores = {r["candidate_id"]: r["score"] for r in fair.judge(items) if r["opponent_id"] is None}
    assert sorted(scores.values()) == [0.0, 0.5, 1.0] and scores[items[0].candidate_id] == 1.0 and fair.stats()["swap_consistency_rate"] == 1.0
    odd = judge(mode="pairwise", function=f"{user_checks}:undecided").judge(items[:2])
    assert all(r["score"] is None for r in odd) and "returned 'maybe', expected 'A', 'B' or 'tie'" in odd[0]["reason"]


def test_pairwise_mode_needs_a_function():
    with pytest.raises(ConfigError, match="mode: pairwise needs a 'function'"):
        validate(LabelConfig, {"judges": [{"type": "programmatic", "id": "a", "name": "exact_match",
                                           "mode": "pairwise"}]}, "recipe.yaml")
