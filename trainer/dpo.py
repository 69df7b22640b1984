"""The DPO harness: setup -> data -> model/reference -> train -> save, on TRL's DPOTrainer.

    prefdata train --data data/hh --config trainer/configs/lora_cpu.yaml --set dpo.max_steps=20

    from prefdata.trainer.config import load_train_config
    from prefdata.trainer.dpo import train
    result = train(load_train_config("trainer/configs/full_cpu.yaml", data_dir="data/hh"))

Outputs in `dpo.output_dir`: train_config.yaml (resolved), checkpoints, tensorboard logs
(runs/), metrics.jsonl, plots/*.png, eval_metrics.json, rejects.parquet (rows dropped before
training, with reasons), the final model or adapter + tokenizer, and DONE written last.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from prefdata.errors import PrefdataError
from prefdata.tables import write_parquet
from prefdata.trainer import checks, data
from prefdata.trainer.alarms import DPOAlarms
from prefdata.trainer.config import TrainConfig, build_dpo_args
from prefdata.trainer.metrics import MetricsJsonl
from prefdata.trainer.reference import reference_plan


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


def prepare(cfg: TrainConfig, console: Console | None = None) -> Prepared:
    console = console or Console(stderr=True)
    # --- setup: the resolved config is printed and saved before anything heavy happens
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.yaml").write_text(cfg.to_yaml())
    console.print(f"[bold]prefdata train[/] -> {out}\n{cfg.to_yaml()}", highlight=False)
    args = build_dpo_args(cfg)

    # --- data: read the dataset dir, check it with the model's own chat template
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(cfg.model.path, trust_remote_code=cfg.model.trust_remote_code)
    train_frame, rows = _read_train(cfg, tokenizer, args.max_length, console)
    eval_frame = _read_eval(cfg, tokenizer, args.max_length, console, rows)
    train_ds = data.to_dataset(train_frame)
    eval_ds = data.to_dataset(eval_frame) if eval_frame is not None else None
    if eval_ds is not None and args.eval_strategy == "no" and "eval_strategy" not in cfg.dpo:
        args.eval_strategy = "steps" if args.eval_steps else "epoch"  # eval split present: evaluate it
    if eval_ds is None and args.eval_strategy != "no":
        # No eval split (already said above): an eval_strategy would make Trainer raise at init.
        args.eval_strategy, args.load_best_model_at_end = "no", False

    # --- model and reference
    model, peft_config = load_policy(cfg)
    plan = reference_plan(cfg, lambda path: load_model(cfg, path))
    console.print(f"reference strategy: [bold]{plan.strategy}[/]")
    alarms = DPOAlarms(cfg.alarms)
    trainer = plan.trainer_class(
        model=model, ref_model=plan.ref_model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
        processing_class=tokenizer, peft_config=peft_config,
        callbacks=[MetricsJsonl(out / "metrics.jsonl"), alarms],
    )
    plan.after_init(trainer)
    return Prepared(trainer, plan, alarms, tokenizer, rows, eval_ds is not None)


def train(cfg: TrainConfig, *, resume: bool | str = False, console: Console | None = None,
          keep_trainer: bool = False) -> TrainResult:
    resume = _resume_arg(resume, cfg.output_dir)
    run = prepare(cfg, console)
    trainer, out = run.trainer, cfg.output_dir

    # --- train
    started = time.perf_counter()
    train_output = trainer.train(resume_from_checkpoint=resume)
    train_metrics = {**train_output.metrics, "wall_seconds": time.perf_counter() - started}

    # --- save: final weights, eval metrics, plots, and DONE last
    trainer.save_model(str(out))
    run.tokenizer.save_pretrained(out)
    eval_metrics = trainer.evaluate() if run.has_eval else {}
    (out / "eval_metrics.json").write_text(json.dumps(eval_metrics, indent=2))
    (out / "train_metrics.json").write_text(json.dumps(train_metrics, indent=2))
    from prefdata.trainer.plots import plot_run

    plot_run(out)
    store = getattr(run.plan.trainer_class, "ref_store", None)
    cache = {"hits": dict(store.hits), "writes": dict(store.writes)} if store else {}
    alarms = dict(run.alarms.fired)
    (out / "DONE").write_text(json.dumps({"rows": run.rows, "alarms": alarms, "reference": run.plan.strategy}))
    return TrainResult(out, run.rows, train_metrics, eval_metrics, alarms, run.plan.strategy, cache,
                       trainer if keep_trainer else None)


def _read_train(cfg: TrainConfig, tokenizer, max_length, console) -> tuple[Any, dict[str, int]]:
    frame = data.read_split(cfg.data.dir, cfg.data.train_split)
    rows = {"train_input": frame.height}
    frame = data.take_fraction(frame, cfg.data.fraction, cfg.data.seed)
    rows["train_fraction"] = frame.height
    frame = _checked(cfg, frame, tokenizer, max_length, console, cfg.data.train_split, rows, "train")
    rows["train"] = frame.height
    if frame.height == 0:
        raise PrefdataError(f"{cfg.data.dir}: no training rows left (see {cfg.output_dir}/rejects.parquet)")
    return frame, rows


def _read_eval(cfg: TrainConfig, tokenizer, max_length, console, rows: dict[str, int]):
    split = cfg.data.eval_split
    if not split or not data.split_files(cfg.data.dir, split):
        console.print(f"no eval split ({split!r}) in {cfg.data.dir}: training without eval")
        return None
    frame = data.read_split(cfg.data.dir, split)
    rows["eval_input"] = frame.height
    frame = _checked(cfg, frame, tokenizer, max_length, console, split, rows, "eval")
    rows["eval"] = frame.height
    return frame if frame.height else None


def _checked(cfg, frame, tokenizer, max_length, console, split: str, rows: dict[str, int], role: str):
    """Stop on severe data problems; drop (and record) prompts TRL would drop silently."""
    source = f"{cfg.data.dir}/{split}*.parquet"
    if not cfg.data.check:
        return frame
    report = checks.check_examples(frame, tokenizer, max_length)
    report.raise_if_severe(source)
    for warning in report.warnings:
        console.print(f"[yellow]warning[/] {split}: {warning}")
    if report.too_long:
        rejects = report.rejects(frame, max_length, source)
        write_parquet(rejects.frame(), cfg.output_dir / f"rejects_{split}.parquet")
        console.print(f"{split}: dropped {len(report.too_long)} prompt(s) >= max_length={max_length} "
                      f"(reason prompt_too_long, written to rejects_{split}.parquet)")
    rows[f"{role}_dropped_prompt_too_long"] = len(report.too_long)
    return report.kept(frame)


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


def _resume_arg(resume: bool | str, out: Path) -> bool | str:
    if not resume:
        return False
    if isinstance(resume, str) and resume not in ("true", "last"):
        if not Path(resume).is_dir():
            raise PrefdataError(f"--resume {resume}: no such checkpoint directory")
        return resume
    if not any(out.glob("checkpoint-*")):
        raise PrefdataError(f"--resume: no checkpoint-* folder in {out}; train without --resume first")
    return True
