"""Records <-> polars frames, and the rejects ledger every stage writes.

    from prefdata.tables import frame, Rejects
    rejects = Rejects(stage="pair", source="label/data.parquet")
    rejects.add("tie", "all candidates scored 0.5: no preference", row_id="p1", values={"score": 0.5})
    rejects.frame()  # polars DataFrame with RejectRecord columns

Frames built here have a fixed schema per record type, so an empty stage output still has
the right columns and parquet files from different runs concatenate.
"""

from __future__ import annotations

import json
import os
import types
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable

import polars as pl
from pydantic import BaseModel

from prefdata.records import Message, RejectRecord

MESSAGES = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))

_SCALARS = {str: pl.String, int: pl.Int64, float: pl.Float64, bool: pl.Boolean}


def _dtype(annotation: Any) -> pl.DataType:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _dtype(args[0])
        return pl.Object  # str | list[Message]: decided per frame (see DPOExample)
    if origin is typing.Literal:
        return pl.String
    if origin is list and args and args[0] is Message:
        return MESSAGES
    if origin is dict:
        return pl.Object
    return _SCALARS.get(annotation, pl.String)


def polars_schema(model: type[BaseModel]) -> dict[str, pl.DataType]:
    """Column dtypes of a record model; union-typed columns are left out (decided per frame)."""
    schema = {}
    for name, field in model.model_fields.items():
        dtype = _dtype(field.annotation)
        if dtype != pl.Object:
            schema[name] = dtype
    return schema


def frame(rows: Iterable[dict | BaseModel], model: type[BaseModel]) -> pl.DataFrame:
    """A frame with `model`'s columns (in field order) from dicts or records."""
    dicts = [r.model_dump() if isinstance(r, BaseModel) else r for r in rows]
    schema = polars_schema(model)
    if not dicts:
        return pl.DataFrame(schema=schema)
    df = pl.DataFrame(dicts, schema_overrides=schema, infer_schema_length=None)
    return df.select([c for c in model.model_fields if c in df.columns])


REJECT_SCHEMA = polars_schema(RejectRecord)


class Rejects:
    """Collects dropped rows for one stage; every drop has a reason code and a message."""

    def __init__(self, stage: str, source: str | None = None):
        self.stage = stage
        self.source = source
        self.rows: list[dict] = []

    def add(
        self,
        reason: str,
        message: str,
        *,
        row: int | None = None,
        row_id: str | None = None,
        field: str | None = None,
        values: dict | None = None,
        source: str | None = None,
    ) -> None:
        self.rows.append(
            {
                "stage": self.stage,
                "reason": reason,
                "message": message,
                "row": row,
                "row_id": row_id,
                "field": field,
                "values": json.dumps(values, default=str, sort_keys=True) if values else None,
                "source": source or self.source,
            }
        )

    def __len__(self) -> int:
        return len(self.rows)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=REJECT_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def rejects_from(df: pl.DataFrame, *, stage: str, reason: str, message: str,
                 id_column: str, value_columns: list[str] = ()) -> pl.DataFrame:
    """Vectorised rejects for a frame of dropped rows (filters drop many rows at once)."""
    if df.height == 0:
        return empty_rejects()
    values = (
        pl.struct(list(value_columns)).struct.json_encode()
        if value_columns
        else pl.lit(None, dtype=pl.String)
    )
    return df.select(
        pl.lit(stage).alias("stage"),
        pl.lit(reason).alias("reason"),
        pl.lit(message).alias("message"),
        pl.lit(None, dtype=pl.Int64).alias("row"),
        pl.col(id_column).cast(pl.String).alias("row_id"),
        pl.lit(value_columns[0] if value_columns else None, dtype=pl.String).alias("field"),
        values.alias("values"),
        pl.lit(None, dtype=pl.String).alias("source"),
    ).cast(REJECT_SCHEMA)


def reasons(rejects: pl.DataFrame) -> dict[str, int]:
    """Dropped rows by reason code, sorted by count."""
    if rejects.height == 0:
        return {}
    counts = rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    return dict(zip(counts["reason"].to_list(), counts["len"].to_list()))


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write atomically: a crash mid-write never leaves a truncated file behind."""
    with atomic_path(path) as tmp:
        df.write_parquet(tmp)
    return path


@contextmanager
def atomic_path(path: Path):
    """Yield a temp path beside `path`; renamed onto it only when the block finishes.

    The temp name carries the pid, so two processes writing the same file never share a
    temp file (the last rename wins, and each rename is whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_text_if_changed(path: Path, text: str) -> Path:
    """write_text_atomic, skipped when the file already holds `text` (its mtime stays: reruns touch nothing)."""
    if not path.is_file() or path.read_text() != text:
        write_text_atomic(path, text)
    return path


def with_all_columns(df: pl.DataFrame, model: type[BaseModel]) -> pl.DataFrame:
    """Optional record columns a producer left out become typed nulls, so stages can rely on them."""
    schema = polars_schema(model)
    missing = [pl.lit(None, dtype=dtype).alias(c) for c, dtype in schema.items() if c not in df.columns]
    return df.with_columns(missing).select([c for c in model.model_fields if c in df.columns or c in schema])


def read_record_file(path: Path, model: type[BaseModel], what: str) -> pl.DataFrame:
    """A parquet file of `model` records made outside the pipeline (e.g. labels pulled from
    Argilla), checked for the required columns, with the optional ones filled in."""
    from prefdata.errors import PrefdataError

    try:
        df = pl.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise PrefdataError(f"{what}{path}: cannot read it as parquet ({e})") from None
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise PrefdataError(f"{what}{path}: missing column(s) {missing} of {model.__name__} (has {df.columns})")
    return with_all_columns(df, model)
