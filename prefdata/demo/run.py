"""The demo, top to bottom: task -> SFT -> build x3 label variants -> DPO x3 -> evaluate.

    prefdata demo --out runs/demo --seed 0 [--quick]

1. A tiny Llama-style model and tokenizer are built locally, then SFT'd on addition for a
   few hundred steps: right only part of the time.
2. `pipelines/demo.yaml` runs through `prefdata.runner.build` (the code behind
   `prefdata build`) three times on the same prompts: k answers each from the SFT policy
   (vLLM when installed, else transformers), labelled by a clean exact-match check and two
   noisy copies of it (35% of verdicts flipped), paired, filtered and exported:
   clean = pairs from the clean check; noisy = pairs from the two noisy judges' mean;
   filtered = the noisy pairs on which both noisy judges agree (gap filter).
3. `prefdata.trainer.dpo.train` (the code behind `prefdata train`) runs DPO on each, with
   the SFT model as reference (`trainer/configs/demo_cpu.yaml`: sigmoid + SFT term, RPO).
4. Held-out prompts (never trained on): greedy exact-match accuracy of every model, and
   reward accuracy on clean held-out pairs; the label noise in each training set.
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
from prefdata.demo.evaluate import greedy_accuracy, reward_accuracy
from prefdata.demo.sft import supervised_finetune
from prefdata.demo.task import AdditionTask
from prefdata.judges.programmatic import exact_match
from prefdata.logs import engine_output, terminal_console
from prefdata.pipelines import recipe_path
from prefdata.report import funnel_line
from prefdata.runner import build
from prefdata.tiny import build_tiny_model
from prefdata.trainer.config import load_train_config
from prefdata.trainer.dpo import train
from prefdata.trainer.metrics import read_metrics

TRAIN_CONFIG = Path(prefdata.trainer.__file__).parent / "configs" / "demo_cpu.yaml"
VARIANTS = {  # recipe overrides per label variant; pipelines/demo.yaml as written = filtered
    "clean": ["pair.label_source=exact", "filter.steps=[{type: quality}]"],
    "noisy": ["filter.steps=[{type: quality}]"],
    "filtered": [],
}


@dataclass(frozen=True)
class DemoSize:
    max_operand: int = 49  # a + b with 0 <= a, b <= max_operand: 2,500 problems
    n_eval: int = 200  # held-out prompts: never in SFT or DPO
    n_dpo: int = 800  # prompts the pipeline samples, labels and trains on
    sft_target_accuracy: float = 0.5  # SFT stops at this validation accuracy (or after 2,000 steps)
    dpo_epochs: int = 3


QUICK = DemoSize(n_dpo=400)
FULL = DemoSize()


@dataclass
class VariantResult:
    pairs: int
    label_noise: float  # share of pairs the clean check does not confirm (right over wrong)
    inverted: float  # share of pairs that prefer a wrong answer over a right one
    accuracy: float
    reward_accuracy: float


def run_demo(out: str | Path, *, seed: int = 0, quick: bool = False, console: Console | None = None) -> dict:
    """The whole demo; the console gets one line per step, engine output goes to OUT/logs/demo.log."""
    console = console or terminal_console()
    out, size = Path(out).resolve(), QUICK if quick else FULL
    with engine_output(out / "logs" / "demo.log"):
        return _run_demo(out, seed, quick, size, console)


def _run_demo(out: Path, seed: int, quick: bool, size: DemoSize, console: Console) -> dict:
    task = AdditionTask(max_operand=size.max_operand, seed=seed, n_eval=size.n_eval, n_dpo=size.n_dpo)
    quiet = Console(quiet=True)  # builds and trainings report here in one line each (their own logs: per run)

    console.rule("1. tiny model + short SFT")
    sft, sft_stats = prepare_policy(out, task, size, seed)
    console.print(f"SFT: {sft_stats['steps']} steps, validation accuracy {sft_stats['validation_accuracy']:.0%}")

    console.rule("2. prefdata build: sample -> label -> pair -> filter -> export")
    prompts, heldout_prompts = out / "data/dpo_prompts.jsonl", out / "data/heldout_prompts.jsonl"
    common = recipe_overrides(prompts, sft, seed)
    for variant, overrides in VARIANTS.items():
        manifest = build(recipe_path("demo"), out / "runs" / variant, common + overrides, console=quiet)
        console.print(f"{variant:>9}: {funnel_line(manifest)}")
    build(recipe_path("demo"), out / "runs/heldout", [*common, f"prompts.path={heldout_prompts}",
                                                      *VARIANTS["clean"]], console=quiet)
    heldout_pairs = _pairs(out / "runs/heldout/dataset")

    held_out = task.examples(task.eval_problems)
    console.rule("3. prefdata train: DPO on each label variant, reference = the SFT model")
    results = {"sft": {"accuracy": greedy_accuracy(sft, held_out)}}
    for variant in VARIANTS:
        dataset = out / "runs" / variant / "dataset"
        cfg = load_train_config(
            TRAIN_CONFIG,
            [f"model.path={sft}", f"dpo.num_train_epochs={size.dpo_epochs}", f"dpo.seed={seed}"],
            data_dir=str(dataset), output_dir=str(out / "models" / f"dpo-{variant}"),
        )
        trained = train(cfg, overwrite=True, console=quiet)  # a rerun of the demo retrains
        policy = trained.output_dir
        console.print(f"{variant:>9}: {trained.rows['train']} pairs, final loss "
                      f"{trained.train_metrics.get('train_loss', float('nan')):.3f}, alarms "
                      f"{list(trained.alarms) or 'none'}")
        results[variant] = asdict(VariantResult(
            pairs=len(_pairs(dataset)),
            **label_noise(dataset),
            accuracy=greedy_accuracy(policy, held_out),
            reward_accuracy=reward_accuracy(policy, sft, heldout_pairs),
        ))

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


def _pairs(dataset: Path) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) texts of a conversational dataset's train split."""
    rows = pl.read_parquet(dataset / "train*.parquet").select("prompt", "chosen", "rejected").to_dicts()
    return [(r["prompt"][-1]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]


def label_noise(dataset: Path) -> dict[str, float]:
    """Label noise measured with the clean check: pairs it does not confirm, pairs it inverts."""
    pairs = _pairs(dataset)
    unconfirmed = inverted = 0
    for prompt, chosen, rejected in pairs:
        a, b = (int(x) for x in prompt.rstrip("=").split("+"))
        chosen_ok, rejected_ok = (exact_match(prompt, text, str(a + b)) == 1.0 for text in (chosen, rejected))
        unconfirmed += not (chosen_ok and not rejected_ok)
        inverted += rejected_ok and not chosen_ok
    n = len(pairs) or float("nan")
    return {"label_noise": unconfirmed / n, "inverted": inverted / n}


def results_table(results: dict) -> Table:
    table = Table(title="held-out addition prompts (greedy, exact match)")
    for col in ("model", "train pairs", "label noise", "inverted", "accuracy", "reward accuracy"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for name, r in results.items():
        table.add_row(
            "SFT" if name == "sft" else f"DPO {name}", str(r.get("pairs", "-")),
            f"{r['label_noise']:.1%}" if "label_noise" in r else "-",
            f"{r['inverted']:.1%}" if "inverted" in r else "-", f"{r['accuracy']:.1%}",
            f"{r['reward_accuracy']:.1%}" if "reward_accuracy" in r else "-",
        )
    return table


def write_plots(out: Path, results: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(names, [results[n]["accuracy"] for n in names], color=["grey", "tab:green", "tab:red", "tab:blue"])
    ax.set_ylabel("held-out exact-match accuracy")
    ax.set_ylim(0, 1)
    for i, n in enumerate(names):
        ax.text(i, results[n]["accuracy"] + 0.02, f"{results[n]['accuracy']:.0%}", ha="center")
    fig.tight_layout()
    bars = out / "accuracy.png"
    fig.savefig(bars, dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for variant in VARIANTS:
        rows = read_metrics(out / "models" / f"dpo-{variant}" / "metrics.jsonl")
        points = [(r["step"], r["loss"]) for r in rows if r["split"] == "train" and "loss" in r]
        if points:
            ax.plot(*zip(*points), label=variant)
    ax.set_xlabel("step")
    ax.set_ylabel("DPO loss")
    ax.legend()
    fig.tight_layout()
    curves = out / "training_curves.png"
    fig.savefig(curves, dpi=120)
    plt.close(fig)
    return [bars, curves]
