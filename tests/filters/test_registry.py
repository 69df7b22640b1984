"""A new filter is one class plus one line in `prefdata.filters.FILTERS`; configs name it by `type`.

    python -m pytest -q tests/filters/test_registry.py
"""

from __future__ import annotations

from typing import Literal

import polars as pl
import pytest

from prefdata import filters
from prefdata.config import StrictModel
from prefdata.filters.base import Filter, FilterResult, Rule, split_by_reasons
from prefdata.registry import config_union
from prefdata.partition.filters import filter_partitions
from prefdata.stages.filter import FilterConfig


class ShortChosenConfig(StrictModel):
    type: Literal["short_chosen"] = "short_chosen"
    min_chars: int = 5


class ShortChosenFilter(Filter):
    """Drop pairs whose chosen response is shorter than `min_chars` characters."""

    name, Config = "short_chosen", ShortChosenConfig

    def apply(self, pairs: pl.DataFrame) -> FilterResult:
        rule = Rule("short_chosen", pl.col("chosen").str.len_chars() < self.config.min_chars,
                    f"chosen has fewer than {self.config.min_chars} characters", ["chosen"])
        return split_by_reasons(pairs, [rule])


def test_a_new_filter_registered_with_one_line_runs_in_the_filter_stage(monkeypatch, make_pairs):
    monkeypatch.setattr(filters, "FILTERS", [*filters.FILTERS, ShortChosenFilter])  # the one line

    class Steps(FilterConfig):  # what the filter stage's config is, with the registry as it now is
        steps: list[config_union(filters.FILTERS)]

    config = Steps.model_validate({"steps": [{"type": "quality"}, {"type": "short_chosen", "min_chars": 4}]})
    pairs = make_pairs([{"chosen": "ok"}, {"chosen": "a fine answer"}, {"chosen": "no"}])
    out = filter_partitions(pairs, config)
    assert out.data["pair_id"].to_list() == ["pair1"]
    assert [step["type"] for step in out.stats["funnel"]] == ["quality", "short_chosen"]
    assert out.stats["funnel"][1]["dropped"] == {"short_chosen": 2}
    assert ("short_chosen", "Drop pairs whose chosen response is shorter than `min_chars` characters.") in (
        filters.filter_catalog())


def test_a_config_whose_type_differs_from_the_class_name_is_refused():
    class Misnamed(ShortChosenFilter):
        name = "short"

    with pytest.raises(TypeError, match="make them equal"):
        config_union([*filters.FILTERS, Misnamed])


def test_every_shipped_block_has_a_docstring_for_the_cli():
    from prefdata.io.importer import IMPORTERS, format_help
    from prefdata.judges import JUDGES

    for cls in [*filters.FILTERS, *JUDGES, *IMPORTERS]:
        assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} has no docstring"
    assert all(f"{i.name}: " in format_help() for i in IMPORTERS)

