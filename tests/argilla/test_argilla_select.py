"""A human budget spent where the machines are unsure: the selection criteria, the selection
file, a larger budget that extends (never reshuffles) the order, the refusals, and a budgeted
push to the real local Argilla server.

    python -m pytest -q tests/argilla/test_argilla_select.py
"""

from __future__ import annotations

import polars as pl
import pytest

from prefdata.selection.budget import select
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError
from prefdata.frames import frame
from prefdata.records import Judgment

# imported with the module: at test time `conftest` may name another folder's conftest
from conftest import annotator, make_run, ranking, write_stage

# prompt -> scores of its 3 candidates by judges a and b
SCORES = {
    "p0": ([3.0, 2.9, 0.0], [0.0, 1.0, 2.0]),   # a: tiny margin; a and b disagree on every pair
    "p1": ([5.0, 0.0, 0.0], [5.0, 0.0, 0.0]),   # a: wide margin; they agree
    "p2": ([1.0, 0.5, 0.0], [1.0, 0.0, 0.5]),   # a: middle margin; one pair of three flips
    "p3": ([None, 1.0, None], [1.0, 2.0, 3.0]),  # a: one score only, it cannot rank this prompt
}


def labels(judges=("a", "b"), swap: dict | None = None) -> pl.DataFrame:
    rows = []
    for p, per_judge in SCORES.items():
        for judge, scores in zip(("a", "b"), per_judge):
            if judge not in judges:
                continue
            for j, s in enumerate(scores):
                cid = f"{p}:0:{j}"
                rows.append(Judgment(judgment_id=f"{judge}:{cid}", prompt_id=p, candidate_id=cid, judge_id=judge,
                                     judge_type="programmatic", score=s,
                                     swap_consistent=None if swap is None else swap[p][j]))
    return frame(rows, Judgment)


def order(selection: pl.DataFrame) -> list[str]:
    return selection.sort("rank")["prompt_id"].to_list()


def test_margin_asks_first_where_the_judge_cannot_rank_then_the_smallest_gap(tmp_path):
    got = select(tmp_path, labels(), list(SCORES), "margin", budget=2, score_judge="a")
    assert order(got) == ["p3", "p0", "p2", "p1"]
    assert got.filter("selected")["prompt_id"].to_list() == ["p3", "p0"]
    assert got["value"][1] == pytest.approx(0.1 / pl.Series([3.0, 2.9, 0.0, 5.0, 0.0, 0.0, 1.0, 0.5, 0.0, 1.0]).std())
    on_disk = pl.read_parquet(tmp_path / "human" / "selection.parquet")
    assert on_disk.equals(got)
    assert on_disk.columns == ["prompt_id", "criterion", "value", "rank", "selected", "judge", "seed", "dataset"]


def test_disagreement_asks_first_where_judges_prefer_opposite_answers(tmp_path):
    got = select(tmp_path, labels(), list(SCORES), "disagreement", budget=0.5)
    assert order(got) == ["p3", "p0", "p2", "p1"]  # p3: judge a ranks nothing there, so no pair to compare
    values = dict(zip(got["prompt_id"], got["value"]))
    assert values["p0"] == 1.0 and values["p1"] == 0.0 and values["p2"] == pytest.approx(1 / 3)
    assert got["selected"].sum() == 2


def test_swap_asks_first_where_pairwise_verdicts_flip_with_the_order(tmp_path):
    swap = {"p0": [True, True, True], "p1": [False, False, True], "p2": [True, False, True], "p3": [True] * 3}
    got = select(tmp_path, labels(swap=swap), list(SCORES), "swap", budget=1)
    assert order(got) == ["p1", "p2", "p0", "p3"] and got.filter("selected")["prompt_id"].to_list() == ["p1"]


def test_random_is_seeded_and_a_larger_budget_extends_the_order_without_reshuffling(tmp_path):
    first = select(tmp_path, labels(), list(SCORES), "random", budget=2, seed=7)
    again = select(tmp_path / "other", labels(), list(SCORES), "random", budget=2, seed=7)
    assert order(first) == order(again)
    # the labels change (new judges' scores), but what was ranked keeps its place
    margin1 = select(tmp_path / "m", labels(), list(SCORES)[:3], "margin", budget=1, score_judge="a")
    changed = labels().with_columns(pl.when(pl.col("prompt_id") == "p1").then(0.0).otherwise(pl.col("score"))
                                    .alias("score"))
    margin2 = select(tmp_path / "m", changed, list(SCORES), "margin", budget=3, score_judge="a")
    assert order(margin2)[:3] == order(margin1) and order(margin2)[3] == "p3"  # the new prompt comes after
    assert margin2.filter("selected")["prompt_id"].to_list() == order(margin1)


def test_criteria_without_their_signals_are_refused_with_what_is_missing(tmp_path):
    with pytest.raises(PrefdataError, match="disagreement needs two judges"):
        select(tmp_path, labels(judges=("a",)), list(SCORES), "disagreement", budget=2)
    with pytest.raises(PrefdataError, match="swap needs a pairwise judge"):
        select(tmp_path, labels(), list(SCORES), "swap", budget=2)
    with pytest.raises(PrefdataError, match="no judges' labels"):
        select(tmp_path, None, list(SCORES), "margin", budget=2)
    with pytest.raises(PrefdataError, match="a number of prompts is whole"):
        select(tmp_path, labels(), list(SCORES), "random", budget=2.5)
    assert not (tmp_path / "human" / "selection.parquet").exists()  # nothing written before the refusal


def test_a_budgeted_push_sends_only_the_selection_and_hides_the_criterion(client, tmp_path):
    from prefdata.argilla.push import push
    from prefdata.argilla.settings import dataset_spec

    scores = {f"p{i}:0:{j}": float(j * (i + 1)) for i in range(6) for j in range(3)}  # margin grows with i
    run = make_run(tmp_path / "run", 6, 3, judge_scores=scores)
    config = ArgillaConfig(dataset="budget", budget=2, select="margin")
    report = push(run, client, config, progress=False)
    assert report["records"] == report["records_in_dataset"] == 2
    assert report["selection"] == {"criterion": "margin", "selected": 2, "of": 6, "budget_exceeds_prompts": False}
    ds = report["dataset_id"]
    records = {r["external_id"]: r for r in client.iter_records(ds)}
    assert sorted(records) == ["p0", "p1"]  # the smallest margins
    assert {r["metadata"]["selection_rank"] for r in records.values()} == {1, 2}
    hidden = {m["name"]: m["visible_for_annotators"] for m in dataset_spec(config, 3)["metadata_properties"]}
    assert hidden["selection_rank"] is False and hidden["selection_value"] is False
    # a larger budget adds the next prompts in the same order; a budget above the prompts pushes all
    more = push(run, client, config.model_copy(update={"budget": 4}), progress=False)
    assert more["records_in_dataset"] == 4 and sorted(r["external_id"] for r in client.iter_records(ds)) == \
        ["p0", "p1", "p2", "p3"]
    everything = push(run, client, config.model_copy(update={"budget": 50}), progress=False)
    assert everything["records_in_dataset"] == 6 and everything["selection"]["budget_exceeds_prompts"]


def test_pull_counts_answers_on_prompts_outside_the_selection(client, tmp_path):
    from prefdata.argilla.pull import pull
    from prefdata.argilla.push import push

    run = make_run(tmp_path / "run", 3, 2)
    report = push(run, client, ArgillaConfig(dataset="outside"), progress=False)  # everything, no budget
    ann = annotator(client, "budget-annotator")
    for record in client.iter_records(report["dataset_id"]):
        ids = record["metadata"]["candidate_ids"]
        ann.submit_response(record["id"], {"ranking": ranking(ids, sorted(ids))})
    # a later budgeted selection of one prompt: the other two prompts' answers are outside it
    write_stage(run, "label", frame([Judgment(judgment_id=f"rm:p{i}:0:{j}", prompt_id=f"p{i}",
                                              candidate_id=f"p{i}:0:{j}", judge_id="rm", judge_type="reward_model",
                                              score=float(j * (i + 1))) for i in range(3) for j in range(2)], Judgment))
    select(run, pl.read_parquet(run / "stages" / "label" / "data.parquet"), ["p0", "p1", "p2"], "margin", budget=1,
           dataset="outside")
    pulled = pull(run, client, "outside")
    assert pulled["records_kept"] == 3  # kept
    assert pulled["answers_outside_selection"] == {"prompts": 2, "examples": ["p1", "p2"]}
