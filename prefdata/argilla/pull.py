"""Pull submitted annotations from Argilla back into the run as Judgment records.

    prefdata argilla pull runs/hh --dataset hh-round-1

    from prefdata.argilla.pull import pull
    report = pull("runs/hh", client, dataset="hh-round-1")

Writes, under RUN_DIR/human/:
  judgments.parquet    one Judgment per annotator and candidate (judge_type "human", judge_id
                       "argilla:<dataset>", `annotator` = the Argilla username, `rank` within
                       that annotator's answer, raw answer + rationale in raw_output). The label
                       stage reads this file like any judge's labels; the pair stage averages
                       annotators (`annotators: aggregate`) or pairs per annotator.
  consensus.parquet    one Judgment per candidate: the annotators' mean score and its rank in
                       the prompt (judge_type "aggregate", judge_id "argilla:<dataset>:mean").
  rejects.parquet      records not used, with reason codes (no_submitted_response, ...):
                       records in the dataset = records kept + rejects. `candidates_changed`:
                       the record shows candidates (ids or texts) that are not the run's
                       current ones for its prompt (re-sampled after the push), so its answers
                       are about texts the run no longer has; they are never used.
  agreement.json       Krippendorff's alpha + pairwise Cohen's kappa between annotators, and
                       judge-vs-human agreement when the run has label-stage judgments.
  pull.json            counts: response statuses (draft and discarded are counted, not used).

Scores are in [0, 1], higher is better: ranking -> (n - rank) / (n - 1) over the n candidates
of the prompt; rating -> (rating - 1) / (scale - 1). Ranks are read from the raw API (the SDK
loses their order).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

from prefdata.argilla.agreement import annotator_agreement, judge_vs_human
from prefdata.argilla.client import ArgillaApiError, ArgillaClient
from prefdata.argilla.push import CANDIDATE_IDS, judge_scores, read_stage
from prefdata.argilla.settings import rating_question, response_field
from prefdata.errors import PrefdataError
from prefdata.labelling.combine import ranks_within_groups
from prefdata.records import Judgment
from prefdata.rundir import RunDir
from prefdata.atomic import write_parquet
from prefdata.frames import frame
from prefdata.ledger import Rejects


def competition_ranks(values: list[float], higher_is_better: bool) -> list[int]:
    """1 + the number of strictly better values (ties share the best rank)."""
    sign = 1 if higher_is_better else -1
    return [1 + sum(sign * w > sign * v for w in values) for v in values]


def read_answer(response: dict, question: dict, n: int) -> tuple[list[float | None], str | None]:
    """Per-candidate raw values (rank or rating) of one response, and its rationale."""
    values = response.get("values") or {}
    rationale = (values.get("rationale") or {}).get("value")
    if question["kind"] == "ranking":
        ranking = (values.get("ranking") or {}).get("value") or []
        by_option = {item["value"]: item["rank"] for item in ranking}
        raw = [by_option.get(response_field(i)) for i in range(1, n + 1)]
        # Options beyond this prompt's candidates were empty fields: re-rank the present ones.
        present = [r for r in raw if r is not None]
        return [None if r is None else float(competition_ranks(present, False)[present.index(r)]) for r in raw], rationale
    return [(values.get(rating_question(i)) or {}).get("value") for i in range(1, n + 1)], rationale


def to_score(raw: float | None, ranks_or_ratings: list[float | None], question: dict) -> float | None:
    if raw is None:
        return None
    if question["kind"] == "ranking":
        n = sum(v is not None for v in ranks_or_ratings)
        return 1.0 if n < 2 else (n - raw) / (n - 1)
    return (raw - 1) / (question["scale"] - 1)


def question_kind(settings: dict) -> dict:
    by_name = {q["name"]: q for q in settings["questions"]}
    if "ranking" in by_name and by_name["ranking"]["settings"]["type"] == "ranking":
        return {"kind": "ranking"}
    ratings = [q for q in settings["questions"] if q["settings"]["type"] == "rating"]
    if ratings:
        return {"kind": "rating", "scale": max(o["value"] for o in ratings[0]["settings"]["options"])}
    raise PrefdataError(
        f"dataset {settings['dataset']['name']!r} has neither a 'ranking' question nor rating questions: "
        "was it created by `prefdata argilla push`?"
    )


def pull(run_dir: str | Path, client: ArgillaClient, dataset: str, workspace: str = "argilla",
         suggestions_from: str | None = None) -> dict:
    run_dir = Path(run_dir)
    ds = client.find_dataset(dataset, client.workspace_id(workspace))
    if ds is None:
        raise PrefdataError(f"no dataset {dataset!r} in workspace {workspace!r} on {client.api_url}; push it first")
    settings = client.dataset_settings(ds["id"])
    question = question_kind(settings)
    current = current_candidates(read_stage(run_dir, "sample", needed_by="pull"))
    usernames = _usernames(client)
    judge_id = f"argilla:{dataset}"
    rejects = Rejects(stage="argilla_pull", source=f"{client.api_url} dataset {dataset}")
    statuses, annotations, n_records = Counter(), [], 0
    for row_no, record in enumerate(client.iter_records(ds["id"], include="responses"), start=1):
        n_records += 1
        responses = record.get("responses") or []
        statuses.update(r["status"] for r in responses)
        candidate_ids = (record.get("metadata") or {}).get(CANDIDATE_IDS)
        submitted = [r for r in responses if r["status"] == "submitted"]
        reason = _reject_reason(candidate_ids, responses, submitted)
        if reason:
            counts = Counter(r["status"] for r in responses)
            rejects.add(reason[0], reason[1], row=row_no, row_id=record.get("external_id") or record["id"],
                        field="responses", values=dict(counts))
            continue
        stale = stale_candidates(record, candidate_ids, current)
        if stale:
            rejects.add("candidates_changed", "the record shows candidates that are not the run's current ones for "
                        "this prompt (re-sampled after the push?): its answers judge texts the run no longer has. "
                        "Re-push with `prefdata argilla push RUN_DIR --replace` and annotate it again",
                        row=row_no, row_id=record.get("external_id") or record["id"], field=CANDIDATE_IDS,
                        values={**stale, "submitted": len(submitted)})
            continue
        for response in submitted:
            annotations += _annotation_rows(record, response, candidate_ids, question, judge_id,
                                            usernames.get(response["user_id"], response["user_id"]))
    aggregated = aggregate(annotations, f"{judge_id}:mean")
    kept = n_records - len(rejects)
    assert kept + len(rejects) == n_records
    agreement = {"annotators": _agreement(annotations),
                 "judge_vs_human": _judge_vs_human(run_dir, aggregated, suggestions_from)}
    out = RunDir(run_dir).human
    # Through the model: validates every row and fills all Judgment columns.
    write_parquet(frame([Judgment(**r) for r in annotations], Judgment), out / "judgments.parquet")
    write_parquet(frame([Judgment(**r) for r in aggregated], Judgment), out / "consensus.parquet")
    write_parquet(rejects.frame(), out / "rejects.parquet")
    (out / "agreement.json").write_text(json.dumps(agreement, indent=2))
    report = {
        "dataset": dataset, "dataset_id": ds["id"], "api_url": client.api_url, "question": question["kind"],
        "records": n_records, "records_kept": kept, "dropped": dict(Counter(r["reason"] for r in rejects.rows)),
        "response_statuses": dict(statuses), "annotators": sorted({a["annotator"] for a in annotations}),
        "judgments": len(annotations), "candidates_labelled": len(aggregated), "agreement": agreement,
        "files": {k: str(out / f) for k, f in (("judgments", "judgments.parquet"), ("consensus", "consensus.parquet"),
                                                  ("rejects", "rejects.parquet"), ("agreement", "agreement.json"))},
    }
    unselected = _unselected(run_dir, dataset, annotations)
    if unselected is not None:
        report["answers_outside_selection"] = unselected
    (out / "pull.json").write_text(json.dumps(report, indent=2))
    return report


def _unselected(run_dir: Path, dataset: str, annotations: list[dict]) -> dict | None:
    """Answers on prompts the last budgeted push to this dataset did not select (pushed earlier, or
    by hand): kept, and counted, so a budget study knows what it spent."""
    path = RunDir(run_dir).human / "selection.parquet"
    selection = pl.read_parquet(path) if path.is_file() else None
    if selection is None or selection.height == 0 or selection["dataset"][0] != dataset:
        return None
    selected = set(selection.filter("selected")["prompt_id"].to_list())
    outside = sorted({a["prompt_id"] for a in annotations} - selected)
    return {"prompts": len(outside), "examples": outside[:20]}


def current_candidates(candidates: pl.DataFrame) -> dict[str, dict[str, str]]:
    """prompt_id -> {candidate_id: text as push shows it} of the run's sample stage."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for c in candidates.select("prompt_id", "candidate_id", "text").iter_rows(named=True):
        out[c["prompt_id"]][c["candidate_id"]] = c["text"] or " "  # push sends " " for an empty text
    return out


def stale_candidates(record: dict, candidate_ids: list[str], current: dict[str, dict[str, str]]) -> dict | None:
    """How the candidates a record shows differ from the run's current ones (None when they match).

    Answers are only valid for the texts the annotator saw: same candidate ids is not enough
    (re-sampling with another seed keeps the ids and changes the texts).
    """
    now = current.get(record.get("external_id"), {})
    fields = record.get("fields") or {}
    shown = {cid: fields.get(response_field(i)) for i, cid in enumerate(candidate_ids, start=1)}
    if set(shown) != set(now):
        return {"record": sorted(shown), "run": sorted(now)}
    texts = sorted(cid for cid, text in shown.items() if text != now[cid])
    return {"text_changed": texts} if texts else None


def _usernames(client: ArgillaClient) -> dict[str, str]:
    try:
        return {u["id"]: u["username"] for u in client.users()}
    except ArgillaApiError:  # a non-owner key may not list users: fall back to user ids
        return {}


def _reject_reason(candidate_ids, responses: list[dict], submitted: list[dict]) -> tuple[str, str] | None:
    if not candidate_ids:
        return ("not_from_prefdata", "record has no candidate_ids metadata: it was not pushed by `prefdata argilla "
                "push`, so its responses cannot be mapped to candidates")
    if submitted:
        return None
    if not responses:
        return ("no_response", "nobody has answered this record yet; annotate it in the UI and pull again")
    return ("no_submitted_response", "only draft or discarded responses: drafts are unfinished and discarded "
            "records were skipped by the annotator; neither is used")


def _annotation_rows(record: dict, response: dict, candidate_ids: list[str], question: dict, judge_id: str,
                     annotator: str) -> list[dict]:
    raw, rationale = read_answer(response, question, len(candidate_ids))
    scores = [to_score(v, raw, question) for v in raw]
    present = [s for s in scores if s is not None]
    ranks = competition_ranks(present, True)
    rows = []
    for i, (cid, value, score) in enumerate(zip(candidate_ids, raw, scores), start=1):
        rows.append({
            "judgment_id": f"{judge_id}:{annotator}:{cid}",
            "prompt_id": record["external_id"],
            "candidate_id": cid,
            "judge_id": judge_id,
            "judge_type": "human",
            "score": score,
            "rank": ranks[present.index(score)] if score is not None else None,
            "raw_output": json.dumps({"field": response_field(i), question["kind"]: value, "rationale": rationale}),
            "parse_status": "ok" if score is not None else "invalid_score",
            "reason": None if score is not None else f"annotator left {response_field(i)} unanswered",
            "annotator": annotator,
        })
    return rows


def aggregate(annotations: list[dict], judge_id: str) -> list[dict]:
    """One judgment per candidate: the mean of its annotators' scores, ranked within its prompt."""
    by_candidate: dict[str, list[dict]] = defaultdict(list)
    for row in annotations:
        by_candidate[row["candidate_id"]].append(row)
    rows = []
    for cid, group in by_candidate.items():
        scored = {r["annotator"]: r["score"] for r in group if r["score"] is not None}
        rows.append({
            "judgment_id": f"{judge_id}:{cid}",
            "prompt_id": group[0]["prompt_id"],
            "candidate_id": cid,
            "judge_id": judge_id,
            "judge_type": "aggregate",
            "score": sum(scored.values()) / len(scored) if scored else None,
            "raw_output": json.dumps({"scores_by_annotator": scored}, sort_keys=True),
            "parse_status": "ok" if scored else "invalid_score",
            "reason": None if scored else "no annotator scored this candidate",
            "annotator": ",".join(sorted(scored)) or None,
        })
    ranks = ranks_within_groups([r["prompt_id"] for r in rows], [r["score"] for r in rows])
    for row, rank in zip(rows, ranks):
        row["rank"] = rank
    return rows


def _agreement(annotations: list[dict]) -> dict:
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for row in annotations:
        raw = json.loads(row["raw_output"])
        value = raw.get("ranking", raw.get("rating"))
        if value is not None:
            values[row["annotator"]][f"{row['prompt_id']}/{row['candidate_id']}"] = float(value)
    return annotator_agreement(dict(values))


def _judge_vs_human(run_dir: Path, aggregated: list[dict], suggestions_from: str | None) -> dict | None:
    labels = read_stage(run_dir, "label", required=False)
    judge, scores = judge_scores(labels, suggestions_from)
    if judge is None or not aggregated:
        return None
    groups = [r["prompt_id"] for r in aggregated]
    return judge_vs_human(groups, [scores.get(r["candidate_id"]) for r in aggregated],
                          [r["score"] for r in aggregated], judge)
