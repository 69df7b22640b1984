"""Rating mode: one 1..5 RatingQuestion per response; scores (rating - 1) / 4, judge scores as suggestions."""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.argilla.pull import pull
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig

from conftest import annotator, make_run

pytestmark = pytest.mark.slow


def test_rating_round_trip(client, tmp_path):
    judge = {"p0:0:0": 4.0, "p0:0:1": 2.0, "p0:0:2": 7.5, "p1:0:0": 1.0, "p1:0:1": 5.0, "p1:0:2": 3.0}
    run = make_run(tmp_path, 2, 3, judge)
    config = ArgillaConfig(dataset="rated", question="rating", rating_scale=5, rationale=False)
    report = push(run, client, config, progress=False)
    settings = client.dataset_settings(report["dataset_id"])
    assert [q["name"] for q in settings["questions"]] == ["rating_1", "rating_2", "rating_3"]
    assert [o["value"] for o in settings["questions"][0]["settings"]["options"]] == [1, 2, 3, 4, 5]

    carol = annotator(client, "carol")
    records = {r["external_id"]: r for r in client.iter_records(report["dataset_id"])}
    p0 = records["p0"]
    ids = p0["metadata"]["candidate_ids"]
    suggested = {s["question_id"]: s["value"] for s in p0["suggestions"]}
    by_name = {q["id"]: q["name"] for q in settings["questions"]}
    # 7.5 does not fit the 1..5 scale: no suggestion for that response
    assert {by_name[q]: v for q, v in suggested.items()} == {
        f"rating_{ids.index(c) + 1}": int(judge[c]) for c in ids if judge[c] <= 5}
    # response_3 is optional (only two are required): carol leaves it unrated
    wanted = dict(zip(ids, [5, 1, None]))
    carol.submit_response(p0["id"], {f"rating_{i}": wanted[c] for i, c in enumerate(ids[:2], 1)})

    pulled = pull(run, client, "rated")
    assert pulled["question"] == "rating" and pulled["records_kept"] == 1 and pulled["dropped"] == {"no_response": 1}
    rows = {r["candidate_id"]: r for r in pl.read_parquet(run / "human" / "judgments.parquet").iter_rows(named=True)}
    first, second, third = ids
    assert rows[first]["score"] == 1.0 and rows[first]["rank"] == 1
    assert rows[second]["score"] == 0.0 and rows[second]["rank"] == 2
    assert rows[third]["score"] is None and rows[third]["parse_status"] == "invalid_score"
    assert rows[third]["reason"] == "annotator left response_3 unanswered"
    assert json.loads(rows[first]["raw_output"])["rating"] == 5
    assert pulled["agreement"]["annotators"]["krippendorff_alpha"] is None  # one annotator: no agreement
