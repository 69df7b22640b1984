"""The `pair` stage: scored candidates -> chosen/rejected pairs, never a tie.

    pair:
      strategy: best_vs_worst        # | best_vs_random_lower | sweet_spot | all_pairs | length_matched | ranking
      min_margin: 0.0                # a pair needs chosen_score - rejected_score > min_margin
      label_source: null             # judge id; default: the aggregate judge, else the only judge
      annotators: aggregate          # | per_annotator (several human labels per candidate)
      complete_only: false           # true: answers cut at max_tokens are left out of pairing
      partition_prompts: 100000      # more prompts than this: paired in partitions (same result, bounded memory)
      executor: local                # | ray: the partitions as Ray Data tasks (prefdata/partition/)

Strategies, per prompt (per prompt and annotator with `annotators: per_annotator`):
- best_vs_worst: the top-scored vs the lowest-scored candidate.
- best_vs_random_lower: the top vs a seeded random candidate scoring lower by > min_margin.
- sweet_spot: the top vs the lower-scoring candidate whose score is nearest mean - 2 std of
  the prompt's scores (arXiv 2502.16825: a rejected answer that is bad but not the very
  worst outlier); ties in distance go to the lower score. Never a tie with the chosen one.
- length_matched: the top vs the lower-scoring candidate closest to it in length (counters
  the length bias of judges; ties go to the larger margin).
- all_pairs: every pair with margin > min_margin (`max_pairs_per_prompt` keeps the widest).
- ranking: k-way rankings (`Judgment.rank`, 1 = best) expanded into all ordered pairs; the
  scores of a ranked pair are -rank, so the margin is the rank difference.
With several labels per candidate (annotators), `aggregate` averages them (mean score or
mean rank) before pairing; `per_annotator` pairs within each annotator's labels. Either way
`agreement` = share of the annotators who labelled both candidates and prefer the chosen one.
`swap_consistency` = mean of `Judgment.swap_consistent` over both candidates' labels (a
candidate's flag: every verdict on it held in both orders), from the label judge when it is
pairwise, else from every pairwise judge.

Accounting unit: the prompt. rows_in = prompts with candidates or a prompt record,
rows_kept = prompts that produced >= 1 pair, and each other prompt is one reject:
`no_candidates`, `unknown_prompt` (candidates whose prompt record is missing),
`truncated` (complete_only) / `invalid_score` / `missing_score` / `too_few_candidates` (< 2 usable scores), `tie` (all
usable scores equal) or `below_margin`. Candidates left out for a missing or NaN/inf score
(or cut at max_tokens, with complete_only) are counted in the stats and listed in `<stage dir>/candidate_rejects.parquet`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prefdata.stages.base import Stage, StageContext, StageOutput
from prefdata.pairing.build import PairConfig, build_pairs  # noqa: F401  (build_pairs: the logic, re-exported)


class PairStage(Stage):
    name, Config = "pair", PairConfig
    inputs, output, unit = ("prompts", "candidates", "judgments"), "pairs", "prompts"
    lazy_inputs = True
    config: PairConfig

    def code_files(self) -> list[Path]:
        import prefdata.partition as package
        import prefdata.partition.executor as executor
        import prefdata.partition.files as files
        import prefdata.partition.pairs as partitioned
        import prefdata.pairing.blocks as blocks
        import prefdata.pairing.build as logic
        import prefdata.pairing.strategy as strategy

        modules = (logic, blocks, strategy, package, partitioned, files, executor)
        return [*super().code_files(), *(Path(m.__file__) for m in modules)]

    def run(self, inputs: dict[str, pl.DataFrame | pl.LazyFrame], ctx: StageContext) -> StageOutput:
        from prefdata.partition.executor import console_progress
        from prefdata.partition.pairs import pair_partitions

        c = self.config
        return pair_partitions(*(inputs[name].lazy() for name in self.inputs), c,
                               c.seed if c.seed is not None else ctx.seed, ctx.stage_dir,
                               progress=console_progress(ctx.console, "pair"), key=ctx.key)
