"""The one reader of JSON / JSONL / gzip / parquet sources: line-numbered rows, bad lines as errors.

    from prefdata.io.rows import read_rows, RowProblem
    for src in read_rows("data.jsonl.gz"):      # SourceRow(row=1, data={...}, error=None)
        if src.error:
            reason, message = src.error         # ("bad_json", "data.jsonl.gz: line 3, column 1: ...")

Importers, the prompts stage and the decontamination filter all read files through here.
A source that cannot be read at all (missing file, not JSON, unreadable parquet) raises
`DataError` (the CLI prints one line and exits 2). A single bad line does not: it comes
back as a `SourceRow` with `error` set, and the caller makes it a reject. Row numbers are
1-based: the line of a JSONL file, the line where an element of a JSON array starts, or the
row index of a parquet file. A per-row parser raises `RowProblem` for a row it cannot use.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from prefdata.errors import DataError


class RowProblem(Exception):
    """One unusable input row: `reason` is the reject's code, `field` the column that decided it.

    raise RowProblem("missing_field", "chosen", "missing field 'chosen'")
    """

    def __init__(self, reason: str, field: str | None, message: str):
        super().__init__(message)
        self.reason, self.field, self.message = reason, field, message


@dataclass
class SourceRow:
    row: int  # the line in a JSON/JSONL file, the row index in a parquet file (1-based)
    data: dict | None = None
    error: tuple[str, str] | None = None  # (reason code, message)
    unit: str = "line"
    value: Any = None  # a JSON value that is not an object (eval files may list plain strings)


def read_text(path: str | Path) -> str:
    """The file's text: gzip undone, a UTF-8 BOM dropped; DataError naming the file otherwise."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")  # tolerate a UTF-8 BOM (Windows editors write one)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read the file ({e}). Check that it is a complete JSON/JSONL file.") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}). Convert it to UTF-8 JSON/JSONL.") from None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_array_rows(path: Path, text: str) -> Iterator[SourceRow]:
    decoder = json.JSONDecoder()
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: line {e.lineno}, column {e.colno}: not valid JSON ({e.msg}). A JSON file must hold "
            "one array of objects; for one object per line use JSONL."
        ) from None
    # Walk the array once more to learn the line where each element starts.
    pos = text.index("[") + 1
    for item in data:
        while text[pos] in " \t\r\n,":
            pos += 1
        line = _line_of(text, pos)
        _, pos = decoder.raw_decode(text, pos)
        yield _row_from_value(path, line, item)


def _row_from_value(path: Path, row: int, value: Any) -> SourceRow:
    if isinstance(value, dict):
        return SourceRow(row, data=value)
    return SourceRow(row, error=("bad_row", f"{path}: line {row}: expected a JSON object, got {type(value).__name__}"),
                     value=value)


def _jsonl_rows(path: Path, text: str) -> Iterator[SourceRow]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield SourceRow(line_no, error=("bad_json", f"{path}: line {line_no}, column {e.colno}: not valid JSON ({e.msg})"))
            continue
        yield _row_from_value(path, line_no, value)


def _parquet_rows(path: Path) -> Iterator[SourceRow]:
    import polars as pl

    try:
        df = pl.read_parquet(path)
    except Exception as e:  # polars raises several types for corrupt files
        raise DataError(f"{path}: cannot read parquet ({type(e).__name__}: {e}).") from None
    for i, row in enumerate(df.iter_rows(named=True), start=1):
        yield SourceRow(i, data=row, unit="row")


def _is_jsonl_name(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.gz", ".ndjson"))


def _several_json_values(text: str) -> bool:
    """True for JSONL whose first line happens to be an array (`[..]\n{..}`)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return e.msg == "Extra data"
    return False


def read_rows(path: str | Path) -> list[SourceRow]:
    """Every row of a .json / .jsonl / .json(l).gz / .parquet file, numbered from 1."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file. Pass the path of a JSON, JSONL or parquet file.")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; pass a data file (or use --format trl for a prefdata dataset directory).")
    if path.suffix == ".parquet":
        return list(_parquet_rows(path))
    text = read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: the file is empty.")
    if stripped[0] == "[" and not _is_jsonl_name(path) and not _several_json_values(text):
        return list(_json_array_rows(path, text))
    rows = list(_jsonl_rows(path, text))
    if rows and all(r.error and r.error[0] == "bad_json" for r in rows):
        raise DataError(f"{path}: no line is valid JSON; is this a JSON/JSONL file? ({rows[0].error[1]})")
    return rows
