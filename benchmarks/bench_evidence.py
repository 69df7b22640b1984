"""Evidence: prefdata's data choices against the peers' binarization rules, over 10 seeds.

    python benchmarks/bench_evidence.py --out runs/bench-evidence [--seeds 0 1 ... 9] [--quick]

Per seed (each in its own process): the full-size demo (prefdata/demo/run.py) with every
training set of prefdata/demo/variants.py: one SFT model, one candidate set (k=8 answers on
800 prompts), one set of judge scores, then (a) UltraFeedback-binarized, (b) distilabel
max-vs-min, (c) prefdata tie-free best-vs-worst, (d) (c) + margin quantile, (e) RIP,
(f) sweet-spot, and, with the position-biased pairwise judge, (g) without and (h) with the
swap-consistency filter. Every set trains for the same number of optimizer steps (150, batch
8: `dpo.max_steps`, so a smaller set is seen for more epochs). Printed and written to
OUT/summary.json per variant: pairs, label noise and inverted pairs (measured with the clean
check), tied and identical pairs, held-out greedy accuracy (mean and std over seeds, and per
seed) and the trained model's mean answer length; and each set against (a) (and (d) against
(c), (h) against (g)) as a paired difference in held-out accuracy with a 95% bootstrap
interval over seeds and held-out prompts (prefdata/stats.py): `holds` when the interval
lies above 0. Every threshold and training setting was fixed in the code before the first run.
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

METRICS = ("pairs", "label_noise", "inverted", "ties", "identical", "accuracy", "answer_length")
# (set, baseline) pairs compared with a paired bootstrap: every set against the UltraFeedback rule,
# margin selection against plain prefdata pairs, the swap-consistency filter against none
COMPARISONS = [("ultrafeedback", "sft"), ("margin_quantile", "sft"), ("max_min", "ultrafeedback"), ("prefdata", "ultrafeedback"),
               ("margin_quantile", "ultrafeedback"), ("rip", "ultrafeedback"), ("sweet_spot", "ultrafeedback"),
               ("pairwise", "ultrafeedback"), ("pairwise_swap", "ultrafeedback"), ("margin_quantile", "prefdata"),
               ("pairwise_swap", "pairwise")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("runs/bench-evidence"))
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--quick", action="store_true", help="The quick demo's size (400 prompts, 75 steps).")
    parser.add_argument("--one-seed", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed is not None:
        return one_seed(args.out / f"seed{args.one_seed}", args.one_seed, args.quick)
    run_seeds(__file__, args.out, args.seeds, finished=lambda d: _finished(d / "results.json"),
              extra=["--quick"] if args.quick else [])
    per_seed = {s: json.loads((args.out / f"seed{s}" / "results.json").read_text())["results"] for s in args.seeds}
    summary, compared = summarize(per_seed), compare(per_seed)
    (args.out / "summary.json").write_text(json.dumps({"per_seed": per_seed, "summary": summary,
                                                       "paired": compared}, indent=2))
    print(markdown(summary))
    print(paired_markdown(compared, len(per_seed)))


def _finished(results: Path) -> bool:
    """A seed's results with per-problem correctness (older runs lack it and are run again)."""
    return results.is_file() and "correct" in json.loads(results.read_text())["results"]["sft"]


def one_seed(out: Path, seed: int, quick: bool) -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from prefdata.demo.run import run_demo
    from prefdata.demo.variants import VARIANTS

    run_demo(out, seed=seed, quick=quick, variants=VARIANTS)


def summarize(per_seed: dict) -> dict:
    variants = list(next(iter(per_seed.values())))
    out = {}
    for variant in variants:
        rows = [results[variant] for results in per_seed.values()]
        entry = {m: statistics.mean(r[m] for r in rows) for m in METRICS if m in rows[0]}
        entry["accuracy_std"] = statistics.pstdev(r["accuracy"] for r in rows)
        entry["accuracy_per_seed"] = [r["accuracy"] for r in rows]
        out[variant] = entry
    return out


def compare(per_seed: dict) -> dict:
    """Paired differences in held-out accuracy (set - baseline) with 95% intervals over seeds x prompts."""
    out = {}
    for variant, baseline in COMPARISONS:
        if not all(variant in r and baseline in r for r in per_seed.values()):
            continue
        diffs = [[a - b for a, b in zip(r[variant]["correct"], r[baseline]["correct"])] for r in per_seed.values()]
        mean, low, high = paired_interval(diffs)
        out[f"{variant} - {baseline}"] = {"diff": mean, "ci95": [low, high], "verdict": verdict(low, high),
                                          "per_seed": [sum(d) / len(d) for d in diffs]}
    return out


def paired_markdown(compared: dict, seeds: int) -> str:
    lines = [f"| held-out accuracy, paired ({seeds} seeds) | difference | 95% interval | verdict | per seed |",
             "|---|---|---|---|---|"]
    for name, c in compared.items():
        lines.append(f"| {name} | {100 * c['diff']:+.1f} | [{100 * c['ci95'][0]:+.1f}, {100 * c['ci95'][1]:+.1f}] | "
                     f"{c['verdict']} | {' / '.join(f'{100 * d:+.1f}' for d in c['per_seed'])} |")
    return "\n".join(lines)


def markdown(summary: dict) -> str:
    lines = ["| training set | pairs | label noise | inverted | ties | identical | held-out accuracy (mean +- std) "
             "| per seed | answer length |", "|---|---|---|---|---|---|---|---|---|"]
    for variant, r in summary.items():
        if variant == "sft":
            lines.append(f"| SFT (no DPO) | - | - | - | - | - | {r['accuracy']:.1%} +- {r['accuracy_std']:.1%} | "
                         f"{' / '.join(f'{a:.1%}' for a in r['accuracy_per_seed'])} | {r['answer_length']:.2f} |")
            continue
        lines.append(f"| {variant} | {r['pairs']:.0f} | {r['label_noise']:.1%} | {r['inverted']:.1%} | {r['ties']:.1%} "
                     f"| {r['identical']:.1%} | {r['accuracy']:.1%} +- {r['accuracy_std']:.1%} | "
                     f"{' / '.join(f'{a:.1%}' for a in r['accuracy_per_seed'])} | {r['answer_length']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
