"""Pairwise verdicts in both orders -> Judgment rows; shared by every pairwise judge.

    pairs = candidate_pairs(items, cap=None)                # every two candidates of a prompt
    rows, stats = pairwise_rows(judge, items, pairs, verdicts, raw)

`verdicts` holds two `Parsed` per pair: the A/B order (items[i] shown first) then B/A. The
two, mapped back to candidates, either agree (swap_consistent=True) or flip with the order
(False: position bias; the pair counts as a tie). If either order has no verdict, the pair
has no label. Rows: two per pair (one per candidate, `opponent_id` set, score 1 / 0.5 / 0)
and one per candidate (`opponent_id` None) whose score is its win rate over its labelled
pairs, (wins + ties/2) / pairs, with every verdict in raw_output.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from prefdata.judges.base import Judge, JudgeItem, judgment_row
from prefdata.judges.parsing import Parsed


def candidate_pairs(items: list[JudgeItem], cap: int | None) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of candidates of the same prompt; at most `cap` per prompt."""
    by_prompt: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_prompt.setdefault(item.prompt_id, []).append(i)
    return [pair for idx in by_prompt.values() for pair in list(itertools.combinations(idx, 2))[:cap]]


def pair_outcome(ab: Parsed, ba: Parsed) -> tuple[float | None, bool | None, str | None]:
    """(score of the first candidate, swap_consistent, reason) from verdicts in both orders.

    `ab` shows the first candidate as A; `ba` shows it as B. A flip counts as a tie.
    """
    if not ab.ok or not ba.ok:
        failed = [f"{o}: {p.reason}" for o, p in (("A/B", ab), ("B/A", ba)) if not p.ok]
        return None, None, "pair not labelled: " + "; ".join(failed)
    first_ab = {"A": 1.0, "B": 0.0, "tie": 0.5}[ab.value]
    first_ba = {"B": 1.0, "A": 0.0, "tie": 0.5}[ba.value]
    if first_ab == first_ba:
        return first_ab, True, None
    return 0.5, False, f"verdict flipped with the order (A/B: {ab.value}, B/A: {ba.value}): counted as a tie"


def pairwise_rows(judge: Judge, items: list[JudgeItem], pairs: list[tuple[int, int]], verdicts: list[Parsed],
                  raw: list[str | None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-pair and per-candidate Judgment rows, and the swap statistics."""
    rows, outcomes = [], {i: [] for i in range(len(items))}
    consistent = inconsistent = failed_outputs = 0
    for n, (i, j) in enumerate(pairs):
        ab, ba = verdicts[2 * n], verdicts[2 * n + 1]
        failed_outputs += (not ab.ok) + (not ba.ok)
        score, swap_ok, reason = pair_outcome(ab, ba)
        consistent += swap_ok is True
        inconsistent += swap_ok is False
        text = json.dumps({"ab": raw[2 * n], "ba": raw[2 * n + 1]})
        status = "ok" if score is not None else (ab if not ab.ok else ba).status
        for me, other, s in ((i, j, score), (j, i, None if score is None else 1.0 - score)):
            rows.append(judgment_row(judge, items[me], score=s, parse_status=status, reason=reason, raw_output=text,
                                     opponent_id=items[other].candidate_id, swap_consistent=swap_ok))
            outcomes[me].append((s, swap_ok, items[other].candidate_id, text))
    rows += [_win_rate_row(judge, items[i], outcomes[i]) for i in range(len(items))]
    judged = consistent + inconsistent
    stats = {
        "pairs": len(pairs), "requests": len(verdicts), "failed_outputs": failed_outputs,
        "output_parse_failure_rate": failed_outputs / len(verdicts) if verdicts else None,
        "swap_consistent_pairs": consistent, "swap_inconsistent_pairs": inconsistent,
        "swap_consistency_rate": consistent / judged if judged else None,
    }
    return rows, stats


def _win_rate_row(judge: Judge, item: JudgeItem, outcomes: list[tuple]) -> dict[str, Any]:
    """The candidate's row: win rate over its labelled pairs; raw_output keeps every verdict."""
    if not outcomes:
        return judgment_row(judge, item, score=None, parse_status="error",
                            reason="no other candidate for this prompt to compare with")
    raw = json.dumps({other: json.loads(r) for _, _, other, r in outcomes}, sort_keys=True)
    labelled = [s for s, *_ in outcomes if s is not None]
    if not labelled:
        return judgment_row(judge, item, score=None, parse_status="parse_error", raw_output=raw,
                            reason=f"none of its {len(outcomes)} pairs got a parsable verdict in both orders")
    wins, ties = sum(s == 1.0 for s in labelled), sum(s == 0.5 for s in labelled)
    flips = sum(ok is False for _, ok, *_ in outcomes)
    reason = (f"win rate over {len(labelled)} of {len(outcomes)} pairs: {wins} wins, {ties} ties "
              f"({flips} swap-inconsistent, counted as ties), {len(labelled) - wins - ties} losses")
    checked = [ok for _, ok, *_ in outcomes if ok is not None]
    return judgment_row(judge, item, score=sum(labelled) / len(labelled), reason=reason, raw_output=raw,
                        swap_consistent=all(checked) if checked else None)
