"""`prefdata export`: a dataset directory -> TRL parquet, JSONL, or LLaMA-Factory files.

    from prefdata.io.export import export_dataset
    export_dataset("data/hh", "out/hh-lf", format="llamafactory", name="hh_harmless")
    # out/hh-lf/train.json + dataset_info.json {"hh_harmless": {"ranking": true, "formatting": "sharegpt", ...}}

- trl: the same directory layout (`train.parquet`, ...), splits kept.
- jsonl: `<split>.jsonl`, one DPOExample per line (messages as {role, content} objects).
- llamafactory: `<split>.json` (a JSON array) plus a `dataset_info.json` entry per split
  (`NAME` for train, `NAME_<split>` for others). Conversational data uses sharegpt ranking
  rows (conversations / chosen / rejected / system, tags from/value/human/gpt/system);
  standard (string) data uses alpaca ranking rows (instruction / chosen / rejected), both
  written by `prefdata.io.llamafactory`, which reads them back -
  LLaMA-Factory applies its chat template to them either way. Prompts whose turns do not
  alternate user/assistant cannot be expressed there (LLaMA-Factory drops them with a
  warning): they go to `rejects.parquet` with reason `not_alternating`.
Provenance columns travel as extra keys (LLaMA-Factory ignores them), so exporting and
importing again gives identical rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from prefdata.errors import DataError
from prefdata.io.dataset_dir import COLUMNS, kind_of, read_dataset_dir, write_dataset_dir
from prefdata.io.llamafactory import alpaca_row, dataset_info_entry, sharegpt_row
from prefdata.atomic import atomic_path, write_parquet, write_text_atomic
from prefdata.ledger import Rejects

EXPORT_FORMATS = ("trl", "llamafactory", "jsonl")


def export_llamafactory(splits: dict[str, pl.DataFrame], out: Path, name: str) -> dict:
    rejects = Rejects(stage="export", source=str(out))
    info, counts = {}, {}
    for split, df in splits.items():
        kind = kind_of(df)
        rows = []
        for i, row in enumerate(df.iter_rows(named=True), start=1):
            converted = sharegpt_row(row) if kind == "conversational" else alpaca_row(row)
            if converted is None:
                roles = [m["role"] for m in row["prompt"]]
                rejects.add("not_alternating", f"{split} row {i}: prompt roles {roles} do not alternate user/assistant "
                            "after an optional system turn; LLaMA-Factory would drop the row", row=i,
                            row_id=row["prompt_id"], field="prompt")
                continue
            rows.append(converted)
        file_name = f"{split}.json"
        write_text_atomic(out / file_name, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
        info[name if split == "train" else f"{name}_{split}"] = dataset_info_entry(file_name, kind)
        counts[split] = len(rows)
    write_text_atomic(out / "dataset_info.json", json.dumps(info, indent=2) + "\n")
    write_parquet(rejects.frame(), out / "rejects.parquet")
    return {"splits": counts, "rejected": len(rejects), "dataset_info_entries": list(info)}


def export_jsonl(splits: dict[str, pl.DataFrame], out: Path) -> dict:
    counts = {}
    for split, df in splits.items():
        with atomic_path(out / f"{split}.jsonl") as tmp, open(tmp, "w") as f:
            for row in df.iter_rows(named=True):
                f.write(json.dumps({c: row[c] for c in COLUMNS}, ensure_ascii=False) + "\n")
        counts[split] = df.height
    return {"splits": counts, "rejected": 0}


def export_dataset(in_dir: str | Path, out_dir: str | Path, *, format: str = "trl", name: str = "prefdata") -> dict:
    """Export the dataset directory `in_dir`; returns counts (also written to out_dir/export.json)."""
    if format not in EXPORT_FORMATS:
        raise DataError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    splits = read_dataset_dir(in_dir)
    out = Path(out_dir)
    if out.resolve() == Path(in_dir).resolve():
        raise DataError(f"{out}: --out must differ from the input directory.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "export.json").unlink(missing_ok=True)  # written last: its presence means the export finished
    if format == "trl":
        labels = [s for s, df in splits.items() for _ in range(df.height)]
        frames = pl.concat(list(splits.values()), how="vertical")
        stats = write_dataset_dir(out, frames, pl.DataFrame(), source=str(in_dir), splits=labels,
                                  title=f"{Path(in_dir).name} (prefdata export)")
        summary = {"splits": stats["splits"], "rejected": 0}
    elif format == "jsonl":
        summary = export_jsonl(splits, out)
    else:
        summary = export_llamafactory(splits, out, name)
    summary = {"format": format, "input": str(in_dir), "input_rows": sum(df.height for df in splits.values()), **summary}
    write_text_atomic(out / "export.json", json.dumps(summary, indent=2) + "\n")
    return summary
