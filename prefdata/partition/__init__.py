"""Label, pair and filter in bounded memory: the work split into partitions, run here or on Ray.

    label:  {partition_prompts: 100000}                    # prompts per partition (judges: see labels.py)
    pair:   {partition_prompts: 100000, executor: local}   # prompts per partition; ray: Ray Data tasks
    filter: {partition_pairs: 100000, executor: local}     # pairs per partition

- `pairs.py`: the pair stage over prompt-key ranges (each partition is paired by the same
  `build_pairs` as the in-memory path; partitions concatenate in pair_id order).
- `labels.py`: the label stage over prompt-key ranges (each judge built once, labelling the
  partitions in order with the in-memory stage's code; statistics merged by rule).
- `filters.py`: the filter steps over contiguous partitions of the pairs; per-pair steps run
  per partition, global ones decide once on a small frame (margins, prompt hashes, MinHash
  digests, embeddings) and the decision is applied per partition.
- `executor.py`: runs one function over the partitions, in this process or as Ray Data tasks.
- `files.py`: the scratch directory (kept for a rerun of the same stage key, so a killed
  stage resumes from its finished partitions), prompt-range splitting, concatenation.

Inputs at or below one partition take the in-memory path; the results are the same
either way (tests/partition/). The export stage streams its dataset from the pairs' file.
"""
