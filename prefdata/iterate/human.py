"""Humans in the loop: each round spends its share of a human budget where the current policy is least sure.

    iterate:
      human: {budget: 0.2, schedule: front_loaded, select: implicit_margin}
    label: {source: mixed, judges: [...]}
    argilla: {...}                       # the dataset settings (its `dataset` is named per round)

Round t labels its candidates with the judges, then pushes its share of the budget to Argilla
(`prefdata argilla push --budget N --select CRITERION`, dataset `<dataset>-round-<t>`; the
implicit margin is pi_{t-1}'s against the round's reference) and pulls what was answered. With
fewer answers than it asked for, the loop stops and says so: annotate in the UI, rerun the same
command, and the loop continues from there (pushes are idempotent, finished rounds are kept;
a round whose selected prompts all have pulled answers is not sent to the server again).
With every answer in, the round builds with `label.source: mixed` (human rankings on the
answered prompts, the judges elsewhere) and trains. Credentials: ARGILLA_API_URL /
ARGILLA_API_KEY, else the local `prefdata argilla serve`.

Budget: a number of prompts over all rounds, or a share of all the rounds' prompts; schedule
`even` gives every round 1/R of it, `front_loaded` gives round t (R - t + 1) / (1 + ... + R)
(half of a 3-round budget in round 1: Yang et al. 2024 found labels worth most early), a list
gives each round its share. Each round's count is rounded and capped at its prompts.
"""

from __future__ import annotations

from pathlib import Path

from prefdata.errors import PrefdataError


def round_budgets(human, sizes: dict[int, int]) -> dict[int, int]:
    """Human labels (prompts) per round; `sizes`: each round's prompts."""
    rounds = sorted(sizes)
    total = human.budget * sum(sizes.values()) if human.budget < 1 else human.budget
    if isinstance(human.schedule, list):
        shares = human.schedule
    elif human.schedule == "even":
        shares = [1 / len(rounds)] * len(rounds)
    else:
        parts = [len(rounds) - i for i in range(len(rounds))]
        shares = [p / sum(parts) for p in parts]
    return {t: min(sizes[t], round(total * share)) for t, share in zip(rounds, shares)}


class WaitingForHumans(PrefdataError):
    """The round asked for answers that are not in yet: annotate, then rerun."""


def ask_humans(recipe, run_dir: Path, t: int, wanted: int, policy: str, reference: str, seed: int,
               console) -> dict:
    """Push round t's selection (idempotent), pull its answers; raise WaitingForHumans while some
    are missing. Returns the pull report."""
    from prefdata.argilla.client import connect
    from prefdata.argilla.pull import pull
    from prefdata.argilla.push import push
    from prefdata.argilla.settings import ArgillaConfig

    human = recipe.iterate.human
    select = human.first_round_select if human.select == "implicit_margin" and t == 1 else human.select
    dataset = f"{human.dataset}-round-{t}"
    if _answered_here(Path(run_dir), dataset, wanted):  # a finished round rerun: no server needed
        return {"dataset": dataset, "records_kept": wanted}
    base = recipe.argilla.model_dump() if recipe.argilla is not None else {}
    config = ArgillaConfig(**{**base, "dataset": dataset, "budget": wanted, "select": select, "select_seed": seed,
                              "policy": policy, "reference": reference})
    with connect() as client:
        pushed = push(run_dir, client, config, progress=False)
        pulled = pull(run_dir, client, dataset, config.workspace, config.suggestions_from)
    answered = pulled["records_kept"]
    console.print(f"round {t}: {answered} of {pushed['records']} prompts answered by humans in Argilla dataset "
                  f"{dataset!r} (selected by {select})")
    if answered < pushed["records"]:
        raise WaitingForHumans(
            f"round {t} waits for {pushed['records'] - answered} more human answers in Argilla dataset {dataset!r} "
            f"at {pushed['api_url']}: annotate them in the UI, then run the same `prefdata iterate` command again "
            "(finished rounds and stages are kept)")
    return pulled


def _answered_here(run_dir: Path, dataset: str, wanted: int) -> bool:
    """Round t's selection of `wanted` prompts for `dataset` is saved and every one of them has
    pulled answers in RUN_DIR/human/judgments.parquet."""
    import polars as pl

    selection, answers = run_dir / "human" / "selection.parquet", run_dir / "human" / "judgments.parquet"
    if not (selection.is_file() and answers.is_file()):
        return False
    chosen = pl.read_parquet(selection).filter(pl.col("selected") & (pl.col("dataset") == dataset))["prompt_id"]
    answered = set(pl.read_parquet(answers, columns=["prompt_id"])["prompt_id"].to_list())
    return chosen.len() == wanted and set(chosen.to_list()) <= answered
