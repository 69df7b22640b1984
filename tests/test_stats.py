"""Paired bootstrap intervals and verdicts (prefdata/stats.py)."""

from __future__ import annotations

from prefdata.stats import paired_interval, verdict


def test_paired_bootstrap_intervals_and_verdicts():
    assert paired_interval([[0.5] * 40]) == (0.5, 0.5, 0.5)
    rng = __import__("random").Random(0)
    noise = [[rng.choice([-1, 0, 0, 1]) for _ in range(200)] for _ in range(10)]
    mean, low, high = paired_interval(noise)
    assert low < mean < high and verdict(low, high) == "does not hold"
    better = [[d + (1 if i % 3 == 0 else 0) for i, d in enumerate(seed)] for seed in noise]  # +0.33 per prompt
    assert verdict(*paired_interval(better)[1:]) == "holds"
    assert verdict(*paired_interval([[-x for x in s] for s in better])[1:]) == "worse"
    # seeds are resampled too: the same prompts' gain on 2 seeds of 10 is not a sure thing
    lucky = [[1] * 50 if s < 2 else [0] * 50 for s in range(10)]
    assert paired_interval(lucky)[1] == 0.0
