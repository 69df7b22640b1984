"""Pairing strategies: the built-in names, and the base class of a strategy of the user's own.

    pair:
      strategy: best_vs_worst                                   # a built-in (prefdata/pairing/blocks.py)
      strategy: "my_pairing:LongestLoser"                       # my_pairing.py beside the recipe
      strategy: {type: "my_pairing:LongestLoser", top: 2}       # with options, validated by its Config

A strategy of one's own is a `PairingStrategy` subclass with a `Config` (pydantic model of its
options) and `pairs(values, min_margin, seed)`; an installed package registers one under the
`prefdata.pairing` entry-point group. prefdata keeps only the pairs whose chosen score beats
the rejected one by more than `min_margin`, then assembles them (texts, ids, margin) and
accounts for every prompt left without a pair, as for the built-ins.
"""

from __future__ import annotations

import typing
from typing import Literal

import polars as pl
from pydantic import BaseModel

from prefdata.plugins import plugin_config

Strategy = Literal["best_vs_worst", "best_vs_random_lower", "sweet_spot", "length_matched", "all_pairs", "ranking"]
BUILTIN: tuple[str, ...] = typing.get_args(Strategy)


class PairingStrategy:
    """Pairs from a prompt's labelled candidates.

        class LongestLoser(PairingStrategy):
            '''The best candidate against the longest one scored lower.'''

            class Config(BaseModel):
                pass

            def pairs(self, values, min_margin, seed):
                best = values.sort("value", descending=True).group_by("prompt_id", maintain_order=True).first()
                ...

    `values` has one row per labelled candidate: prompt_id (and annotator when pairing per
    annotator), candidate_id, value (the score, or the rank turned so that higher is better),
    length (characters). Return the same group columns plus chosen_id and rejected_id: the
    scores are taken from the labels, and a pair whose chosen score does not beat the rejected
    one by more than min_margin is dropped. A call sees every candidate of the prompts it gets (large
    runs are paired in partitions of whole prompts), so a strategy may look at a prompt's
    candidates together, never across prompts.
    """

    Config: type[BaseModel]

    def __init__(self, config: BaseModel):
        self.config = config

    def pairs(self, values: pl.DataFrame, min_margin: float, seed: int) -> pl.DataFrame:
        raise NotImplementedError(f"{type(self).__name__} has no pairs()")


StrategyPlugin = plugin_config("pairing", PairingStrategy, builtin=BUILTIN)
