"""Push -> two annotators answer through the API -> pull, against the real local server.

Hand-computed expectations (ranking, 2 candidates per prompt, prompts p0..p3 answered by both):
alice ranks candidate :0 first everywhere; bob too, except on p3. Items = 8 (prompt, candidate)
ranks: alice [1,2]x4, bob [1,2,1,2,1,2,2,1].
  Cohen's kappa: p_o = 6/8, p_e = .5*.5 + .5*.5 = .5 -> (0.75 - 0.5) / 0.5 = 0.5
  Krippendorff's alpha (2 values, so ordinal == nominal): coincidences o11 = o22 = 6,
  o12 = o21 = 2, n = 16 -> D_o = 4/16, D_e = 2*8*8/(16*15) = 8/15 -> 1 - (1/4)/(8/15) = 0.53125
Judge "rm" prefers :0 on p0..p3; humans agree on p0..p2 and tie on p3. Derived pairs (both
orientations): p_o = 6/8, p_e = .5*.375 + .5*.375 = .375 -> kappa = .375/.625 = 0.6;
pair agreement 3/4; top-1 agreement 3/3 (p3 has no single human best).
"""

from __future__ import annotations

import json

import polars as pl
import pytest

from prefdata.argilla.push import push
from prefdata.argilla.pull import pull
from prefdata.argilla.settings import ArgillaConfig

from conftest import annotator, make_run, ranking

pytestmark = pytest.mark.slow

JUDGE = {f"p{i}:0:{j}": (0.9 if j == 0 else 0.1) for i in range(6) for j in range(2)}


@pytest.fixture(scope="module")
def annotated_run(argilla_server, tmp_path_factory):
    """A pushed, annotated and pulled ranking round (shared by the tests of this module)."""
    from prefdata.argilla.client import ArgillaClient

    client = ArgillaClient(argilla_server.api_url, argilla_server.api_key)
    run = make_run(tmp_path_factory.mktemp("run"), 6, 2, JUDGE)
    config = ArgillaConfig(dataset="roundtrip", min_submitted=2)
    first = push(run, client, config, progress=False)
    again = push(run, client, config, progress=False)  # idempotent: same 6 records
    records = {r["external_id"]: r for r in client.iter_records(first["dataset_id"])}
    alice, bob = annotator(client, "alice"), annotator(client, "bob")
    for i in range(4):
        rec = records[f"p{i}"]
        ids = rec["metadata"]["candidate_ids"]
        alice.submit_response(rec["id"], {"ranking": ranking(ids, [f"p{i}:0:0", f"p{i}:0:1"]),
                                          "rationale": "the first is clearer"})
        bob_best = [f"p{i}:0:1", f"p{i}:0:0"] if i == 3 else [f"p{i}:0:0", f"p{i}:0:1"]
        bob.submit_response(rec["id"], {"ranking": ranking(ids, bob_best)})
    p4 = records["p4"]
    alice.submit_response(p4["id"], {"ranking": ranking(p4["metadata"]["candidate_ids"], ["p4:0:0", "p4:0:1"])},
                          status="draft")
    bob.submit_response(p4["id"], {}, status="discarded")
    after_answers = push(run, client, config, progress=False)  # a re-push keeps the answers
    report = pull(run, client, "roundtrip")
    return {"run": run, "client": client, "push": [first, again, after_answers], "records": records,
            "pull": report, "annotators": (alice, bob)}


def test_push_is_idempotent_and_complete(annotated_run):
    pushes = annotated_run["push"]
    assert [p["records_in_dataset"] for p in pushes] == [6, 6, 6]
    assert pushes[0]["records"] == 6 and pushes[0]["candidates"] == 12 and pushes[0]["suggestions_from"] == "rm"
    records = annotated_run["records"]
    assert sorted(records) == [f"p{i}" for i in range(6)]
    rec = records["p0"]
    ids = rec["metadata"]["candidate_ids"]
    assert sorted(ids) == ["p0:0:0", "p0:0:1"]
    for i, cid in enumerate(ids, start=1):
        assert rec["fields"][f"response_{i}"] == f"Answer {cid[-1]} to question 0."
        assert rec["metadata"][f"response_{i}_judge_score"] == JUDGE[cid]
        assert rec["metadata"][f"response_{i}_model"] == f"model-{cid[-1]}"
    (suggestion,) = rec["suggestions"]
    assert suggestion["agent"] == "rm"
    ranks = {item["value"]: item["rank"] for item in suggestion["value"]}
    assert ranks[f"response_{ids.index('p0:0:0') + 1}"] == 1 and ranks[f"response_{ids.index('p0:0:1') + 1}"] == 2
    assert (annotated_run["run"] / "human" / "push.json").is_file()


def test_pull_counts_every_record_and_status(annotated_run):
    report = annotated_run["pull"]
    assert report["records"] == 6 and report["records_kept"] == 4
    assert report["dropped"] == {"no_submitted_response": 1, "no_response": 1}
    assert report["response_statuses"] == {"submitted": 8, "draft": 1, "discarded": 1}
    assert report["annotators"] == ["alice", "bob"]
    rejects = pl.read_parquet(annotated_run["run"] / "human" / "rejects.parquet")
    assert dict(zip(rejects["row_id"], rejects["reason"])) == {"p4": "no_submitted_response", "p5": "no_response"}
    assert json.loads(rejects.filter(pl.col("row_id") == "p4")["values"][0]) == {"draft": 1, "discarded": 1}


def test_judgments_carry_annotators_ranks_and_scores(annotated_run):
    run = annotated_run["run"]
    judgments = pl.read_parquet(run / "human" / "judgments.parquet")
    assert judgments.height == 16 and set(judgments["judge_type"]) == {"human"}
    assert set(judgments["judge_id"]) == {"argilla:roundtrip"} and set(judgments["annotator"]) == {"alice", "bob"}
    by = {(r["annotator"], r["candidate_id"]): r for r in judgments.iter_rows(named=True)}
    assert by[("alice", "p3:0:0")]["rank"] == 1 and by[("alice", "p3:0:0")]["score"] == 1.0
    assert by[("bob", "p3:0:0")]["rank"] == 2 and by[("bob", "p3:0:0")]["score"] == 0.0
    assert json.loads(by[("alice", "p0:0:1")]["raw_output"])["rationale"] == "the first is clearer"
    consensus = pl.read_parquet(run / "human" / "consensus.parquet")
    means = dict(zip(consensus["candidate_id"], consensus["score"]))
    assert means == {**{f"p{i}:0:0": 1.0 for i in range(3)}, **{f"p{i}:0:1": 0.0 for i in range(3)},
                     "p3:0:0": 0.5, "p3:0:1": 0.5}
    assert dict(zip(consensus["candidate_id"], consensus["rank"]))["p3:0:1"] == 1  # a tie shares rank 1


def test_agreement_matches_hand_computed_values(annotated_run):
    agreement = annotated_run["pull"]["agreement"]
    humans = agreement["annotators"]
    assert humans["n_items"] == 8 and humans["n_items_multi_annotated"] == 8
    assert humans["krippendorff_alpha"] == pytest.approx(0.53125)
    assert humans["pairwise"]["alice|bob"] == {"n_items": 8, "agreement": 0.75, "cohen_kappa": 0.5}
    judge = agreement["judge_vs_human"]
    assert judge["judge_id"] == "rm" and judge["n_pairs"] == 4
    assert judge["pair_agreement"] == pytest.approx(0.75)
    assert judge["cohen_kappa"] == pytest.approx(0.6)
    assert judge["top1_agreement"] == 1.0
    saved = json.loads((annotated_run["run"] / "human" / "agreement.json").read_text())
    assert saved == agreement


def test_pair_stage_consumes_human_judgments(annotated_run):
    from prefdata.stages.pair import PairConfig, build_pairs

    run = annotated_run["run"]
    prompts = pl.read_parquet(run / "stages" / "prompts" / "data.parquet")
    candidates = pl.read_parquet(run / "stages" / "sample" / "data.parquet")
    judgments = pl.read_parquet(run / "human" / "judgments.parquet")
    pairs, rejects, _, stats = build_pairs(prompts, candidates, judgments, PairConfig(), seed=0)
    assert stats["label_source"] == "argilla:roundtrip"
    assert sorted(zip(pairs["chosen_id"], pairs["rejected_id"])) == [(f"p{i}:0:0", f"p{i}:0:1") for i in range(3)]
    assert pairs["agreement"].to_list() == [1.0, 1.0, 1.0]  # both annotators prefer every chosen side
    assert dict(zip(rejects["row_id"], rejects["reason"]))["p3"] == "tie"
    assert pairs.height + rejects.height == prompts.height


def test_search_engine_serves_the_ui_queries(annotated_run, client):
    """The endpoints the web UI uses go through the SQLite search engine."""
    ds = annotated_run["pull"]["dataset_id"]
    found = client.post(f"/api/v1/me/datasets/{ds}/records/search", {"query": {"text": {"q": "question 2"}}})
    assert [item["record"]["external_id"] for item in found["items"]] == ["p2"]
    alice = annotated_run["annotators"][0]
    submitted = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                      "values": ["submitted"]}]}}
    assert alice.post(f"/api/v1/me/datasets/{ds}/records/search", submitted)["total"] == 4
    pending = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                    "values": ["pending"]}]}}
    assert alice.post(f"/api/v1/me/datasets/{ds}/records/search", pending)["total"] == 1  # p5 (p4 is a draft)
    progress = client.progress(ds)
    assert progress["total"] == 6 and progress["completed"] == 4  # min_submitted=2 reached on p0..p3

    search = f"/api/v1/me/datasets/{ds}/records/search"
    chars = {"entity": "metadata", "metadata_property": "prompt_chars"}  # "Question number N: why?" = 23
    assert client.post(search, {"filters": {"and": [{"type": "range", "scope": chars, "ge": 23, "le": 23}]}})["total"] == 6
    agent = {"entity": "suggestion", "question": "ranking", "property": "agent"}
    assert client.post(search, {"filters": {"and": [{"type": "terms", "scope": agent, "values": ["rm"]}]}})["total"] == 6
    by_id = client.post(search, {"sort": [{"scope": {"entity": "record", "property": "external_id"}, "order": "desc"}]})
    assert [i["record"]["external_id"] for i in by_id["items"]] == [f"p{i}" for i in reversed(range(6))]
    props = {m["name"]: m["id"] for m in client.dataset_settings(ds)["metadata_properties"]}
    assert client.get(f"/api/v1/metadata-properties/{props['prompt_chars']}/metrics") == {
        "type": "integer", "min": 23, "max": 23}
    models = client.get(f"/api/v1/metadata-properties/{props['response_1_model']}/metrics")
    assert models["type"] == "terms" and models["total"] == 6  # response_1 is model-0 or model-1 (shuffled)
    assert {v["term"] for v in models["values"]} <= {"model-0", "model-1"}
    assert sum(v["count"] for v in models["values"]) == 6
