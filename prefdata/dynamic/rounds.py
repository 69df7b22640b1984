"""The stages of dynamic sampling's rounds, and the checks of its limits.

    from prefdata.dynamic.rounds import round_stages
    select, sample, label = round_stages(recipe, 1)    # the runner runs them after `label`
"""

from __future__ import annotations

from prefdata.dynamic.select import SelectStage
from prefdata.dynamic.stages import RoundLabelStage, RoundSampleStage
from prefdata.errors import PrefdataError


def max_rounds(recipe) -> int:
    """Rounds after the first that max_per_prompt leaves room for."""
    return recipe.sample.dynamic.max_per_prompt // recipe.sample.per_round - 1


def round_stages(recipe, r: int) -> tuple[SelectStage, RoundSampleStage, RoundLabelStage]:
    return (SelectStage(recipe.sample.dynamic, r, recipe.sample.per_round, recipe.pair),
            RoundSampleStage(recipe.sample, r), RoundLabelStage(recipe.label, r))


def check_budget(recipe, prompts: int, source: str) -> None:
    """A budget smaller than the first round is refused before any model loads."""
    budget, first = recipe.sample.dynamic.budget, prompts * recipe.sample.per_round
    if budget is not None and budget < first:
        raise PrefdataError(
            f"{source}: sample.dynamic.budget {budget} is smaller than the first round: {prompts} prompts x k="
            f"{recipe.sample.k} x {len(recipe.sample.models)} model(s) = {first} candidates; set it to at least "
            f"{first} (more, to leave room for later rounds), or remove sample.dynamic")
