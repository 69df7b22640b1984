"""Which prompts each round sees, and each round's seed.

    held_out, rounds = schedule(pool, recipe.iterate, seed=0)   # pool: the prompts stage's output
    round_seed(0, 2)                                            # the seed of round 2's build and training

The pool (the recipe's prompts, read, checked and deduplicated by the prompts stage) is
shuffled once with the recipe seed. The first `eval.holdout` prompts are held out; `split`
gives round t the t-th block of `prompts_per_round` of the rest (disjoint, new prompts every
round, as RLHFlow's Online-RLHF does), `reuse` gives every round the first block. Running
more rounds later extends the schedule without changing the earlier rounds' prompts when
`prompts_per_round` is set.
"""

from __future__ import annotations

import random

import polars as pl

from prefdata.config import stable_hash
from prefdata.errors import PrefdataError
from prefdata.iterate.config import IterateSection


def round_seed(seed: int, round_index: int) -> int:
    """A seed per round, derived from the recipe seed (round 0 is the recipe seed itself)."""
    if round_index == 0:
        return seed
    return int(stable_hash({"seed": seed, "round": round_index}), 16) % 2**31


def schedule(pool: pl.DataFrame, config: IterateSection, seed: int) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
    """(held-out prompts, {round: prompts}) from the pool; raises when the pool is too small."""
    order = list(range(pool.height))
    random.Random(seed).shuffle(order)
    holdout = config.eval.holdout
    rest = order[holdout:]
    per_round = config.prompts_per_round or (len(rest) // config.rounds if config.prompts == "split" else len(rest))
    needed = holdout + per_round * (config.rounds if config.prompts == "split" else 1)
    if per_round < 1 or needed > pool.height:
        raise PrefdataError(
            f"iterate: the prompt pool has {pool.height} prompts; {config.rounds} round(s) of {per_round} "
            f"({config.prompts}) plus {holdout} held out need {needed}. Lower iterate.prompts_per_round or "
            "eval.holdout, use iterate.prompts: reuse, or add prompts")
    blocks = {}
    for t in range(1, config.rounds + 1):
        start = (t - 1) * per_round if config.prompts == "split" else 0
        blocks[t] = pool[rest[start : start + per_round]]
    return pool[order[:holdout]], blocks
