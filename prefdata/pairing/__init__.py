"""Pairing as functions of frames, below the stage that runs them and the partitions that split them.

    from prefdata.pairing.build import PairConfig, build_pairs
    pairs, rejects, candidate_rejects, stats = build_pairs(prompts, candidates, judgments, PairConfig())

- `blocks.py`: the vectorised building blocks (label values, pair generation, accounting).
- `build.py`: the pairs of one partition's frames, no I/O.
The `pair` stage's driver (prefdata/partition/pairs.py) runs `build_pairs` on each partition;
one partition is the whole input, in memory.
"""
