"""Export stage: pairs -> TRL dataset directory with card, stats and plots.

    python -m pytest -q tests/stages/test_export.py
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.io.dataset_dir import read_dataset_dir
from prefdata.records import DPOExample, PairRecord
from prefdata.stages.base import StageContext
from prefdata.stages.export import ExportConfig, ExportStage, pairs_to_examples
from prefdata.frames import frame


def make_pairs(n=20):
    rows = []
    for i in range(n):
        prompt = [{"role": "system", "content": "Be brief."}] if i % 2 else []
        prompt.append({"role": "user", "content": f"question {i % 10}?"})  # two pairs per prompt
        rows.append(PairRecord(
            pair_id=f"x{i}", prompt_id=f"p{i % 10}", prompt=prompt, chosen=f"good {i}", rejected=f"bad answer {i}",
            chosen_id=f"c{i}", rejected_id=f"r{i}", chosen_score=1.0 + i, rejected_score=0.5, margin=0.5 + i,
            label_source="rm", strategy="best_vs_worst"))
    return frame(rows, PairRecord)


@pytest.mark.parametrize("kind", ["conversational", "standard"])
def test_examples_validate_as_dpo_examples(kind):
    examples = pairs_to_examples(make_pairs(4), kind, source="t")
    for row in examples.to_dicts():
        example = DPOExample.model_validate(row)
        assert isinstance(example.prompt, list) == (kind == "conversational")
    if kind == "standard":
        assert examples["prompt"].to_list()[:2] == ["question 0?", "system: Be brief.\n\nuser: question 1?"]


def test_export_writes_dataset_card_plots_and_splits(tmp_path):
    pairs = make_pairs()
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path / "stages" / "export", seed=1)
    out = ExportStage(ExportConfig(test_size=0.2)).run({"pairs": pairs}, ctx)
    assert out.rows_in == out.rows_kept == 20 and out.rejects.height == 0
    dataset = tmp_path / "dataset"
    splits = read_dataset_dir(dataset)
    assert splits["train"].height + splits["test"].height == 20 and splits["test"].height > 0
    assert set(splits["train"]["prompt_id"]).isdisjoint(splits["test"]["prompt_id"])  # split by prompt
    stats = json.loads((dataset / "stats.json").read_text())
    assert stats["funnel"][-1] == {"name": "export", "unit": "pairs", "rows_in": 20, "rows_kept": 20, "dropped": {}}
    card = (dataset / "README.md").read_text()
    assert card.startswith("---\n") and "## Funnel" in card and "plots/margin_hist.png" in card
    for name in ("margin_hist", "length_gap_hist", "funnel"):
        assert (dataset / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_export_loads_with_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path / "s", seed=0)
    ExportStage(ExportConfig(plots=False)).run({"pairs": make_pairs(6)}, ctx)
    loaded = datasets.load_dataset("parquet", data_dir=str(tmp_path / "dataset"))
    row = loaded["train"][0]
    assert row["chosen"] == [{"role": "assistant", "content": "good 0"}]
    assert row["prompt"][-1]["role"] == "user"


def test_export_of_zero_pairs(tmp_path):
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path / "s", seed=0)
    empty = pl.DataFrame(schema=make_pairs(1).schema)
    out = ExportStage(ExportConfig()).run({"pairs": empty}, ctx)
    assert out.rows_in == 0 and (tmp_path / "dataset" / "README.md").is_file()


def test_the_dataset_says_who_decided_each_pair(tmp_path):
    from prefdata.report import funnel_table

    pairs = make_pairs(4).with_columns(pl.Series("provenance", ["judges", "human", "both", "judges"]))
    ctx = StageContext(run_dir=tmp_path, stage_dir=tmp_path / "s", seed=0)
    out = ExportStage(ExportConfig(plots=False, test_size=0.0)).run({"pairs": pairs}, ctx)
    train = read_dataset_dir(tmp_path / "dataset")["train"]
    assert sorted(train["provenance"]) == ["both", "human", "judges", "judges"]
    assert out.stats["provenance"] == {"human": 1, "judges": 2, "both": 1}
    assert "Who decided each pair" in (tmp_path / "dataset" / "README.md").read_text()
    table = funnel_table([{"name": "export", "unit": "pairs", "rows_in": 4, "rows_kept": 4, "dropped": {},
                           "provenance": out.stats["provenance"]}])
    assert table.splitlines()[-1].split() == ["decided", "by", "human=1,", "judges=2,", "both=1"]
