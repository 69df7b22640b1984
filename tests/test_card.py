"""Dataset card: a parseable Hugging Face YAML header and the promised sections.

    python -m pytest -q tests/test_card.py
"""

from __future__ import annotations

import yaml

from prefdata.card import write_card


def _header_and_body(text: str):
    assert text.startswith("---\n")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def test_card_header_sections_extra_and_images(tmp_path):
    stats = {"format": "conversational", "input_rows": 12, "kept": 10, "rejected": 2,
             "rejected_by_reason": {"tie": 2}}
    path = write_card(tmp_path, title="My set", source="unit test", splits={"train": 8, "test": 2},
                      columns={"prompt": "the prompt", "chosen": "good"}, stats=stats,
                      extra_sections=[("Filters", "gap >= 0.5 dropped 2 pairs")], images=["plots/margin.png"])
    header, body = _header_and_body(path.read_text())
    assert header["pretty_name"] == "My set"
    assert header["configs"][0]["data_files"] == [{"split": "train", "path": "train.parquet"},
                                                  {"split": "test", "path": "test.parquet"}]
    assert header["size_categories"] == ["n<1K"]
    for section in ("## Format", "## Columns", "## Counts", "## Source", "## Filters", "## Plots"):
        assert section in body
    assert body.index("## Counts") < body.index("## Filters")
    assert "| `prompt` | the prompt |" in body and "| `tie` | 2 |" in body and "| train | 8 |" in body
    assert "![margin](plots/margin.png)" in body and "conversational" in body


def test_card_makes_datasets_find_the_splits(tmp_path):
    import polars as pl
    from datasets import load_dataset

    for split, n in (("train", 3), ("test", 1)):
        pl.DataFrame({"prompt": ["p"] * n, "chosen": ["a"] * n, "rejected": ["b"] * n}).write_parquet(
            tmp_path / f"{split}.parquet")
    (tmp_path / "rejects.parquet").write_bytes((tmp_path / "test.parquet").read_bytes())  # must be ignored
    write_card(tmp_path, title="t", source="s", splits={"train": 3, "test": 1}, columns={}, stats={"format": "standard"})
    ds = load_dataset(str(tmp_path))  # reads the card's `configs`, not every parquet in the folder
    assert {k: v.num_rows for k, v in ds.items()} == {"train": 3, "test": 1}
