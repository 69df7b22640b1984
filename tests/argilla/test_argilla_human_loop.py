"""Answers stay tied to what the annotator saw: re-sampled candidates, --replace, stale answers, suggestions.

Against the real local server. The story: 3 prompts x 2 candidates are pushed; p0 gets a
submitted ranking, p1 a draft, p2 nothing. Then the run is re-sampled: p0 keeps its candidate
ids with new texts (another seed), p1 gets other candidate ids, p2 new texts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

from prefdata.argilla.pull import pull
from prefdata.argilla.push import push
from prefdata.argilla.settings import ArgillaConfig
from prefdata.errors import PrefdataError
from prefdata.records import Candidate, Judgment
from prefdata.atomic import write_parquet
from prefdata.frames import frame

from conftest import annotator, make_run, ranking, write_stage

pytestmark = pytest.mark.slow


def _resample(run):
    """New sample stage: same ids with new texts for p0 and p2, other candidate ids for p1."""
    ids = {"p0": ["p0:0:0", "p0:0:1"], "p1": ["p1:1:0", "p1:1:1"], "p2": ["p2:0:0", "p2:0:1"]}
    rows = [Candidate(candidate_id=cid, prompt_id=p, text=f"Resampled answer {j} to {p}.", num_tokens=5,
                      finish_reason="stop", model="model-0", backend="imported", sample_index=j)
            for p, cids in ids.items() for j, cid in enumerate(cids)]
    write_stage(run, "sample", frame(rows, Candidate))


def _prefdata(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prefdata.cli", "argilla", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


def test_resampled_candidates_need_replace_and_stale_answers_are_refused(argilla_server, client, tmp_path):
    run = make_run(tmp_path / "run", 3, 2)
    config = ArgillaConfig(dataset="resampled")
    first = push(run, client, config, progress=False)
    records = {r["external_id"]: r for r in client.iter_records(first["dataset_id"])}
    erin = annotator(client, "erin")
    p0, p1 = records["p0"], records["p1"]
    erin.submit_response(p0["id"], {"ranking": ranking(p0["metadata"]["candidate_ids"], ["p0:0:0", "p0:0:1"])})
    erin.submit_response(p1["id"], {"ranking": ranking(p1["metadata"]["candidate_ids"], ["p1:0:1", "p1:0:0"])},
                         status="draft")
    before = {r["external_id"]: r for r in client.iter_records(first["dataset_id"], include="responses")}

    _resample(run)
    # pull before any re-push: erin's answer on p0 judges texts the run no longer has
    stale = pull(run, client, "resampled")
    assert stale["records_kept"] == 0 and stale["judgments"] == 0
    assert stale["dropped"] == {"candidates_changed": 1, "no_submitted_response": 1, "no_response": 1}
    rejects = pl.read_parquet(run / "human" / "rejects.parquet")
    p0_reject = rejects.filter(pl.col("row_id") == "p0").row(0, named=True)
    assert p0_reject["reason"] == "candidates_changed" and "--replace" in p0_reject["message"]
    assert json.loads(p0_reject["values"]) == {"text_changed": ["p0:0:0", "p0:0:1"], "submitted": 1}

    # a plain re-push is refused and changes nothing, not even the unanswered p2
    with pytest.raises(PrefdataError, match=r"2 records that already have answers \(2 responses\)") as e:
        push(run, client, config, progress=False)
    assert "--replace" in str(e.value) and "'p0'" in str(e.value) and "nothing was pushed" in str(e.value)
    after = {r["external_id"]: r for r in client.iter_records(first["dataset_id"], include="responses")}
    assert after == before

    env = {"ARGILLA_API_URL": argilla_server.api_url, "ARGILLA_API_KEY": argilla_server.api_key}
    refused = _prefdata("push", str(run), "--dataset", "resampled", env=env)
    assert refused.returncode == 2 and "--replace" in refused.stderr and "Traceback" not in refused.stderr
    replaced = _prefdata("push", str(run), "--dataset", "resampled", "--replace", env=env)
    assert replaced.returncode == 0, replaced.stderr
    assert "--replace: discarded 2 answers on 2 records whose candidates changed" in replaced.stdout
    report = json.loads((run / "human" / "push.json").read_text())
    assert report["records_changed"] == 3 and report["records_replaced"] == 2 and report["answers_discarded"] == 2
    assert report["records_in_dataset"] == 3

    now = {r["external_id"]: r for r in client.iter_records(first["dataset_id"], include="responses")}
    assert sorted(now) == ["p0", "p1", "p2"] and all(not r["responses"] for r in now.values())
    assert sorted(now["p1"]["metadata"]["candidate_ids"]) == ["p1:1:0", "p1:1:1"]
    assert {now["p0"]["fields"]["response_1"], now["p0"]["fields"]["response_2"]} == {
        "Resampled answer 0 to p0.", "Resampled answer 1 to p0."}
    again = push(run, client, config, progress=False)  # nothing changed since: a no-op
    assert again["records_changed"] == 0 and again["answers_discarded"] == 0

    # answers on the new candidates are used
    rec = now["p1"]
    erin.submit_response(rec["id"], {"ranking": ranking(rec["metadata"]["candidate_ids"], ["p1:1:1", "p1:1:0"])})
    fresh = pull(run, client, "resampled")
    assert fresh["records_kept"] == 1 and fresh["dropped"] == {"no_response": 2}
    scores = dict(pl.read_parquet(run / "human" / "judgments.parquet").select("candidate_id", "score").iter_rows())
    assert scores == {"p1:1:1": 1.0, "p1:1:0": 0.0}


def test_changed_unanswered_records_are_updated_without_replace(client, tmp_path):
    run = make_run(tmp_path / "run", 2, 2)
    config = ArgillaConfig(dataset="resampled-unanswered")
    push(run, client, config, progress=False)
    _resample_texts(run)  # nobody answered yet: the new texts simply replace the old ones
    report = push(run, client, config, progress=False)
    assert report["records_changed"] == 2 and report["records_replaced"] == 0 and report["answers_discarded"] == 0
    texts = {r["fields"]["response_1"] for r in client.iter_records(report["dataset_id"])}
    assert all(t.startswith("New ") for t in texts)


def _resample_texts(run):
    path = run / "stages" / "sample" / "data.parquet"
    df = pl.read_parquet(path)
    write_parquet(df.with_columns(("New " + pl.col("text")).alias("text")), path)


def _labels(run, rows):
    write_stage(run, "label", frame([Judgment(**r) for r in rows], Judgment))


def _suggested_ranks(record) -> dict[str, int]:
    ids = record["metadata"]["candidate_ids"]
    (suggestion,) = record["suggestions"]
    return {ids[int(item["value"].split("_")[1]) - 1]: item["rank"] for item in suggestion["value"]}


def test_suggestions_come_from_judges_never_from_earlier_human_answers(client, tmp_path):
    """Labels as `label.source: argilla` leaves them (two annotators) plus judges: only the judges are suggested."""
    judge = {"p0:0:0": 0.2, "p0:0:1": 0.8}
    run = make_run(tmp_path / "run", 1, 2, judge)
    config = ArgillaConfig(dataset="suggest")
    first = push(run, client, config, progress=False)
    assert first["suggestions_from"] == "rm"
    assert _suggested_ranks(next(client.iter_records(first["dataset_id"]))) == {"p0:0:1": 1, "p0:0:0": 2}

    human = [dict(judgment_id=f"argilla:x:{a}:{c}", prompt_id="p0", candidate_id=c, judge_id="argilla:x",
                  judge_type="human", score=s, annotator=a)
             for a, scores in (("alice", (1.0, 0.0)), ("bob", (0.0, 1.0))) for c, s in zip(judge, scores)]
    _labels(run, human)  # what the label stage holds after an earlier pull: no judge at all
    report = push(run, client, config, progress=False)
    assert report["suggestions_from"] is None and report["suggestions_removed"] == 1
    assert next(client.iter_records(report["dataset_id"]))["suggestions"] == []  # the stale rm suggestion is gone
    with pytest.raises(PrefdataError, match="holds human answers"):
        push(run, client, ArgillaConfig(dataset="suggest", suggestions_from="argilla:x"), progress=False)

    # two judges and their aggregate, next to the human answers: the aggregate is suggested
    judges = [dict(judgment_id=f"{j}:{c}", prompt_id="p0", candidate_id=c, judge_id=j, judge_type=t, score=s)
              for j, t, scores in (("rm", "reward_model", (0.9, 0.1)), ("llm", "llm_pointwise", (0.1, 0.9)),
                                   ("aggregate", "aggregate", (0.3, 0.7)))
              for c, s in zip(judge, scores)]
    _labels(run, human + judges)
    report = push(run, client, config, progress=False)
    assert report["suggestions_from"] == "aggregate"
    record = next(client.iter_records(report["dataset_id"]))
    assert _suggested_ranks(record) == {"p0:0:1": 1, "p0:0:0": 2}
    assert record["suggestions"][0]["agent"] == "aggregate"
    assert {record["metadata"][f"response_{i}_judge_score"] for i in (1, 2)} == {0.3, 0.7}
