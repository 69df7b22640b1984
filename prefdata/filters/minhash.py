"""Near-duplicate detection with MinHash LSH, vectorised end to end.

    from prefdata.filters.minhash import near_duplicate_of
    dup_of = near_duplicate_of(pl.Series(["a b c d", "a b c d e", "x y"]), threshold=0.5)
    # array([-1, 0, -1]): row 1 is a near-duplicate of row 0; the earliest row is kept

Pipeline: word n-gram shingles hashed in polars/numpy (no Python per token) -> MinHash
digests in Rust (`rensa`) -> one LSH pass in Rust that flags every row sharing a band with
another row -> only the flagged rows get their digests copied out and grouped band by band
in numpy; a row is a duplicate of the earliest row in one of its buckets whose estimated
Jaccard similarity reaches the threshold (less a small slack, see `near_duplicate_of`).
Bands/rows per band are chosen like datasketch's `MinHashLSH` (minimise weighted
false-positive + false-negative area), so recall is comparable with that baseline
(benchmarks/bench_minhash.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl

from prefdata.filters.base import normalized_text

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: order-sensitive n-gram hashing


def shingle_hashes(texts: pl.Series, ngram: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 hashes of word n-grams per text and row offsets (len(texts) + 1).

    A text shorter than `ngram` words yields one shingle of all its words.
    """
    words = pl.DataFrame({"t": texts}).select(normalized_text(pl.col("t")).str.split(" ").alias("w"))["w"]
    lengths = words.list.len().to_numpy().astype(np.int64)
    hashes = words.explode().hash(seed).to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    counts = np.maximum(lengths - ngram + 1, 1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    row_of = np.repeat(np.arange(len(lengths)), counts)
    within = np.arange(int(offsets[-1])) - np.repeat(offsets[:-1].astype(np.int64), counts)
    position = starts[row_of] + within
    width = np.minimum(lengths[row_of], ngram)
    last = len(hashes) - 1
    shingles = hashes[position].copy()
    with np.errstate(over="ignore"):
        for j in range(1, ngram):
            nxt = hashes[np.minimum(position + j, last)]
            shingles = np.where(j < width, shingles * _MIX + nxt, shingles)
    return shingles, offsets


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows per band) minimising the weighted false-positive/negative areas.

    As in datasketch, bands x rows may be below num_perm: only that many permutations are
    used (rensa's LSH needs bands x rows == the digest width).
    """
    grid = np.linspace(0.0, 1.0, 1001)
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        rows = num_perm // bands
        prob = 1.0 - (1.0 - grid**rows) ** bands
        below, above = grid <= threshold, grid >= threshold
        fp = np.trapezoid(prob[below], grid[below])
        fn = np.trapezoid(1.0 - prob[above], grid[above])
        err = fp_weight * fp + (1.0 - fp_weight) * fn
        if err < best_err:
            best, best_err = (bands, rows), err
    return best


def _digests(flat: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int):
    import rensa

    return rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, num_perm, seed)


def _subset(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    off = offsets.astype(np.int64)
    counts = off[rows + 1] - off[rows]
    sub_offsets = np.concatenate([[0], np.cumsum(counts)])
    index = np.repeat(off[rows], counts) + (np.arange(sub_offsets[-1]) - np.repeat(sub_offsets[:-1], counts))
    return flat[index], sub_offsets.astype(np.uint64)


def near_duplicate_of(texts: pl.Series, *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3,
                      seed: int = 0, verify_slack: float = 0.1) -> np.ndarray:
    """For each text, the index of an earlier near-duplicate text, or -1.

    An LSH candidate counts when its estimated Jaccard is >= threshold - verify_slack: the
    slack keeps the recall of plain LSH (true pairs just above the threshold often estimate
    just below it) while dropping band collisions that are clearly not near-duplicates.
    """
    import rensa

    n = len(texts)
    result = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return result
    bands, rows = optimal_bands(threshold, num_perm)
    num_perm = bands * rows
    flat, offsets = shingle_hashes(texts, ngram, seed)
    lsh = rensa.RMinHashLSH(threshold, num_perm, bands)
    flagged = np.flatnonzero(np.asarray(lsh.query_duplicate_flags_matrix_one_shot(
        _digests(flat, offsets, num_perm, seed)), dtype=bool))
    if flagged.size < 2:
        return result
    sub_flat, sub_offsets = _subset(flat, offsets, flagged)
    digests = np.asarray(_digests(sub_flat, sub_offsets, num_perm, seed).to_rows(), dtype=np.uint32)
    local = _earliest_similar(digests, bands, rows, threshold - verify_slack)
    hit = local >= 0
    result[flagged[hit]] = flagged[local[hit]]
    return result


def _earliest_similar(digests: np.ndarray, bands: int, rows: int, threshold: float) -> np.ndarray:
    """Per row, the earliest row sharing a band bucket with estimated Jaccard >= threshold."""
    m = digests.shape[0]
    best = np.full(m, m, dtype=np.int64)
    own = np.arange(m)
    for band in range(bands):
        keys = np.ascontiguousarray(digests[:, band * rows:(band + 1) * rows])
        keys = keys.view(np.dtype((np.void, keys.dtype.itemsize * rows))).ravel()
        _, inverse = np.unique(keys, return_inverse=True)
        first = np.full(inverse.max() + 1, m, dtype=np.int64)
        np.minimum.at(first, inverse, own)
        candidate = first[inverse]
        check = np.flatnonzero(candidate < own)
        if check.size == 0:
            continue
        similarity = (digests[check] == digests[candidate[check]]).mean(axis=1)
        ok = check[similarity >= threshold]
        best[ok] = np.minimum(best[ok], candidate[ok])
    return np.where(best < m, best, -1)


def minhash_digests(texts: pl.Series, *, threshold: float = 0.8, num_perm: int = 128, ngram: int = 3,
                    seed: int = 0) -> np.ndarray:
    """(len(texts), bands x rows) uint32 MinHash digests: a row's digest depends on its text only,
    so digests made partition by partition stack into the digests of the whole."""
    bands, rows = optimal_bands(threshold, num_perm)
    if len(texts) == 0:
        return np.zeros((0, bands * rows), dtype=np.uint32)
    flat, offsets = shingle_hashes(texts, ngram, seed)
    return np.asarray(_digests(flat, offsets, bands * rows, seed).to_rows(), dtype=np.uint32)


def near_duplicate_of_digests(digests: np.ndarray, *, threshold: float = 0.8, num_perm: int = 128,
                              verify_slack: float = 0.1) -> np.ndarray:
    """`near_duplicate_of` from stacked `minhash_digests` (may be a memory map): banding goes one
    band at a time over the rows, so only one band's keys are held at once."""
    bands, rows = optimal_bands(threshold, num_perm)
    if digests.shape[0] < 2:
        return np.full(digests.shape[0], -1, dtype=np.int64)
    return _earliest_similar(digests, bands, rows, threshold - verify_slack)
