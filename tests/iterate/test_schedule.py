import polars as pl
import pytest

from prefdata.errors import PrefdataError
from prefdata.iterate.config import EvalSection, IterateSection
from prefdata.iterate.schedule import round_seed, schedule


def _pool(n: int) -> pl.DataFrame:
    return pl.DataFrame({"prompt_id": [f"p{i}" for i in range(n)]})


def _config(**kw) -> IterateSection:
    return IterateSection(eval=EvalSection(holdout=kw.pop("holdout", 10)), **kw)


def _ids(frame: pl.DataFrame) -> set[str]:
    return set(frame["prompt_id"])


def test_split_gives_disjoint_new_prompts_every_round_and_never_the_held_out_ones():
    held, rounds = schedule(_pool(100), _config(rounds=3, prompts_per_round=25), seed=0)
    assert held.height == 10 and [r.height for r in rounds.values()] == [25, 25, 25]
    seen = [_ids(held), *map(_ids, rounds.values())]
    assert sum(len(s) for s in seen) == len(set().union(*seen)) == 85


def test_reuse_gives_every_round_the_same_prompts():
    held, rounds = schedule(_pool(100), _config(rounds=3, prompts="reuse"), seed=0)
    assert _ids(rounds[1]) == _ids(rounds[2]) == _ids(rounds[3])
    assert len(_ids(rounds[1])) == 90 and not _ids(rounds[1]) & _ids(held)


def test_more_rounds_later_keep_the_earlier_rounds_prompts():
    _, two = schedule(_pool(100), _config(rounds=2, prompts_per_round=20), seed=3)
    _, three = schedule(_pool(100), _config(rounds=3, prompts_per_round=20), seed=3)
    assert all(two[t].equals(three[t]) for t in (1, 2))
    _, other_seed = schedule(_pool(100), _config(rounds=2, prompts_per_round=20), seed=4)
    assert not two[1].equals(other_seed[1])


def test_a_pool_too_small_is_refused_with_the_numbers():
    with pytest.raises(PrefdataError, match="has 50 prompts; 3 round.s. of 20 .split. plus 10 held out need 70"):
        schedule(_pool(50), _config(rounds=3, prompts_per_round=20), seed=0)


def test_round_seeds_derive_from_the_recipe_seed():
    assert round_seed(7, 0) == 7
    seeds = [round_seed(7, t) for t in range(1, 5)]
    assert len(set(seeds)) == 4 and seeds == [round_seed(7, t) for t in range(1, 5)]
    assert round_seed(8, 1) != round_seed(7, 1)
