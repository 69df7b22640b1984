"""The `select.<r>` stage: the prompts that get round r of dynamic sampling.

    stages/select.2/data.parquet      the prompt records sampled again in round 2
    stages/select.2/rejects.parquet   every other prompt, with why: has_pair, max_per_prompt, budget, ...

It pairs every candidate so far exactly as the pair stage will (its driver, pair_partitions,
with the recipe's pair section and seed: in partitions, and on Ray, as the pair stage is). A
prompt without a pair for a reason more answers can change (tie, below_margin,
too_few_candidates, truncated with pair.complete_only, missing_score, invalid_score) is chosen
while another round keeps it within `max_per_prompt` and the run within `budget`; when the
budget does not cover them all, the prompts with the fewest candidates go first (then a seeded
order).

Accounting unit: the prompt; every prompt of the prompts artifact is kept (sampled again) or
a reject with its reason. The stats are the state the round starts from: candidates so far,
prompts with and without a pair, pairs, and the yield (pairs per 1,000 candidates).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from prefdata.stages.sample import DynamicConfig
from prefdata.ledger import rejects_from
from prefdata.pairing.build import PairConfig
from prefdata.partition.pairs import pair_partitions
from prefdata.stages.base import Stage, StageContext, StageOutput

# no pair yet, for a reason another answer can change (no_candidates: the sampler refused the prompt)
RESAMPLED_REASONS = ("tie", "below_margin", "too_few_candidates", "truncated", "missing_score", "invalid_score")


class SelectStage(Stage):
    name, Config = "select", DynamicConfig
    inputs, output, unit = ("prompts", "candidates", "judgments"), "resample", "prompts"
    keeps_none_quietly = True  # selecting nobody is how the rounds end
    lazy_inputs = True

    def __init__(self, config: DynamicConfig, round: int, per_round: int, pair: PairConfig):
        super().__init__(config)
        self.round, self.per_round, self.pair = round, per_round, pair
        self.name = f"select.{round}"

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "round": self.round, "per_round": self.per_round,
                "pair": self.pair.model_dump(mode="json")}

    def code_files(self) -> list[Path]:
        from prefdata.stages.pair import PairStage

        return [*super().code_files(), *PairStage(self.pair).code_files()]

    def run(self, inputs: dict[str, pl.LazyFrame], ctx: StageContext) -> StageOutput:
        prompts, candidates, judgments = (inputs[name].lazy() for name in self.inputs)
        seed = self.pair.seed if self.pair.seed is not None else ctx.seed
        # the pair stage's own driver: the same pairs, in partitions above pair.partition_prompts
        paired = pair_partitions(prompts, candidates, judgments, self.pair, seed, ctx.stage_dir, key=ctx.key)
        if isinstance(paired.data, Path):  # partitioned: the pairs went to a file; only their counts matter here
            paired.data.unlink(missing_ok=True)
        no_pair, prompts = paired.rejects, prompts.collect()
        counts = candidates.group_by("prompt_id").len("n").collect()
        table = self._table(prompts, counts, no_pair, seed)
        used, budget = int(counts["n"].sum()), self.config.budget
        helped = pl.col("no_pair").is_in(RESAMPLED_REASONS)
        fits = pl.col("n") + self.per_round <= self.config.max_per_prompt
        # the budget's queue among the prompts another round may help: fewest candidates first
        queue = table.filter(helped & fits).sort("n", "order").with_row_index("queue").select("prompt_id", "queue")
        over_budget = (pl.lit(False) if budget is None
                       else pl.col("queue") >= max(budget - used, 0) // self.per_round)  # rounds fit whole
        table = table.join(queue, on="prompt_id", how="left", maintain_order="left").with_columns(
            pl.when(pl.col("no_pair").is_null()).then(pl.lit("has_pair"))
            .when(~helped).then(pl.lit("cannot_help"))
            .when(~fits).then(pl.lit("max_per_prompt"))
            .when(over_budget).then(pl.lit("budget"))
            .alias("reason"))
        chosen = table.filter(pl.col("reason").is_null())["prompt_id"]
        data = prompts.filter(pl.col("prompt_id").is_in(chosen.implode()))
        stats = {
            "round": self.round, "candidates": used, "prompts": prompts.height,
            "prompts_with_pair": paired.stats["prompts_paired"],
            "prompts_without_pair": prompts.height - paired.stats["prompts_paired"], "pairs": paired.stats["pairs"],
            "yield_per_1k_candidates": round(1000 * paired.stats["pairs"] / used, 1) if used else None,
            "no_pair": dict(sorted(no_pair["reason"].value_counts().iter_rows())) if no_pair.height else {},
            "selected": data.height, "candidates_requested": data.height * self.per_round,
            "budget": budget, "budget_left": None if budget is None else budget - used,
        }
        return StageOutput(data=data, rejects=self._rejects(table), rows_in=prompts.height, rows_kept=data.height,
                           stats=stats)

    def _table(self, prompts: pl.DataFrame, counts: pl.DataFrame, no_pair: pl.DataFrame,
               seed: int) -> pl.DataFrame:
        """prompt_id, n (candidates so far), no_pair (the pair stage's reason, null: paired), order (a
        seeded draw that breaks ties in the budget's queue)."""
        reasons = no_pair.select(pl.col("row_id").alias("prompt_id"), pl.col("reason").alias("no_pair"))
        return (prompts.select("prompt_id")
                .join(counts, on="prompt_id", how="left", maintain_order="left")
                .join(reasons, on="prompt_id", how="left", maintain_order="left")
                .with_columns(pl.col("n").fill_null(0).cast(pl.Int64),
                              pl.Series("order", [_draw(seed, self.round, p) for p in prompts["prompt_id"]])))

    def _rejects(self, table: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        messages = {
            "has_pair": "its candidates give a pair already",
            "cannot_help": "no pair, for a reason more answers do not change (see the pair stage's reasons)",
            "max_per_prompt": f"no pair yet, and another {self.per_round} candidates would pass "
                              f"sample.dynamic.max_per_prompt={c.max_per_prompt}",
            "budget": f"no pair yet, but sample.dynamic.budget={c.budget} candidates leaves no room for it in "
                      f"round {self.round} (prompts with fewer candidates went first)",
        }
        parts = [rejects_from(table.filter(pl.col("reason") == code), stage=self.name, reason=code, message=message,
                              id_column="prompt_id", value_columns=["n", "no_pair"])
                 for code, message in messages.items()]
        return pl.concat(parts).sort("row_id")


def _draw(seed: int, round: int, prompt_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{round}:{prompt_id}".encode()).digest()[:7], "big")
