"""What each round of dynamic sampling found, from its select stages' statistics.

    from prefdata.dynamic.table import rounds_table, rounds_text
    rows = rounds_table((s.name, json.loads(s.stats)) for s in manifest.stages)
    print(rounds_text(rows))
"""

from __future__ import annotations

from collections.abc import Iterable


def rounds_table(stage_stats: Iterable[tuple[str, dict]]) -> list[dict]:
    """One row per round: the candidates after it, the prompts still without a pair, the pairs and
    the yield (pairs per 1,000 candidates), and how many prompts the next round sampled again.
    Empty for a run without dynamic sampling."""
    rows = []
    for name, stats in stage_stats:
        if name.startswith("select."):
            rows.append({"round": stats["round"] - 1, "candidates": stats["candidates"],
                         "prompts_without_pair": stats["prompts_without_pair"], "pairs": stats["pairs"],
                         "yield_per_1k_candidates": stats["yield_per_1k_candidates"],
                         "sampled_again": stats["selected"]})
    return rows


def rounds_text(rows: list[dict]) -> str:
    lines = [f"{'round':>5}{'candidates':>12}{'no pair':>9}{'pairs':>8}{'pairs/1k cand':>15}{'sampled again':>15}"]
    for r in rows:
        lines.append(f"{r['round']:>5}{r['candidates']:>12}{r['prompts_without_pair']:>9}{r['pairs']:>8}"
                     f"{r['yield_per_1k_candidates'] or 0:>15.1f}{r['sampled_again']:>15}")
    return "\n".join(lines)
