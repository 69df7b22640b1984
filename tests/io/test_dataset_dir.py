"""The dataset directory writer/reader other stages build on.

    python -m pytest -q tests/io/test_dataset_dir.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.errors import DataError
from prefdata.io.dataset_dir import assign_splits, examples_frame, read_dataset_dir, write_dataset_dir
from prefdata.ledger import Rejects, empty_rejects


def _rows(n_prompts: int, pairs_per_prompt: int = 3):
    return [{"prompt": f"p{i}", "chosen": f"c{i}{j}", "rejected": f"r{i}{j}", "prompt_id": f"id{i}", "source": "u"}
            for i in range(n_prompts) for j in range(pairs_per_prompt)]


def test_split_is_by_prompt_seeded_and_near_the_requested_size():
    ids = [r["prompt_id"] for r in _rows(100)]
    a, b, c = assign_splits(ids, 0.2, seed=1), assign_splits(ids, 0.2, seed=1), assign_splits(ids, 0.2, seed=2)
    assert a == b and a != c
    assert 55 <= a.count("test") <= 65
    by_prompt = {}
    for pid, split in zip(ids, a):
        by_prompt.setdefault(pid, set()).add(split)
    assert all(len(s) == 1 for s in by_prompt.values())  # no prompt in both splits
    assert assign_splits(ids, 0.0, 0) == ["train"] * len(ids)
    with pytest.raises(DataError, match="test-size"):
        assign_splits(ids, 1.0, 0)


def test_write_then_read_and_stats(tmp_path):
    rejects = Rejects(stage="x")
    rejects.add("tie", "no preference", row=3)
    stats = write_dataset_dir(tmp_path, examples_frame(_rows(10)), rejects.frame(), test_size=0.2, seed=0,
                              source="unit", stats_extra={"note": 1}, card_sections=[("Extra", "body")])
    assert stats["input_rows"] == 31 and stats["kept"] == 30 and stats["rejected_by_reason"] == {"tie": 1}
    assert stats["splits"]["train"] + stats["splits"]["test"] == 30 and stats["note"] == 1
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    splits = read_dataset_dir(tmp_path)
    assert {s: df.height for s, df in splits.items()} == stats["splits"]
    assert "## Extra" in (tmp_path / "README.md").read_text()
    # A rerun without a test split must not leave the old test.parquet behind.
    write_dataset_dir(tmp_path, examples_frame(_rows(10)), empty_rejects(), source="unit")
    assert set(read_dataset_dir(tmp_path)) == {"train"}


def test_bookkeeping_mismatch_is_a_bug_not_silence(tmp_path):
    with pytest.raises(AssertionError, match="rows were lost or counted twice"):
        write_dataset_dir(tmp_path, examples_frame(_rows(2)), empty_rejects(), source="u", input_rows=99)


def test_read_errors_name_missing_columns_and_the_fix(tmp_path):
    with pytest.raises(DataError, match="no such dataset directory"):
        read_dataset_dir(tmp_path / "nope")
    with pytest.raises(DataError, match="no train.parquet.*prefdata import"):
        read_dataset_dir(tmp_path)
    pl.DataFrame({"prompt": ["a"], "answer": ["b"]}).write_parquet(tmp_path / "train.parquet")
    with pytest.raises(DataError, match="incomplete dataset directory.*prefdata import"):
        read_dataset_dir(tmp_path)
    (tmp_path / "DONE").write_text("{}")
    with pytest.raises(DataError, match="missing the columns chosen, rejected, prompt_id.*prefdata import"):
        read_dataset_dir(tmp_path)


def test_a_write_killed_before_the_marker_is_refused(tmp_path):
    """What a kill inside write_dataset_dir leaves (every file but DONE) is never read."""
    write_dataset_dir(tmp_path, examples_frame(_rows(4)), empty_rejects(), source="u")
    assert (tmp_path / "DONE").is_file() and set(read_dataset_dir(tmp_path)) == {"train"}
    (tmp_path / "stats.json").unlink()
    with pytest.raises(DataError, match="stats.json missing or changed"):
        read_dataset_dir(tmp_path)
    (tmp_path / "DONE").unlink()
    with pytest.raises(DataError, match="incomplete dataset directory"):
        read_dataset_dir(tmp_path)
