"""The demo, top to bottom: task -> SFT -> sample and label once -> training sets -> DPO -> evaluate.

    prefdata demo --out runs/demo --seed 0 [--quick]

1. A tiny Llama-style model and tokenizer are built locally, then SFT'd on addition until it
   is right about half the time (pi_0; `prepare_policy`).
2. `pipelines/demo.yaml` runs through `prefdata.runner.build` (the code behind `prefdata
   build`): k=8 answers per prompt from the SFT policy (vLLM when installed, else
   transformers), labelled by a noisy reward model, a position-biased pairwise judge and the
   clean exact-match check (which only measures label noise). From these same candidates and
   scores, `prefdata/demo/variants.py` makes the training sets: the demo compares the naive
   rule users would otherwise run (UltraFeedback-binarized) with prefdata's best setting;
   benchmarks/bench_evidence.py runs every variant over 3 seeds.
3. `prefdata.trainer.dpo.train` (the code behind `prefdata train`) runs DPO on each set for
   the same number of optimizer steps (`trainer/configs/demo_cpu.yaml`: sigmoid + SFT term,
   reference = the SFT model).
4. Held-out prompts (never trained on): greedy exact-match accuracy and mean answer length of
   every model; label noise of every training set, measured with the clean check.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

import prefdata.trainer
from prefdata.demo.evaluate import greedy_eval, load_model
from prefdata.demo.sft import supervised_finetune
from prefdata.demo.task import AdditionTask
from prefdata.demo.variants import NAIVE, SUMMARY, VARIANTS, make_datasets
from prefdata.judges.programmatic import exact_match
from prefdata.logs import engine_output, terminal_console
from prefdata.pipelines import recipe_path
from prefdata.tiny import build_tiny_model
from prefdata.trainer.config import load_train_config
from prefdata.trainer.dpo import train
from prefdata.trainer.metrics import read_metrics

TRAIN_CONFIG = Path(prefdata.trainer.__file__).parent / "configs" / "demo_cpu.yaml"
BEST = "margin_quantile"  # best mean held-out accuracy of the prefdata settings in benchmarks/bench_evidence.py (10 seeds)
DEMO_VARIANTS = ("ultrafeedback", BEST)


@dataclass(frozen=True)
class DemoSize:
    max_operand: int = 49  # a + b with 0 <= a, b <= max_operand: 2,500 problems
    n_eval: int = 200  # held-out prompts: never in SFT or DPO
    n_dpo: int = 800  # prompts the pipeline samples, labels and trains on
    sft_target_accuracy: float = 0.5  # SFT stops at this validation accuracy (or after 2,000 steps)
    train_steps: int = 150  # DPO optimizer steps, the same for every training set


QUICK = DemoSize(n_dpo=400, train_steps=75)
FULL = DemoSize()


@dataclass
class VariantResult:
    pairs: int
    label_noise: float  # share of pairs the clean check does not confirm (right over wrong)
    inverted: float  # share of pairs that prefer a wrong answer over a right one
    ties: float  # share of pairs whose two answers have the same score
    identical: float  # share of pairs whose chosen and rejected answers are the same text
    accuracy: float
    answer_length: float  # mean characters of the trained model's greedy answers
    correct: list[int]  # per held-out problem, in order: 1 if the greedy answer is right


def run_demo(out: str | Path, *, seed: int = 0, quick: bool = False, variants: tuple[str, ...] = DEMO_VARIANTS,
             console: Console | None = None) -> dict:
    """The whole demo; the console gets one line per step, engine output goes to OUT/logs/demo.log."""
    console = console or terminal_console()
    out, size = Path(out).resolve(), QUICK if quick else FULL
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    with engine_output(out / "logs" / "demo.log"):
        return _run_demo(out, seed, quick, size, list(variants), console)


def _run_demo(out: Path, seed: int, quick: bool, size: DemoSize, variants: list[str], console: Console) -> dict:
    task = AdditionTask(max_operand=size.max_operand, seed=seed, n_eval=size.n_eval, n_dpo=size.n_dpo)
    quiet = Console(quiet=True)  # builds and trainings report here in one line each (their own logs: per run)

    console.rule("1. tiny model + short SFT")
    sft, sft_stats = prepare_policy(out, task, size, seed)
    console.print(f"SFT: {sft_stats['steps']} steps, validation accuracy {sft_stats['validation_accuracy']:.0%}")

    console.rule("2. prefdata build: sample and label once, then one training set per rule")
    overrides = recipe_overrides(out / "data/dpo_prompts.jsonl", sft, seed)
    datasets = make_datasets(out, recipe_path("demo"), overrides, variants, seed, console=quiet)
    for variant, dataset in datasets.items():
        console.print(f"{variant:>15}: {_pairs(dataset).height} pairs ({SUMMARY[variant]})")

    held_out = task.examples(task.eval_problems)
    console.rule(f"3. prefdata train: DPO on each set, {size.train_steps} steps, reference = the SFT model")
    results = {"sft": _evaluate(sft, held_out)}
    for variant, dataset in datasets.items():
        overrides = [f"model.path={sft}", f"dpo.max_steps={size.train_steps}", f"dpo.seed={seed}"]
        if variant in NAIVE:
            overrides.append("data.check=false")  # as the peer tools feed TRL: no prefdata checks
        cfg = load_train_config(TRAIN_CONFIG, overrides, data_dir=str(dataset),
                                output_dir=str(out / "models" / f"dpo-{variant}"))
        trained = train(cfg, overwrite=True, console=quiet)  # a rerun of the demo retrains
        console.print(f"{variant:>15}: final loss {trained.train_metrics.get('train_loss', float('nan')):.3f}, "
                      f"alarms {list(trained.alarms) or 'none'}")
        results[variant] = asdict(VariantResult(**pair_stats(dataset), **_evaluate(trained.output_dir, held_out)))

    console.rule("4. results on held-out prompts")
    report = {"seed": seed, "quick": quick, "size": asdict(size), "sft": sft_stats, "results": results}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    console.print(results_table(results))
    write_plots(out, results)
    return report


def prepare_policy(out: Path, task: AdditionTask, size: DemoSize, seed: int) -> tuple[Path, dict]:
    """Step 1: the tiny base model, its short SFT (OUT/models/sft = pi_0) and the prompt files
    OUT/data/dpo_prompts.jsonl and OUT/data/heldout_prompts.jsonl (`pipelines/iterate_demo.yaml` reads them)."""
    base = build_tiny_model(out / "models/base", corpus=task.corpus(), seed=seed, vocab_size=128)
    sft, stats = supervised_finetune(
        base, task.examples(task.sft_problems), out / "models/sft", max_steps=2000, seed=seed,
        validation=task.examples(task.sft_validation_problems), target_accuracy=size.sft_target_accuracy,
    )
    AdditionTask.write_prompts(out / "data/dpo_prompts.jsonl", task.dpo_problems)
    AdditionTask.write_prompts(out / "data/heldout_prompts.jsonl", task.eval_problems)
    return sft, stats


def recipe_overrides(prompts: Path, sft: Path, seed: int, *, use_vllm: bool | None = None) -> list[str]:
    """`--set` overrides of pipelines/demo.yaml: our prompts, our SFT model, our seed."""
    if use_vllm is None:
        use_vllm = importlib.util.find_spec("vllm") is not None
    sampler = f"sample.models.0.model={sft}"
    if not use_vllm:  # the transformers fallback
        sampler = f"sample.models.0={{backend: transformers, model: {sft}, dtype: float32}}"
    return [f"seed={seed}", f"prompts.path={prompts}", sampler]


def _pairs(dataset: Path) -> pl.DataFrame:
    """prompt, chosen, rejected texts and the margin of a conversational dataset's train split."""
    rows = pl.read_parquet(dataset / "train*.parquet")
    return rows.select(pl.col("prompt").list.last().struct.field("content").alias("prompt"),
                       pl.col("chosen").list.first().struct.field("content").alias("chosen"),
                       pl.col("rejected").list.first().struct.field("content").alias("rejected"), "margin")


def pair_stats(dataset: Path) -> dict[str, float]:
    """Pairs, and label noise measured with the clean check: pairs it does not confirm, pairs it
    inverts; pairs whose scores tie, pairs whose two answers are the same text."""
    pairs = _pairs(dataset)
    unconfirmed = inverted = 0
    for prompt, chosen, rejected, _ in pairs.iter_rows():
        a, b = (int(x) for x in prompt.rstrip("=").split("+"))
        chosen_ok, rejected_ok = (exact_match(prompt, text, str(a + b)) == 1.0 for text in (chosen, rejected))
        unconfirmed += not (chosen_ok and not rejected_ok)
        inverted += rejected_ok and not chosen_ok
    n = pairs.height or float("nan")
    return {"pairs": pairs.height, "label_noise": unconfirmed / n, "inverted": inverted / n,
            "ties": int((pairs["margin"] == 0).sum()) / n, "identical": int((pairs["chosen"] == pairs["rejected"]).sum()) / n}


def _evaluate(model_dir: Path, problems: list[tuple[str, str]]) -> dict:
    tokenizer, model = load_model(model_dir)
    return greedy_eval(model, tokenizer, problems)


def results_table(results: dict) -> Table:
    table = Table(title="held-out addition prompts (greedy, exact match)")
    for col in ("DPO on", "pairs", "noise", "inverted", "ties", "accuracy", "length"):
        table.add_column(col, justify="right" if col != "DPO on" else "left", no_wrap=True)
    for name, r in results.items():
        pct = {k: f"{r[k]:.1%}" if k in r else "-" for k in ("label_noise", "inverted", "ties")}
        table.add_row("- (SFT)" if name == "sft" else name, str(r.get("pairs", "-")), pct["label_noise"],
                      pct["inverted"], pct["ties"], f"{r['accuracy']:.1%}", f"{r['answer_length']:.2f}")
    table.caption = "noise: pairs the clean check does not confirm; length: mean answer characters"
    return table


def write_plots(out: Path, results: dict) -> list[Path]:
    from prefdata.report import pyplot, save_figure

    plt = pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
    ax.bar(names, [results[n]["accuracy"] for n in names], color=["grey", *["tab:blue"] * (len(names) - 1)])
    ax.set_ylabel("held-out exact-match accuracy")
    ax.set_ylim(0, 1)
    for i, n in enumerate(names):
        ax.text(i, results[n]["accuracy"] + 0.02, f"{results[n]['accuracy']:.0%}", ha="center")
    bars = save_figure(fig, out / "accuracy.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for variant in names[1:]:
        rows = read_metrics(out / "models" / f"dpo-{variant}" / "metrics.jsonl")
        points = [(r["step"], r["loss"]) for r in rows if r["split"] == "train" and "loss" in r]
        if points:
            ax.plot(*zip(*points), label=variant)
    ax.set_xlabel("step")
    ax.set_ylabel("DPO loss")
    ax.legend()
    curves = save_figure(fig, out / "training_curves.png")
    return [bars, curves]
