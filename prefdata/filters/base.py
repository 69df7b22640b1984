"""The filter block contract: `apply(pairs) -> FilterResult(kept, rejects, stats)`.

    from prefdata.filters.gap import GapFilter, GapFilterConfig
    result = GapFilter(GapFilterConfig(min_margin=0.5)).apply(pairs)   # PairRecord frame
    result.kept.height + result.rejects.height == pairs.height          # always

Each filter is a small, vectorised block over a PairRecord frame. It returns the rows it
keeps, one RejectRecord row per dropped pair (reason code + the values that decided it) and
a few statistics. `split_by_reasons` does the bookkeeping: the first matching rule decides a
row's reason, so a row is dropped once even when several rules match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import polars as pl
from pydantic import AfterValidator, BaseModel

from prefdata import ledger
from prefdata.filters.phases import SCOPES, Scope, StepScratch
from prefdata.ledger import empty_rejects, rejects_from

STAGE = "filter"
ID_COLUMN = "pair_id"


@dataclass
class Rule:
    """Drop rows where `when` is true with reason `reason`; `values` are the deciding columns."""

    reason: str
    when: pl.Expr
    message: str
    values: list[str] = field(default_factory=list)


def check_balance(result: "FilterResult", rows_in: int, step: int, step_type: str) -> None:
    """Kept + dropped must be the step's input (`step` counts from 1): a bug in that step otherwise."""
    ledger.check_balance(f"filter step {step} ({step_type})", rows_in, result.kept.height, result.rejects.height)


@dataclass
class FilterResult:
    kept: pl.DataFrame
    rejects: pl.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


class Filter(ABC):
    """One filter step; `config.type` names it in recipes and in the stage statistics.

    A subclass sets `name` (the `type:` in recipes), `Config` (a StrictModel with
    `type: Literal[name]`), a docstring whose first line says what it drops, and `apply`;
    one line in `prefdata.filters.FILTERS` registers it (or, from the user's own module,
    `type: my_module:MyFilter` in the recipe). `scope` says what a decision needs, and so
    how the stage runs it over partitions of the pairs (prefdata/filters/phases.py); a filter
    that declares nothing gets all pairs at once.
    """

    name: ClassVar[str] = ""  # a plugin class may leave it out: its recipe `type:` names it
    Config: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel):
        self.config = config

    @property
    def label(self) -> str:
        return self.name or type(self).__name__

    def contract_problem(self) -> str | None:
        """What is wrong with this filter's declared scope and hooks (checked when a recipe names it)."""
        scope = self.scope()
        if scope not in SCOPES:
            return f"scope() returned {scope!r}; expected one of {', '.join(SCOPES)} (prefdata/filters/phases.py)"
        if scope == "columns" and not self.narrow_columns():
            return "scope columns needs narrow_columns(): the columns (with pair_id) its decision reads"
        if scope == "prompt":
            missing = [hook for hook in ("collect", "decide_partitions", "apply_decided")
                       if getattr(type(self), hook) is getattr(Filter, hook)]
            if missing:
                return f"scope prompt needs {', '.join(missing)} (prefdata/filters/phases.py)"
        return None

    @abstractmethod
    def apply(self, pairs: pl.DataFrame) -> FilterResult: ...

    def scope(self) -> Scope:
        """pair | columns | prompt | all: what one decision needs (prefdata/filters/phases.py)."""
        return "all"

    def narrow_columns(self) -> list[pl.Expr] | None:
        """Scope `columns`: the columns of all pairs the decision reads (quantiles, observed
        scales); the partitioned stage runs `apply` once on them, over every pair."""
        return None

    def merge_stats(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """Scope `pair`: the step's statistics from its partitions'. Counts under `dropped` add up; any
        other value must be the same in every partition (a filter whose values differ declares its rule)."""
        merged: dict[str, Any] = {}
        for partition in parts:
            for key, value in partition.items():
                if key == "dropped":
                    totals = merged.setdefault("dropped", {})
                    for reason, n in value.items():
                        totals[reason] = totals.get(reason, 0) + n
                elif key in merged and merged[key] != value:
                    raise FilterContractError(
                        f"filter {self.label!r}: statistic {key!r} differs between partitions ({merged[key]!r} vs "
                        f"{value!r}); override merge_stats to say how partitions combine, or compute it in summarize")
                else:
                    merged.setdefault(key, value)
        return merged

    def values(self, pairs: pl.DataFrame) -> pl.DataFrame | None:
        """Per-pair values to summarize over all pairs before and after this step (`summarize`)."""
        return None

    def summarize(self, before: pl.DataFrame, after: pl.DataFrame) -> dict[str, Any]:
        """Statistics over all pairs from `values` of the step's input and of what it kept."""
        return {}

    # scope `prompt`: collect per partition -> decide_partitions once -> apply_decided per partition
    def collect(self, pairs: pl.DataFrame, partition: int, n_partitions: int, scratch: StepScratch) -> None:
        raise NotImplementedError(f"filter {self.label!r} has scope prompt but no collect()")

    def decide_partitions(self, scratch: StepScratch, n_partitions: int) -> tuple[pl.DataFrame, dict[str, Any]]:
        raise NotImplementedError(f"filter {self.label!r} has scope prompt but no decide_partitions()")

    def apply_decided(self, pairs: pl.DataFrame, decided: pl.DataFrame, stats: dict[str, Any]) -> FilterResult:
        raise NotImplementedError(f"filter {self.label!r} has scope prompt but no apply_decided()")


class FilterContractError(RuntimeError):
    """A filter's declared scope or statistics do not hold up: a bug in that filter."""


def split_by_reasons(df: pl.DataFrame, rules: list[Rule], *, helper_columns: list[str] = ()) -> FilterResult:
    """Kept rows and rejects (in row order); a null rule result counts as false (keep).

    `helper_columns` are computed columns the rules read (and the rejects record); they are
    removed from the kept frame so every filter returns the input's columns. Rejects in row
    order make a filter over consecutive partitions of the pairs give the same ledger as over all.
    """
    if df.height == 0 or not rules:
        return FilterResult(df.drop(helper_columns, strict=False), empty_rejects(), {})
    decide = pl.lit(None, dtype=pl.String)
    for rule in reversed(rules):  # the first rule wins: build the when-chain from the back
        decide = pl.when(rule.when.fill_null(False)).then(pl.lit(rule.reason)).otherwise(decide)
    tagged = df.with_columns(decide.alias("_reason"), pl.int_range(pl.len()).alias("_row"))
    kept = tagged.filter(pl.col("_reason").is_null()).drop(["_reason", "_row", *helper_columns], strict=False)
    parts, dropped = [], {}
    for rule in rules:
        rows = tagged.filter(pl.col("_reason") == rule.reason)
        if rows.height:
            dropped[rule.reason] = rows.height
            parts.append(
                rejects_from(rows, stage=STAGE, reason=rule.reason, message=rule.message,
                             id_column=ID_COLUMN, value_columns=rule.values).with_columns(rows["_row"])
            )
    rejects = pl.concat(parts).sort("_row").drop("_row") if parts else empty_rejects()
    return FilterResult(kept, rejects, {"dropped": dropped})


def normalized_text(expr: pl.Expr) -> pl.Expr:
    """Lowercase, punctuation to spaces, whitespace collapsed: the text that dedup compares."""
    return (
        expr.str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}\s]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def prompt_text(prompt: pl.Expr = pl.col("prompt")) -> pl.Expr:
    """The user turns of the prompt joined, for dedup and decontamination.

    System prompts are left out: one shared system prompt would make every short prompt look
    like a near-duplicate of every other.
    """
    return prompt.list.eval(
        pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content")
    ).list.join("\n")


def unique_prompts(pairs: pl.DataFrame, text: pl.Expr, *keep: str) -> pl.DataFrame:
    """prompt_id, `_text` (and the `keep` columns) of each prompt's first pair, in input order."""
    return (pairs.lazy().select("prompt_id", text.alias("_text"), *keep)
            .unique("prompt_id", keep="first", maintain_order=True).collect())


def last_user_text(prompt: pl.Expr = pl.col("prompt")) -> pl.Expr:
    """Content of the last (user) turn."""
    return prompt.list.last().struct.field("content")


def check_numeric(pairs: pl.DataFrame, columns: list[str]) -> None:
    """Score columns must be numbers: a string score is the user's to convert, with a clear error."""
    from prefdata.errors import DataError

    for column in columns:
        if column in pairs.columns and not (pairs[column].dtype.is_numeric() or pairs[column].dtype == pl.Null):
            raise DataError(
                f"pairs column {column!r} has type {pairs[column].dtype}, expected a number; "
                "convert the scores to floats (e.g. '0.5' -> 0.5) before filtering"
            )


def score_scale(pairs: pl.DataFrame, score_range: tuple[float, float] | None) -> float:
    """The judge's scale: `score_range` when given, else the observed range of all chosen and rejected scores."""
    if score_range is not None:
        low, high = score_range
        return float(high - low)
    scores = pl.concat([pairs["chosen_score"], pairs["rejected_score"]]).drop_nulls()
    scores = scores.filter(scores.is_finite())
    scale = float(scores.max() - scores.min()) if scores.len() else 0.0
    return scale if scale > 0 else 1.0


def _low_below_high(score_range: tuple[float, float]) -> tuple[float, float]:
    if not score_range[0] < score_range[1]:
        raise ValueError(f"score_range must be [low, high] with low < high, got {list(score_range)}")
    return score_range


# A judge's scale, [low, high], in the configs of the filters that normalize margins by it.
ScoreRange = Annotated[tuple[float, float], AfterValidator(_low_below_high)]
