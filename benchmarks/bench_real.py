"""Does prefdata's data pay off on a real model? SmolLM2-135M-Instruct, verifiable instructions.

    python benchmarks/bench_real.py --out runs/bench-real                       # CPU size, seeds 0 1 2
    python benchmarks/bench_real.py --out runs/bench-real --seeds 0             # one seed (rerun: resumes)
    python benchmarks/bench_real.py --out runs/bench-real --prompts P.jsonl --heldout H.jsonl
    bash benchmarks/gpu/run.sh --real                                           # GPU size (full fine-tune)

Everything goes through the real CLI (`prefdata build / train / merge / iterate / eval`), each
command its own process, every step reused when its output is complete: a killed benchmark
reruns where it stopped, and seeds run one after another (or one per call, in the background).
1. Prompts: real user questions from the shared data (benchmarks/real_prompts.py; or
   --prompts/--heldout), 2 IFEval instructions appended to each by the recipe
   (benchmarks/real.yaml, `prompts.add_instructions`). The held-out prompts and their
   instructions are the same for every seed (built once with seed 0); seeds change the
   training prompts' instructions, the answers, the pairs and the training.
2. Every arm spends the same candidate budget, `per_prompt` answers per training prompt:
   - one build to the label stage with k = per_prompt (fixed k), scored by IFEval's checkers
     alone (`ifeval`) and with the relevance guard (`guarded`). The UF rule, max-vs-min and
     prefdata's defaults all pair these same candidates and scores;
   - `prefdata+dynamic` samples its own: k = per_prompt / 2 first, then `sample.dynamic`
     (budget = per_prompt x prompts) spends the rest on the prompts still without a pair.
3. Training sets: (a) the UltraFeedback-binarized rule (best vs a random other answer, ties
   kept) and (b) distilabel's max-vs-min, both on the `ifeval` scores as those tools would
   write them (no prefdata pairing, filters or data checks); (c) `prefdata`: the defaults of
   `prefdata init --template verifiable` (tie-free best-vs-worst on `guarded` among complete
   answers, then the quality, length and dedup filters); (d) `prefdata+dynamic`: (c) with
   dynamic sampling. Each trains LoRA DPO for the same number of steps
   (benchmarks/real_train.yaml). (c) is also built on `ifeval` alone (no guard), only to be
   read by hand (6).
4. Iterative (`iterative`): `prefdata iterate` with (c)'s settings for 2 rounds on the two
   halves of the training prompts (round 2 sampled from round 1's model, reference = the
   base model), each round half the steps: as many candidates and steps as the other arms.
5. Evaluation on the held-out prompts, greedy, by one `prefdata eval` for the whole benchmark
   (the base model is answered once for every seed): IFEval's prompt-level strict accuracy,
   instruction-level loose accuracy (2 instructions per prompt, so the mean per prompt is
   IFEval's micro average), the relevance of the answer to the question (MiniLM cosine, so an
   arm that wins by ignoring questions shows it) and the answer length. Every arm is
   compared with the UF rule and with the base model as a paired difference with a 95%
   bootstrap interval over seeds and prompts. Verdict: holds when the interval lies above 0.
   The yield (pairs kept per 1,000 candidates) of (d) against (c), at equal candidates, with
   a bootstrap interval over prompts. The issue's targets, each marked met or missed.
6. The relevance guard read by hand: 40 random kept pairs of (c) without the guard and 40
   with it, written to seedN/guard_reading.md with each chosen answer's relevance.

Sizes (`--size`): cpu (160 training prompts, 500 held out, 4 answers per prompt, 160 tokens,
16 LoRA steps at batch 4), gpu (2,000 / 500, 8 per prompt, 512 tokens, full fine-tune,
200 steps at batch 16) and tiny (a smoke run for tests/test_benchmarks.py; any --model).
Each seed writes seedN/timings.json (seconds per step that ran, and the machine: CPU, AVX-512 or not).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_dynamic_yield import per_prompt_counts, yield_ratio  # noqa: E402
from real_prompts import write_split  # noqa: E402

from prefdata.gguf import smollm2  # noqa: E402
from prefdata.hardware import machine_line  # noqa: E402
from prefdata.stats import paired_interval, verdict  # noqa: E402

RECIPE, TRAIN = HERE / "real.yaml", HERE / "real_train.yaml"
EVAL_JUDGES = ("strict_prompt", "loose_instruction")
NAIVE = {"ultrafeedback": "UltraFeedback-binarized: best vs a random other, ties kept",
         "max_min": "distilabel max-vs-min"}
PREFDATA = {"prefdata": "prefdata defaults (prefdata init --template verifiable): complete answers, guard, filters",
            "prefdata+dynamic": "prefdata defaults + dynamic sampling, at the same candidate budget"}
BASELINE = "ultrafeedback"
GUARD_READING = 40
# the issue's targets, fixed before the first run: (arm, other, metric, least difference)
TARGETS = (("prefdata", "ultrafeedback", "strict_prompt", 0.03), ("prefdata", "base", "strict_prompt", 0.08),
           ("prefdata", "base", "relevance", None))
YIELD_TARGET = 2.0  # prefdata+dynamic / prefdata pairs per 1,000 candidates


@dataclass(frozen=True)
class Size:
    train_prompts: int
    heldout_prompts: int
    per_prompt: int  # candidates per training prompt, every arm: fixed k, or dynamic sampling's budget
    max_tokens: int
    steps: int
    batch: int
    full: bool = False  # full fine-tune (GPU) instead of LoRA
    complete_only: bool = True  # the defaults' `pair.complete_only`
    quality: str = "{type: quality}"  # the prefdata arms' first filter step
    eval_prompts_iterate: int = 10  # `prefdata iterate`'s own per-round evaluation (the benchmark evaluates itself)
    overrides: tuple[str, ...] = ()  # recipe settings of this size
    max_length: int = 384  # DPO max_length: prompt (about 100 tokens with the system turn) + answer

    @property
    def filters(self) -> str:
        """The verifiable template's filter steps."""
        return f"filter.steps=[{self.quality}, {{type: length, max_ratio: 3.0, symmetric: true}}, {{type: dedup}}]"

    @property
    def defaults(self) -> list[str]:
        return [f"pair.complete_only={str(self.complete_only).lower()}", self.filters]

    @property
    def dynamic(self) -> list[str]:
        """Half the budget in the first round, the rest where no pair was found."""
        first = self.per_prompt // 2
        return [f"sample.k={first}", f"sample.dynamic.max_per_prompt={2 * self.per_prompt}",
                f"sample.dynamic.budget={self.per_prompt * self.train_prompts}"]


SIZES = {
    "cpu": Size(train_prompts=160, heldout_prompts=500, per_prompt=4, max_tokens=160, steps=16, batch=4),
    "gpu": Size(train_prompts=2000, heldout_prompts=500, per_prompt=8, max_tokens=512, steps=200, batch=16, full=True,
                max_length=768, overrides=("sample.models.0.max_model_len=1024", "sample.models.0.enforce_eager=false",
                                           "sample.models.0.max_num_seqs=256")),
    # the tiny test model writes random tokens: its smoke run keeps truncated answers and has
    # no relevance guard (every answer is off-topic), so that every arm gets pairs
    "tiny": Size(train_prompts=40, heldout_prompts=4, per_prompt=4, max_tokens=16, steps=2, batch=2,
                 eval_prompts_iterate=2, complete_only=False, quality="{type: quality, drop_truncated: false}",
                 overrides=("label.judges.1.min_relevance=-1.0",)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-real"))
    parser.add_argument("--prompts", type=Path, help="Training prompts (.jsonl with a `prompt` field).")
    parser.add_argument("--heldout", type=Path, help="Held-out prompts (.jsonl with a `prompt` field).")
    parser.add_argument("--model", type=Path, help="Model directory (default: SmolLM2-135M-Instruct from PyPI).")
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shared", type=Path, default=HERE.parents[1] / "shared" / "data")
    args = parser.parse_args()
    size, out = SIZES[args.size], args.out.resolve()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # vLLM's multiprocess engine keeps one of the cores for its front end: measured 2.4x slower on 2 cores
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    model = (args.model or smollm2()).resolve()
    prompts, heldout = args.prompts, args.heldout
    if prompts is None or heldout is None:
        prompts, heldout = write_split(args.shared, out / "prompts", size.train_prompts, size.heldout_prompts)
    sizing = [f"sample.models.0.model={model}", f"sample.sampling.max_tokens={size.max_tokens}", *size.overrides]
    prefdata("build", RECIPE, "--out", out / "heldout", "--until-stage", "prompts",
             *_sets("seed=0", sizing, f"prompts.path={heldout.resolve()}"))
    heldout_prompts = out / "heldout" / "stages" / "prompts" / "data.parquet"
    per_seed = {}
    for seed in args.seeds:
        timings = Timings(out / f"seed{seed}" / "timings.json")
        per_seed[seed] = one_seed(out / f"seed{seed}", seed, size, model, [f"seed={seed}", *sizing], prompts.resolve(),
                                  heldout.resolve(), timings)
        per_seed[seed]["arms"] = evaluated(out / "eval", per_seed[seed], model, heldout_prompts, size, timings)
    summary = summarize(per_seed)
    report = {"size": args.size, "settings": asdict(size), "model": str(model), "seeds": args.seeds,
              "summary": summary, "per_seed": {s: r["arms"] for s, r in per_seed.items()}}
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    (out / "summary.md").write_text(markdown(summary, size, args.seeds))
    print(markdown(summary, size, args.seeds))


def one_seed(out: Path, seed: int, size: Size, model: Path, sizing: list[str], prompts: Path, heldout: Path,
             timings: Timings) -> dict:
    """Build, train and merge every arm of one seed (`sizing`: the seed, model and sampling settings
    every build of this seed uses); returns its models and data statistics."""
    labels = out / "labels"
    timings.run("labels", "build", RECIPE, "--out", labels, "--until-stage", "label",
                *_sets(sizing, f"sample.k={size.per_prompt}", f"prompts.path={prompts}"))
    shared = {name: labels / "stages" / stage / "data.parquet"
              for name, stage in (("prompts", "prompts"), ("candidates", "sample"), ("judgments", "label"))}

    datasets = {rule: naive(rule, shared, out / "datasets" / rule, seed) for rule in NAIVE}
    fixed = ["--artifact", f"candidates={shared['candidates']}", "--artifact", f"judgments={shared['judgments']}"]
    builds = {"prefdata": [*fixed, *_sets(sizing, f"sample.k={size.per_prompt}", *size.defaults)],
              "unguarded": [*fixed, *_sets(sizing, f"sample.k={size.per_prompt}", *size.defaults,
                                           "pair.label_source=ifeval")],
              "prefdata+dynamic": _sets(sizing, *size.dynamic, *size.defaults)}
    for arm, args in builds.items():
        timings.run(f"build {arm}", "build", RECIPE, "--out", out / "runs" / arm, *args,
                    *_sets(f"prompts.path={prompts}"))
        datasets[arm] = out / "runs" / arm / "dataset"
    models = {}
    for arm in (*NAIVE, *PREFDATA):
        models[arm] = train(out / "models" / arm, datasets[arm], model, size, seed, size.steps, timings,
                            check=arm not in NAIVE)
    report = iterate(out / "iterate", size, sizing, prompts, heldout, timings)
    models["iterative"] = out / "iterate" / "rounds" / "2" / "model"

    counts = {arm: per_prompt_counts(out / "runs" / arm, candidates=shared["candidates"] if arm == "prefdata" else None)
              for arm in PREFDATA}
    stats = {arm: data_stats(arm, datasets, out, report) for arm in models}
    guard_reading(out / "guard_reading.md", datasets["unguarded"], datasets["prefdata"], shared, seed)
    result = {"seed": seed, "models": {a: str(m) for a, m in models.items()}, "data": stats,
              "yield": {arm: t.to_dicts() for arm, t in counts.items()}}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


class Timings:
    """Seconds per step of a seed, each time it ran (a reused step takes about none), with the machine."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data = json.loads(path.read_text()) if path.is_file() else {"cpu": machine_line(), "commands": []}

    def run(self, step: str, *args) -> None:
        start = time.monotonic()
        prefdata(*args)
        self.data["commands"].append({"step": step, "seconds": round(time.monotonic() - start)})
        self.path.write_text(json.dumps(self.data, indent=2))


def prefdata(*args) -> None:
    """One prefdata command in its own process (engines and models freed when it exits)."""
    cmd = [sys.executable, "-m", "prefdata.cli", *map(str, args)]
    print("$ prefdata " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def _sets(*groups) -> list[str]:
    items = [x for g in groups for x in ([g] if isinstance(g, str) else g)]
    return [a for item in items for a in ("--set", item)]


def naive(rule: str, shared: dict[str, Path], out: Path, seed: int) -> Path:
    """A peer tool's binarization of the `ifeval` scores, written as a dataset dir TRL loads."""
    from prefdata.demo.variants import naive_dataset

    if not (out / "DONE").is_file():
        naive_dataset(rule, shared, out, seed, judge="ifeval")
    return out


def train(out: Path, dataset: Path, model: Path, size: Size, seed: int, steps: int, timings: Timings, *,
          check: bool = True) -> Path:
    """LoRA DPO (or a full fine-tune at the GPU size), merged into OUT/model; OUT/done.json last."""
    merged = out / "model"
    if (out / "done.json").is_file():
        return merged
    sets = [f"model.path={model}", f"dpo.max_steps={steps}", f"dpo.seed={seed}",
            f"dpo.per_device_train_batch_size={size.batch}", f"dpo.max_length={size.max_length}",
            *([] if check else ["data.check=false"])]
    if size.full:
        sets += ["peft.mode=full", "reference.strategy=model"]
    trained = out / ("model" if size.full else "adapter")
    timings.run(f"train {out.name}", "train", "--config", TRAIN, "--data", dataset, "--out", trained, "--overwrite",
                *_sets(sets))
    if not size.full:
        shutil.rmtree(out / "merging", ignore_errors=True)
        timings.run(f"merge {out.name}", "merge", trained, "--base", model, "--out", out / "merging")
        shutil.rmtree(merged, ignore_errors=True)
        (out / "merging").rename(merged)
    rows = json.loads((trained / "train_stats.json").read_text())["rows"]
    (out / "done.json").write_text(json.dumps({"dataset": str(dataset), "steps": steps, "pairs": rows["train"]}))
    return merged


def iterate(out: Path, size: Size, sizing: list[str], prompts: Path, heldout: Path, timings: Timings) -> dict:
    """`prefdata iterate` with the defaults: 2 rounds of half the prompts each, half the steps each
    (`sizing`: the seed, model and sampling settings every build of this seed uses)."""
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
    timings.run("iterate", "iterate", path, "--out", out,
                *_sets(sizing, f"sample.k={size.per_prompt}", f"prompts.path={prompts}", *size.defaults))
    return json.loads((out / "report.json").read_text())


def evaluated(run: Path, result: dict, base: Path, heldout_prompts: Path, size: Size,
              timings: Timings) -> dict[str, dict]:
    """Greedy answers of the base model and of every arm's model on the held-out prompts, scored
    by one `prefdata eval` (each model resumable; the base model's answers are shared by every
    seed) with the recipe's engine settings: per arm, per prompt in prompt_id order, and the
    arm's data statistics."""
    from prefdata.evaluate.answers import model_slug

    models = {"base": str(base), **result["models"]}
    sampler = {k: v for k, v in yaml.safe_load(RECIPE.read_text())["sample"]["models"][0].items() if k != "model"}
    sampler = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in sampler.items()]
    engine = [o.removeprefix("sample.models.0.") for o in size.overrides if o.startswith("sample.models.0.")]
    timings.run("eval", "eval", *models.values(), "--baseline", base, "--prompts", heldout_prompts, "--out", run,
                "--max-tokens", size.max_tokens, *_sets(sampler, engine))
    per_arm = {}
    for arm, model in models.items():
        table = pl.read_parquet(run / "models" / model_slug(model) / "scores.parquet").sort("prompt_id")
        # a prompt without an answer fails (prefdata eval counts it, never leaves it out of the accuracy)
        per_prompt = {"prompt_id": table["prompt_id"].to_list(), "strict_prompt": table["prompt_strict"].to_list(),
                      "loose_instruction": table["instruction_loose"].to_list(),
                      "relevance": table["relevance"].to_list(), "num_tokens": table["answer_tokens"].to_list()}
        per_arm[arm] = {"per_prompt": per_prompt, **result["data"].get(arm, {})}
    return per_arm


def data_stats(arm: str, datasets: dict, out: Path, report: dict) -> dict:
    """Pairs trained on, and the training set's tied and identical pairs."""
    if arm == "iterative":
        return {"pairs": sum(r["train"]["pairs"] for r in report["rounds"][1:])}
    rows = pl.read_parquet(sorted(datasets[arm].glob("train*.parquet")))
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
    """Per arm: metric means over seeds and prompts, paired differences with 95% bootstrap
    intervals; the dynamic arm's yield against the defaults'; the targets, met or missed."""
    arms = list(next(iter(per_seed.values()))["arms"])
    out = {"arms": {}}
    for arm in arms:
        entry = {"pairs": [r["arms"][arm].get("pairs") for r in per_seed.values()]}
        for metric in METRICS:
            values = [_values(r["arms"][arm]["per_prompt"][metric]) for r in per_seed.values()]
            entry[metric] = sum(sum(v) for v in values) / max(1, sum(len(v) for v in values))
            for other in (BASELINE, "base"):
                if arm == other:
                    continue
                diffs = [_diff(r["arms"][arm]["per_prompt"][metric], r["arms"][other]["per_prompt"][metric])
                         for r in per_seed.values()]
                mean, low, high = paired_interval(diffs, seed=0)
                entry[f"{metric}_vs_{other}"] = {"diff": mean, "ci95": [low, high], "verdict": verdict(low, high)}
        out["arms"][arm] = entry
    # rows are (seed, prompt): the bootstrap draws prompts of every seed
    tables = {arm: pl.concat([pl.DataFrame(r["yield"][arm]).with_columns(seed=pl.lit(s)) for s, r in per_seed.items()])
              for arm in PREFDATA}
    out["yield"] = {arm: {"candidates": int(t["candidates"].sum()), "kept": int(t["kept"].sum()),
                          "per_1k": round(1000 * t["kept"].sum() / max(1, t["candidates"].sum()), 1)}
                    for arm, t in tables.items()}
    out["yield"]["ratio"] = yield_ratio(tables["prefdata+dynamic"], tables["prefdata"])
    out["targets"] = targets(out)
    return out


def targets(summary: dict) -> list[dict]:
    """Each target: met when the difference reaches it and its interval lies above 0 (relevance:
    not below the base model's, so its interval must not lie below 0)."""
    rows = []
    for arm, other, metric, least in TARGETS:
        d = summary["arms"][arm][f"{metric}_vs_{other}"]
        met = d["verdict"] != "worse" if least is None else d["diff"] >= least and d["verdict"] == "holds"
        goal = "not below" if least is None else f">= {100 * least:+.0f} points, interval above 0"
        rows.append({"target": f"{arm} - {other}, {METRICS[metric]}: {goal}", "measured": d, "met": met})
    r = summary["yield"]["ratio"]
    rows.append({"target": f"yield prefdata+dynamic / prefdata (equal candidates) >= {YIELD_TARGET:.0f}x",
                 "measured": r, "met": r["ratio"] >= YIELD_TARGET and r["ci95"][0] > 1.0})
    return rows


def _values(column: list) -> list[float]:
    return [float(v) for v in column if v is not None]


def _diff(a: list, b: list) -> list[float]:
    """Per prompt a - b, over the prompts both have a value for (relevance: answered by both)."""
    return [float(x) - float(y) for x, y in zip(a, b) if x is not None and y is not None]


def _cell(entry: dict, metric: str, other: str, percent: bool = True) -> str:
    d = entry.get(f"{metric}_vs_{other}")
    if d is None:
        return "-"
    f = (lambda x: f"{100 * x:+.1f}") if percent else (lambda x: f"{x:+.3f}")
    return f"{f(d['diff'])} [{f(d['ci95'][0])}, {f(d['ci95'][1])}] {d['verdict']}"


def markdown(summary: dict, size: Size, seeds: list[int]) -> str:
    lines = [f"{len(seeds)} seed(s), {size.heldout_prompts} held-out prompts, {size.per_prompt} candidates per "
             f"training prompt in every arm; differences are paired, with 95% bootstrap intervals over seeds and "
             "prompts; `holds`: the interval is above 0, `worse`: below 0.", "",
             "| arm | pairs | prompt-level strict | vs UF rule | vs base | instruction-level loose | vs UF rule | "
             "relevance | vs base | answer tokens |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, e in summary["arms"].items():
        pairs = "/".join(str(p) for p in e["pairs"]) if any(p is not None for p in e["pairs"]) else "-"
        lines.append(f"| {arm} | {pairs} | {100 * e['strict_prompt']:.1f}% | {_cell(e, 'strict_prompt', BASELINE)} | "
                     f"{_cell(e, 'strict_prompt', 'base')} | {100 * e['loose_instruction']:.1f}% | "
                     f"{_cell(e, 'loose_instruction', BASELINE)} | {e['relevance']:.3f} | "
                     f"{_cell(e, 'relevance', 'base', False)} | {e['num_tokens']:.0f} |")
    y = summary["yield"]
    lines += ["", "Yield (pairs kept per 1,000 candidates): " + "; ".join(
        f"{arm} {y[arm]['kept']} of {y[arm]['candidates']} = {y[arm]['per_1k']}" for arm in PREFDATA)
        + f"; ratio {y['ratio']['ratio']:.2f}x [{y['ratio']['ci95'][0]:.2f}, {y['ratio']['ci95'][1]:.2f}]",
        "", "| target | measured | |", "|---|---|---|"]
    for t in summary["targets"]:
        m = t["measured"]
        measured = (f"{m['ratio']:.2f}x [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]" if "ratio" in m else
                    f"{m['diff']:+.3f} [{m['ci95'][0]:+.3f}, {m['ci95'][1]:+.3f}]" if "relevance" in t["target"] else
                    f"{100 * m['diff']:+.1f} [{100 * m['ci95'][0]:+.1f}, {100 * m['ci95'][1]:+.1f}]")
        lines.append(f"| {t['target']} | {measured} | {'met' if t['met'] else 'missed'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
