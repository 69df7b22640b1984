"""The DPO implicit reward margin of each prompt's judge-picked pair under a policy and a reference.

    argilla: {budget: 0.2, select: implicit_margin, policy: runs/iter/round-1/model, reference: runs/demo/models/sft}

    from prefdata.selection.implicit_margin import implicit_margins
    values = implicit_margins(pairs, policy="round-1/model", reference="sft", work_dir=run_dir / "human")

margin = beta * ((log pi(chosen) - log pi_ref(chosen)) - (log pi(rejected) - log pi_ref(rejected)))
for the pair the score judge picks (its best vs its worst answer, scores apart): the smallest
|margin| is where the policy is least sure (Yang et al. 2024, arXiv 2406.17312). The log-probs
come from the trainer's own code: the pairs are written as a dataset dir, `prefdata.trainer`
prepares a DPOTrainer with the policy and the reference (strategy `model`), and TRL's
`compute_ref_log_probs` scores both sides with each model, with the policy's chat template
and `max_length` truncation as training would apply them. A prompt whose pair the trainer
drops (too long), or whose pair has an empty or repeated answer, has no value.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from prefdata.errors import PrefdataError


def judge_pairs(prompts: pl.DataFrame, candidates: pl.DataFrame, labels: pl.DataFrame, judge: str) -> pl.DataFrame:
    """prompt_id, prompt, chosen, rejected: the judge's best vs worst answer of each prompt (scores apart)."""
    scored = (labels.filter((pl.col("judge_id") == judge) & pl.col("score").is_finite())
              .select("candidate_id", pl.col("score").cast(pl.Float64))
              .join(candidates.select("prompt_id", "candidate_id", "text"), on="candidate_id")
              .sort(["prompt_id", "score", "candidate_id"], descending=[False, True, False]))
    ends = scored.group_by("prompt_id", maintain_order=True).agg(
        pl.col("text").first().alias("chosen"), pl.col("text").last().alias("rejected"),
        (pl.col("score").first() > pl.col("score").last()).alias("_apart"))
    return (ends.filter("_apart").drop("_apart")
            .join(prompts.select("prompt_id", "prompt"), on="prompt_id").sort("prompt_id"))


def implicit_margins(pairs: pl.DataFrame, *, policy: str, reference: str, work_dir: Path, beta: float = 0.1,
                     max_length: int = 2048) -> pl.DataFrame:
    """prompt_id, value (the implicit margin) of each pair the trainer keeps."""
    import torch

    from prefdata.io.dataset_dir import examples_frame, write_dataset_dir
    from prefdata.ledger import empty_rejects
    from prefdata.logs import engine_output, terminal_console
    from prefdata.trainer.config import validate_train_config
    from prefdata.trainer.dpo import prepare
    from prefdata.trainer.reference import sequence_logps

    for name, path in (("policy", policy), ("reference", reference)):
        if not Path(path).is_dir():
            raise PrefdataError(f"argilla.{name}: {path!r} is not a model folder; --select implicit_margin scores "
                                "the judges' pairs with the current policy and its reference")
    work_dir = Path(work_dir)
    # An empty or repeated answer is no preference the trainer accepts (its data checks refuse
    # the set): such a pair gets no value, like a prompt the judge could not rank.
    text = [pl.col(c).str.strip_chars() for c in ("chosen", "rejected")]
    pairs = pairs.filter((text[0] != "") & (text[1] != "") & (text[0] != text[1]))
    if pairs.height == 0:
        return pl.DataFrame(schema={"prompt_id": pl.String, "value": pl.Float64})
    rows = [{"prompt": p, "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}], "prompt_id": pid, "source": "implicit_margin"}
            for pid, p, c, r in pairs.select("prompt_id", "prompt", "chosen", "rejected").iter_rows()]
    data = work_dir / "implicit_margin" / "pairs"
    write_dataset_dir(data, examples_frame(rows), empty_rejects(), source="the judges' pairs, for implicit margins")
    cfg = validate_train_config({
        "model": {"path": str(policy)}, "data": {"dir": str(data), "eval_split": None},
        "reference": {"strategy": "model", "model_path": str(reference)},
        "dpo": {"output_dir": str(work_dir / "implicit_margin" / "trainer"), "report_to": "none",
                "max_length": max_length, "per_device_train_batch_size": 8, "disable_tqdm": True,
                "save_strategy": "no", "beta": beta}}, "implicit_margin")
    with engine_output(work_dir / "implicit_margin" / "trainer.log"), torch.no_grad():
        run = prepare(cfg, terminal_console(quiet=True))
        trainer = run.trainer
        kept = _kept_prompts(rows, cfg.output_dir / "rejects_train.parquet", len(trainer.train_dataset))
        pc, pr = sequence_logps(trainer, trainer.model)
        rc, rr = sequence_logps(trainer, trainer.ref_model)
    margin = beta * ((pc - rc) - (pr - rr))
    return pl.DataFrame({"prompt_id": kept, "value": margin.double().tolist()})


def _kept_prompts(rows: list[dict], rejects: Path, n_kept: int) -> list[str]:
    """The prompt ids of the trainer's rows, in order: the input's, less the rows its checks and
    TRL dropped (each listed with its prompt id in the trainer's rejects file)."""
    dropped = set(pl.read_parquet(rejects)["row_id"].to_list()) if rejects.is_file() else set()
    kept = [r["prompt_id"] for r in rows if r["prompt_id"] not in dropped]
    if len(kept) != n_kept:
        raise PrefdataError(f"implicit_margin: the trainer kept {n_kept} of {len(rows)} pairs but its rejects "
                            f"account for {len(rows) - len(kept)} (see {rejects}); this is a bug, please report it")
    return kept
