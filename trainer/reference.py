"""Reference strategies: where the DPO reference log-probs come from, and what each costs.

    plan = reference_plan(cfg, load_model)       # before the trainer is built
    trainer = plan.trainer_class(model, ref_model=plan.ref_model, ...)
    plan.after_init(trainer)                      # e.g. load the named reference adapter

| strategy          | reference                         | extra memory while training    |
|-------------------|-----------------------------------|--------------------------------|
| model             | a separate frozen checkpoint      | one more model (weights only)  |
| adapter_disabled  | the base, LoRA adapter switched off | none                         |
| adapter           | base + a named frozen adapter     | one more adapter               |
| precomputed       | the starting policy, run once;    | none; the log-probs live on    |
|                   | log-probs stored on disk          | disk, keyed by a fingerprint   |

`precomputed` persists TRL's `ref_chosen_logps`/`ref_rejected_logps` columns under
`<cache_dir>/<fingerprint>/` where the fingerprint covers the reference weights (TRL's own
hash of the in-memory module), the tokenized data (hence the chat template and max_length)
and ld_alpha: a second run with the same inputs reads them back and skips the reference pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prefdata.trainer.config import TrainConfig

REF_COLUMNS = ["ref_chosen_logps", "ref_rejected_logps"]
IDS_COLUMNS = ["prompt_ids", "chosen_ids", "rejected_ids"]
REF_ADAPTER = "ref"  # the adapter name TRL's DPOTrainer switches to for the reference pass


@dataclass
class ReferencePlan:
    strategy: str
    ref_model: Any = None
    trainer_class: type | None = None
    after_init: Callable[[Any], None] = lambda trainer: None
    notes: list[str] = field(default_factory=list)


def reference_plan(cfg: TrainConfig, load_model: Callable[[str], Any]) -> ReferencePlan:
    strategy = cfg.resolved_strategy()
    store = RefLogpStore(default_cache_dir(cfg)) if strategy == "precomputed" else None
    plan = ReferencePlan(strategy=strategy, trainer_class=dpo_trainer_class(store))
    if strategy == "model":
        plan.ref_model = load_model(cfg.reference.model_path or cfg.model.path)
        plan.ref_model.eval().requires_grad_(False)
    elif strategy == "adapter_disabled":
        plan.after_init = _drop_ref_adapter
    elif strategy == "adapter":
        path = cfg.reference.adapter_path or cfg.peft.adapter_name_or_path
        if path != cfg.peft.adapter_name_or_path:
            plan.after_init = lambda trainer: _load_ref_adapter(trainer, path)
        # else: TRL already copied the starting adapter into a frozen "ref" adapter
    return plan


def _drop_ref_adapter(trainer) -> None:
    """Base model as reference: remove the frozen copy TRL makes of a starting adapter."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if REF_ADAPTER in getattr(model, "peft_config", {}):
        model.delete_adapter(REF_ADAPTER)


def _load_ref_adapter(trainer, path: str) -> None:
    """Reference = base + the adapter at `path`, frozen, beside the trained 'default' adapter."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    _drop_ref_adapter(trainer)
    model.load_adapter(path, adapter_name=REF_ADAPTER, is_trainable=False)
    model.set_adapter("default")  # keep the trained adapter active (and the only trainable one)


def default_cache_dir(cfg: TrainConfig) -> Path:
    if cfg.reference.cache_dir:
        return Path(cfg.reference.cache_dir)
    root = os.environ.get("PREFDATA_CACHE") or Path.home() / ".cache" / "prefdata"
    return Path(root) / "ref_logps"


class RefLogpStore:
    """Reference log-probs on disk: `<root>/<fingerprint>/{ref_logps.parquet, meta.json}`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.hits: dict[str, str] = {}    # split name -> fingerprint read back
        self.writes: dict[str, str] = {}  # split name -> fingerprint computed and stored

    def fingerprint(self, model_hash: str, dataset, args, tokenizer) -> str:
        h = hashlib.sha256()
        meta = {"model": model_hash, "template": getattr(tokenizer, "chat_template", None),
                "ld_alpha": args.ld_alpha, "max_length": args.max_length,
                "truncation_mode": args.truncation_mode, "rows": len(dataset)}
        h.update(json.dumps(meta, sort_keys=True, default=str).encode())
        ids = dataset.select_columns(IDS_COLUMNS).with_format("arrow")
        for batch in ids.iter(batch_size=4096):  # row order as the trainer sees it (filters applied)
            for column in batch.columns:
                for chunk in column.chunks:
                    for buf in chunk.buffers():
                        if buf is not None:
                            h.update(memoryview(buf))
        return h.hexdigest()[:24]

    def load(self, key: str, rows: int):
        import polars as pl
        from datasets import Dataset

        file = self.root / key / "ref_logps.parquet"
        if not file.is_file():
            return None
        frame = pl.read_parquet(file)
        if frame.height != rows:  # a partial write: recompute
            return None
        return Dataset.from_polars(frame.select(REF_COLUMNS).cast(pl.Float32))

    def save(self, key: str, dataset, name: str) -> None:
        folder = self.root / key
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "ref_logps.parquet.tmp"
        dataset.select_columns(REF_COLUMNS).to_polars().write_parquet(tmp)
        tmp.replace(folder / "ref_logps.parquet")  # written last: a complete file means a complete pass
        (folder / "meta.json").write_text(json.dumps({"split": name, "rows": len(dataset)}))


def dpo_trainer_class(store: RefLogpStore | None):
    """TRL's DPOTrainer, with its reference precompute pass routed through `store`."""
    from prefdata.trainer.trl_compat import dpo_trainer_with_ref_store

    return dpo_trainer_with_ref_store(store)


def reference_logps(trainer, batch_size: int = 8):
    """(chosen, rejected) reference log-probs of every train row, as this trainer computes them."""
    import torch

    dataset = trainer.train_dataset
    if REF_COLUMNS[0] in dataset.column_names:
        return (torch.tensor(dataset[REF_COLUMNS[0]]), torch.tensor(dataset[REF_COLUMNS[1]]))
    return sequence_logps(trainer, trainer.ref_model or trainer.model, batch_size)


def sequence_logps(trainer, model, batch_size: int = 8):
    """(chosen, rejected) log-probs of every train row under `model` (the policy, or a reference),
    with the trainer's collator and TRL's own log-prob pass."""
    import torch

    ids = trainer.train_dataset.select_columns(IDS_COLUMNS)
    chosen, rejected = [], []
    for start in range(0, len(ids), batch_size):
        batch = trainer.data_collator([ids[i] for i in range(start, min(start + batch_size, len(ids)))])
        c, r = trainer.compute_ref_log_probs(model, batch)
        chosen.append(c)
        rejected.append(r)
    return torch.cat(chosen), torch.cat(rejected)
