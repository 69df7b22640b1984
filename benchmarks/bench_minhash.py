"""Near-duplicate prompt dedup: prefdata's MinHash LSH vs datasketch used the plain way.

    python benchmarks/bench_minhash.py                     # 20,000 prompts + 2,000 planted near-dups
    python benchmarks/bench_minhash.py --prompts 5000

Both use word-trigram shingles of the same normalized text, 128 permutations, Jaccard
threshold 0.7 and the same band/row choice (datasketch's optimisation, reimplemented in
prefdata.filters.minhash.optimal_bands). Ground truth: the planted copies (1-3 words
changed) whose exact trigram Jaccard with their source is >= the threshold. Prints
prompts/s, recall on that truth and flags on non-planted rows, and the speed ratio.
"""

from __future__ import annotations

import argparse
import random
import time

import polars as pl

THRESHOLD, NUM_PERM, NGRAM = 0.7, 128, 3


def make_prompts(n: int, planted: int, seed: int = 0) -> tuple[list[str], dict[int, int]]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(20000)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(20, 60))) for _ in range(n)]
    sources = {}
    for _ in range(planted):
        src = rng.randrange(n)
        words = texts[src].split()
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        sources[len(texts)] = src
        texts.append(" ".join(words))
    order = list(range(len(texts)))  # planted copies come after their source (keep-first semantics)
    return [texts[i] for i in order], sources


def shingles(text: str) -> set[str]:
    words = text.lower().split()
    if len(words) < NGRAM:
        return {" ".join(words)}
    return {" ".join(words[i:i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def truth(texts: list[str], sources: dict[int, int]) -> set[int]:
    out = set()
    for dup, src in sources.items():
        a, b = shingles(texts[dup]), shingles(texts[src])
        if len(a & b) / len(a | b) >= THRESHOLD:
            out.add(dup)
    return out


def run_prefdata(texts: list[str]) -> set[int]:
    from prefdata.filters.minhash import near_duplicate_of

    dup_of = near_duplicate_of(pl.Series(texts), threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM)
    return {i for i, d in enumerate(dup_of) if d >= 0}


def run_datasketch(texts: list[str]) -> set[int]:
    """The way the datasketch README does it: one MinHash per text, update per shingle, query then insert."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    flagged = set()
    for i, text in enumerate(texts):
        m = MinHash(num_perm=NUM_PERM)
        for s in shingles(text):
            m.update(s.encode("utf8"))
        if lsh.query(m):
            flagged.add(i)
        lsh.insert(str(i), m)
    return flagged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=20000)
    parser.add_argument("--planted", type=int, default=None)
    args = parser.parse_args()
    planted = args.planted if args.planted is not None else args.prompts // 10
    texts, sources = make_prompts(args.prompts, planted)
    real = truth(texts, sources)
    print(f"{len(texts)} prompts, {len(sources)} planted copies, {len(real)} with trigram Jaccard >= {THRESHOLD}")
    results = {}
    for name, fn in (("prefdata (rensa + numpy LSH)", run_prefdata), ("datasketch plain", run_datasketch)):
        t0 = time.perf_counter()
        flagged = fn(texts)
        seconds = time.perf_counter() - t0
        recall = len(flagged & real) / len(real)
        false = len(flagged - set(sources))
        results[name] = seconds
        print(f"{name:>30}: {seconds:7.2f}s  {len(texts) / seconds:9.0f} prompts/s  recall {recall:.3f}  "
              f"flagged non-planted {false}")
    a, b = results.values()
    print(f"speed-up vs datasketch: {b / a:.1f}x")


if __name__ == "__main__":
    main()
