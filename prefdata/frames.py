"""Records <-> polars frames with a fixed schema per record type.

    from prefdata.frames import frame, polars_schema
    df = frame([PairRecord(...), ...], PairRecord)   # the record's columns, in field order
    polars_schema(CandidateRecord)                    # {"prompt_id": pl.String, ...}

A fixed schema means an empty stage output still has the right columns, and parquet files
from different runs concatenate.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Iterable

import polars as pl
from pydantic import BaseModel

from prefdata.records import Message

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
    return with_all_columns(df, model)  # optional fields no row names become typed nulls


def with_all_columns(df: pl.DataFrame | pl.LazyFrame, model: type[BaseModel]) -> pl.DataFrame | pl.LazyFrame:
    """Optional record columns a producer left out become typed nulls, so stages can rely on them."""
    schema, have = polars_schema(model), df.collect_schema().names()
    missing = [pl.lit(None, dtype=dtype).alias(c) for c, dtype in schema.items() if c not in have]
    return df.with_columns(missing).select([c for c in model.model_fields if c in have or c in schema])


def read_record_file(path: Path, model: type[BaseModel], what: str, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """A parquet file of `model` records made outside the pipeline (e.g. labels pulled from
    Argilla), checked for the required columns, with the optional ones filled in. `lazy`: a
    scan (nothing read but the schema), for files too large to hold."""
    from prefdata.errors import PrefdataError

    try:
        df = pl.scan_parquet(path)
        columns = df.collect_schema().names()
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise PrefdataError(f"{what}{path}: cannot read it as parquet ({e})") from None
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    missing = [c for c in required if c not in columns]
    if missing:
        raise PrefdataError(f"{what}{path}: missing column(s) {missing} of {model.__name__} (has {columns})")
    df = with_all_columns(df, model)
    if lazy:
        return df
    try:
        return df.collect()
    except pl.exceptions.PolarsError as e:  # a damaged row group, a column of another type
        raise PrefdataError(f"{what}{path}: cannot read it as parquet ({e})") from None
