"""The TRL dataset directory: what `prefdata import` and the export stage write and the trainer reads.

    from prefdata.io.dataset_dir import write_dataset_dir, read_dataset_dir, examples_frame
    stats = write_dataset_dir("data/hh", examples_frame(rows), rejects_df, test_size=0.05, seed=0,
                              source="hh-rlhf harmless-base test")
    splits = read_dataset_dir("data/hh")          # {"train": DataFrame, "test": DataFrame}
    datasets.load_dataset("parquet", data_dir="data/hh")   # loads as-is; TRL trains on it unchanged

Layout: `train.parquet` (+ `test.parquet` when test_size > 0), `rejects.parquet` (one row per
dropped input row), `stats.json` (counts), a dataset card `README.md`, and `DONE`, written
last: readers (`require_complete`) refuse a directory without it, since that is what a
write killed half-way leaves. Example columns are exactly
records.DPOExample's: prompt, chosen, rejected, prompt_id, chosen_score, rejected_score,
margin, source. Conversational columns are lists of {role, content} structs.

The split is by prompt: all pairs of one prompt land in the same split (no train/test
leakage), prompts shuffled with `seed`, the test split filled to ~test_size of the rows.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Iterable

import polars as pl

from prefdata.card import write_card
from prefdata.errors import DataError
from prefdata.faults import crash_point
from prefdata.ledger import check_balance
from prefdata.records import DPOExample
from prefdata.atomic import atomic_path, mark_done, read_done, write_parquet, write_text_atomic
from prefdata.frames import MESSAGES
from prefdata.ledger import REJECT_SCHEMA, reasons

COLUMNS = list(DPOExample.model_fields)
SPLITS = ("train", "test")
MAKE_IT = ("Make one with `prefdata import SOURCE --out DIR` (or the build pipeline's export stage)")
MARKER = "DONE"

COLUMN_DOCS = {
    "prompt": "Prompt: a string (standard) or a list of {role, content} messages ending with a user turn.",
    "chosen": "Preferred response: a string, or a list holding one assistant message.",
    "rejected": "Dispreferred response: a string, or a list holding one assistant message.",
    "prompt_id": "Stable id of the prompt (hash of its normalized messages); all pairs of a prompt share it.",
    "chosen_score": "Score of the chosen response (higher is better), when known.",
    "rejected_score": "Score of the rejected response, when known.",
    "margin": "chosen_score - rejected_score, when known.",
    "source": "Dataset or run the example came from.",
    "provenance": "Who decided the pair: human (annotators), judges, or both (annotators, judges agreeing).",
}


def example_schema(kind: str) -> dict[str, pl.DataType]:
    text = MESSAGES if kind == "conversational" else pl.String
    return {"prompt": text, "chosen": text, "rejected": text, "prompt_id": pl.String,
            "chosen_score": pl.Float64, "rejected_score": pl.Float64, "margin": pl.Float64, "source": pl.String,
            "provenance": pl.String}


def kind_of(df: pl.DataFrame | pl.LazyFrame) -> str:
    return "standard" if df.collect_schema()["prompt"] == pl.String else "conversational"


def examples_frame(rows: Iterable[dict], kind: str | None = None) -> pl.DataFrame:
    """DPOExample-shaped dicts -> a frame with the exact column order and dtypes."""
    rows = list(rows)
    if kind is None:
        kind = "standard" if rows and isinstance(rows[0]["prompt"], str) else "conversational"
    schema = example_schema(kind)
    return pl.DataFrame([{c: r.get(c) for c in COLUMNS} for r in rows], schema=schema)


def assign_splits(prompt_ids: list[str], test_size: float, seed: int) -> list[str]:
    """'train'/'test' per row; whole prompts go to test until ~test_size of the rows are there."""
    if not 0.0 <= test_size < 1.0:
        raise DataError(f"--test-size must be in [0, 1), got {test_size}.")
    if test_size == 0 or len(prompt_ids) < 2:
        return ["train"] * len(prompt_ids)
    counts = Counter(prompt_ids)
    order = sorted(counts)
    random.Random(seed).shuffle(order)
    target = max(1, round(test_size * len(prompt_ids)))
    test, filled = set(), 0
    for pid in order:
        if filled >= target or len(test) == len(order) - 1:  # keep at least one prompt for training
            break
        test.add(pid)
        filled += counts[pid]
    return ["test" if pid in test else "train" for pid in prompt_ids]


def write_dataset_dir(
    out_dir: str | Path,
    examples: pl.DataFrame | pl.LazyFrame,
    rejects: pl.DataFrame,
    *,
    test_size: float = 0.0,
    seed: int = 0,
    source: str,
    splits: list[str] | None = None,
    input_rows: int | None = None,
    title: str | None = None,
    stats_extra: dict | None = None,
    card_sections: Iterable[tuple[str, str]] = (),
    images: Iterable[str] = (),
) -> dict:
    """Write the directory; returns the stats written to stats.json.

    `splits` (one name per row) keeps an existing split instead of drawing one. `input_rows`
    defaults to kept + rejected; a different number is a bookkeeping bug and raises. From a
    LazyFrame (a scan) the splits are streamed into their files: only the prompt ids are held.
    """
    out = Path(out_dir)
    missing = [c for c in COLUMNS if c not in examples.collect_schema()]
    if missing:
        raise DataError(f"examples lack the columns {missing}; expected {COLUMNS}.")
    examples = examples.lazy().select(COLUMNS)
    rejects = rejects.select(list(REJECT_SCHEMA)).cast(REJECT_SCHEMA) if rejects.height else pl.DataFrame(schema=REJECT_SCHEMA)
    prompt_ids = examples.select("prompt_id").collect()["prompt_id"]
    kept, dropped = prompt_ids.len(), rejects.height
    input_rows = kept + dropped if input_rows is None else input_rows
    check_balance(f"dataset directory {out}", input_rows, kept, dropped)
    labels = splits if splits is not None else assign_splits(prompt_ids.to_list(), test_size, seed)
    if len(labels) != kept:
        raise DataError(f"{len(labels)} split names for {kept} examples: give one per example")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).unlink(missing_ok=True)  # from here until the end the directory is incomplete
    # A rerun with other splits must not leave old split files behind (datasets would load them).
    ours = {*SPLITS, *labels, "rejects"}
    for stale in out.glob("*.parquet"):
        if stale.name.split(".")[0].split("-")[0] in ours:
            stale.unlink()
    (out / "stats.json").unlink(missing_ok=True)
    split_counts = {}
    counts = Counter(labels)
    labelled = examples.with_row_index("_row").join(
        pl.LazyFrame({"_split": pl.Series(labels, dtype=pl.String)}).with_row_index("_row"), on="_row",
        how="left", maintain_order="left").drop("_row")
    for name in dict.fromkeys(["train", *labels]):
        if counts[name] or name == "train":
            with atomic_path(out / f"{name}.parquet") as tmp:
                labelled.filter(pl.col("_split") == name).drop("_split").sink_parquet(tmp)
            split_counts[name] = counts[name]
            crash_point(f"dataset_dir:after_{name}")
    write_parquet(rejects, out / "rejects.parquet")
    stats = {
        "source": source,
        "format": kind_of(examples),
        "input_rows": input_rows,
        "kept": kept,
        "rejected": dropped,
        "rejected_by_reason": reasons(rejects),
        "splits": split_counts,
        "test_size": test_size if splits is None else None,
        "seed": seed,
        "prompts": prompt_ids.n_unique(),
        **(stats_extra or {}),
    }
    crash_point("dataset_dir:before_card")
    write_card(out, title=title or f"prefdata DPO dataset from {source}", source=source, splits=split_counts,
               columns=COLUMN_DOCS, stats=stats, extra_sections=list(card_sections), images=list(images))
    write_text_atomic(out / "stats.json", json.dumps(stats, indent=2, default=str) + "\n")
    crash_point("dataset_dir:before_done")
    mark_complete(out, {"splits": split_counts, "rejected": dropped})
    return stats


def mark_complete(directory: Path, summary: dict) -> None:
    """Write the completion marker last; it lists every file with its size, so a file lost or
    rewritten afterwards (e.g. a deleted stats.json) is caught by `require_complete`."""
    d = Path(directory)
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir())
             if p.is_file() and p.name != MARKER and not p.name.startswith(".")}
    mark_done(d / MARKER, {**summary, "files": files})


def require_complete(directory: str | Path) -> None:
    """Refuse a dataset directory whose writer did not finish (no `DONE` marker) or whose
    files changed since (a listed file missing or of another size)."""
    d = Path(directory)
    rebuild = ("Rerun the command that made it (`prefdata build` / `prefdata import`); for parquet "
               f"files from elsewhere run `prefdata import {d} --format trl --out NEW_DIR`.")
    if not (d / MARKER).is_file():
        raise DataError(f"{d}: incomplete dataset directory (no {MARKER} marker; it is written last, so the "
                        f"write was interrupted or another tool made these files). {rebuild}")
    done = read_done(d / MARKER)
    if done is None:
        raise DataError(f"{d / MARKER}: unreadable completion marker. {rebuild}")
    files = done.get("files", {})
    changed = sorted(n for n, size in files.items() if not (d / n).is_file() or (d / n).stat().st_size != size)
    if changed:
        raise DataError(f"{d}: {', '.join(changed)} missing or changed since the directory was written. {rebuild}")


def read_dataset_dir(directory: str | Path) -> dict[str, pl.DataFrame]:
    """{split: frame} of a dataset directory, with a clear error when it is not one."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError(f"{d}: no such dataset directory. {MAKE_IT}.")
    files: dict[str, list[Path]] = {}
    for path in sorted(d.glob("*.parquet")):
        split = path.name.split(".")[0].split("-")[0]
        if split not in ("rejects", "prompts", "candidates", "judgments"):
            files.setdefault(split, []).append(path)
    if "train" not in files:
        raise DataError(f"{d}: no train.parquet here. {MAKE_IT}.")
    require_complete(d)
    out = {}
    for split, paths in files.items():
        try:
            df = pl.concat([pl.read_parquet(p) for p in paths], how="vertical")
        except Exception as e:  # corrupt or mismatched files
            raise DataError(f"{d}: cannot read split {split!r} ({type(e).__name__}: {e}).") from None
        missing = [c for c in ("prompt", "chosen", "rejected", "prompt_id") if c not in df.columns]
        if missing:
            raise DataError(f"{paths[0]}: missing the columns {', '.join(missing)} (has {', '.join(df.columns)}). {MAKE_IT}.")
        for column in COLUMNS:
            if column not in df.columns:  # optional provenance columns
                df = df.with_columns(pl.lit(None, dtype=example_schema(kind_of(df))[column]).alias(column))
        out[split] = df.select(COLUMNS)
    return out
