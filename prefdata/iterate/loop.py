"""The iterative DPO loop: sample with pi_{t-1}, label, pair, filter, export, train pi_t, evaluate.

    from prefdata.iterate.loop import iterate
    report = iterate("pipelines/iterate_demo.yaml", "runs/iter", ["sample.k=8"], rounds=2)
    # CLI: prefdata iterate pipelines/iterate_demo.yaml --out runs/iter --rounds 2

DIR/
    iterate.resolved.yaml      the checked recipe (train section included)
    pool/                      the prompts stage over the recipe's prompts (read, checked, deduplicated)
    heldout.parquet            the evaluation prompts (never sampled for training)
    rounds/0/eval/, eval.json  pi_0 (the recipe's model) on the held-out prompts
    rounds/<t>/prompts.parquet this round's prompts (prefdata/iterate/schedule.py)
    rounds/<t>/run/            the round's build (a `prefdata build` run dir, sampled from pi_{t-1});
                               with iterate.human its human/ holds the round's selection and answers
    rounds/<t>/model/          pi_t (a LoRA round trains rounds/<t>/adapter/ and merges it here)
    rounds/<t>/train.json      written last by the training step: its key and summary
    rounds/<t>/eval/, eval.json  pi_t's greedy answers on the held-out prompts, scored
    report.json, report.md, plots/   prefdata/iterate/report.py

Every step is content-addressed and restartable, so a killed loop rerun with the same command
continues where it stopped: builds reuse their finished stages (the sample stage's key holds
the fingerprint of the model it samples from, so a new pi_{t-1} is never served stale
candidates), training is skipped when train.json holds the same key (inputs: the train config
with paths inside DIR named relative to it, the exported dataset's split files, the start and
reference models' fingerprints, the trainer's code and the torch / transformers / trl / peft /
accelerate versions) and otherwise resumes from its last checkpoint or restarts, and a merge
is written to a temp dir and renamed. A moved DIR (moved with its files' times, as `mv` does)
reuses its trained rounds: its builds rerun the sample stages whose key holds a model path
inside DIR, and training is skipped when they give the same data (deterministic engines).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import yaml
from rich.console import Console

import prefdata.trainer
from prefdata import faults
from prefdata.config import stable_hash
from prefdata.fingerprint import code_fingerprint, engine_versions, file_digest, path_fingerprint
from prefdata.iterate.config import IterateRecipe, Plan, load_plan, round_train_config
from prefdata.iterate.evaluate import eval_overrides, eval_scores, ifeval_section, summarize_eval
from prefdata.iterate.human import ask_humans, round_budgets
from prefdata.iterate.report import fmt_number, write_report
from prefdata.iterate.schedule import round_seed, schedule
from prefdata.logs import engine_output, terminal_console
from prefdata.report import funnel_line
from prefdata.rundir import RunDir, locked
from prefdata.runner import build
from prefdata.atomic import mark_done, read_done, write_parquet, write_text_atomic, write_text_if_changed


TRAIN_ENGINES = ("torch", "transformers", "trl", "peft", "accelerate")  # a new version retrains a round


class IterateDir:
    """The layout of an iterate output directory (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.resolved = self.root / "iterate.resolved.yaml"
        self.pool, self.eval_pool = self.root / "pool", self.root / "eval_pool"
        self.heldout = self.root / "heldout.parquet"
        self.logs = self.root / "logs"

    def round(self, t: int) -> Path:
        return self.root / "rounds" / str(t)

    def model(self, t: int) -> Path:
        return self.round(t) / "model"


def iterate(recipe_path: str | Path, out: str | Path, overrides: list[str] = (), *, rounds: int | None = None,
            console: Console | None = None) -> dict:
    """Run (or continue) the loop; returns the report (also written to DIR/report.json)."""
    console = console or terminal_console()
    plan = load_plan(recipe_path, list(overrides), rounds)
    layout = IterateDir(out)
    with locked(layout.root, "prefdata iterate"), engine_output(layout.logs / "iterate.log"):
        return _iterate(plan, layout, console)  # engines log here and into each build's and training's logs/


def _iterate(plan: Plan, layout: IterateDir, console: Console) -> dict:
    recipe = plan.recipe
    write_text_atomic(layout.resolved, f"# resolved from {plan.path} with overrides {plan.overrides}\n"
                      + yaml.safe_dump({**recipe.model_dump(mode="json"), "train": plan.train}, sort_keys=False))
    console.print(f"[bold]prefdata iterate[/] {plan.path} -> {layout.root}: {plan.rounds} round(s), prompts "
                  f"{recipe.iterate.prompts}, reference {recipe.iterate.reference}, init {recipe.iterate.init}")
    quiet = Console(quiet=True)  # each build and training has its own logs; the loop prints one line per step
    pool, overlap = _prompts(plan, layout.pool, [], quiet), 0
    if recipe.iterate.eval.prompts is not None:  # held out means never sampled for training
        heldout = _prompts(plan, layout.eval_pool, [f"prompts.path={recipe.iterate.eval.prompts}"], quiet)
        kept = pool.filter(~pl.col("prompt_id").is_in(heldout["prompt_id"].implode()))
        pool, overlap = kept, pool.height - kept.height
        _, blocks = schedule(pool, recipe.iterate, recipe.seed)
    else:
        heldout, blocks = schedule(pool, recipe.iterate, recipe.seed)
    _write_if_changed(heldout, layout.heldout)
    console.print(f"prompts: {pool.height} in the pool{f' ({overlap} also held out: removed)' if overlap else ''}; "
                  f"{heldout.height} held out; {', '.join(str(b.height) for b in blocks.values())} per round")

    human = recipe.iterate.human
    budgets = round_budgets(human, {t: b.height for t, b in blocks.items()}) if human else {}
    if human:
        console.print(f"human labels per round ({human.schedule}): {', '.join(str(n) for n in budgets.values())}")
    models = {0: plan.policy0}
    with faults.scope("round0"):
        evals = {0: _evaluate(plan, layout, 0, plan.policy0, console, quiet)}
    for t in range(1, plan.rounds + 1):
        with faults.scope(f"round{t}"):
            models[t] = _round(plan, layout, t, models, blocks[t], console, quiet, budgets.get(t, 0))
            evals[t] = _evaluate(plan, layout, t, models[t], console, quiet)
    report = write_report(layout, plan, models, evals)
    console.print(f"report: {layout.root / 'report.md'} (report.json, plots/)")
    return report


def _prompts(plan: Plan, run_dir: Path, overrides: list[str], console: Console) -> pl.DataFrame:
    """The prompts stage of the recipe (read, check, deduplicate) into its own run dir."""
    build(plan.path, run_dir, [*plan.overrides, *overrides], until_stage="prompts", console=console,
          recipe_model=IterateRecipe)
    return pl.read_parquet(RunDir(run_dir).stage("prompts").data)


def _write_if_changed(frame: pl.DataFrame, path: Path) -> None:
    if path.is_file() and pl.read_parquet(path).equals(frame):
        return  # same prompts: keep the file (and its mtime) as it is
    write_parquet(frame, path)


def _round(plan: Plan, layout: IterateDir, t: int, models: dict[int, str], prompts: pl.DataFrame,
           console: Console, quiet: Console, humans: int = 0) -> str:
    """Round t: build from pi_{t-1}'s samples (with `humans` human labels: prefdata/iterate/human.py),
    train pi_t, merge it; returns pi_t's directory."""
    rdir, seed = layout.round(t), round_seed(plan.recipe.seed, t)
    _write_if_changed(prompts, rdir / "prompts.parquet")
    run = rdir / "run"
    init = models[t - 1] if plan.recipe.iterate.init == "previous" else models[0]
    reference = models[0] if plan.recipe.iterate.reference == "initial" else models[t - 1]
    overrides = [*plan.overrides, f"seed={seed}", f"sample.models.0.model={models[t - 1]}"]
    if humans:
        with console.status(f"round {t}: sample and label (logs: {run / 'logs'})"):
            build(plan.path, run, overrides, until_stage="label", external={"prompts": rdir / "prompts.parquet"},
                  console=quiet, recipe_model=IterateRecipe)
        ask_humans(plan.recipe, run, t, humans, models[t - 1], reference, seed, console)
    with console.status(f"round {t}: sample, label, pair, filter, export (logs: {run / 'logs'})"):
        manifest = build(plan.path, run, overrides, external={"prompts": rdir / "prompts.parquet"}, console=quiet,
                         recipe_model=IterateRecipe)
    console.print(f"round {t}: {funnel_line(manifest)} (sampled from {_name(models[t - 1], layout)})")
    dataset = RunDir(run).dataset
    with console.status(f"round {t}: training (logs: {layout.model(t) / 'logs'})"):
        summary = _train(plan, layout, t, init, reference, seed, dataset, _dataset_key(dataset))
    alarms = summary["alarms"] or "none"
    console.print(f"round {t}: trained {summary['pairs']} pairs, final loss {fmt_number(summary['final_loss'])}, "
                  f"reward accuracy {fmt_number(summary['reward_accuracy'])}, alarms {alarms}")
    return str(layout.model(t))


def _train(plan: Plan, layout: IterateDir, t: int, init: str, reference: str, seed: int, dataset: Path,
           dataset_key: str) -> dict:
    """Train pi_t (skipped when train.json holds this key), merge a LoRA adapter; train.json last."""
    from prefdata.trainer.config import validate_train_config

    rdir = layout.round(t)
    train_dir = rdir / ("adapter" if plan.lora else "model")
    raw = round_train_config(plan.train, model=init, reference=reference, dataset=dataset, output=train_dir, seed=seed)
    cfg = validate_train_config(raw, f"{plan.path} (train, round {t})")
    # Paths inside the iterate directory are named relative to it: a moved directory keeps its rounds.
    key = stable_hash({"train": _relative_to(cfg.model_dump(mode="json"), layout.root), "data": dataset_key,
                       "init": path_fingerprint(init), "reference": path_fingerprint(reference),
                       "code": code_fingerprint(sorted(Path(prefdata.trainer.__file__).parent.glob("*.py"))),
                       "engines": engine_versions(TRAIN_ENGINES)})
    marker = rdir / "train.json"
    done = read_done(marker) or {}
    if done.get("key") == key and (layout.model(t) / "config.json").is_file():
        return done["summary"]
    marker.unlink(missing_ok=True)
    started = rdir / "train.started"
    trained = started.is_file() and started.read_text() == key and (train_dir / "DONE").is_file()
    if not trained:
        _run_training(cfg, train_dir, started, key)
    if plan.lora:
        _merge(train_dir, init, layout.model(t))
    summary = _train_summary(train_dir)
    mark_done(marker, {"key": key, "summary": summary})
    return summary


def _relative_to(value, root: Path):
    """`value` (a JSON tree) with every string that is a path inside `root` written `$ITERATE/...`."""
    if isinstance(value, dict):
        return {k: _relative_to(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_to(v, root) for v in value]
    if isinstance(value, str) and value.startswith("/") and Path(value).is_relative_to(root):
        return str(Path("$ITERATE") / Path(value).relative_to(root))
    return value


def _dataset_key(dataset: Path) -> str:
    """The training data's content: its split files (the card names the run's path, which may move)."""
    return stable_hash({p.name: file_digest(p) for p in sorted(dataset.glob("*.parquet"))
                        if p.name != "rejects.parquet"})


def _run_training(cfg, train_dir: Path, started: Path, key: str) -> None:
    """Train into `train_dir`: resume this key's own checkpoints, else start from an empty dir.

    `started` holds the key of the training the dir belongs to. A dir of another key (a changed
    config or a new start model) is removed *before* `started` names the new key, so a kill at
    any point never leaves the old run's DONE or checkpoints under the new key."""
    from prefdata.trainer.dpo import train
    from prefdata.trainer.rundir import checkpoints, is_complete

    ours = started.is_file() and started.read_text() == key
    if not ours:
        shutil.rmtree(train_dir, ignore_errors=True)
        write_text_atomic(started, key)
    resume = ours and any(is_complete(c) for c in checkpoints(train_dir))
    overwrite = not resume and train_dir.exists() and any(train_dir.iterdir())
    if overwrite and not (train_dir / "train_config.yaml").is_file():
        shutil.rmtree(train_dir)  # a half-made dir from before the trainer wrote anything
        overwrite = False
    train(cfg, resume=resume, overwrite=overwrite, console=Console(quiet=True))


def _merge(adapter: Path, base: str, out: Path) -> None:
    from prefdata.trainer.merge import merge_adapter

    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merge_adapter(adapter, base=base, out=tmp)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def _train_summary(train_dir: Path) -> dict:
    """Final loss, last logged reward accuracy and margin, alarms and rows of a finished training."""
    from prefdata.trainer.metrics import read_metrics

    done = read_done(train_dir / "DONE")
    metrics = json.loads((train_dir / "train_metrics.json").read_text())
    logged = [r for r in read_metrics(train_dir / "metrics.jsonl") if r.get("split") == "train" and "loss" in r]
    last = logged[-1] if logged else {}
    return {"pairs": done["rows"].get("train", 0), "train_loss": metrics.get("train_loss"),
            "final_loss": last.get("loss"), "reward_accuracy": last.get("rewards/accuracies"),
            "reward_margin": last.get("rewards/margins"), "steps": last.get("step"),
            "alarms": sorted(done.get("alarms", {}))}


def _evaluate(plan: Plan, layout: IterateDir, t: int, model: str, console: Console, quiet: Console) -> dict:
    """Greedy answers of `model` on the held-out prompts, scored by the eval judges: rounds/<t>/eval.json."""
    rdir = layout.round(t)
    run = rdir / "eval"
    with faults.scope("eval"), console.status(f"round {t}: evaluating on the held-out prompts"):
        build(plan.path, run, [*plan.overrides, *eval_overrides(plan), f"sample.models.0.model={model}"],
              until_stage="label", external={"prompts": layout.heldout}, console=quiet, recipe_model=IterateRecipe)
    prompt_ids = pl.read_parquet(layout.heldout, columns=["prompt_id"])["prompt_id"].to_list()
    types = {j.id: j.type for j in plan.recipe.label.judges
             if j.id in plan.eval_judges}
    scores = eval_scores(RunDir(run).stage("label").data, prompt_ids, types)
    baseline = None if t == 0 else eval_scores(RunDir(layout.round(0) / "eval").stage("label").data, prompt_ids,
                                                types)
    result = {"round": t, "model": model, "judges": summarize_eval(scores, baseline, plan.recipe.iterate.eval.pass_score)}
    ifeval = [judge for judge, kind in types.items() if kind == "ifeval"]
    if ifeval:
        result["ifeval"] = ifeval_section(run, None if t == 0 else layout.round(0) / "eval",
                                          pl.read_parquet(layout.heldout), ifeval)
    write_text_if_changed(rdir / "eval.json", json.dumps(result, indent=2))
    console.print(f"round {t}: eval {_eval_line(result)}")
    return result


def _eval_line(result: dict) -> str:
    parts = []
    for judge, r in result["judges"].items():
        line = f"{judge} mean {fmt_number(r['mean'])}"
        if "pass_rate" in r:
            line += f", pass {r['pass_rate']:.1%}"
        if r.get("win_rate_vs_initial") is not None:
            line += f", win vs pi_0 {r['win_rate_vs_initial']:.1%}"
        parts.append(line)
    return "; ".join(parts)


def _name(model: str, layout: IterateDir) -> str:
    path = Path(model)
    return str(path.relative_to(layout.root)) if path.is_relative_to(layout.root) else str(model)


