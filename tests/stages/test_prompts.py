"""The prompts stage: readers, column map, system prompt, dedup, rejects with file/row/field."""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.errors import PrefdataError
from prefdata.records import PromptRecord
from prefdata.stages.base import StageContext
from prefdata.stages.prompts import PromptsConfig, PromptsStage, prompt_id


def run(tmp_path, **config):
    stage = PromptsStage(PromptsConfig(**config))
    out = stage.run({}, StageContext(run_dir=tmp_path, stage_dir=tmp_path))
    assert out.rows_in == out.rows_kept + out.rejects.height  # nothing lost
    return out


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_strings_messages_system_prompt_and_bad_rows(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", [
        {"prompt": "What is 2+2?"},
        {"prompt": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]},
        "{not json",
        {"question": "wrong column"},
        {"prompt": "   "},
        {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        {"prompt": "What is 2+2?  "},  # same prompt after normalisation
        {"prompt": 42},
    ])
    out = run(tmp_path, path=str(src), system_prompt="You are helpful.")
    rows = out.data.to_dicts()
    assert [r["source_row"] for r in rows] == [1, 2]
    assert rows[0]["prompt"] == [
        {"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is 2+2?"}
    ]
    assert rows[1]["prompt"][0]["content"] == "Be terse."  # a row's own system turn wins
    rejects = {r["row"]: r for r in out.rejects.to_dicts()}
    assert {row: r["reason"] for row, r in rejects.items()} == {
        3: "bad_json", 4: "missing_prompt", 5: "empty_prompt", 6: "bad_messages", 7: "duplicate_prompt", 8: "bad_messages",
    }
    assert str(src) in rejects[4]["message"] and rejects[4]["field"] == "prompt"
    assert "must end with a user turn" in rejects[6]["message"]
    assert json.loads(rejects[7]["values"]) == {"first_row": 1}
    for r in rows:
        PromptRecord.model_validate(r)


def test_prompt_id_is_stable_and_normalised():
    a = prompt_id([{"role": "user", "content": "Hello "}])
    assert a == prompt_id([{"role": "user", "content": "Hello"}])
    assert a != prompt_id([{"role": "system", "content": "x"}, {"role": "user", "content": "Hello"}])
    assert a.startswith("p-") and len(a) == 18


def test_limit_stops_after_enough_prompts(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"q{i}"} for i in range(10)])
    out = run(tmp_path, path=str(src), limit=3)
    assert out.data.height == 3 and out.rows_in == 3


def test_parquet_with_column_map(tmp_path):
    src = tmp_path / "p.parquet"
    pl.DataFrame({
        "msgs": [[{"role": "user", "content": "sum 1 2"}], [{"role": "user", "content": "sum 3 4"}]],
        "sys": ["Math tutor.", None], "answer": ["3", "7"], "uid": ["a", "b"],
    }).write_parquet(src)
    out = run(tmp_path, path=str(src), messages_column="msgs", system_column="sys",
              reference_column="answer", id_column="uid", system_prompt="Default.")
    rows = out.data.to_dicts()
    assert [r["prompt"][0]["content"] for r in rows] == ["Math tutor.", "Default."]
    assert [r["reference"] for r in rows] == ["3", "7"]
    assert json.loads(rows[1]["metadata"]) == {"id": "b"}


def test_datasets_save_to_disk_folder(tmp_path):
    import datasets

    folder = tmp_path / "ds"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"prompt": ["x", "y", "x"]})}).save_to_disk(folder)
    out = run(tmp_path, path=str(folder))
    assert out.data.height == 2 and out.rejects["reason"].to_list() == ["duplicate_prompt"]
    assert out.data["source_row"].to_list() == [1, 2]


def test_json_file_of_sharegpt_rows_from_real_llamafactory_data(llamafactory_dir, tmp_path):
    src = llamafactory_dir / "dpo_en_demo.json"
    out = run(tmp_path, path=str(src), messages_column="conversations")
    raw = json.loads(src.read_text())
    assert out.rows_in == len(raw) == 300
    assert out.data.height > 250
    first = out.data.row(0, named=True)
    assert first["prompt"][-1] == {"role": "user", "content": raw[0]["conversations"][-1]["value"]}


def test_hub_id_offline_and_missing_path_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PrefdataError, match="hub is offline"):
        run(tmp_path, path="some-org/some-prompts")
    with pytest.raises(PrefdataError, match="does not exist"):
        run(tmp_path, path=str(tmp_path / "missing.jsonl"))


def test_fingerprint_changes_with_file_content(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a"}])
    before = PromptsStage(PromptsConfig(path=str(src))).fingerprint()
    write_jsonl(src, [{"prompt": "b"}])
    assert PromptsStage(PromptsConfig(path=str(src))).fingerprint() != before


def test_undecodable_bytes_and_gzip_are_read_like_the_importers_do(tmp_path):
    import gzip

    from prefdata.errors import PrefdataError
    from prefdata.stages.prompts import PromptsConfig, PromptsStage

    gz = tmp_path / "p.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write('{"prompt": "one"}\n{"prompt": "two"}\nnot json\n')
    out = PromptsStage(PromptsConfig(path=str(gz))).run({}, StageContext(run_dir=tmp_path, stage_dir=tmp_path))
    assert out.data.height == 2 and out.rejects["reason"].to_list() == ["bad_json"] and out.rejects["row"][0] == 3

    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "caf\xe9"}\n')
    with pytest.raises(PrefdataError, match="latin.jsonl"):
        PromptsStage(PromptsConfig(path=str(latin))).run({}, StageContext(run_dir=tmp_path, stage_dir=tmp_path))


def test_added_instructions_are_seeded_recorded_as_the_reference_and_counted(tmp_path):
    pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")
    from prefdata.instructions import parse_spec, question_of

    src = write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"Where do mice hide, case {i}?"} for i in range(20)])
    config = dict(path=str(src), add_instructions={"n": 2, "ids": ["punctuation:no_comma", "startend:quotation",
                                                                   "detectable_content:postscript"]})
    out = run(tmp_path, **config)
    again = run(tmp_path, **config)
    assert out.data.to_dicts() == again.data.to_dicts()  # seeded by the recipe seed and the prompt
    for row in out.data.to_dicts():
        spec = parse_spec(row["reference"])
        assert len(spec.ids) == 2 and set(spec.ids) <= set(config["add_instructions"]["ids"])
        text = row["prompt"][-1]["content"]
        assert question_of(text, spec).startswith("Where do mice hide") and text != question_of(text, spec)
    assert sum(out.stats["instructions"].values()) == 40


def test_instruction_specs_are_read_from_ifeval_columns_and_bad_ones_rejected_with_row_and_field(tmp_path):
    pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")
    src = write_jsonl(tmp_path / "ifeval.jsonl", [
        {"prompt": "Write a haiku. No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
        {"prompt": "Say hi.", "instruction_id_list": ["nope:unknown"], "kwargs": [{}]},
        {"prompt": "Say bye.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}, {}]},
        {"prompt": "Say nothing."},
    ])
    out = run(tmp_path, path=str(src), reference_kind="instructions")
    assert out.data.height == 1 and json.loads(out.data["reference"][0])["instruction_id_list"] == [
        "punctuation:no_comma"]
    rejects = {r["row"]: r for r in out.rejects.to_dicts()}
    assert {row: (r["reason"], r["field"]) for row, r in rejects.items()} == {
        2: ("bad_instruction_spec", "instruction_id_list"), 3: ("bad_instruction_spec", "kwargs"),
        4: ("bad_instruction_spec", "instruction_id_list")}
    assert str(src) in rejects[2]["message"] and "unknown instruction id 'nope:unknown'" in rejects[2]["message"]


def test_add_instructions_refuses_a_reference_column_at_load(tmp_path):
    pytest.importorskip("if_verifiable", reason="needs IFEval's checkers: pip install 'prefdata[ifeval]'")
    from prefdata.config import validate
    from prefdata.errors import ConfigError

    with pytest.raises(ConfigError, match="add_instructions writes each prompt's reference"):
        validate(PromptsConfig, {"path": "p.jsonl", "reference_column": "answer", "add_instructions": {"n": 1}},
                 "recipe.yaml")
