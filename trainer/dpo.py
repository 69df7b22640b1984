"""The DPO harness: setup -> data -> model/reference -> train -> save, on TRL's DPOTrainer.

    prefdata train --data data/hh --config trainer/configs/lora_cpu.yaml --set dpo.max_steps=20

    from prefdata.trainer.config import load_train_config
    from prefdata.trainer.dpo import train
    result = train(load_train_config("trainer/configs/full_cpu.yaml", data_dir="data/hh"))

Outputs in `dpo.output_dir`: train_config.yaml (resolved), checkpoints, tensorboard logs
(runs/), metrics.jsonl, plots/*.png, eval_metrics.json, rejects_<split>.parquet (rows dropped
before or by TRL, with reasons), train_stats.json (row counts: in = trained + dropped), the
final model or adapter + tokenizer, and DONE written last.

A fresh run refuses an output dir that holds a previous run unless `resume` or `overwrite`
(see prefdata.trainer.rundir). Under `accelerate launch` every rank runs this code; shared
files are written by the main process only while the others wait (prefdata.trainer.distributed).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from prefdata.errors import PrefdataError
from prefdata.logs import engine_output, terminal_console
from prefdata.atomic import write_parquet
from prefdata.ledger import Rejects
from prefdata.trainer import checks, data
from prefdata.trainer.alarms import DPOAlarms
from prefdata.trainer.config import TrainConfig, build_dpo_args
from prefdata.trainer.distributed import Ranks
from prefdata.trainer.metrics import MetricsJsonl
from prefdata.trainer.progress import ConsoleProgress
from prefdata.trainer.reference import reference_plan
from prefdata.trainer.rundir import CONFIG_FILE, start_run

# A row index carried through TRL's tokenization: the rows missing afterwards are the ones TRL dropped.
ROW_COLUMN = "prefdata_row"


@dataclass
class TrainResult:
    output_dir: Path
    rows: dict[str, int]
    train_metrics: dict[str, Any]
    eval_metrics: dict[str, Any]
    alarms: dict[str, str]
    reference: str
    reference_cache: dict[str, dict[str, str]] = field(default_factory=dict)
    trainer: Any = None


@dataclass
class Prepared:
    """Everything set up before `trainer.train()`: tests and benchmarks stop here."""

    trainer: Any
    plan: Any
    alarms: DPOAlarms
    tokenizer: Any
    rows: dict[str, int]
    has_eval: bool
    ranks: Ranks = field(default_factory=Ranks)


def prepare(cfg: TrainConfig, console: Console | None = None, *, args=None, ranks: Ranks | None = None) -> Prepared:
    """Config, data, model, reference and the TRL trainer, ready for `trainer.train()`.

    It does not check the output dir (`train` does): tests and benchmarks call it directly."""
    console = console or terminal_console()
    args = args if args is not None else build_dpo_args(cfg)
    ranks = ranks or Ranks.from_args(args)
    console = console if ranks.is_main else Console(stderr=True, quiet=True)  # one copy of each message
    # --- setup: the resolved config is printed and saved before anything heavy happens
    out = cfg.output_dir
    if ranks.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(cfg.to_yaml())
    console.print(f"[bold]prefdata train[/] -> {out}  [dim](config: {CONFIG_FILE}; engine output: "
                  f"logs/train.log)[/]", highlight=False)

    # --- data: read the dataset dir, check it with the model's own chat template
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)
    rejects: dict[str, Rejects] = {}
    train_frame, rows = _read_train(cfg, tokenizer, args.max_length, console, rejects)
    eval_frame = _read_eval(cfg, tokenizer, args.max_length, console, rows, rejects)
    train_ds = _with_row_index(data.to_dataset(train_frame))
    eval_ds = _with_row_index(data.to_dataset(eval_frame)) if eval_frame is not None else None
    if eval_ds is not None and args.eval_strategy == "no" and "eval_strategy" not in cfg.dpo:
        args.eval_strategy = "steps" if args.eval_steps else "epoch"  # eval split present: evaluate it
    if eval_ds is None and args.eval_strategy != "no":
        # No eval split (already said above): an eval_strategy would make Trainer raise at init.
        args.eval_strategy, args.load_best_model_at_end = "no", False

    # --- model and reference
    model, peft_config = load_policy(cfg)
    plan = reference_plan(cfg, lambda path: load_model(cfg, path))
    console.print(f"reference strategy: [bold]{plan.strategy}[/]")
    alarms = DPOAlarms(cfg.alarms, console if ranks.is_main else None)
    trainer = plan.trainer_class(
        model=model, ref_model=plan.ref_model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
        processing_class=tokenizer, peft_config=peft_config,
        callbacks=[MetricsJsonl(out / "metrics.jsonl"), alarms],
    )
    plan.after_init(trainer)
    # transformers' tqdm bar prints every step's full log dict; one line of ours replaces it
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ConsoleProgress(console))
    # --- rows TRL dropped while tokenizing (prompts >= max_length when data.check is off, or
    # when our mirror of its tokenization disagrees): counted, recorded, and the books balanced
    _count_trl_drops(trainer, cfg, {"train": train_frame, "eval": eval_frame}, rows, rejects, args.max_length, console)
    if ranks.is_main:
        for split, ledger in rejects.items():
            write_parquet(ledger.frame(), out / f"rejects_{split}.parquet")
        (out / "train_stats.json").write_text(json.dumps({"rows": rows}, indent=2))
    console.print(_rows_line(rows), highlight=False)
    return Prepared(trainer, plan, alarms, tokenizer, rows, trainer.eval_dataset is not None, ranks)


def train(cfg: TrainConfig, *, resume: bool | str = False, overwrite: bool = False, console: Console | None = None,
          keep_trainer: bool = False, verbose: bool = False) -> TrainResult:
    """One whole run: check the output dir, prepare, train (or resume), save, evaluate, plot, DONE.

    Engine output (transformers, TRL, datasets) goes to OUTPUT_DIR/logs/train.log (`verbose`:
    also to the screen, with the resolved config); the console shows our lines and one
    progress line."""
    console = console or terminal_console()
    args = build_dpo_args(cfg)  # under accelerate launch this joins the process group
    ranks = Ranks.from_args(args)
    checkpoint = start_run(cfg.output_dir, ranks, resume=resume, overwrite=overwrite,
                           protect=(cfg.data.dir, cfg.model.path))
    if verbose and ranks.is_main:
        console.print(cfg.to_yaml(), highlight=False)
    # each rank's engine output in its own file: no file is written by two processes
    log = cfg.output_dir / "logs" / ("train.log" if ranks.is_main else f"train.rank{ranks.index}.log")
    with engine_output(log, echo=verbose):
        return _train(cfg, console, args, ranks, checkpoint, keep_trainer)


def _train(cfg: TrainConfig, console, args, ranks: Ranks, checkpoint: str | None, keep_trainer: bool) -> TrainResult:
    run = prepare(cfg, console, args=args, ranks=ranks)
    trainer, out = run.trainer, cfg.output_dir

    # --- train
    started = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    train_metrics = {**train_output.metrics, "wall_seconds": time.perf_counter() - started}

    # --- save: final weights (every rank: FSDP gathers shards), eval (every rank), then the
    # main process alone writes the shared files while the others wait; DONE last
    trainer.save_model(str(out))
    eval_metrics = trainer.evaluate() if run.has_eval else {}
    store = getattr(run.plan.trainer_class, "ref_store", None)
    cache = {"hits": dict(store.hits), "writes": dict(store.writes)} if store else {}
    alarms = dict(run.alarms.fired)
    if ranks.is_main:
        _write_outputs(out, run, train_metrics, eval_metrics, alarms)
    ranks.barrier()
    return TrainResult(out, run.rows, train_metrics, eval_metrics, alarms, run.plan.strategy, cache,
                       trainer if keep_trainer else None)


def _write_outputs(out: Path, run: Prepared, train_metrics: dict, eval_metrics: dict, alarms: dict) -> None:
    """Tokenizer, metrics, plots and DONE (main process only)."""
    from prefdata.trainer.plots import plot_run

    run.tokenizer.save_pretrained(out)
    (out / "eval_metrics.json").write_text(json.dumps(eval_metrics, indent=2))
    (out / "train_metrics.json").write_text(json.dumps(train_metrics, indent=2))
    plot_run(out)
    from prefdata.atomic import mark_done

    mark_done(out / "DONE", {"rows": run.rows, "alarms": alarms, "reference": run.plan.strategy,
                             "processes": run.ranks.count})


def _read_train(cfg: TrainConfig, tokenizer, max_length, console, rejects) -> tuple[Any, dict[str, int]]:
    _require_complete(cfg.data.dir)
    frame = data.read_split(cfg.data.dir, cfg.data.train_split)
    rows = {"train_input": frame.height}
    frame = data.take_fraction(frame, cfg.data.fraction, cfg.data.seed)
    rows["train_not_sampled"] = rows["train_input"] - frame.height  # data.fraction < 1
    frame = _checked(cfg, frame, tokenizer, max_length, console, cfg.data.train_split, rows, "train", rejects)
    rows["train"] = frame.height
    if frame.height == 0:
        raise PrefdataError(f"{cfg.data.dir}: no training rows left (see {cfg.output_dir}/rejects_*.parquet)")
    return frame, rows


def _require_complete(data_dir) -> None:
    """A dataset dir whose writer did not finish (no completion marker) is refused with one line."""
    from prefdata.io.dataset_dir import require_complete

    require_complete(data_dir)


def _read_eval(cfg: TrainConfig, tokenizer, max_length, console, rows: dict[str, int], rejects):
    split = cfg.data.eval_split
    if not split or not data.split_files(cfg.data.dir, split):
        console.print(f"no eval split ({split!r}) in {cfg.data.dir}: training without eval")
        return None
    frame = data.read_split(cfg.data.dir, split)
    rows["eval_input"] = frame.height
    frame = _checked(cfg, frame, tokenizer, max_length, console, split, rows, "eval", rejects)
    rows["eval"] = frame.height
    return frame if frame.height else None


def _checked(cfg, frame, tokenizer, max_length, console, split: str, rows: dict[str, int], role: str, rejects):
    """Stop on severe data problems; drop (and record) prompts TRL would drop silently."""
    source = f"{cfg.data.dir}/{split}*.parquet"
    rows[f"{role}_dropped_prompt_too_long"] = 0
    if not cfg.data.check:
        return frame
    report = checks.check_examples(frame, tokenizer, max_length)
    report.raise_if_severe(source)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/] {split}: {warning}")
    if report.too_long:
        rejects[split] = report.rejects(frame, max_length, source)
        console.print(f"{split}: dropped {len(report.too_long)} prompt(s) >= max_length={max_length} "
                      f"(reason prompt_too_long, written to rejects_{split}.parquet)")
    rows[f"{role}_dropped_prompt_too_long"] = len(report.too_long)
    return report.kept(frame)


def _with_row_index(dataset):
    return dataset.add_column(ROW_COLUMN, list(range(len(dataset))))


def _count_trl_drops(trainer, cfg: TrainConfig, frames: dict[str, Any], rows: dict[str, int],
                     rejects: dict[str, Rejects], max_length, console) -> None:
    """rows[<role>_dropped_by_trl] and rejects for the rows missing after TRL's tokenization.

    Then the books must balance: rows in = rows kept + rows dropped for each reason; a
    mismatch is a bug here (a drop nobody counted), not a data problem, so it raises."""
    splits = {"train": cfg.data.train_split, "eval": cfg.data.eval_split}
    for role, frame in frames.items():
        dataset = getattr(trainer, f"{role}_dataset")
        if frame is None or dataset is None:
            continue
        kept = set(dataset[ROW_COLUMN])
        dropped = [i for i in range(frame.height) if i not in kept]
        rows[f"{role}_dropped_by_trl"] = len(dropped)
        rows[role] = len(dataset)
        _check_books(rows, role)
        if role == "train" and not len(dataset):
            raise PrefdataError(f"{cfg.data.dir}: TRL dropped every training row (prompts >= "
                                f"max_length={max_length}); raise dpo.max_length")
        # TRL ignores the extra column (its collator picks its own keys); drop it all the same
        setattr(trainer, f"{role}_dataset", dataset.remove_columns(ROW_COLUMN) if len(dataset) else None)
        if role == "eval" and not len(dataset):
            trainer.args.eval_strategy = "no"  # nothing left to evaluate
        if dropped:
            ledger = rejects.setdefault(splits[role], Rejects(stage="train", source=f"{cfg.data.dir}/{splits[role]}"))
            ids = frame["prompt_id"].to_list()
            for i in dropped:
                ledger.add("dropped_by_trl", f"TRL dropped the row while tokenizing (prompt >= max_length="
                           f"{max_length} tokens)", row=i + 1, row_id=ids[i], field="prompt",
                           values={"max_length": max_length})
            console.print(f"[yellow]warning[/] {splits[role]}: TRL dropped {len(dropped)} row(s) while tokenizing "
                          f"(prompt >= max_length={max_length}); written to rejects_{splits[role]}.parquet")


def _check_books(rows: dict[str, int], role: str) -> None:
    dropped = sum(v for k, v in rows.items() if k.startswith(f"{role}_dropped_") or k == f"{role}_not_sampled")
    if rows[f"{role}_input"] != rows[role] + dropped:
        raise RuntimeError(f"bookkeeping bug: {role} rows in {rows[f'{role}_input']} != trained {rows[role]} "
                           f"+ dropped {dropped} ({rows})")


def _rows_line(rows: dict[str, int]) -> str:
    """'train rows: 16 in -> 15 kept (0 not_sampled, 1 prompt_too_long, 0 by_trl)' for each split."""
    parts = []
    for role in ("train", "eval"):
        if f"{role}_input" not in rows:
            continue
        drops = {k.removeprefix(f"{role}_").removeprefix("dropped_"): v for k, v in rows.items()
                 if k.startswith(f"{role}_dropped_") or k == f"{role}_not_sampled"}
        detail = ", ".join(f"{v} {k}" for k, v in drops.items())
        parts.append(f"{role} rows: {rows[f'{role}_input']} in -> {rows[role]} kept ({detail})")
    return "; ".join(parts)


def load_model(cfg: TrainConfig, path: str, quantized: bool = False):
    """A causal LM from a local directory, dropout zeroed in its config (dpo.disable_dropout)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"trust_remote_code": cfg.model.trust_remote_code}
    if cfg.model.dtype != "auto":
        kwargs["dtype"] = getattr(torch, cfg.model.dtype)
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    if quantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if cfg.dpo.get("disable_dropout", True):
        _zero_dropout(model.config)
    return model


def load_policy(cfg: TrainConfig):
    """(model, peft_config): full -> the model; lora/qlora -> base + fresh LoRA config, or base + SFT adapter."""
    model = load_model(cfg, cfg.model.path, quantized=cfg.peft.mode == "qlora")
    if cfg.peft.mode == "full":
        return model, None
    if cfg.peft.adapter_name_or_path:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, cfg.peft.adapter_name_or_path, is_trainable=True), None
    from peft import LoraConfig

    return model, LoraConfig(r=cfg.peft.r, lora_alpha=cfg.peft.alpha, lora_dropout=cfg.peft.dropout,
                             target_modules=cfg.peft.target_modules, task_type="CAUSAL_LM")


def _zero_dropout(config) -> None:
    for key, value in config.to_dict().items():
        if "dropout" in key and isinstance(value, float) and value > 0:
            setattr(config, key, 0.0)
