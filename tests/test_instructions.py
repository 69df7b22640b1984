"""Verifiable instructions: specs parsed or refused with the field, seeded conflict-free
instructions, IFEval's checkers on hand-written answers.

    python -m pytest -q tests/test_instructions.py
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")

from prefdata.errors import PrefdataError  # noqa: E402
from prefdata.instructions import (  # noqa: E402
    DEFAULT_INSTRUCTIONS, SpecError, _conflicts, add_instructions, follows, id_problems, parse_spec, question_of,
    stand_in_ids, unavailable, uses_stand_in,
)


def test_a_spec_round_trips_and_kwargs_may_be_left_out():
    spec = parse_spec({"instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
                       "kwargs": [{}, {"keywords": ["stable", "charity"]}]})
    assert spec.ids == ("punctuation:no_comma", "keywords:existence")
    assert parse_spec(spec.to_json()) == spec
    assert parse_spec('{"instruction_id_list": ["punctuation:no_comma"]}').kwargs == ({},)


@pytest.mark.parametrize("reference, field, message", [
    (None, "reference", "reference is empty"),
    ("not json", "reference", "not JSON"),
    ("[1, 2]", "reference", "expected a JSON object"),
    ('{"instruction_id_list": []}', "instruction_id_list", "non-empty list"),
    ('{"instruction_id_list": ["nope:nothing"]}', "instruction_id_list", "unknown instruction id 'nope:nothing'"),
    ('{"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]}', "kwargs", "list of 1 objects"),
    ('{"instruction_id_list": ["keywords:existence"], "kwargs": [{"words": ["a"]}]}', "kwargs", "keywords:existence"),
])
def test_a_bad_spec_names_the_field(reference, field, message):
    with pytest.raises(SpecError, match=message) as e:
        parse_spec(reference)
    assert e.value.field == field


def test_checkers_that_need_missing_punkt_data_run_with_the_stand_ins():
    try:
        import nltk

        nltk.data.find("tokenizers/punkt_tab")
        pytest.skip("nltk's punkt data is installed here: every checker runs as it is")
    except LookupError:
        pass
    assert {"length_constraints:number_sentences", "change_case:capital_word_frequency"} <= stand_in_ids()
    assert not stand_in_ids() & set(DEFAULT_INSTRUCTIONS) and unavailable() == {}
    assert id_problems(["length_constraints:number_sentences"]) == []
    sentences = parse_spec({"instruction_id_list": ["length_constraints:number_sentences"],
                            "kwargs": [{"num_sentences": 3, "relation": "less than"}]})
    assert uses_stand_in(sentences)
    assert follows(sentences, "Mice hide. They like \"warm\" places!", prompt="q").strict == [True]  # 2 < 3
    assert follows(sentences, "One. Two! Three? Four.", prompt="q").strict == [False]
    capitals = parse_spec({"instruction_id_list": ["change_case:capital_word_frequency"],
                           "kwargs": [{"capital_frequency": 2, "capital_relation": "at least"}]})
    assert follows(capitals, "USE the CPU's cache, e.g. L2.", prompt="q").strict == [True]  # USE, CPU, L2
    assert follows(capitals, "only lower case here", prompt="q").strict == [False]
    import if_verifiable.ifeval.instructions_util as util

    with pytest.raises(LookupError):  # the patch ends with the check
        util.count_sentences("A. B.")


def test_added_instructions_are_seeded_and_never_conflict():
    conflicts = _conflicts()
    seen = set()
    for seed in range(60):
        spec, text = add_instructions("Where do mice hide?", 3, DEFAULT_INSTRUCTIONS, seed)
        assert add_instructions("Where do mice hide?", 3, DEFAULT_INSTRUCTIONS, seed) == (spec, text)
        assert len(set(spec.ids)) == 3 and text.startswith("Where do mice hide? ")
        for a in spec.ids:
            assert not any(b in conflicts.get(a, ()) for b in spec.ids if b != a), spec.ids
        assert question_of(text, parse_spec(spec.to_json())) == "Where do mice hide?"
        seen.update(spec.ids)
    assert len(seen) > 10  # draws cover the list
    with pytest.raises(PrefdataError, match="cannot pick 2 instructions that do not conflict"):
        add_instructions("q", 2, ["change_case:english_lowercase", "change_case:english_capital"], 0)


def test_checkers_score_strict_and_loose():
    spec = parse_spec(json.dumps({"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"]}))
    assert follows(spec, "mice hide under the sink.", "q").strict == [True, True]
    both = follows(spec, "Mice hide under the sink, mostly.", "q")
    assert both.strict == [False, False] and both.score() == 0.0
    half = follows(spec, "Mice hide under the sink.", "q")
    assert half.score("instruction") == 0.5 and half.score("prompt") == 0.0
    quoted = parse_spec({"instruction_id_list": ["startend:quotation"]})
    # loose drops the first and last line: a framing line that breaks the quotes passes loose only
    framed = follows(quoted, 'Sure:\n"under the sink"', "q")
    assert framed.strict == [False] and framed.loose == [True]
    assert follows(spec, "", "q").strict == [False, False]
