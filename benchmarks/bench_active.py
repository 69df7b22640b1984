"""A human budget routed by the machines' doubt, against random routing, over 10 seeds.

    python benchmarks/bench_active.py --out runs/bench-active [--seeds 0 1 ... 9]
    python benchmarks/bench_active.py --out /tmp/a --seeds 0 --tiny     # every setting in ~2 min (tests/test_benchmarks.py)

Per seed (each in its own process), the quick demo's task (prefdata/demo/run.py: 400 prompts,
k=8 answers from the SFT policy, 75 DPO steps, 200 held-out prompts): the machines are the
noisy reward model `rm` and the position-biased pairwise judge `ab`; the human is the exact
check (a perfect annotator, as the simulated annotator of prefdata/argilla/simulate.py
answers: the ranking the check implies, turned into scores by the functions `prefdata
argilla pull` uses). The clean `exact` judge is never shown to a selection criterion.

Settings, each one training set and one DPO run from the same candidates and labels:
- judges: no human label, best-vs-worst on `rm` (prefdata's plain setting);
- human: every prompt labelled by the human (the other end);
- CRITERION@BUDGET for budgets 10%, 25%, 50% of the prompts and criteria margin (smallest
  normalized `rm` gap first), disagreement (rm and ab prefer opposite answers), swap (ab's
  verdicts flip with the order), implicit_margin (smallest DPO implicit margin of rm's pair
  under the policy trained on the `judges` set, reference = the SFT model, beta 0.1: where the
  policy the machines' labels make is least sure) and random (seeded): `prefdata argilla push
  --budget --select`'s selection (prefdata/selection/budget.py), then `label.source: mixed`
  (prefdata/labelling/mixed.py): the human ranking on the selected prompts, `rm` elsewhere; the
  same pair and filter stages. Every DPO run starts from the SFT model.

Printed and written to OUT/summary.json per setting: pairs, inverted pairs (the exact check
prefers the rejected answer), human labels spent (prompts), held-out greedy accuracy; and each
criterion against random at the same budget as a paired difference in held-out accuracy with a
95% bootstrap interval over seeds and held-out prompts (prefdata/stats.py), `holds` when
the interval lies above 0, and the difference in inverted pairs with a 95% interval over seeds
(`holds` when it lies below 0; added to the report after the first run, from the same
results). Settings fixed before the first run (commits of bench_active.py before it ran).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prefdata.stats import paired_interval, verdict  # noqa: E402
from seeds import run_seeds  # noqa: E402

BUDGETS = (0.1, 0.25, 0.5)
CRITERIA = ("margin", "disagreement", "swap", "implicit_margin", "random")
MACHINES = ("rm", "ab")  # the judges a criterion may read; `exact` is the human's check
SETTINGS = ("judges", *(f"{c}@{b:g}" for b in BUDGETS for c in CRITERIA), "human")
METRICS = ("pairs", "inverted", "label_noise", "human_prompts", "accuracy")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/bench-active"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--tiny", action="store_true", help="40 prompts, no SFT, 2 DPO steps: a smoke run.")
    parser.add_argument("--one-seed", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed is not None:
        return one_seed(args.out / f"seed{args.one_seed}", args.one_seed, args.tiny)
    run_seeds(__file__, args.out, args.seeds, finished=lambda d: (d / "results.json").is_file(),
              extra=["--tiny"] if args.tiny else [])
    per_seed = {s: json.loads((args.out / f"seed{s}" / "results.json").read_text())["results"] for s in args.seeds}
    summary, compared = summarize(per_seed), compare(per_seed)
    (args.out / "summary.json").write_text(json.dumps({"per_seed": per_seed, "summary": summary,
                                                       "paired": compared}, indent=2))
    print(markdown(summary, len(per_seed)))
    print(paired_markdown(compared, len(per_seed)))


def one_seed(out: Path, seed: int, tiny: bool = False) -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import time

    import polars as pl
    import torch
    from rich.console import Console

    from prefdata.demo.run import QUICK, TRAIN_CONFIG, DemoSize, _evaluate, pair_stats, prepare_policy, recipe_overrides
    from prefdata.demo.task import AdditionTask
    from prefdata.logs import engine_output, terminal_console
    from prefdata.pipelines import recipe_path
    from prefdata.rundir import RunDir
    from prefdata.runner import build
    from prefdata.trainer.config import load_train_config
    from prefdata.trainer.dpo import train

    torch.set_num_threads(1)
    out = out.resolve()
    quiet, console = Console(quiet=True), terminal_console(width=140)  # engine output: OUT/logs/bench.log
    started = time.monotonic()
    size = DemoSize(n_eval=20, n_dpo=40, sft_target_accuracy=0.0, train_steps=2) if tiny else QUICK
    task = AdditionTask(max_operand=size.max_operand, seed=seed, n_eval=size.n_eval, n_dpo=size.n_dpo)
    with engine_output(out / "logs" / "bench.log"):
        sft, _ = prepare_policy(out, task, size, seed)
        recipe = recipe_path("demo")
        overrides = recipe_overrides(out / "data/dpo_prompts.jsonl", sft, seed)
        if tiny:  # a model with no SFT never stops: keep its truncated answers so there is something to train on
            overrides.append("filter.steps=[{type: quality, drop_truncated: false}]")
        labels_dir = out / "runs" / "labels"
        build(recipe, labels_dir, overrides, until_stage="label", console=quiet)
        run = RunDir(labels_dir)
        prompts = pl.read_parquet(run.stage("prompts").data)
        candidates = pl.read_parquet(run.stage("sample").data)
        labels = pl.read_parquet(run.stage("label").data)
        human = human_labels(prompts, candidates)
        held_out = task.examples(task.eval_problems)
        results = {"sft": _evaluate(sft, held_out)}
        console.print(f"seed {seed}: policy and labels in {time.monotonic() - started:.0f} s")
        for setting in SETTINGS:
            target = out / "runs" / setting
            policy = {"policy": out / "models" / "judges", "reference": sft}  # "judges" is trained first
            judgments, spent = setting_labels(setting, target, labels, human, prompts, candidates, seed, policy)
            build(recipe, target, [*overrides, "pair.label_source=mixed"], console=quiet,
                  external={"candidates": run.stage("sample").data, "judgments": judgments})
            dataset = RunDir(target).dataset
            stats = pair_stats(dataset)
            if stats["pairs"]:
                cfg = load_train_config(TRAIN_CONFIG, [f"model.path={sft}", f"dpo.max_steps={size.train_steps}",
                                                       f"dpo.seed={seed}"],
                                        data_dir=str(dataset), output_dir=str(out / "models" / setting))
                evaluated = _evaluate(train(cfg, overwrite=True, console=quiet).output_dir, held_out)
            else:  # nothing to train on (a tiny run's untrained model is never right): the policy stays pi_0
                evaluated = results["sft"]
            results[setting] = {**stats, "human_prompts": spent, **evaluated}
            console.print(f"seed {seed}: {setting:>19} pairs {stats['pairs']}, inverted {stats['inverted']:.1%}, "
                          f"human {spent}, accuracy {evaluated['accuracy']:.1%} ({time.monotonic() - started:.0f} s)")
    (out / "results.json").write_text(json.dumps({"seed": seed, "size": asdict(size), "results": results}, indent=2))


def human_labels(prompts, candidates):
    """The human's answer on every prompt, as pull would store it: the exact check's ranking of
    the prompt's candidates (ties share a rank) as scores (n - rank) / (n - 1)."""
    import polars as pl

    from prefdata.argilla.pull import competition_ranks, to_score
    from prefdata.judges.programmatic import exact_match

    reference = dict(prompts.select("prompt_id", "reference").iter_rows())
    rows = []
    for (prompt_id,), group in candidates.sort("candidate_id").group_by("prompt_id", maintain_order=True):
        checks = [exact_match("", text, reference[prompt_id]) for text in group["text"]]
        ranks = [float(r) for r in competition_ranks(checks, True)]
        for cid, rank in zip(group["candidate_id"], ranks):
            rows.append({"prompt_id": prompt_id, "candidate_id": cid, "human": to_score(rank, ranks, {"kind": "ranking"})})
    return pl.DataFrame(rows)


def setting_labels(setting: str, target: Path, labels, human, prompts, candidates, seed: int, models: dict):
    """(judgments file for the setting's build, prompts labelled by the human). `models`: the
    policy and reference implicit_margin scores with."""
    import polars as pl

    from prefdata.selection.budget import select
    from prefdata.atomic import write_parquet
    from prefdata.frames import with_all_columns
    from prefdata.labelling.mixed import mix
    from prefdata.records import Judgment

    prompt_ids = prompts["prompt_id"].to_list()
    if setting == "judges":
        chosen: list[str] = []
    elif setting == "human":
        chosen = prompt_ids
    else:
        criterion, budget = setting.split("@")
        machines = labels.filter(pl.col("judge_id").is_in(MACHINES))
        implicit = None
        if criterion == "implicit_margin":
            from prefdata.selection.implicit_margin import implicit_margins, judge_pairs

            cache = target.parent / "implicit_margin.parquet"  # one policy a seed: scored once, for every budget
            if not cache.is_file():
                write_parquet(implicit_margins(judge_pairs(prompts, candidates, machines, "rm"),
                                               policy=str(models["policy"]), reference=str(models["reference"]),
                                               work_dir=target.parent / "implicit"), cache)
            implicit = pl.read_parquet(cache)
        selection = select(target, machines, prompt_ids, criterion, float(budget), seed=seed, score_judge="rm",
                           dataset=setting, implicit=implicit)
        chosen = selection.filter("selected")["prompt_id"].to_list()
    answered = human.filter(pl.col("prompt_id").is_in(chosen))
    rows, _, stats = mix(with_all_columns(labels, Judgment).lazy(), answered, "rm", "mixed")
    judgments = pl.concat([with_all_columns(labels, Judgment), rows.collect()])
    return write_parquet(judgments, target.parent / f"{setting}.judgments.parquet"), stats["prompts_human"]


def summarize(per_seed: dict) -> dict:
    out = {}
    for setting in next(iter(per_seed.values())):
        rows = [results[setting] for results in per_seed.values()]
        entry = {m: statistics.mean(r[m] for r in rows) for m in METRICS if m in rows[0]}
        entry["accuracy_std"] = statistics.pstdev(r["accuracy"] for r in rows)
        out[setting] = entry
    return out


def compare(per_seed: dict) -> dict:
    """Each criterion against random at its budget, and both ends against judges only."""
    pairs = [(f"{c}@{b:g}", f"random@{b:g}") for b in BUDGETS for c in CRITERIA if c != "random"]
    pairs += [(f"random@{b:g}", "judges") for b in BUDGETS] + [("human", "judges")]
    out = {}
    for arm, baseline in pairs:
        diffs = [[a - b for a, b in zip(r[arm]["correct"], r[baseline]["correct"])] for r in per_seed.values()]
        mean, low, high = paired_interval(diffs)
        # Inverted pairs: one share per seed, so the interval resamples seeds only.
        inverted = paired_interval([[r[arm]["inverted"] - r[baseline]["inverted"]] for r in per_seed.values()])
        out[f"{arm} - {baseline}"] = {"diff": mean, "ci95": [low, high], "verdict": verdict(low, high),
                                      "inverted_diff": inverted[0], "inverted_ci95": list(inverted[1:]),
                                      "inverted_verdict": verdict(-inverted[2], -inverted[1]),  # fewer is better
                                      "per_seed": [sum(d) / len(d) for d in diffs]}
    return out


def markdown(summary: dict, seeds: int) -> str:
    lines = [f"| setting ({seeds} seeds) | human labels (prompts) | pairs | inverted pairs | held-out accuracy "
             "(mean +- std) |", "|---|---|---|---|---|"]
    for setting, r in summary.items():
        if setting == "sft":
            lines.append(f"| SFT (no DPO) | - | - | - | {r['accuracy']:.1%} +- {r['accuracy_std']:.1%} |")
            continue
        lines.append(f"| {setting} | {r['human_prompts']:.0f} | {r['pairs']:.0f} | {r['inverted']:.1%} | "
                     f"{r['accuracy']:.1%} +- {r['accuracy_std']:.1%} |")
    return "\n".join(lines)


def paired_markdown(compared: dict, seeds: int) -> str:
    lines = [f"| paired ({seeds} seeds) | held-out accuracy, difference [95% CI] | verdict | inverted pairs, "
             "difference [95% CI] | fewer inverted pairs |", "|---|---|---|---|---|"]
    for name, c in compared.items():
        low, high = c["inverted_ci95"]
        lines.append(f"| {name} | {100 * c['diff']:+.1f} [{100 * c['ci95'][0]:+.1f}, {100 * c['ci95'][1]:+.1f}] | "
                     f"{c['verdict']} | {100 * c['inverted_diff']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | "
                     f"{c['inverted_verdict']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
