"""Pairing as functions of frames, below the stage that runs them and the partitions that split them.

    from prefdata.pairing.build import PairConfig, build_pairs
    pairs, rejects, candidate_rejects, stats = build_pairs(prompts, candidates, judgments, PairConfig())

- `blocks.py`: the vectorised building blocks (label values, pair generation, accounting).
- `build.py`: the whole pair stage on in-memory frames, no I/O.
The `pair` stage (prefdata/stages/pair.py) runs `build_pairs` on all the data or, through
prefdata/partition/pairs.py, partition by partition.
"""
