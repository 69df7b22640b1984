"""`prefdata import`: read a preference dataset in a known format, write a TRL dataset directory.

    from prefdata.io.importer import import_dataset
    stats = import_dataset("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz", "data/hh", format="hh-rlhf")

`IMPORTERS` lists the format classes (an `Importer`: `name`, a docstring, `looks_like`,
`read`); a new format is one module plus one line there, and `prefdata import --help`
lists it. A format of the user's own is `--format my_module:MyFormat`, or an installed
package's `prefdata.importers` entry point (listed by `--help` too). `format="auto"` asks each in turn about the first readable row (a directory is
read as a prefdata/TRL dataset directory). UltraFeedback-style sources also write `prompts.parquet`,
`candidates.parquet` and `judgments.parquet` (PromptRecord / Candidate / Judgment rows)
for the pair stage. Default `test_size` is 0.0: an import keeps every row in `train`
(splitting is a choice, made with --test-size, by prompt, seeded).
"""

from __future__ import annotations

from pathlib import Path

from prefdata.errors import DataError
from prefdata.io.common import Importer, ImportResult
from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
from prefdata.io.hh_rlhf import HHRLHF
from prefdata.io.llamafactory import LlamaFactory
from prefdata.io.rows import read_rows
from prefdata.io.trl import TRL
from prefdata.io.ultrafeedback import UltraFeedback
from prefdata.records import Candidate, Judgment, PromptRecord
from prefdata.plugins import load_block, registered, registered_catalog
from prefdata.registry import catalog
from prefdata.atomic import write_parquet
from prefdata.frames import frame

# Every importer, in sniffing order: a row goes to the first that recognises it, so the
# loosest format (TRL: any row with chosen and rejected) comes last.
IMPORTERS: list[type[Importer]] = [HHRLHF, LlamaFactory, UltraFeedback, TRL]
FORMATS = ("auto", *(importer.name for importer in IMPORTERS))


def format_help() -> str:
    """`name: what it reads` per format, from the importer classes' docstrings (`prefdata import --help`)."""
    formats = [("auto", "sniff the format from the first row (a directory: trl)"), *catalog(IMPORTERS),
               *registered_catalog("importer")]
    return "; ".join(f"{name}: {what.rstrip('.')}" for name, what in formats)


def importer(format: str) -> type[Importer]:
    """The importer class of a format name (built-in, `module:Class` from the current directory or
    PYTHONPATH, or an entry point); DataError listing the names otherwise."""
    found = next((i for i in IMPORTERS if i.name == format), None)
    if found is not None:
        return found
    if ":" not in format and format not in registered("importer"):
        raise DataError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}, name a class of your own "
                        "(--format my_module:MyFormat) or an installed prefdata.importers entry point.")
    try:
        return load_block(format, "importer", Importer, Path.cwd(), FORMATS, config=False)
    except ValueError as e:
        raise DataError(f"--format {format}: {e}") from None


def sniff(path: Path) -> tuple[str, dict]:
    """(format, reader options) guessed from the first readable row."""
    if path.is_dir():
        return next(i.name for i in IMPORTERS if i.reads_directories), {}
    row = next((r.data for r in read_rows(path) if r.data is not None), None)
    if row is None:
        raise DataError(f"{path}: no readable row to detect the format from; pass --format.")
    for candidate in IMPORTERS:
        if candidate.looks_like(row):
            return candidate.name, candidate.sniffed_options(row)
    raise DataError(f"{path}: cannot tell the format from the first row (keys: {', '.join(map(str, row))}); "
                    f"pass --format one of {', '.join(FORMATS[1:])}.")


def read_source(path: str | Path, format: str = "auto", *, dataset_info: str | Path | None = None,
                name: str | None = None) -> ImportResult:
    path = Path(path)
    if format != "auto":
        importer(format)  # an unknown name is an error before the path is looked at
    if not path.exists():
        raise DataError(f"{path}: no such file or directory. Pass the path of the dataset to import.")
    options: dict = {}
    if format == "auto":
        format, options = sniff(path)
    reader = importer(format)
    given = {k: v for k, v in (("dataset_info", dataset_info), ("name", name)) if v}
    if set(given) - set(reader.options):
        takers = " ".join(f"--format {i.name}" for i in IMPORTERS if set(given) <= set(i.options))
        raise DataError(f"--dataset-info/--name apply to {takers} only (format is {format}).")
    if path.is_dir() and not reader.reads_directories:
        raise DataError(f"{path}: is a directory; --format {format} reads a file.")
    return reader.read(path, **options, **given)


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
