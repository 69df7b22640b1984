"""Acceptance on the real files in ../shared/data: every row accounted for, formats as promised.

    python -m pytest -q tests/io/test_real_data.py
"""

from __future__ import annotations

import json

import polars as pl

from prefdata.io.dataset_dir import read_dataset_dir
from prefdata.records import DPOExample


def test_hh_rlhf_accounts_for_all_2312_rows(hh_import):
    out, stats = hh_import
    assert stats["input_rows"] == 2312
    splits = read_dataset_dir(out)
    rejects = pl.read_parquet(out / "rejects.parquet")
    kept = sum(df.height for df in splits.values())
    assert kept + rejects.height == 2312 == stats["kept"] + stats["rejected"]
    # Measured on the real file: 5 transcripts diverge before the last turn, 4 have an empty final answer.
    assert stats["rejected_by_reason"] == {"prompt_mismatch": 5, "empty_chosen": 4}
    assert rejects["row"].null_count() == 0 and rejects["message"].str.contains("harmless-base-test").all()
    for df in splits.values():
        for row in df.iter_rows(named=True):
            example = DPOExample.model_validate(row)  # explicit prompt, conversational, ends with a user turn
            assert isinstance(example.prompt, list) and example.prompt[-1].role == "user"


def test_llamafactory_demo_keeps_all_300_rows_with_system_prompts(lf_import, llamafactory_dir):
    out, stats = lf_import
    assert (stats["input_rows"], stats["kept"], stats["rejected"]) == (300, 300, 0)
    assert stats["duplicate_rows"] == 5  # exact duplicates in the demo: kept, counted, left to the dedup filter
    rows = read_dataset_dir(out)["train"].to_dicts()
    source = json.loads((llamafactory_dir / "dpo_en_demo.json").read_text())
    with_system = [i for i, r in enumerate(source) if r["conversations"][0]["from"] == "system"]
    assert len(with_system) == 80
    for i in with_system:
        assert rows[i]["prompt"][0] == {"role": "system", "content": source[i]["conversations"][0]["value"]}
        assert rows[i]["prompt"][1:] == [{"role": "user", "content": m["value"]}
                                         if m["from"] == "human" else {"role": "assistant", "content": m["value"]}
                                         for m in source[i]["conversations"][1:]]
    assert all(r["chosen"][0]["content"] == s["chosen"]["value"] for r, s in zip(rows, source))
    for row in rows:
        DPOExample.model_validate(row)


def test_imported_dirs_load_with_datasets(hh_import, lf_import):
    from datasets import load_dataset

    for out, stats in (hh_import, lf_import):
        ds = load_dataset("parquet", data_dir=str(out))
        assert ds["train"].num_rows == stats["splits"]["train"]
        assert ds["train"].column_names == list(DPOExample.model_fields)
        assert set(ds["train"][0]["prompt"][0]) == {"role", "content"}
