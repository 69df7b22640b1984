"""Push a run's prompts and candidates to Argilla: one record per prompt, candidates as fields.

    prefdata argilla push runs/hh --dataset hh-round-1 --recipe pipelines/human_loop.yaml

    from prefdata.argilla.push import push
    report = push("runs/hh", client, ArgillaConfig(dataset="hh-round-1"))

Reads RUN_DIR/stages/{prompts,sample}/data.parquet (and label/data.parquet when present: judge
scores become metadata and suggestions). Idempotent: a record's external_id is its prompt_id,
so a re-push (after a crash, or with new judge labels) updates records, never duplicates them.
Each record's metadata keeps `candidate_ids`, the candidate shown as response_1..n, which is
how `pull` maps answers back. Writes RUN_DIR/human/push.json. With `argilla.budget` only the
selected prompts are pushed (prefdata/selection/budget.py; RUN_DIR/human/selection.parquet is
written first), their rank and value in metadata hidden from annotators.

Answers stay true to what the annotator saw: a re-push that would change the prompt or
candidates of a record that already has answers (the run was re-sampled) is refused, unless
`replace=True` (`--replace`), which deletes those records with their answers and pushes them
afresh. Suggestions come from judges only (never from human labels a label stage took over
from an earlier pull), one score per candidate; suggestions a re-push no longer makes are
deleted, so none is left pointing at a response position that now shows another candidate.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import polars as pl

from prefdata.argilla.client import ArgillaClient
from prefdata.argilla.settings import ArgillaConfig, dataset_spec, response_field, spec_differences
from prefdata.errors import DataError, PrefdataError
from prefdata.rundir import RunDir
from prefdata.pairing.blocks import resolve_label_source

CANDIDATE_IDS = "candidate_ids"  # extra record metadata: response_i -> candidate_id
DELETE_LIMIT = 100  # the server deletes at most 100 records per request


def read_stage(run_dir: Path, stage: str, required: bool = True, needed_by: str = "push") -> pl.DataFrame | None:
    sdir = RunDir(run_dir).stage(stage)
    if not sdir.data.is_file():
        if required:
            raise DataError(
                f"{sdir.data} not found: {needed_by} needs a run built up to the {stage} stage "
                f"(prefdata build RECIPE --out {run_dir})"
            )
        return None
    if not sdir.done.is_file():  # a build killed while writing this stage: never push half of it
        raise DataError(f"{sdir.path}: the {stage} stage did not finish (no DONE); rerun "
                        f"`prefdata build RECIPE --out {run_dir}` to complete it, then {needed_by} again")
    return pl.read_parquet(sdir.data)


def render_prompt(messages: list[dict]) -> str:
    """A single user turn as is; a conversation as labelled markdown turns."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"**{m['role']}:** {m['content']}" for m in messages)


def _order(prompt_id: str, candidates: list[dict], shuffle: bool) -> list[dict]:
    ordered = sorted(candidates, key=lambda c: c["candidate_id"])
    if shuffle:  # seeded by prompt_id: the same order on every push
        ordered.sort(key=lambda c: hashlib.sha256(f"{prompt_id}/{c['candidate_id']}".encode()).hexdigest())
    return ordered


def judge_labels(labels: pl.DataFrame | None) -> pl.DataFrame | None:
    """Candidate-level labels of judges only: human answers (their consensus, the rows of
    `label.source: mixed`) are no suggestion.

    With `label.source: argilla` the label stage holds the annotators' own answers from an
    earlier pull; suggesting them back would show annotators their colleagues' verdicts.
    """
    if labels is None:
        return None
    keep = ~pl.col("judge_type").is_in(["human", "mixed"])  # mixed rows carry pulled answers
    if "annotator" in labels.columns:  # the pulled consensus is an "aggregate" of annotators
        keep = keep & pl.col("annotator").is_null()
    if "opponent_id" in labels.columns:  # pairwise verdicts are no per-candidate score
        keep = keep & pl.col("opponent_id").is_null()
    return labels.filter(keep)


def judge_scores(labels: pl.DataFrame | None, judge_id: str | None) -> tuple[str | None, dict[str, float]]:
    """Scores of one judge by candidate_id: the named one, else the aggregate, else the only judge.

    Human labels never count (see judge_labels). Each candidate must have one score: two rows
    for the same candidate would make the suggestion depend on row order.
    """
    everything = labels
    labels = judge_labels(labels)
    if labels is None or labels.height == 0:
        if judge_id is not None and everything is not None and judge_id in set(everything["judge_id"].to_list()):
            raise PrefdataError(f"argilla.suggestions_from: {judge_id!r} holds human answers, and suggestions come "
                                "from judges only; unset it (no suggestions) or name a judge of the label stage")
        return None, {}
    ids = sorted(set(labels["judge_id"].to_list()))
    if judge_id is None:  # the judge the pair stage would pair on, so suggestions match the pairs
        try:
            judge_id = resolve_label_source(labels, None)
        except DataError:
            raise PrefdataError(f"the labels come from several judges ({', '.join(ids)}) and no single "
                                "aggregate: set argilla.suggestions_from to the one to suggest") from None
    if judge_id not in ids:
        humans = " (it holds human answers: suggestions come from judges only)" if (
            everything is not None and judge_id in set(everything["judge_id"].to_list())) else ""
        raise PrefdataError(f"argilla.suggestions_from: no judge {judge_id!r} in the label stage{humans}; "
                            f"judges are {ids}")
    rows = labels.filter((pl.col("judge_id") == judge_id) & pl.col("score").is_not_null())
    repeated = rows.group_by("candidate_id").len().filter(pl.col("len") > 1)
    if repeated.height:
        example = repeated["candidate_id"][0]
        raise PrefdataError(
            f"stages/label/data.parquet: judge {judge_id!r} has {repeated['len'][0]} scores for candidate "
            f"{example!r} ({repeated.height} candidates have several); suggestions need one score per candidate: "
            "rebuild the label stage, or set argilla.suggestions_from to a judge with one score each"
        )
    return judge_id, dict(zip(rows["candidate_id"].to_list(), rows["score"].to_list()))


def build_records(prompts: pl.DataFrame, candidates: pl.DataFrame, config: ArgillaConfig,
                  scores: dict[str, float], judge_id: str | None) -> tuple[list[dict], dict]:
    """Record bodies (without question ids) for every prompt that has candidates, plus counts."""
    by_prompt: dict[str, list[dict]] = defaultdict(list)
    known = set(prompts["prompt_id"].to_list())
    for row_no, c in enumerate(candidates.iter_rows(named=True), start=1):
        if c["prompt_id"] not in known:
            raise DataError(
                f"stages/sample/data.parquet row {row_no}: candidate {c['candidate_id']!r} has prompt_id "
                f"{c['prompt_id']!r}, which is not in stages/prompts/data.parquet; rebuild the run"
            )
        by_prompt[c["prompt_id"]].append(c)
    records, without = [], []
    for p in prompts.iter_rows(named=True):
        cands = by_prompt.get(p["prompt_id"])
        if not cands:
            without.append(p["prompt_id"])
            continue
        ordered = _order(p["prompt_id"], cands, config.shuffle)
        prompt_text = render_prompt(p["prompt"])
        fields = {"prompt": prompt_text}
        metadata = {"prompt_chars": len(prompt_text), CANDIDATE_IDS: [c["candidate_id"] for c in ordered],
                    "prompt_id": p["prompt_id"]}
        for i, c in enumerate(ordered, start=1):
            name = response_field(i)
            fields[name] = c["text"] or " "  # the server rejects empty text fields
            metadata[f"{name}_chars"] = len(c["text"] or "")
            metadata[f"{name}_model"] = c["model"]
            if c["candidate_id"] in scores:
                metadata[f"{name}_judge_score"] = float(scores[c["candidate_id"]])
        records.append({"external_id": p["prompt_id"], "fields": fields, "metadata": metadata,
                        "_scores": [scores.get(c["candidate_id"]) for c in ordered]})
    counts = {"prompts": prompts.height, "candidates": candidates.height, "records": len(records),
              "prompts_without_candidates": len(without), "suggestions_from": judge_id}
    if without:
        counts["prompts_without_candidates_ids"] = without[:20]
    return records, counts


def select_records(run_dir: Path, records: list[dict], labels: pl.DataFrame | None, judge_id: str | None,
                   config: ArgillaConfig, dataset: str) -> tuple[list[dict], dict]:
    """The records of the prompts `config.select` ranks within `config.budget`, with their rank and
    value. `labels`: the judges' labels; `judge_id`: the one suggestions come from (margins)."""
    from prefdata.selection.budget import select

    implicit = None
    if config.select == "implicit_margin":
        from prefdata.selection.implicit_margin import implicit_margins, judge_pairs

        if judge_id is None:
            raise PrefdataError("--select implicit_margin needs the label stage's judges (their pairs are scored); "
                                "the run has none")
        pairs = judge_pairs(read_stage(run_dir, "prompts"), read_stage(run_dir, "sample"), labels, judge_id)
        implicit = implicit_margins(pairs, policy=config.policy, reference=config.reference,
                                    work_dir=RunDir(run_dir).human, beta=config.beta)
    selection = select(run_dir, labels, [r["external_id"] for r in records], config.select, config.budget,
                       config.select_seed, judge_id, dataset, implicit)
    chosen = {p: (rank, value) for p, rank, value in
              selection.filter("selected").select("prompt_id", "rank", "value").iter_rows()}
    out = []
    for r in records:
        if r["external_id"] in chosen:
            rank, value = chosen[r["external_id"]]
            r["metadata"]["selection_rank"] = rank
            if value is not None:
                r["metadata"]["selection_value"] = float(value)
            out.append(r)
    return out, {"criterion": config.select, "selected": len(out), "of": len(records),
                 "budget_exceeds_prompts": config.budget >= 1 and config.budget > len(records)}


def suggestions(record: dict, questions: dict[str, str], config: ArgillaConfig, judge_id: str | None) -> list[dict]:
    """Judge labels as suggestions: a ranking by score, or each score as a rating when it fits the scale."""
    scores = record["_scores"]
    if judge_id is None or all(s is None for s in scores):
        return []
    if config.question == "ranking":
        if any(s is None for s in scores):
            return []
        value = [{"value": response_field(i + 1), "rank": 1 + sum(t > s for t in scores)} for i, s in enumerate(scores)]
        return [{"question_id": questions["ranking"], "value": value, "agent": judge_id, "type": "model"}]
    out = []
    for i, s in enumerate(scores, start=1):
        if s is not None and 1 <= round(s) <= config.rating_scale:
            out.append({"question_id": questions[f"rating_{i}"], "value": int(round(s)), "score": None,
                        "agent": judge_id, "type": "model"})
    return out


def ensure_dataset(client: ArgillaClient, name: str, config: ArgillaConfig, n_needed: int) -> dict:
    """The dataset to push into: created when missing, else checked against the recipe (never changed)."""
    workspace_id = client.workspace_id(config.workspace, create=True)
    existing = client.find_dataset(name, workspace_id)
    if existing is not None and existing["status"] == "draft":
        client.delete_dataset(existing["id"])  # a creation that crashed half-way: no records yet
        existing = None
    if existing is None:
        n = config.max_candidates or max(n_needed, 2)
        return client.create_dataset(name, workspace_id, dataset_spec(config, n))
    have = client.dataset_settings(existing["id"])
    n_fields = sum(f["name"].startswith("response_") for f in have["fields"])
    if n_needed > n_fields:
        raise PrefdataError(
            f"dataset {name!r} has {n_fields} response fields, but some prompts have {n_needed} candidates: "
            f"nothing was pushed. Push to a new dataset (--dataset), or keep at most {n_fields} candidates per prompt"
        )
    problems = spec_differences(dataset_spec(config, n_fields), have)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PrefdataError(
            f"dataset {name!r} in workspace {config.workspace!r} already exists with other settings; nothing was "
            f"pushed or changed. Use another --dataset name or the recipe it was created with:\n{lines}"
        )
    return existing


def push(run_dir: str | Path, client: ArgillaClient, config: ArgillaConfig, dataset: str | None = None,
         progress: bool = True, replace: bool = False) -> dict:
    """Create/check the dataset, then upsert one record per prompt in batches. Returns the report.

    replace: discard the answers of records whose prompt or candidates changed (else such a
    push is refused before anything is changed).
    """
    run_dir = Path(run_dir)
    name = dataset or config.dataset
    if not name:
        raise PrefdataError("no dataset name: pass --dataset NAME or set argilla.dataset in the recipe")
    prompts, candidates = read_stage(run_dir, "prompts"), read_stage(run_dir, "sample")
    labels = read_stage(run_dir, "label", required=False)
    judge_id, scores = judge_scores(labels, config.suggestions_from)
    records, counts = build_records(prompts, candidates, config, scores, judge_id)
    if config.budget is not None:
        records, counts["selection"] = select_records(run_dir, records, judge_labels(labels), judge_id, config, name)
        counts["records"] = len(records)
    n_needed = max((len(r["metadata"][CANDIDATE_IDS]) for r in records), default=0)
    if config.max_candidates is not None and n_needed > config.max_candidates:
        worst = [r["external_id"] for r in records if len(r["metadata"][CANDIDATE_IDS]) > config.max_candidates]
        raise PrefdataError(
            f"{len(worst)} prompts have more than argilla.max_candidates={config.max_candidates} candidates "
            f"(up to {n_needed}, e.g. prompt {worst[0]!r}); nothing was pushed. Raise max_candidates or sample fewer"
        )
    ds = ensure_dataset(client, name, config, n_needed)
    questions = {q["name"]: q["id"] for q in client.get(f"/api/v1/datasets/{ds['id']}/questions")["items"]}
    bodies = []
    for r in records:
        body = {k: v for k, v in r.items() if not k.startswith("_")}
        body["suggestions"] = suggestions(r, questions, config, judge_id)
        bodies.append(body)
    existing = {r["external_id"]: r for r in client.iter_records(ds["id"], include="responses,suggestions")}
    plan = plan_update(bodies, existing)
    refuse_answered_changes(plan, name, replace)
    discarded = _delete_records(client, ds["id"], plan["answered"])  # empty unless replace
    removed = _delete_stale_suggestions(client, plan["stale_suggestions"])
    _upload(client, ds["id"], bodies, config.batch_size, progress)
    report = {"dataset": name, "dataset_id": ds["id"], "workspace": config.workspace, "api_url": client.api_url,
              "question": config.question, **counts, "records_changed": len(plan["changed"]),
              "records_replaced": len(plan["answered"]), "answers_discarded": discarded,
              "suggestions_removed": removed, "records_in_dataset": client.count_records(ds["id"])}
    out = RunDir(run_dir).human / "push.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def shown_content(record: dict) -> tuple:
    """What an annotator judges on a record: its candidate ids (in response order) and its texts."""
    fields = {k: v for k, v in (record.get("fields") or {}).items() if v is not None}
    return tuple((record.get("metadata") or {}).get(CANDIDATE_IDS) or ()), tuple(sorted(fields.items()))


def plan_update(bodies: list[dict], existing: dict[str, dict]) -> dict:
    """Which existing records a push changes, which of those have answers, which suggestions go stale.

    changed:  external ids whose prompt or candidates differ from what the server shows;
    answered: the changed records that have responses (any status): [(external_id, record_id, n)];
    stale_suggestions: [(record_id, [suggestion ids])] the new push no longer makes (on records
    that are kept), e.g. a suggestion from human labels an older prefdata made, or one whose
    judge has no score now.
    """
    changed, answered, stale = [], [], []
    for body in bodies:
        old = existing.get(body["external_id"])
        if old is None:
            continue
        is_changed = shown_content(old) != shown_content(body)
        if is_changed:
            changed.append(body["external_id"])
            if old.get("responses"):
                answered.append((body["external_id"], old["id"], len(old["responses"])))
                continue  # the record is deleted: its suggestions go with it
        wanted = {s["question_id"] for s in body["suggestions"]}
        gone = [s["id"] for s in old.get("suggestions") or [] if s["question_id"] not in wanted]
        if gone:
            stale.append((old["id"], gone))
    return {"changed": changed, "answered": answered, "stale_suggestions": stale}


def refuse_answered_changes(plan: dict, dataset: str, replace: bool) -> None:
    """Refuse (before any change) to keep answers next to candidates the annotator never saw."""
    answered = plan["answered"]
    if not answered or replace:
        return
    n = sum(k for _, _, k in answered)
    examples = ", ".join(repr(e) for e, _, _ in answered[:3])
    raise PrefdataError(
        f"dataset {dataset!r}: {len(answered)} records that already have answers ({n} responses) would show other "
        f"candidates or another prompt than when they were answered (e.g. prompt {examples}; was the run re-sampled?); "
        "nothing was pushed. Re-run with --replace to discard those answers and push the new candidates, "
        "or push to a new --dataset"
    )


def _delete_records(client: ArgillaClient, dataset_id: str, answered: list[tuple[str, str, int]]) -> int:
    """Delete answered records whose content changed (the upload recreates them); returns the answers discarded.

    Deleting the record, not only its responses, also drops its suggestions and any response
    submitted meanwhile. A kill half-way is safe: a re-run re-creates missing records.
    """
    for start in range(0, len(answered), DELETE_LIMIT):
        ids = ",".join(record_id for _, record_id, _ in answered[start : start + DELETE_LIMIT])
        client.request("DELETE", f"/api/v1/datasets/{dataset_id}/records", params={"ids": ids})
    return sum(n for _, _, n in answered)


def _delete_stale_suggestions(client: ArgillaClient, stale: list[tuple[str, list[str]]]) -> int:
    for record_id, ids in stale:
        client.request("DELETE", f"/api/v1/records/{record_id}/suggestions", params={"ids": ",".join(ids)})
    return sum(len(ids) for _, ids in stale)


def _upload(client: ArgillaClient, dataset_id: str, bodies: list[dict], batch_size: int, progress: bool) -> None:
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("pushing records to Argilla", total=len(bodies))
        for start in range(0, len(bodies), batch_size):
            batch = bodies[start : start + batch_size]
            try:
                client.upsert_records(dataset_id, batch)
            except PrefdataError as e:
                raise PrefdataError(
                    f"{e}\n{start} of {len(bodies)} records were pushed before the failure; re-run the same push "
                    "to finish (records are upserted by prompt_id: nothing is duplicated)"
                ) from None
            bar.advance(task, len(batch))
