"""MinHash LSH near-duplicate detection: planted near-duplicates are found, others are not.

    python -m pytest -q tests/filters/test_minhash.py
"""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from prefdata.filters.minhash import near_duplicate_of, optimal_bands, shingle_hashes


def planted(n=400, dups=60, seed=0):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(40, 60))) for _ in range(n)]
    truth = {}
    for _ in range(dups):
        src = rng.randrange(n)
        words = texts[src].split()
        words[rng.randrange(len(words))] = rng.choice(vocab)  # one word changed: trigram Jaccard >= 0.8
        truth[len(texts)] = src
        texts.append(" ".join(words))
    return texts, truth


def test_planted_near_duplicates_found_and_point_to_earlier_rows():
    texts, truth = planted()
    dup_of = near_duplicate_of(pl.Series(texts), threshold=0.7)
    found = {i: int(d) for i, d in enumerate(dup_of) if d >= 0}
    assert all(d < i for i, d in found.items())
    recall = sum(1 for i in truth if i in found) / len(truth)
    assert recall >= 0.9
    false = [i for i in found if i not in truth and i < 400]
    assert len(false) == 0


def test_shingles_short_texts_and_offsets():
    flat, offsets = shingle_hashes(pl.Series(["a b c d", "x", ""]), ngram=3)
    assert offsets.tolist() == [0, 2, 3, 4]
    same, _ = shingle_hashes(pl.Series(["A, b c d!"]), ngram=3)
    assert np.array_equal(same, flat[:2])  # normalization: case and punctuation do not matter


def test_band_choice_matches_threshold():
    bands, rows = optimal_bands(0.8, 128)
    assert bands * rows <= 128
    assert abs((1 / bands) ** (1 / rows) - 0.8) < 0.1  # the S-curve's knee sits near the threshold
