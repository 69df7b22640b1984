"""Iterative DPO against one offline round on the same number of pairs, over 10 seeds.

    python benchmarks/bench_iterate.py --out runs/bench-iterate [--seeds 0 1 ... 9]

Per seed (each in its own process, so vLLM engines of one seed never stay in memory):
1. the demo's first step at full size: a tiny model SFT'd on addition (pi_0), 800 DPO
   prompts and 200 held-out prompts (prefdata/demo/run.py prepare_policy);
2. iterative: `pipelines/iterate_demo.yaml`, 3 rounds x 256 new prompts, each round sampled
   from the previous round's model, labelled by the two noisy judges, agreement-filtered,
   trained from the previous model with the SFT model as reference;
3. offline: the same recipe as one round on the same 768 prompts, all sampled from the SFT
   model, trained on a random subset of its pairs of the size the 3 iterative rounds trained
   on in total (train.data.fraction), so both arms see the same number of pairs and, with
   the same batch size and epochs, about the same number of optimizer steps.
Held-out greedy exact-match accuracy (the `exact` judge's pass rate) per round and per seed is
printed and written to OUT/summary.json, with iterative (final round) - offline and each
round - pi_0 as paired differences with a 95% bootstrap interval over seeds and held-out
prompts (prefdata/stats.py). Every setting above was fixed before the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prefdata.stats import paired_interval, verdict  # noqa: E402
from seeds import run_seeds  # noqa: E402

PROMPTS_PER_ROUND = 256
ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/bench-iterate"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--one-seed", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed is not None:
        return one_seed(args.out / f"seed{args.one_seed}", args.one_seed)
    # every seed runs again: a finished one is reused step by step (every step of the loop is resumable)
    run_seeds(__file__, args.out, args.seeds, finished=lambda d: False)
    per_seed = {s: json.loads((args.out / f"seed{s}" / "result.json").read_text()) for s in args.seeds}
    summary = summarize(per_seed)
    (args.out / "summary.json").write_text(json.dumps({"per_seed": per_seed, "summary": summary}, indent=2))
    print(json.dumps(summary, indent=2))


def one_seed(out: Path, seed: int) -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from prefdata.demo.run import FULL, prepare_policy
    from prefdata.demo.task import AdditionTask
    from prefdata.iterate.loop import iterate
    from prefdata.pipelines import recipe_path

    task = AdditionTask(max_operand=FULL.max_operand, seed=seed, n_eval=FULL.n_eval, n_dpo=FULL.n_dpo)
    if not (out / "sft.json").is_file():  # a rerun reuses the SFT model
        _, stats = prepare_policy(out, task, FULL, seed)
        (out / "sft.json").write_text(json.dumps(stats))
    sft = out / "models/sft"
    common = [f"seed={seed}", f"prompts.path={out / 'data/dpo_prompts.jsonl'}", f"sample.models.0.model={sft}",
              f"iterate.eval.prompts={out / 'data/heldout_prompts.jsonl'}"]
    recipe = recipe_path("iterate_demo")
    iterative = iterate(recipe, out / "iterative", [*common, f"iterate.prompts_per_round={PROMPTS_PER_ROUND}"],
                        rounds=ROUNDS)
    total_pairs = sum(r["train"]["pairs"] for r in iterative["rounds"][1:])
    probe = iterate(recipe, out / "offline", [*common, f"iterate.prompts_per_round={PROMPTS_PER_ROUND * ROUNDS}"],
                    rounds=1)  # round 1 of it: all 768 prompts sampled from the SFT model
    offline_pairs = probe["rounds"][1]["train"]["pairs"]
    fraction = min(1.0, total_pairs / offline_pairs)
    if fraction < 1.0:
        probe = iterate(recipe, out / "offline", [*common, f"iterate.prompts_per_round={PROMPTS_PER_ROUND * ROUNDS}",
                                                   f"train.data.fraction={fraction}"], rounds=1)
    accuracy = lambda report: [r["eval"]["exact"]["pass_rate"] for r in report["rounds"]]  # noqa: E731
    correct = {"iterative": [correct_by_prompt(out / "iterative", t) for t in range(ROUNDS + 1)],
               "offline": correct_by_prompt(out / "offline", 1)}
    result = {"seed": seed, "iterative_accuracy_by_round": accuracy(iterative),
              "iterative_pairs_by_round": [r["train"]["pairs"] for r in iterative["rounds"][1:]],
              "offline_accuracy": accuracy(probe)[1], "offline_pairs_available": offline_pairs,
              "offline_pairs_trained": probe["rounds"][1]["train"]["pairs"], "sft_accuracy": accuracy(iterative)[0],
              "correct": correct}
    (out / "result.json").write_text(json.dumps(result, indent=2))


def correct_by_prompt(root: Path, t: int) -> list[int]:
    """Per held-out prompt (prompt_id order): 1 if round t's greedy answer passed the exact check."""
    import polars as pl

    from prefdata.iterate.evaluate import eval_scores
    from prefdata.rundir import RunDir

    ids = sorted(pl.read_parquet(root / "heldout.parquet", columns=["prompt_id"])["prompt_id"].to_list())
    scores = eval_scores(RunDir(root / "rounds" / str(t) / "eval").stage("label").data, ids, {"exact": "programmatic"})
    return [int(s is not None and s >= 1.0) for s in scores.sort("prompt_id")["score"]]


def paired(per_seed: dict, arm, base) -> dict:
    """arm - base per held-out prompt, with a 95% bootstrap interval over seeds x prompts."""
    diffs = [[a - b for a, b in zip(arm(r["correct"]), base(r["correct"]))] for r in per_seed.values()]
    mean, low, high = paired_interval(diffs)
    return {"diff": mean, "ci95": [low, high], "verdict": verdict(low, high)}


def summarize(per_seed: dict) -> dict:
    rounds = list(zip(*(r["iterative_accuracy_by_round"] for r in per_seed.values())))
    final = [r["iterative_accuracy_by_round"][-1] for r in per_seed.values()]
    offline = [r["offline_accuracy"] for r in per_seed.values()]
    diff = [f - o for f, o in zip(final, offline)]
    return {
        "mean_accuracy_by_round": [statistics.mean(a) for a in rounds],
        "std_accuracy_by_round": [statistics.pstdev(a) for a in rounds],
        "offline_mean_accuracy": statistics.mean(offline),
        "offline_std_accuracy": statistics.pstdev(offline),
        "iterative_minus_offline_per_seed": diff,
        "iterative_beats_offline_on_every_seed": all(d > 0 for d in diff),
        "pairs_iterative_total": [sum(r["iterative_pairs_by_round"]) for r in per_seed.values()],
        "pairs_offline_trained": [r["offline_pairs_trained"] for r in per_seed.values()],
        "iterative_minus_offline": paired(per_seed, lambda c: c["iterative"][-1], lambda c: c["offline"]),
        "round_minus_pi0": [paired(per_seed, lambda c, t=t: c["iterative"][t], lambda c: c["iterative"][0])
                            for t in range(1, ROUNDS + 1)],
        "offline_minus_pi0": paired(per_seed, lambda c: c["offline"], lambda c: c["iterative"][0]),
    }


if __name__ == "__main__":
    main()
