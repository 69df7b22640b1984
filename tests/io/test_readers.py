"""Each importer on small hand-written files: what is kept, what is rejected and why.

    python -m pytest -q tests/io/test_readers.py
"""

from __future__ import annotations

import json

import pytest
from iohelpers import write_jsonl

from prefdata.errors import DataError
from prefdata.io import hh_rlhf, llamafactory, trl, ultrafeedback
from prefdata.io.ids import prompt_id
from prefdata.io.importer import read_source, sniff
from prefdata.records import DPOExample


def _reasons(result):
    return [r["reason"] for r in result.rejects.rows]


def _balanced(result):
    assert len(result.examples) + len(result.rejects) == result.input_rows


# ---------------------------------------------------------------- hh-rlhf

H, A = "\n\nHuman: ", "\n\nAssistant: "


def test_hh_splits_shared_turns_and_final_answers(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", [
        {"chosen": f"{H}Hi{A}Hello!{H}2+2?{A}4", "rejected": f"{H}Hi{A}Hello!{H}2+2?{A}5 "},
    ])
    result = hh_rlhf.read(path)
    assert result.rejects.rows == []
    ex = result.examples[0]
    assert ex["prompt"] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                            {"role": "user", "content": "2+2?"}]
    assert ex["chosen"] == [{"role": "assistant", "content": "4"}]
    assert ex["rejected"] == [{"role": "assistant", "content": "5"}]
    assert ex["prompt_id"] == prompt_id(ex["prompt"]) and ex["source"] == "hh.jsonl"
    DPOExample.model_validate(ex)


def test_hh_rejects_each_broken_row_with_its_reason_and_line(tmp_path):
    path = write_jsonl(tmp_path / "hh.jsonl", [
        {"chosen": f"{H}a{A}b{H}c{A}d", "rejected": f"{H}a{A}X{H}c{A}e"},   # differs before last turn
        {"chosen": f"{H}a{A}", "rejected": f"{H}a{A}e"},                       # empty final answer
        {"chosen": f"{H}a{A}same", "rejected": f"{H}a{A}same"},                # identical
        {"chosen": f"{H}a{A}b{H}c", "rejected": f"{H}a{A}b{H}c"},              # ends with Human
        {"chosen": "no turns here", "rejected": f"{H}a{A}b"},                  # not a transcript
        {"chosen": f"{H}a{A}b"},                                               # missing field
        '{"chosen": "broken',                                                  # bad JSON
        {"chosen": f"{H}ok{A}good", "rejected": f"{H}ok{A}bad"},               # kept
    ])
    result = hh_rlhf.read(path)
    _balanced(result)
    assert _reasons(result) == ["prompt_mismatch", "empty_chosen", "identical_pair", "no_final_assistant",
                                "bad_transcript", "missing_field", "bad_json"]
    assert [r["row"] for r in result.rejects.rows] == [1, 2, 3, 4, 5, 6, 7]
    assert "line 1" in result.rejects.rows[0]["message"] and "hh.jsonl" in result.rejects.rows[0]["message"]
    assert result.rejects.rows[5]["field"] == "rejected"
    assert len(result.examples) == 1


# ---------------------------------------------------------------- llamafactory


def test_llamafactory_sharegpt_custom_tags_and_system(tmp_path):
    info = {"mine": {"file_name": "d.json", "ranking": True, "formatting": "sharegpt",
                     "columns": {"messages": "msgs", "chosen": "good", "rejected": "bad", "system": "sys"},
                     "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                              "assistant_tag": "assistant", "system_tag": "system"}}}
    (tmp_path / "info.json").write_text(json.dumps(info))
    rows = [
        {"msgs": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
         "good": {"role": "assistant", "content": "Hello"}, "bad": {"role": "assistant", "content": "Go away"}},
        {"msgs": [{"role": "user", "content": "Q"}], "sys": "Column system",
         "good": {"role": "assistant", "content": "A"}, "bad": {"role": "assistant", "content": "B"}},
        {"msgs": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
         "good": {"role": "assistant", "content": "A"}, "bad": {"role": "assistant", "content": "B"}},
        {"msgs": [{"role": "robot", "content": "Q"}],
         "good": {"role": "assistant", "content": "A"}, "bad": {"role": "assistant", "content": "B"}},
        {"msgs": [{"role": "user", "content": "Q"}], "good": "A", "bad": {"role": "assistant", "content": "B"}},
    ]
    (tmp_path / "d.json").write_text(json.dumps(rows, indent=1))
    result = llamafactory.read(tmp_path / "d.json", dataset_info=tmp_path / "info.json", name="mine")
    _balanced(result)
    assert result.examples[0]["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert result.examples[1]["prompt"][0] == {"role": "system", "content": "Column system"}
    assert _reasons(result) == ["prompt_not_user_final", "unknown_role", "bad_type"]
    # Rows of a JSON array are reported by the line where each element starts.
    starts = [i + 1 for i, line in enumerate((tmp_path / "d.json").read_text().splitlines()) if line == " {"]
    assert [r["row"] for r in result.rejects.rows] == starts[2:]


def test_llamafactory_alpaca_history_query_system(tmp_path):
    info = {"a": {"file_name": "a.jsonl", "ranking": True,
                  "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                              "history": "history", "system": "system"}}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Translate", "input": "chat", "system": "S",
                                        "history": [["hi", "hello"]], "chosen": "cat", "rejected": "dog"}])
    result = llamafactory.read(tmp_path / "a.jsonl")  # finds the sibling dataset_info.json by file_name
    assert result.examples[0]["prompt"] == [
        {"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Translate\nchat"}]


def test_llamafactory_dataset_info_errors_name_the_entry(tmp_path):
    (tmp_path / "info.json").write_text(json.dumps({"x": {"file_name": "d.json"}}))
    with pytest.raises(DataError, match="ranking"):
        llamafactory.load_dataset_info(tmp_path / "info.json", "x")
    with pytest.raises(DataError, match="no dataset named 'y'.*x"):
        llamafactory.load_dataset_info(tmp_path / "info.json", "y")


# ---------------------------------------------------------------- trl


def test_trl_explicit_and_implicit_conversational(tmp_path):
    u = {"role": "user", "content": "Hi"}
    a1, a2 = {"role": "assistant", "content": "Hello"}, {"role": "assistant", "content": "Bye"}
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"prompt": [u], "chosen": [a1], "rejected": [a2], "chosen_score": 2.0, "prompt_id": "given"},
        {"chosen": [u, a1, u, a1], "rejected": [u, a1, u, a2]},
        {"chosen": [u, a1], "rejected": [u, a1]},
        {"prompt": [u], "chosen": [a1, a1], "rejected": [a2]},
        {"prompt": [u], "chosen": "Hello", "rejected": [a2]},
    ])
    result = trl.read(path)
    _balanced(result)
    first, second = result.examples
    assert first["prompt_id"] == "given" and first["chosen_score"] == 2.0
    assert second["prompt"] == [u, a1, u] and second["chosen"] == [a1] and second["rejected"] == [a2]
    assert _reasons(result) == ["identical_pair", "bad_completion", "bad_type"]


def test_trl_implicit_strings_never_split_inside_a_string(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
        {"chosen": f"{H}Sky?{A}Blue.", "rejected": f"{H}Sky?{A}Green."},
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
    ])
    result = read_source(path, "trl")
    assert _reasons(result) == ["implicit_string_prompt", "mixed_format"]
    assert result.examples[0]["prompt"] == [{"role": "user", "content": "Sky?"}]


def test_conflicting_ids_and_duplicates(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [
        {"prompt": "a", "chosen": "x", "rejected": "y", "prompt_id": "p1"},
        {"prompt": "b", "chosen": "x", "rejected": "y", "prompt_id": "p1"},
        {"prompt": "a", "chosen": "x", "rejected": "y", "prompt_id": "p1"},
    ])
    result = trl.read(path)
    assert _reasons(result) == ["duplicate_id"]
    assert len(result.examples) == 2 and result.notes["duplicate_rows"] == 1


# ---------------------------------------------------------------- ultrafeedback


def test_ultrafeedback_candidates_judgments_and_best_vs_worst(tmp_path):
    def comp(text, score, model="m"):
        return {"response": text, "overall_score": score, "model": model,
                "annotations": {"helpfulness": {"Rating": "4", "Rationale": "ok"}, "honesty": {"Rating": "N/A"}}}

    path = write_jsonl(tmp_path / "uf.jsonl", [
        {"instruction": "Q1", "source": "evol", "completions": [comp("a", 7.5), comp("b", 9), comp("c", 2)]},
        {"instruction": "Q2", "completions": [comp("a", 5), comp("b", 5)]},
        {"instruction": "Q3", "completions": [comp("a", "N/A"), comp("b", 1)]},
        {"instruction": "Q1", "completions": [comp("z", 1), comp("y", 2)]},
        {"instruction": "Q4", "completions": "not a list"},
    ])
    result = ultrafeedback.read(path)
    _balanced(result)
    assert _reasons(result) == ["no_preference", "too_few_scored", "duplicate_prompt", "bad_type"]
    ex = result.examples[0]
    assert (ex["chosen"][0]["content"], ex["rejected"][0]["content"], ex["margin"]) == ("b", "c", 7.0)
    assert len(result.prompts) == 3 and len(result.candidates) == 7 == len(result.judgments)
    na = [j for j in result.judgments if j["score"] is None]
    assert len(na) == 1 and na[0]["parse_status"] == "invalid_score"
    assert json.loads(result.judgments[0]["aspects"]) == {"helpfulness": 4.0, "honesty": None}
    assert {c["candidate_id"] for c in result.candidates} == {j["candidate_id"] for j in result.judgments}


# ---------------------------------------------------------------- sniffing and unreadable input


def test_sniffer_picks_each_format(tmp_path):
    cases = {
        "hh-rlhf": {"chosen": f"{H}a{A}b", "rejected": f"{H}a{A}c"},
        "llamafactory": {"conversations": [], "chosen": {"from": "gpt", "value": "x"}, "rejected": {}},
        "ultrafeedback": {"instruction": "q", "completions": []},
        "trl": {"prompt": "q", "chosen": "a", "rejected": "b"},
    }
    for fmt, row in cases.items():
        assert sniff(write_jsonl(tmp_path / f"{fmt}.jsonl", [row]))[0] == fmt
    assert sniff(write_jsonl(tmp_path / "alpaca.jsonl", [{"instruction": "q", "chosen": "a", "rejected": "b"}])) == (
        "llamafactory", {"formatting": "alpaca"})


@pytest.mark.parametrize("content, match", [
    (None, "no such file"),
    ("", "empty"),
    ("hello world\nnot json", "no line is valid JSON"),
    ('[{"a": 1},', "not valid JSON"),
])
def test_unreadable_sources_raise_one_data_error(tmp_path, content, match):
    path = tmp_path / "src.json"
    if content is not None:
        path.write_text(content)
    for fmt in ("auto", "trl", "hh-rlhf", "llamafactory", "ultrafeedback"):
        with pytest.raises(DataError, match=match):
            read_source(path, fmt)
    with pytest.raises(DataError, match="unknown format"):
        read_source(path, "alpaca")


def test_ultrafeedback_import_writes_records_for_the_pair_stage(tmp_path):
    import polars as pl

    from prefdata.io.importer import import_dataset
    from prefdata.records import Candidate, Judgment, PromptRecord

    path = write_jsonl(tmp_path / "uf.jsonl", [
        {"prompt": "Q1", "completions": [{"text": "a", "score": 1}, {"text": "b", "score": 3}]},
        {"prompt": "Q2", "completions": [{"text": "a", "score": 2}, {"text": "b", "score": 2}]},
    ])
    stats = import_dataset(path, tmp_path / "out")  # format sniffed
    assert stats["import_format"] == "ultrafeedback" and (stats["kept"], stats["rejected"]) == (1, 1)
    assert (stats["candidates"], stats["judgments"]) == (4, 4)
    for name, model in (("prompts", PromptRecord), ("candidates", Candidate), ("judgments", Judgment)):
        rows = pl.read_parquet(tmp_path / "out" / f"{name}.parquet").to_dicts()
        assert rows and all(model.model_validate(r) for r in rows)
