"""The books every stage keeps of the rows it drops: a reason and a message per dropped row,
and kept + dropped = input at every stage, filter step, funnel entry and dataset directory.

    from prefdata.ledger import Rejects, check_balance
    rejects = Rejects(stage="pair", source="label/data.parquet")
    rejects.add("tie", "all candidates scored 0.5: no preference", row_id="p1", values={"score": 0.5})
    rejects.frame()                                                      # RejectRecord columns
    check_balance("stage 'pair'", rows_in=120, kept=100, dropped=20)    # passes
    check_balance("filter step 2 (dedup)", 120, 100, 19)                # BalanceError

A balance mismatch means rows were lost or counted twice: a bug in prefdata (or a plugin),
never a user error, so it is an AssertionError with both numbers, not a one-line user message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from prefdata.frames import polars_schema
from prefdata.records import RejectRecord


@dataclass
class StageOutput:
    """What every stage driver returns: its output, the rows it dropped, and its statistics."""

    data: pl.DataFrame | Path  # a Path: a finished parquet file the stage streamed out itself (moved into place)
    rejects: pl.DataFrame
    rows_in: int  # units the stage accounts for (prompts for sample, pairs for filter)
    rows_kept: int | None = None  # defaults to data.height
    stats: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.rows_kept is None:
            self.rows_kept = pl.scan_parquet(self.data).select(pl.len()).collect().item() \
                if isinstance(self.data, Path) else self.data.height

    def frame(self) -> pl.DataFrame:
        """The output as a frame (read back when the stage streamed it to a file)."""
        return pl.read_parquet(self.data) if isinstance(self.data, Path) else self.data



class BalanceError(AssertionError):
    """Rows were lost or counted twice between an input and its kept and dropped parts."""


def funnel_entry(name: str, unit: str, rows_in: int, rows_kept: int, dropped: dict[str, int], **extra) -> dict:
    """One step of a funnel (`prefdata inspect`, the report, the dataset card), its balance checked:
    {name, unit, rows_in, rows_kept, dropped: {reason: rows}} plus `extra` (e.g. the pairs a pair stage made)."""
    check_balance(f"funnel step {name}", rows_in, rows_kept, sum(dropped.values()))
    return {"name": name, "unit": unit, "rows_in": rows_in, "rows_kept": rows_kept, "dropped": dict(dropped), **extra}


def check_balance(what: str, rows_in: int, kept: int, dropped: int) -> None:
    if kept + dropped != rows_in:
        raise BalanceError(f"{what}: kept {kept} + dropped {dropped} != {rows_in} input rows; "
                           "rows were lost or counted twice")


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


def provenance_of(pairs: pl.DataFrame | pl.LazyFrame) -> dict[str, int] | None:
    """Pairs by who decided them (human, judges, both); None for pairs that do not say (imports)."""
    lf = pairs.lazy()
    if "provenance" not in lf.collect_schema():
        return None
    counts = dict(lf.drop_nulls("provenance").group_by("provenance").len().collect().iter_rows())
    return {k: int(counts.get(k, 0)) for k in ("human", "judges", "both")} if counts else None


# How a statistic combines over partitions, declared beside the code that computes it.
SUM, AGREE, RECOMPUTE = "sum", "agree", "recompute"


def combine_stats(parts: list[dict], rules: dict[str, str], recomputed: dict | None = None) -> dict:
    """One stage's statistics over its partitions, each key by its declared rule: `sum` (a count,
    or a dict of counts), `agree` (the same in every partition), `recompute` (taken again over
    all the rows: given in `recomputed`). A key without a rule, or partitions that disagree,
    is a bug in prefdata: an AssertionError naming the key."""
    recomputed = recomputed or {}
    unknown = sorted({k for p in parts for k in p} - set(rules))
    assert not unknown, f"statistics without a combine rule: {unknown}; declare one beside the code"
    out = {}
    for key, rule in rules.items():
        values = [p[key] for p in parts if key in p]
        if rule == RECOMPUTE:
            if key in recomputed:
                out[key] = recomputed[key]
        elif not values:
            continue
        elif rule == SUM:
            keys = dict.fromkeys(k for v in values for k in v) if isinstance(values[0], dict) else None
            out[key] = {k: sum(v.get(k, 0) for v in values) for k in keys} if keys is not None else sum(values)
        elif rule == AGREE:
            assert all(v == values[0] for v in values), f"statistic {key!r} differs between partitions: {values}"
            out[key] = values[0]
        else:
            raise AssertionError(f"statistic {key!r}: unknown combine rule {rule!r}")
    return out
