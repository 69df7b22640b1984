"""export -> import gives back identical rows, for every export format.

    python -m pytest -q tests/io/test_roundtrip.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.io.dataset_dir import examples_frame, read_dataset_dir, write_dataset_dir
from prefdata.io.export import export_dataset
from prefdata.io.importer import import_dataset
from prefdata.ledger import empty_rejects

S = {"role": "system", "content": "Be kind."}


def _msg(role, text):
    return [{"role": role, "content": text}]


def conversational_rows():
    rows = []
    for i in range(12):
        history = _msg("user", "first") + _msg("assistant", "reply") if i % 4 == 1 else []
        prompt = ([S] if i % 3 == 0 else []) + history + _msg("user", f"q{i} ünïcode ✓")
        rows.append({"prompt": prompt, "chosen": _msg("assistant", f"good {i}\nline 2"),
                     "rejected": _msg("assistant", f"bad {i}"), "prompt_id": f"id{i}",
                     "chosen_score": float(i) if i % 2 else None, "rejected_score": 0.5 if i % 2 else None,
                     "margin": float(i) - 0.5 if i % 2 else None, "source": "unit"})
    return rows


def standard_rows():
    return [{"prompt": f"Q{i}:", "chosen": f" yes {i}", "rejected": f" no {i}", "prompt_id": f"s{i}",
             "chosen_score": 1.0, "rejected_score": 0.0, "margin": 1.0, "source": "unit"} for i in range(6)]


@pytest.fixture(params=["conversational", "standard"])
def dataset_dir(request, tmp_path):
    rows = conversational_rows() if request.param == "conversational" else standard_rows()
    out = tmp_path / "ds"
    write_dataset_dir(out, examples_frame(rows), empty_rejects(), test_size=0.3, seed=1, source="unit")
    return out, request.param


def _canonical(splits: dict[str, pl.DataFrame]) -> dict[str, list]:
    return {s: sorted(df.to_dicts(), key=json.dumps) for s, df in splits.items()}


@pytest.mark.parametrize("fmt", ["trl", "jsonl"])
def test_trl_and_jsonl_round_trip(dataset_dir, fmt, tmp_path):
    src, _ = dataset_dir
    export_dataset(src, tmp_path / "exp", format=fmt)
    import_dataset(tmp_path / "exp", tmp_path / "back", format="trl")
    assert _canonical(read_dataset_dir(tmp_path / "back")) == _canonical(read_dataset_dir(src))
    assert set(read_dataset_dir(src)) == {"train", "test"}


def test_llamafactory_round_trip(dataset_dir, tmp_path):
    src, kind = dataset_dir
    summary = export_dataset(src, tmp_path / "lf", format="llamafactory", name="mine")
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert set(info) == {"mine", "mine_test"} and info["mine"]["ranking"] is True
    assert info["mine"]["formatting"] == ("sharegpt" if kind == "conversational" else "alpaca")
    assert summary["rejected"] == 0
    original = read_dataset_dir(src)
    for split, entry in (("train", "mine"), ("test", "mine_test")):
        out = tmp_path / f"back-{split}"
        import_dataset(tmp_path / "lf" / f"{split}.json", out, format="llamafactory",
                       dataset_info=tmp_path / "lf" / "dataset_info.json", name=entry)
        back = read_dataset_dir(out)["train"]
        if kind == "conversational":
            assert _canonical({"x": back}) == _canonical({"x": original[split]})
        else:  # LLaMA-Factory's alpaca rows are user turns: the text survives, the shape becomes conversational
            assert [r["prompt"][-1]["content"] for r in back.to_dicts()] == original[split]["prompt"].to_list()
            assert [r["chosen"][0]["content"] for r in back.to_dicts()] == original[split]["chosen"].to_list()


def test_llamafactory_export_rejects_non_alternating_prompts(tmp_path):
    rows = conversational_rows()[:2]
    rows[1]["prompt"] = _msg("user", "a") + _msg("assistant", "b") + _msg("assistant", "c") + _msg("user", "d")
    write_dataset_dir(tmp_path / "ds", examples_frame(rows), empty_rejects(), source="unit")
    summary = export_dataset(tmp_path / "ds", tmp_path / "lf", format="llamafactory")
    assert summary["splits"] == {"train": 1} and summary["rejected"] == 1
    rejects = pl.read_parquet(tmp_path / "lf" / "rejects.parquet")
    assert rejects["reason"].to_list() == ["not_alternating"] and rejects["row_id"].to_list() == ["id1"]
