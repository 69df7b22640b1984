"""Pair and filter in bounded memory: the work split into partitions, run here or on Ray.

    pair:   {partition_prompts: 100000, executor: local}   # prompts per partition; ray: Ray Data tasks
    filter: {partition_pairs: 100000, executor: local}     # pairs per partition

- `pairs.py`: the pair stage over prompt-key ranges (each partition is paired by the same
  `build_pairs` as the in-memory path; partitions concatenate in pair_id order).
- `filters.py`: the filter steps over contiguous partitions of the pairs; per-pair steps run
  per partition, global ones decide once on a small frame (margins, prompt hashes, MinHash
  digests, embeddings) and the decision is applied per partition.
- `executor.py`: runs one function over the partitions, in this process or as Ray Data tasks.
- `files.py`: the scratch directory and the concatenation of partition files.

Inputs at or below one partition take the in-memory path; the results are the same
either way (tests/partition/).
"""
