"""Paired differences with 95% bootstrap intervals, over prompts and over seeds.

    from prefdata.stats import paired_interval, verdict
    mean, low, high = paired_interval([diffs_seed0, diffs_seed1, ...])   # per prompt: arm - baseline
    verdict(low, high)     # 'holds' (interval above 0), 'worse' (below 0) or 'does not hold'

With one seed the prompts are resampled (a paired bootstrap over held-out prompts). With
several, the resampling has two levels, as the variance does: seeds are drawn with
replacement, then prompts within each drawn seed, so the interval covers training-run noise
as well as which prompts were held out. The statistic is the mean difference over all drawn
prompts. 10,000 resamples, percentile interval, a fixed generator seed (same data, same
interval).
"""

from __future__ import annotations

import numpy as np


def paired_interval(diffs_by_seed: list[list[float]], n_boot: int = 10_000, seed: int = 0,
                    level: float = 0.95) -> tuple[float, float, float]:
    """(mean difference, low, high) of the `level` percentile interval."""
    arrays = [np.asarray(d, dtype=float) for d in diffs_by_seed if len(d)]
    if not arrays:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    mean = float(np.concatenate(arrays).mean())
    stats = np.empty(n_boot)
    for b in range(n_boot):
        drawn = rng.integers(len(arrays), size=len(arrays)) if len(arrays) > 1 else [0]
        total = count = 0.0
        for s in drawn:
            values = arrays[s]
            pick = values[rng.integers(len(values), size=len(values))]
            total += pick.sum()
            count += len(pick)
        stats[b] = total / count
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return mean, float(low), float(high)


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "holds"
    if high < 0:
        return "worse"
    return "does not hold"
