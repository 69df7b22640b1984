"""TrainConfig: model, data, peft, reference and alarms sections plus TRL's own `DPOConfig` keys.

    from prefdata.trainer.config import load_train_config, build_dpo_args
    cfg = load_train_config("trainer/configs/lora_cpu.yaml", ["dpo.beta=0.2"], data_dir="data/hh")
    args = build_dpo_args(cfg)          # a real trl.DPOConfig

The `dpo:` section is not re-declared here: its keys are checked against
`dataclasses.fields(trl.DPOConfig)` and the DPOConfig is built from them. Every problem is
gathered and raised at once, including those TRL only finds at step 1 (a misspelt
loss_type, exo_pair without label_smoothing, sync_ref_model with LoRA or precompute, ...).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from prefdata.config import StrictModel, apply_overrides, format_errors, read_yaml
from prefdata.errors import ConfigError
from prefdata.trainer.trl_compat import F_DIVERGENCE_LOSS_TYPES, LOSS_TYPES, version_problem

# DPOConfig keys removed from TRL since 0.29, and what replaced them.
REMOVED_DPO_KEYS = {
    "max_prompt_length": "removed in TRL 1.x; use dpo.max_length (prompts >= max_length are dropped and counted)",
    "max_completion_length": "removed in TRL 1.x; use dpo.max_length",
    "model_adapter_name": "removed in TRL 1.x; the trained adapter is 'default'",
    "ref_adapter_name": "removed in TRL 1.x; use reference.strategy: adapter with reference.adapter_path",
    "rpo_alpha": "removed in TRL 1.x; RPO is dpo.loss_type: [sigmoid, sft] with dpo.loss_weights: [1, alpha]",
    "reference_free": "removed in TRL 1.x; pick a reference.strategy instead",
    "use_logits_to_keep": "removed in TRL 1.x; the fused LM head already skips prompt logits",
    "precompute_ref_log_probs": "set by the harness; use reference.strategy: precomputed (persisted on disk)",
}

# Defaults the harness sets when the YAML does not: CPU-safe, reproducible, observable.
DPO_DEFAULTS: dict[str, Any] = {
    "output_dir": "runs/dpo",
    "gradient_checkpointing": False,  # transformers 5.19 + tiny models: checkpointing only costs time
    "report_to": "tensorboard",
    "logging_steps": 1,
    "save_total_limit": 2,
    "learning_rate": 5e-6,
}


class ModelSection(StrictModel):
    path: str = Field(description="Local directory (or hub id when online) of the policy model.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype at load; 'auto' keeps the checkpoint's dtype.")
    trust_remote_code: bool = Field(False, description="Run model code shipped with the checkpoint.")
    attn_implementation: str | None = Field(
        None, description="eager | sdpa | flash_attention_2; None lets transformers choose.")


class DataSection(StrictModel):
    dir: str | None = Field(None, description="Dataset directory from `prefdata import`/`build` (or --data).")
    train_split: str = Field("train", description="Reads <dir>/<train_split>*.parquet.")
    eval_split: str | None = Field("test", description="Eval split; None or missing files -> no eval.")
    fraction: float = Field(1.0, gt=0, le=1, description="Train on a seeded random share of the rows.")
    seed: int = Field(0, description="Seed of the fraction subset.")
    check: bool = Field(True, description="Run the chat-template checks before training; stop on severe ones.")


class PeftSection(StrictModel):
    mode: Literal["full", "lora", "qlora"] = Field("full", description="full | lora | qlora (4-bit, GPU only).")
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: int = Field(32, gt=0, description="LoRA alpha.")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | str = Field("all-linear", description="Modules to adapt, or 'all-linear'.")
    adapter_name_or_path: str | None = Field(
        None, description="Start from this (SFT) adapter instead of a fresh one, as LLaMA-Factory does.")


ReferenceStrategy = Literal["auto", "model", "adapter_disabled", "adapter", "precomputed"]


class ReferenceSection(StrictModel):
    strategy: ReferenceStrategy = Field("auto", description=(
        "model: separate frozen copy (+1 model of memory); adapter_disabled: base model with the "
        "adapter switched off (LoRA, +0); adapter: a named frozen reference adapter (+1 adapter); "
        "precomputed: log-probs computed once, stored on disk, reused (+0 during training); "
        "auto: full -> model, lora/qlora -> adapter (when starting from an adapter) else adapter_disabled."))
    model_path: str | None = Field(None, description="strategy=model: reference checkpoint (default model.path).")
    adapter_path: str | None = Field(
        None, description="strategy=adapter: reference adapter (default peft.adapter_name_or_path).")
    cache_dir: str | None = Field(
        None, description="strategy=precomputed: store (default $PREFDATA_CACHE or ~/.cache/prefdata/ref_logps).")


class AlarmsSection(StrictModel):
    enabled: bool = Field(True, description="Warn when training looks silently broken.")
    warmup_steps: int = Field(10, ge=0, description="Steps before the 'stuck at ln 2' alarm may fire.")
    window: int = Field(5, ge=1, description="Logged points averaged by each alarm.")
    loss_tolerance: float = Field(0.005, gt=0, description="|loss - ln 2| below this counts as stuck.")
    reward_tolerance: float = Field(1e-3, gt=0, description="|margins| below this counts as stuck.")


class TrainConfig(StrictModel):
    model: ModelSection
    data: DataSection = DataSection()
    peft: PeftSection = PeftSection()
    reference: ReferenceSection = ReferenceSection()
    alarms: AlarmsSection = AlarmsSection()
    dpo: dict[str, Any] = Field(default_factory=dict, description="trl.DPOConfig keys, passed through.")

    @property
    def output_dir(self) -> Path:
        return Path(self.dpo["output_dir"])

    @property
    def loss_types(self) -> list[str]:
        loss = self.dpo.get("loss_type", "sigmoid")
        return [loss] if isinstance(loss, str) else list(loss)

    def resolved_strategy(self) -> str:
        """The reference strategy after `auto` is decided."""
        if self.reference.strategy != "auto":
            return self.reference.strategy
        if self.peft.mode == "full":
            return "model"
        return "adapter" if self.peft.adapter_name_or_path else "adapter_disabled"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_train_config(
    path: str | Path, overrides: list[str] = (), *, data_dir: str | None = None, output_dir: str | None = None
) -> TrainConfig:
    """YAML + `--set` overrides -> TrainConfig, or one ConfigError listing every problem."""
    raw = apply_overrides(read_yaml(path), list(overrides))
    if data_dir is not None:
        raw.setdefault("data", {})["dir"] = str(data_dir)
    if output_dir is not None:
        raw.setdefault("dpo", {})["output_dir"] = str(output_dir)
    return validate_train_config(raw, str(path))


def validate_train_config(raw: dict[str, Any], source: str = "<config>") -> TrainConfig:
    raw = dict(raw)
    dpo = _yaml11_bools({**DPO_DEFAULTS, **(raw.get("dpo") or {})})
    raw["dpo"] = dpo
    problems: list[str] = []
    if (problem := version_problem()) is not None:  # before anything else: the checks below assume this TRL
        raise ConfigError(source, [problem])
    cfg = None
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as e:
        problems += format_errors(e)
    problems += dpo_key_problems(dpo)
    if cfg is not None:
        problems += cross_section_problems(cfg)
    if not problems:
        problems += _build_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def dpo_key_problems(dpo: dict[str, Any]) -> list[str]:
    """Unknown keys, wrong scalar types and the loss checks TRL makes only at step 1."""
    fields = _dpo_fields()
    problems = []
    for key, value in dpo.items():
        if key in REMOVED_DPO_KEYS:
            problems.append(f"dpo.{key}: {REMOVED_DPO_KEYS[key]}")
        elif key not in fields:
            problems.append(f"dpo.{key}: not a trl.DPOConfig key (check the spelling)")
        elif (msg := _type_problem(fields[key], value)) is not None:
            problems.append(f"dpo.{key}: {msg} (got {value!r})")
    losses = dpo.get("loss_type", "sigmoid")
    losses = [losses] if isinstance(losses, str) else list(losses or [])
    for loss in losses:
        if loss not in LOSS_TYPES:
            problems.append(f"dpo.loss_type: unknown loss type {loss!r}; choose from {', '.join(LOSS_TYPES)}")
    weights = dpo.get("loss_weights")
    if weights is not None and len(weights) != len(losses):
        problems.append(f"dpo.loss_weights: got {len(weights)} weights for {len(losses)} loss types {losses}")
    smoothing = dpo.get("label_smoothing", 0.0) or 0.0
    if "exo_pair" in losses and smoothing <= 0:
        problems.append(f"dpo.label_smoothing: exo_pair needs label_smoothing > 0 (EXO suggests 1e-3), got {smoothing}")
    if "robust" in losses and not 0 <= smoothing < 0.5:
        problems.append(f"dpo.label_smoothing: robust needs 0 <= label_smoothing < 0.5, got {smoothing}")
    if dpo.get("use_weighting") and {"aot", "aot_unpaired"} & set(losses):
        problems.append(f"dpo.use_weighting: WPO weighting does not work with aot losses (loss_type={losses})")
    if dpo.get("use_weighting") and "sft" in losses:
        # trl 1.16 expands the scalar sft loss, then multiplies it in place by the WPO weights: step 1 raises.
        problems.append(f"dpo.use_weighting: TRL crashes at the first step when WPO weighting meets the sft loss "
                        f"(loss_type={losses}); drop sft from loss_type or set use_weighting: false")
    f_div = dpo.get("f_divergence_type", "reverse_kl")
    if f_div != "reverse_kl" and not set(losses) <= F_DIVERGENCE_LOSS_TYPES:
        problems.append(f"dpo.f_divergence_type: {f_div!r} supports only {sorted(F_DIVERGENCE_LOSS_TYPES)}, "
                        f"got loss_type={losses}")
    return problems


def cross_section_problems(cfg: TrainConfig) -> list[str]:
    """Conflicts between sections and paths that must exist, checked before any model loads."""
    import torch

    problems = []
    strategy, mode = cfg.resolved_strategy(), cfg.peft.mode
    if cfg.data.dir is None:
        problems.append("data.dir: no dataset directory; pass --data DIR (written by `prefdata import`/`build`)")
    elif not Path(cfg.data.dir).is_dir():
        problems.append(f"data.dir: {cfg.data.dir} is not a directory; make it with `prefdata import` or `prefdata build`")
    if not _model_exists(cfg.model.path):
        problems.append(f"model.path: {cfg.model.path} does not exist (no config.json there); pass a local model dir")
    if mode == "qlora" and not torch.cuda.is_available():
        problems.append("peft.mode: qlora loads 4-bit weights with bitsandbytes, which needs a CUDA GPU; "
                        "use peft.mode: lora on CPU")
    if mode == "full" and strategy in ("adapter_disabled", "adapter"):
        problems.append(f"reference.strategy: {strategy!r} needs peft.mode lora or qlora, got peft.mode='full'")
    if mode == "full" and cfg.peft.adapter_name_or_path:
        problems.append("peft.adapter_name_or_path: needs peft.mode lora/qlora (or merge it first: `prefdata merge`)")
    if strategy == "adapter":
        path = cfg.reference.adapter_path or cfg.peft.adapter_name_or_path
        if path is None:
            problems.append("reference.adapter_path: strategy 'adapter' needs reference.adapter_path "
                            "or peft.adapter_name_or_path")
    for key, path in (("peft.adapter_name_or_path", cfg.peft.adapter_name_or_path),
                      ("reference.adapter_path", cfg.reference.adapter_path)):
        if path and not (Path(path) / "adapter_config.json").is_file():
            problems.append(f"{key}: {path} has no adapter_config.json; pass a PEFT adapter directory")
    if cfg.reference.model_path and strategy != "model":
        problems.append(f"reference.model_path: only used by strategy 'model', got strategy={strategy!r}")
    if cfg.reference.model_path and not _model_exists(cfg.reference.model_path):
        problems.append(f"reference.model_path: {cfg.reference.model_path} does not exist (no config.json there)")
    if cfg.dpo.get("sync_ref_model"):
        if mode != "full":
            problems.append(f"dpo.sync_ref_model: not supported with peft.mode={mode!r} (no separate reference copy)")
        if strategy == "precomputed":
            problems.append("dpo.sync_ref_model: conflicts with reference.strategy 'precomputed' (stored "
                            "log-probs cannot follow a moving reference)")
    if cfg.dpo.get("router_aux_loss_coef") and (Path(cfg.model.path) / "config.json").is_file() \
            and "output_router_logits" not in _read_model_config(cfg.model.path):
        problems.append(f"dpo.router_aux_loss_coef: {cfg.model.path} is not a Mixture-of-Experts model "
                        "(no output_router_logits in config.json): there is no router aux loss to weight")
    if cfg.dpo.get("bf16") and not torch.cuda.is_available() and not cfg.dpo.get("use_cpu"):
        problems.append("dpo.bf16: true needs a GPU here; set dpo.bf16: false on CPU")
    return problems


def build_dpo_args(cfg: TrainConfig, **extra: Any):
    """The trl.DPOConfig for this run (bf16 off on CPU, precompute set by the reference strategy)."""
    import torch
    from trl import DPOConfig

    kwargs = dict(cfg.dpo)
    kwargs.setdefault("bf16", torch.cuda.is_available() and cfg.model.dtype == "bfloat16")
    kwargs.setdefault("dataloader_pin_memory", torch.cuda.is_available())
    kwargs["precompute_ref_log_probs"] = cfg.resolved_strategy() == "precomputed"
    kwargs["trust_remote_code"] = cfg.model.trust_remote_code
    kwargs.update(extra)
    return DPOConfig(**kwargs)


def _build_problems(cfg: TrainConfig) -> list[str]:
    try:
        build_dpo_args(cfg)
    except (ValueError, TypeError) as e:
        return [f"dpo: trl.DPOConfig rejected the keys: {e}"]
    return []


def _model_exists(path: str) -> bool:
    from prefdata.model_dirs import is_model_dir, may_be_hub_id

    return is_model_dir(path) or may_be_hub_id(path)


def _read_model_config(path: str) -> dict:
    import json

    file = Path(path) / "config.json"
    return json.loads(file.read_text()) if file.is_file() else {}


def _dpo_fields() -> dict[str, Any]:
    from trl import DPOConfig

    hints = typing.get_type_hints(DPOConfig)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(DPOConfig) if f.init}


_BOOL_WORDS = {"yes": True, "on": True, "true": True, "no": False, "off": False, "false": False}


def _yaml11_bools(dpo: dict[str, Any]) -> dict[str, Any]:
    """yes/no/on/off stay strings when configs are read (prefdata.config), so that
    `eval_strategy: no` reaches TRL as "no"; a DPOConfig field that is a plain bool
    (`bf16: no`) still gets its bool here."""
    fields = _dpo_fields()
    out = dict(dpo)
    for key, value in dpo.items():
        allowed = typing.get_args(fields.get(key)) or (fields.get(key),)
        if isinstance(value, str) and value.lower() in _BOOL_WORDS and bool in allowed and str not in allowed:
            out[key] = _BOOL_WORDS[value.lower()]
    return out


def _type_problem(annotation: Any, value: Any) -> str | None:
    """A light check of scalar keys: the YAML mistakes that TRL would only hit mid-run."""
    if value is None:
        return None
    allowed = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, _UnionType) else (annotation,)
    if any(a is Any or typing.get_origin(a) is not None or a not in (bool, int, float, str) for a in allowed):
        return None  # lists, dicts, enums: TRL/transformers check them when DPOConfig is built
    if bool in allowed and isinstance(value, bool):
        return None
    if int in allowed and isinstance(value, int) and not isinstance(value, bool):
        return None
    if float in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    if str in allowed and isinstance(value, str):
        return None
    names = " or ".join(a.__name__ for a in allowed if a is not type(None))
    return f"expected {names}"


_UnionType = type(int | str)
