"""The `ifeval` judge: instruction share or all-or-nothing, strict or loose, the relevance
guard on a real embedding model, invalid specs as missing labels, ids refused at load.

    python -m pytest -q tests/judges/test_ifeval.py
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")

from prefdata.config import validate  # noqa: E402
from prefdata.errors import ConfigError  # noqa: E402
from prefdata.judges.base import build_judge  # noqa: E402
from prefdata.judges.ifeval import IFEvalJudgeConfig  # noqa: E402
from prefdata.stages.prompts import AddInstructionsConfig  # noqa: E402

QUESTION = "Where's a good place to put a large mousetrap?"
SPEC = json.dumps({"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"]})
PROMPT = f"{QUESTION} In your entire response, refrain from the use of any commas. Your entire response should " \
         "be in English, and in all lowercase letters. No capital letters are allowed."


def judge(**config):
    return build_judge(IFEvalJudgeConfig(id="j", **config))


def test_share_of_instructions_or_all_of_them(item):
    answers = ["put it along a wall behind the fridge where mice run.",  # both
               "Put it along a wall behind the fridge where mice run.",  # no comma only
               "Put it along a wall, behind the fridge."]  # neither
    items = [item(PROMPT, a, SPEC, index=i) for i, a in enumerate(answers)]
    assert [r["score"] for r in judge().judge(items)] == [1.0, 0.5, 0.0]
    assert [r["score"] for r in judge(level="prompt").judge(items)] == [1.0, 0.0, 0.0]
    row = judge().judge(items[1:2])[0]
    assert json.loads(row["aspects"])["instructions"] == {
        "punctuation:no_comma": {"strict": True, "loose": True},
        "change_case:english_lowercase": {"strict": False, "loose": False}}
    assert row["judge_type"] == "ifeval" and row["model"] == "ifeval:instruction:strict"


def test_the_relevance_guard_zeroes_answers_that_ignore_the_question(item, embedder):
    on_topic = "put it along a wall behind the fridge or under the sink where mice run at night."
    hacked = "can you please bring me some steaks please?"  # follows both: no comma, all lowercase
    guarded = judge(min_relevance=0.2)
    rows = guarded.judge([item(PROMPT, on_topic, SPEC, index=0), item(PROMPT, hacked, SPEC, index=1)])
    assert [r["score"] for r in rows] == [1.0, 0.0]
    relevance = [json.loads(r["aspects"])["relevance"] for r in rows]
    assert relevance[0] > 0.3 > 0.2 > relevance[1]
    assert rows[1]["reason"].startswith("off_topic") and rows[0]["reason"] is None
    assert guarded.stats() == {"off_topic": 1}
    assert [r["score"] for r in judge().judge([item(PROMPT, hacked, SPEC)])] == [1.0]  # unguarded, it wins


def test_a_prompt_without_a_valid_spec_gets_a_missing_label(item):
    rows = judge(min_relevance=0.2).judge([item("q", "a", None), item("q", "a", '{"instruction_id_list": 3}')])
    assert [r["score"] for r in rows] == [None, None]
    assert all(r["parse_status"] == "error" for r in rows)
    assert "(instruction_id_list)" in rows[1]["reason"]


def test_unknown_or_unavailable_ids_are_refused_at_load():
    with pytest.raises(ConfigError) as e:
        validate(AddInstructionsConfig, {"n": 3, "ids": ["nope:x", "punctuation:no_comma"]}, "recipe.yaml")
    assert "unknown instruction id 'nope:x'" in str(e.value)
    with pytest.raises(ConfigError, match="at most 1 of these instructions go together"):
        validate(AddInstructionsConfig, {"n": 2, "ids": ["change_case:english_lowercase",
                                                         "change_case:english_capital"]}, "recipe.yaml")


def test_the_label_stage_key_covers_the_judge_and_its_checks():
    from prefdata import instructions
    from prefdata.judges import ifeval
    from prefdata.stages.label import LabelConfig, LabelStage

    stage = LabelStage(validate(LabelConfig, {"judges": [{"type": "ifeval", "id": "j"}]}, "recipe.yaml"))
    files = {str(f) for f in stage.code_files()}
    assert {ifeval.__file__, instructions.__file__} <= files  # an edited checker re-labels
