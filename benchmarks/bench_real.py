"""Does prefdata's data pay off on a real model? SmolLM2-135M-Instruct, verifiable instructions.

    python benchmarks/bench_real.py --out runs/bench-real                       # CPU size, 1 seed
    python benchmarks/bench_real.py --out runs/bench-real --prompts P.jsonl --heldout H.jsonl
    bash benchmarks/gpu/run.sh --real                                           # GPU size (full fine-tune, 3 seeds)

Per seed, everything through the real CLI (`prefdata build / train / merge / iterate`), each
command its own process, every step reused when its output is complete (a killed benchmark
reruns where it stopped):
1. Prompts: real user questions from the shared data (benchmarks/real_prompts.py; or
   --prompts/--heldout), 2 IFEval instructions appended to each by the recipe
   (benchmarks/real.yaml, `prompts.add_instructions`).
2. One build to the label stage: k answers per prompt from the base model, scored by IFEval's
   checkers, alone (`ifeval`) and with the relevance guard (`guarded`). Every arm below pairs
   these same candidates and scores.
3. Training sets: (a) the UltraFeedback-binarized rule (best vs a random other answer, ties
   kept) and (b) distilabel's max-vs-min, both on the `ifeval` scores as those tools would
   write them (no prefdata pairing, filters or data checks); (c) prefdata's defaults:
   tie-free best-vs-worst on `guarded` + the quality filter; (d) (c) + margin_quantile (top
   half). Each trains LoRA DPO for the same number of steps (benchmarks/real_train.yaml).
4. Iterative: `prefdata iterate` for 2 rounds on the two halves of the training prompts
   (round 2 sampled from round 1's model, reference = the base model), each round half the
   steps; against (e) one offline round: (c)'s set trained on as many pairs as the 2 rounds
   together (a seeded random subset), for all the steps.
5. Evaluation on the held-out prompts (instructions added the same way), greedy: IFEval's
   prompt-level strict accuracy, instruction-level loose accuracy (2 instructions per prompt,
   so the mean per prompt is IFEval's micro average), the relevance of the answer to the
   question (MiniLM cosine, so an arm that wins by ignoring questions shows it) and the
   answer length. Every arm is compared with (a) as a paired difference over held-out prompts
   with a 95% bootstrap interval (over prompts, and over seeds where there are several), and
   iterative with (e). Verdict: holds when the interval lies above 0.
6. The relevance guard read by hand: 40 random kept pairs of (c) without the guard (pairs on
   `ifeval`) and 40 with it, written to guard_reading.md with each chosen answer's relevance.

Sizes (`--size`): cpu (160 training prompts, 100 held out, k=4, 160 tokens, 16 LoRA steps at
batch 4; 63 minutes measured on 2 CPU cores shared with other jobs: vLLM about 1 answer/s,
LoRA 17-23 s/step), gpu (2,000 / 500, k=8, 512 tokens, full fine-tune,
200 steps at batch 16) and tiny (a smoke run for tests/test_benchmarks.py; any --model).
Every setting was fixed in a commit before the first run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from prefdata.stats import paired_interval, verdict  # noqa: E402
from real_prompts import write_split  # noqa: E402

RECIPE, TRAIN = HERE / "real.yaml", HERE / "real_train.yaml"
EVAL_JUDGES = ("strict_prompt", "loose_instruction")
NAIVE = {"ultrafeedback": "UltraFeedback-binarized: best vs a random other, ties kept",
         "max_min": "distilabel max-vs-min"}
PREFDATA = {"prefdata": "prefdata defaults: tie-free best-vs-worst + quality + relevance guard",
            "margin_quantile": "prefdata defaults + margin_quantile (top half)"}
ARM_STEPS = {"prefdata": [], "unguarded": [], "margin_quantile": ["{type: margin_quantile, keep: 0.5}"]}
ARM_OVERRIDES = {"unguarded": ["pair.label_source=ifeval"]}
BASELINE = "ultrafeedback"
GUARD_READING = 40


@dataclass(frozen=True)
class Size:
    train_prompts: int
    heldout_prompts: int
    k: int
    max_tokens: int
    steps: int
    batch: int
    full: bool = False  # full fine-tune (GPU) instead of LoRA
    quality: str = "{type: quality}"  # the prefdata arms' first filter step
    eval_prompts_iterate: int = 10  # `prefdata iterate`'s own per-round evaluation (the benchmark evaluates itself)
    overrides: tuple[str, ...] = ()  # recipe settings of this size
    max_length: int = 384  # DPO max_length: prompt (about 100 tokens with the system turn) + answer


SIZES = {
    "cpu": Size(train_prompts=160, heldout_prompts=100, k=4, max_tokens=160, steps=16, batch=4),
    "gpu": Size(train_prompts=2000, heldout_prompts=500, k=8, max_tokens=512, steps=200, batch=16, full=True,
                max_length=768, overrides=("sample.models.0.max_model_len=1024", "sample.models.0.enforce_eager=false",
                                           "sample.models.0.max_num_seqs=256")),
    # the tiny test model writes random tokens: its smoke run keeps truncated answers and has
    # no relevance guard (every answer is off-topic), so that every arm gets pairs
    "tiny": Size(train_prompts=40, heldout_prompts=4, k=4, max_tokens=16, steps=2, batch=2, eval_prompts_iterate=2,
                 quality="{type: quality, drop_truncated: false}", overrides=("label.judges.1.min_relevance=-1.0",)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-real"))
    parser.add_argument("--prompts", type=Path, help="Training prompts (.jsonl with a `prompt` field).")
    parser.add_argument("--heldout", type=Path, help="Held-out prompts (.jsonl with a `prompt` field).")
    parser.add_argument("--model", type=Path, help="Model directory (default: SmolLM2-135M-Instruct from PyPI).")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    args = parser.parse_args()
    size, out = SIZES[args.size], args.out.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # vLLM's multiprocess engine keeps one of the cores for its front end: measured 2.4x slower on 2 cores
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    model = (args.model or _smollm2()).resolve()
    prompts, heldout = args.prompts, args.heldout
    if prompts is None or heldout is None:
        prompts, heldout = write_split(args.shared, out / "prompts", size.train_prompts, size.heldout_prompts)
    per_seed = {seed: one_seed(out / f"seed{seed}", seed, size, model, prompts.resolve(), heldout.resolve())
                for seed in args.seeds}
    summary = summarize(per_seed)
    report = {"size": args.size, "settings": asdict(size), "model": str(model), "seeds": args.seeds,
              "summary": summary, "per_seed": {s: r["arms"] for s, r in per_seed.items()}}
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    (out / "summary.md").write_text(markdown(summary, size, args.seeds))
    print(markdown(summary, size, args.seeds))


def one_seed(out: Path, seed: int, size: Size, model: Path, prompts: Path, heldout: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    sizing = [f"seed={seed}", f"sample.models.0.model={model}", f"sample.k={size.k}",
              f"sample.sampling.max_tokens={size.max_tokens}", *size.overrides]
    labels = out / "labels"
    prefdata("build", RECIPE, "--out", labels, "--until-stage", "label", *_sets(sizing, f"prompts.path={prompts}"))
    shared = {name: labels / "stages" / stage / "data.parquet"
              for name, stage in (("prompts", "prompts"), ("candidates", "sample"), ("judgments", "label"))}
    prefdata("build", RECIPE, "--out", out / "heldout", "--until-stage", "prompts",
             *_sets(sizing, f"prompts.path={heldout}"))
    heldout_prompts = out / "heldout" / "stages" / "prompts" / "data.parquet"

    datasets = {}
    for rule in NAIVE:
        datasets[rule] = naive(rule, shared, out / "datasets" / rule, seed)
    for arm, steps in ARM_STEPS.items():
        run = out / "runs" / arm
        extra = [f"filter.steps=[{', '.join([size.quality, *steps])}]", *ARM_OVERRIDES.get(arm, [])]
        prefdata("build", RECIPE, "--out", run, "--artifact", f"candidates={shared['candidates']}",
                 "--artifact", f"judgments={shared['judgments']}", *_sets(sizing, f"prompts.path={prompts}", *extra))
        datasets[arm] = run / "dataset"
    models = {"base": model}
    for arm in (*NAIVE, *PREFDATA):
        models[arm] = train(out / "models" / arm, datasets[arm], model, size, seed, size.steps,
                            check=arm not in NAIVE)

    report = iterate(out / "iterate", size, sizing, prompts, heldout)
    iter_pairs = sum(r["train"]["pairs"] for r in report["rounds"][1:])
    offline_pairs = pairs_in(datasets["prefdata"])
    fraction = min(1.0, iter_pairs / offline_pairs) if offline_pairs else 1.0
    models["iterative"] = out / "iterate" / "rounds" / "2" / "model"
    models["offline"] = train(out / "models" / "offline", datasets["prefdata"], model, size, seed, size.steps,
                              extra=[f"data.fraction={fraction}", f"data.seed={seed}"])

    per_prompt = evaluate(out / "eval", models, heldout_prompts, size)
    arms = {arm: {"per_prompt": per_prompt[arm], **data_stats(arm, datasets, out, report)} for arm in models}
    guard_reading(out / "guard_reading.md", datasets["unguarded"], datasets["prefdata"], shared, seed)
    result = {"seed": seed, "arms": arms, "iterate_pairs": iter_pairs, "offline_pairs_available": offline_pairs}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def prefdata(*args) -> None:
    """One prefdata command in its own process (engines and models freed when it exits)."""
    cmd = [sys.executable, "-m", "prefdata.cli", *map(str, args)]
    print("$ prefdata " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def _sets(*groups) -> list[str]:
    items = [x for g in groups for x in ([g] if isinstance(g, str) else g)]
    return [a for item in items for a in ("--set", item)]


def _smollm2() -> Path:
    from prefdata.gguf import smollm2

    return smollm2()


def naive(rule: str, shared: dict[str, Path], out: Path, seed: int) -> Path:
    """A peer tool's binarization of the `ifeval` scores, written as a dataset dir TRL loads."""
    from prefdata.demo.variants import naive_dataset

    if not (out / "DONE").is_file():
        naive_dataset(rule, shared, out, seed, judge="ifeval")
    return out


def train(out: Path, dataset: Path, model: Path, size: Size, seed: int, steps: int, *, check: bool = True,
          extra: list[str] = ()) -> Path:
    """LoRA DPO (or a full fine-tune at the GPU size), merged into OUT/model; OUT/done.json last."""
    merged = out / "model"
    if (out / "done.json").is_file():
        return merged
    sets = [f"model.path={model}", f"dpo.max_steps={steps}", f"dpo.seed={seed}",
            f"dpo.per_device_train_batch_size={size.batch}", f"dpo.max_length={size.max_length}", *extra,
            *([] if check else ["data.check=false"])]
    if size.full:
        sets += ["peft.mode=full", "reference.strategy=model"]
    trained = out / ("model" if size.full else "adapter")
    prefdata("train", "--config", TRAIN, "--data", dataset, "--out", trained, "--overwrite", *_sets(sets))
    if not size.full:
        shutil.rmtree(out / "merging", ignore_errors=True)
        prefdata("merge", trained, "--base", model, "--out", out / "merging")
        shutil.rmtree(merged, ignore_errors=True)
        (out / "merging").rename(merged)
    rows = json.loads((trained / "train_stats.json").read_text())["rows"]
    (out / "done.json").write_text(json.dumps({"dataset": str(dataset), "steps": steps, "pairs": rows["train"]}))
    return merged


def iterate(out: Path, size: Size, sizing: list[str], prompts: Path, heldout: Path) -> dict:
    """`prefdata iterate`: 2 rounds of half the prompts each, half the steps each (`sizing`: the
    seed, model and sampling settings every build of this seed uses)."""
    recipe = yaml.safe_load(RECIPE.read_text())
    train_config = yaml.safe_load(TRAIN.read_text())
    train_config["model"].pop("path")  # round 1 trains the sampled model, later rounds the previous one
    train_config["dpo"]["max_steps"] = max(1, size.steps // 2)
    train_config["dpo"]["per_device_train_batch_size"] = size.batch
    train_config["dpo"]["max_length"] = size.max_length
    if size.full:
        train_config["peft"], train_config["reference"] = {"mode": "full"}, {"strategy": "model"}
    out.mkdir(parents=True, exist_ok=True)
    eval_file = out / "iterate_eval.jsonl"
    eval_file.write_text("".join(heldout.read_text().splitlines(keepends=True)[:size.eval_prompts_iterate]))
    recipe.update({"train": train_config, "iterate": {
        "rounds": 2, "prompts": "split", "prompts_per_round": size.train_prompts // 2, "reference": "initial",
        "init": "previous", "eval": {"prompts": str(eval_file), "judges": list(EVAL_JUDGES)}}})
    path = out / "iterate.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    prefdata("iterate", path, "--out", out, *_sets(sizing, f"prompts.path={prompts}", f"filter.steps=[{size.quality}]"))
    return json.loads((out / "report.json").read_text())


def evaluate(run: Path, models: dict[str, Path], heldout_prompts: Path, size: Size) -> dict[str, dict[str, list]]:
    """Greedy answers of every arm's model on the held-out prompts, scored by one `prefdata eval`
    (one process, each model resumable) with the recipe's engine settings: per arm, per prompt,
    in prompt_id order."""
    from prefdata.evaluate.answers import model_slug

    sampler = {k: v for k, v in yaml.safe_load(RECIPE.read_text())["sample"]["models"][0].items() if k != "model"}
    engine = [o.removeprefix("sample.models.0.") for o in size.overrides if o.startswith("sample.models.0.")]
    prefdata("eval", *models.values(), "--baseline", models["base"], "--prompts", heldout_prompts, "--out", run,
             "--max-tokens", size.max_tokens,
             *_sets([f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sampler.items()], engine))
    per_arm = {}
    for arm, model in models.items():
        table = pl.read_parquet(run / "models" / model_slug(str(model)) / "scores.parquet").sort("prompt_id")
        # a prompt without an answer fails (prefdata eval counts it, never leaves it out of the accuracy)
        per_arm[arm] = {"prompt_id": table["prompt_id"].to_list(), "strict_prompt": table["prompt_strict"].to_list(),
                        "loose_instruction": table["instruction_loose"].to_list(),
                        "relevance": table["relevance"].to_list(), "num_tokens": table["answer_tokens"].to_list()}
    return per_arm


def pairs_in(dataset: Path) -> int:
    return sum(pl.scan_parquet(f).select(pl.len()).collect().item() for f in sorted(dataset.glob("train*.parquet")))


def data_stats(arm: str, datasets: dict, out: Path, report: dict) -> dict:
    """Pairs trained on, and the training set's tied and identical pairs."""
    if arm == "base":
        return {}
    if arm == "iterative":
        return {"pairs": sum(r["train"]["pairs"] for r in report["rounds"][1:])}
    rows = pl.read_parquet(sorted(datasets["prefdata" if arm == "offline" else arm].glob("train*.parquet")))
    chosen = rows["chosen"].list.first().struct.field("content")
    rejected = rows["rejected"].list.first().struct.field("content")
    return {"pairs": json.loads((out / "models" / arm / "done.json").read_text())["pairs"],
            "ties": float((rows["margin"] == 0).mean()) if rows.height else None,
            "identical": float((chosen == rejected).mean()) if rows.height else None}


def guard_reading(path: Path, unguarded: Path, guarded: Path, shared: dict[str, Path], seed: int) -> None:
    """40 random kept pairs without and with the relevance guard, for a person to read."""
    from prefdata.instructions import parse_spec, question_of

    prompts = pl.read_parquet(shared["prompts"]).select("prompt_id", "reference")
    relevance = (pl.read_parquet(shared["judgments"]).filter(pl.col("judge_id") == "loose_instruction")
                 .select("candidate_id", pl.col("aspects").map_elements(lambda a: json.loads(a).get("relevance"),
                                                                        return_dtype=pl.Float64).alias("rel")))
    lines = ["# The relevance guard, read by hand", "",
             "Random kept pairs of the prefdata arm without the guard (pairs on `ifeval`) and with it "
             "(`guarded`). For each: does the chosen answer address the question? "
             "(relevance: MiniLM cosine of the chosen answer with the question)", ""]
    for name, dataset in (("without the guard", unguarded), ("with the guard", guarded)):
        run = dataset.parent
        pairs = pl.read_parquet(run / "stages" / ("filter" if (run / "stages" / "filter").is_dir() else "pair")
                                / "data.parquet")
        picked = pairs.sample(min(GUARD_READING, pairs.height), seed=seed, shuffle=True)
        picked = picked.join(prompts, on="prompt_id").join(relevance, left_on="chosen_id", right_on="candidate_id",
                                                           how="left")
        lines += [f"## {name} ({picked.height} of {pairs.height} kept pairs)", ""]
        for i, row in enumerate(picked.iter_rows(named=True), 1):
            text = row["prompt"][-1]["content"]
            rel = "n/a" if row["rel"] is None else f"{row['rel']:.3f}"
            lines += [f"### {i}. relevance {rel}, score {row['chosen_score']:.2f} vs {row['rejected_score']:.2f}",
                      f"- question: {question_of(text, parse_spec(row['reference']))}", f"- prompt: {_one_line(text)}",
                      f"- chosen: {_one_line(row['chosen'])}", f"- rejected: {_one_line(row['rejected'])}", ""]
    path.write_text("\n".join(lines))


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


METRICS = {"strict_prompt": "prompt-level strict", "loose_instruction": "instruction-level loose",
           "relevance": "relevance", "num_tokens": "answer tokens"}


def summarize(per_seed: dict[int, dict]) -> dict:
    """Per arm: metric means over seeds and prompts, paired differences with 95% bootstrap intervals."""
    arms = list(next(iter(per_seed.values()))["arms"])
    out = {}
    for arm in arms:
        entry = {"pairs": [r["arms"][arm].get("pairs") for r in per_seed.values()]}
        for metric in METRICS:
            values = [_values(r["arms"][arm]["per_prompt"][metric]) for r in per_seed.values()]
            entry[metric] = sum(sum(v) for v in values) / max(1, sum(len(v) for v in values))
            for other in {BASELINE, "base"} | ({"offline"} if arm == "iterative" else set()):
                if arm == other:
                    continue
                diffs = [_diff(r["arms"][arm]["per_prompt"][metric], r["arms"][other]["per_prompt"][metric])
                         for r in per_seed.values()]
                mean, low, high = paired_interval(diffs, seed=0)
                entry[f"{metric}_vs_{other}"] = {"diff": mean, "ci95": [low, high], "verdict": verdict(low, high)}
        out[arm] = entry
    return out


def _values(column: list) -> list[float]:
    return [float(v) for v in column if v is not None]


def _diff(a: list, b: list) -> list[float]:
    """Per prompt a - b, over the prompts both have a value for (relevance: answered by both)."""
    return [float(x) - float(y) for x, y in zip(a, b) if x is not None and y is not None]


def markdown(summary: dict, size: Size, seeds: list[int]) -> str:
    def cell(entry, metric, other, percent=True):
        d = entry.get(f"{metric}_vs_{other}")
        if d is None:
            return "-"
        f = (lambda x: f"{100 * x:+.1f}") if percent else (lambda x: f"{x:+.3f}")
        return f"{f(d['diff'])} [{f(d['ci95'][0])}, {f(d['ci95'][1])}] {d['verdict']}"

    lines = [f"{len(seeds)} seed(s), {size.heldout_prompts} held-out prompts; differences are paired, with 95% "
             "bootstrap intervals; `holds`: the interval is above 0, `worse`: below 0.", "",
             "| arm | pairs | prompt-level strict | vs UF rule | instruction-level loose | vs UF rule | relevance | "
             "vs UF rule | answer tokens |", "|---|---|---|---|---|---|---|---|---|"]
    for arm, e in summary.items():
        pairs = "/".join(str(p) for p in e["pairs"]) if any(p is not None for p in e["pairs"]) else "-"
        lines.append(f"| {arm} | {pairs} | {100 * e['strict_prompt']:.1f}% | {cell(e, 'strict_prompt', BASELINE)} | "
                     f"{100 * e['loose_instruction']:.1f}% | {cell(e, 'loose_instruction', BASELINE)} | "
                     f"{e['relevance']:.3f} | {cell(e, 'relevance', BASELINE, False)} | {e['num_tokens']:.0f} |")
    it = summary.get("iterative", {})
    lines += ["", "iterative - offline (equal pairs): prompt-level strict "
              f"{cell(it, 'strict_prompt', 'offline')}, instruction-level loose {cell(it, 'loose_instruction', 'offline')}, "
              f"relevance {cell(it, 'relevance', 'offline', False)}",
              "every arm - base: " + "; ".join(f"{arm} {cell(e, 'strict_prompt', 'base')}"
                                               for arm, e in summary.items() if arm != "base")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
