"""`prefdata import`: read a preference dataset in a known format, write a TRL dataset directory.

    from prefdata.io.importer import import_dataset
    stats = import_dataset("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz", "data/hh", format="hh-rlhf")

`format="auto"` sniffs the first readable row (a directory is read as a prefdata/TRL
dataset directory). UltraFeedback-style sources also write `prompts.parquet`,
`candidates.parquet` and `judgments.parquet` (PromptRecord / Candidate / Judgment rows)
for the pair stage. Default `test_size` is 0.0: an import keeps every row in `train`
(splitting is a choice, made with --test-size, by prompt, seeded).
"""

from __future__ import annotations

from pathlib import Path

from prefdata.errors import DataError
from prefdata.io import hh_rlhf, llamafactory, trl, ultrafeedback
from prefdata.io.common import ImportResult, read_rows
from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
from prefdata.records import Candidate, Judgment, PromptRecord
from prefdata.tables import frame, write_parquet

FORMATS = ("auto", "trl", "hh-rlhf", "llamafactory", "ultrafeedback")


def sniff(path: Path) -> tuple[str, dict]:
    """(format, reader options) guessed from the first readable row."""
    if path.is_dir():
        return "trl", {}
    row = next((r.data for r in read_rows(path) if r.data is not None), None)
    if row is None:
        raise DataError(f"{path}: no readable row to detect the format from; pass --format.")
    if hh_rlhf.looks_like(row):
        return "hh-rlhf", {}
    formatting = llamafactory.looks_like(row)
    if formatting:
        return "llamafactory", {"formatting": formatting}
    if ultrafeedback.looks_like(row):
        return "ultrafeedback", {}
    if trl.looks_like(row):
        return "trl", {}
    raise DataError(f"{path}: cannot tell the format from the first row (keys: {', '.join(map(str, row))}); "
                    f"pass --format one of {', '.join(FORMATS[1:])}.")


def read_source(path: str | Path, format: str = "auto", *, dataset_info: str | Path | None = None,
                name: str | None = None) -> ImportResult:
    path = Path(path)
    if format not in FORMATS:
        raise DataError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}.")
    if not path.exists():
        raise DataError(f"{path}: no such file or directory. Pass the path of the dataset to import.")
    options: dict = {}
    if format == "auto":
        format, options = sniff(path)
    if (dataset_info or name) and format != "llamafactory":
        raise DataError(f"--dataset-info/--name apply to --format llamafactory only (format is {format}).")
    if format == "llamafactory":
        return llamafactory.read(path, dataset_info=dataset_info, name=name, **options)
    if path.is_dir() and format != "trl":
        raise DataError(f"{path}: is a directory; --format {format} reads a file.")
    reader = {"trl": trl.read, "hh-rlhf": hh_rlhf.read, "ultrafeedback": ultrafeedback.read}[format]
    return reader(path)


def check_not_all_rejected(result: ImportResult) -> None:
    """Every row rejected almost always means the wrong --format (or --name): one error, no empty dataset."""
    counts: dict[str, int] = {}
    for row in result.rejects.rows:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    first = result.rejects.rows[0]["message"] if result.rejects.rows else ""
    raise DataError(f"{result.source}: all {result.input_rows} rows rejected as {result.format} {counts}; "
                    f"e.g. {first}. Check --format (auto sniffs it) and, for llamafactory, --dataset-info/--name.")


def import_dataset(source: str | Path, out_dir: str | Path, *, format: str = "auto", test_size: float = 0.0,
                   seed: int = 0, dataset_info: str | Path | None = None, name: str | None = None) -> dict:
    """Import `source` into `out_dir`; returns the stats written to stats.json."""
    result = read_source(source, format, dataset_info=dataset_info, name=name)
    if result.input_rows and not result.examples and not result.candidates:
        check_not_all_rejected(result)
    out = Path(out_dir)
    if result.candidates is not None:
        write_parquet(frame(result.prompts, PromptRecord), out / "prompts.parquet")
        write_parquet(frame(result.candidates, Candidate), out / "candidates.parquet")
        write_parquet(frame(result.judgments, Judgment), out / "judgments.parquet")
    extra = {"import_format": result.format, "duplicate_rows": result.notes.get("duplicate_rows", 0)}
    if result.candidates is not None:
        extra.update(candidates=len(result.candidates), judgments=len(result.judgments))
    sections = [("Import", f"Imported with `prefdata import --format {result.format}` from `{source}`. "
                 "Every input row is either in a split or in `rejects.parquet` (kept + rejected = input rows).")]
    return write_dataset_dir(
        out, examples_frame(result.examples), result.rejects.frame(), test_size=test_size, seed=seed,
        source=str(source), splits=result.splits if test_size == 0 else None, input_rows=result.input_rows,
        title=f"{Path(source).name} (imported, {result.format})", stats_extra=extra, card_sections=sections,
    )
