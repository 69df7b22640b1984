"""A simulated annotator: answers pushed records through the Argilla REST API, as the web UI does.

    from prefdata.argilla.simulate import annotate, reference_check
    as_ann = client_for_annotator(...)                       # an ArgillaClient with the annotator's own key
    report = annotate(as_ann, "hh-round-1", reference_check(run_dir), error_rate=0.1, seed=0)

For tests and benchmarks of the human loop (select -> push -> answer -> pull -> mixed build)
with no person in it. Each record in the annotator's pending queue gets one submitted
ranking: its responses ordered by `score(prompt_id, text)` (higher is better, equal scores
share a rank: the UI allows ties), read from what the UI shows (the record's fields; an
annotator never sees the candidate ids), empty response fields last. With probability
`error_rate` (seeded per record) the annotator errs: the shown responses in a random order.
Works against ranking datasets (`argilla.question: ranking`, the default).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Callable

from prefdata.argilla.client import ArgillaClient
from prefdata.argilla.pull import competition_ranks
from prefdata.argilla.push import read_stage
from prefdata.errors import PrefdataError
from prefdata.judges.programmatic import exact_match

Score = Callable[[str, str], float]


def reference_check(run_dir: str | Path, check: Callable = exact_match) -> Score:
    """score(prompt_id, text) = check(prompt, text, reference) of the run's prompts (the demo's
    exact-match check by default)."""
    prompts = read_stage(Path(run_dir), "prompts", needed_by="the simulated annotator")
    by_id = {p: (msgs[-1]["content"], ref) for p, msgs, ref in prompts.select("prompt_id", "prompt", "reference")
             .iter_rows()}

    def score(prompt_id: str, text: str) -> float:
        prompt, reference = by_id[prompt_id]
        return float(check(prompt, text, reference))
    return score


def ranking_answer(options: list[str], scores: list[float]) -> list[dict]:
    """The UI's ranking value: each option with its rank (1 = best, ties share the best rank)."""
    return [{"value": option, "rank": rank} for option, rank in zip(options, competition_ranks(scores, True))]


def annotate(client: ArgillaClient, dataset: str, score: Score, *, workspace: str = "argilla",
             error_rate: float = 0.0, seed: int = 0, limit: int | None = None) -> dict:
    """Answer the records of `dataset` waiting for this client's user (at most `limit`), through the
    annotation queue the UI reads. Returns {answered, erred, prompts}."""
    if not 0.0 <= error_rate <= 1.0:
        raise PrefdataError(f"error_rate {error_rate}: give a share between 0 and 1")
    ds = client.find_dataset(dataset, client.workspace_id(workspace))
    if ds is None:
        raise PrefdataError(f"no dataset {dataset!r} in workspace {workspace!r} on {client.api_url}; push it first")
    questions = {q["name"]: q["settings"] for q in client.get(f"/api/v1/datasets/{ds['id']}/questions")["items"]}
    if (questions.get("ranking") or {}).get("type") != "ranking":
        raise PrefdataError(f"dataset {dataset!r} has no ranking question (questions: {sorted(questions)}); "
                            "the simulated annotator answers ranking datasets only")
    options = [o["value"] for o in questions["ranking"]["options"]]
    report = {"answered": 0, "erred": 0, "prompts": []}
    # Each answer leaves the queue, so the first page is always the next one (as in the UI).
    while limit is None or report["answered"] < limit:
        queue = client.my_pending_records(ds["id"])
        if not queue:
            break
        for record in queue[: None if limit is None else limit - report["answered"]]:
            fields = record.get("fields") or {}
            shown = [i for i, name in enumerate(options) if (fields.get(name) or "").strip()]
            scores = [float("-inf")] * len(options)  # an empty field (fewer candidates) ranks last
            rng = random.Random(int(hashlib.sha256(f"{seed}/{record['external_id']}".encode()).hexdigest()[:12], 16))
            erred = rng.random() < error_rate
            order = rng.sample(range(len(shown)), len(shown)) if erred else None
            for k, i in enumerate(shown):
                scores[i] = float(order[k]) if erred else score(record["external_id"], fields[options[i]])
            report["erred"] += erred
            client.submit_response(record["id"], {"ranking": ranking_answer(options, scores)})
            report["answered"] += 1
            report["prompts"].append(record["external_id"])
    return report
