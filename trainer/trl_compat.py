"""Every use of TRL's internals, in one place, checked against the TRL versions it was written for.

    from prefdata.trainer.trl_compat import version_problem
    version_problem()      # None, or one line naming the installed and the supported TRL versions

prefdata trains with TRL's public DPOTrainer, but a few things need TRL's private API or a
copy of its behaviour; they live here, and `prefdata train` refuses at config load (before
any model loads) a TRL outside `SUPPORTED`, instead of failing deep in a run:
- `dpo_trainer_with_ref_store`: overrides `DPOTrainer._precompute_ref_logps` and reads
  `_precompute_model_hash` (the `precomputed` reference strategy stores the pass on disk);
- `tokenize_like_trl`: TRL's `_tokenize` and `_prepare_dataset` prompt/completion split,
  mirrored so `prefdata validate` measures what TRL will train on;
- `LOSS_TYPES`: the loss names `_compute_loss` handles; `TRL_DEFAULT_MAX_LENGTH`.
tests/trainer/test_trl_compat.py checks each against the installed TRL.
"""

from __future__ import annotations

from typing import Any

from prefdata.io.common import common_prefix_len

SUPPORTED = ">=1.16,<1.17"
TRL_DEFAULT_MAX_LENGTH = 1024  # DPOConfig.max_length

# The loss types DPOTrainer._compute_loss accepts (tests/trainer/test_trl_compat.py reads the installed source).
LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
)
# f-DPO only generalises these (TRL raises at trainer init otherwise).
F_DIVERGENCE_LOSS_TYPES = {"sigmoid", "sigmoid_norm", "hinge", "ipo", "exo_pair", "robust", "discopop", "sft"}


def version_problem(installed: str | None = None) -> str | None:
    """None when the installed TRL is one this module was written for, else the line to show."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import SpecifierSet

    try:
        installed = installed or version("trl")
    except PackageNotFoundError:
        return f"TRL is not installed; prefdata's trainer needs trl{SUPPORTED} (pip install 'trl{SUPPORTED}')"
    if installed in SpecifierSet(SUPPORTED):
        return None
    return (f"TRL {installed} is installed, but prefdata's trainer was written for trl{SUPPORTED} (it uses TRL "
            f"internals, prefdata/trainer/trl_compat.py); install it with pip install 'trl{SUPPORTED}'")


def _ids(tokenizer, value, **kwargs) -> list[int]:
    # The same calls as trl.trainer.dpo_trainer._tokenize for a text-only tokenizer.
    if isinstance(value, list):
        out = tokenizer.apply_chat_template(value, tokenize=True, return_dict=True, **kwargs)
    else:
        out = tokenizer(text=value)
    return list(out["input_ids"])




def tokenize_like_trl(tokenizer, example: dict) -> dict[str, Any]:
    """prompt_ids / chosen_ids / rejected_ids as TRL 1.16 computes them (before truncation)."""
    prompt, chosen, rejected = example["prompt"], example["chosen"], example["rejected"]
    if isinstance(prompt, list):
        p = _ids(tokenizer, prompt, add_generation_prompt=True)
        pc = _ids(tokenizer, prompt + chosen)
        pr = _ids(tokenizer, prompt + rejected)
    else:
        eos = tokenizer.eos_token
        chosen = chosen if chosen.endswith(eos) else chosen + eos
        rejected = rejected if rejected.endswith(eos) else rejected + eos
        p, pc, pr = _ids(tokenizer, prompt), _ids(tokenizer, prompt + chosen), _ids(tokenizer, prompt + rejected)
    n = min(common_prefix_len(p, pc), common_prefix_len(p, pr))
    return {"prompt_ids": p[:n], "chosen_ids": pc[n:], "rejected_ids": pr[n:], "full_prompt_len": len(p),
            "sequences": (pc, pr)}


def dpo_trainer_with_ref_store(store):
    """TRL's DPOTrainer, with its reference precompute pass (`_precompute_ref_logps`, private) routed
    through `store` (prefdata/trainer/reference.py: RefLogpStore); `store` None: TRL's own class."""
    from datasets import concatenate_datasets
    from trl import DPOTrainer

    if store is None:
        return DPOTrainer

    class PersistentRefDPOTrainer(DPOTrainer):
        ref_store = store

        def _precompute_ref_logps(self, dataset, name, batch_size):
            key = store.fingerprint(self._precompute_model_hash, dataset, self.args, self.processing_class)
            cached = store.load(key, len(dataset))
            if not _main_decides(self.accelerator, cached is not None):
                # recompute on every rank together (the pass gathers across ranks), even where
                # a rank could read a file the main process wrote meanwhile
                out = self._ref_pass(dataset, name, batch_size)
                if self.accelerator.is_main_process:
                    store.save(key, out, name)  # shared file: the main process alone writes it
                self.accelerator.wait_for_everyone()
                store.writes[name] = key
                return out
            if cached is None:  # the main process found the file this rank did not: read it now
                cached = store.load(key, len(dataset))
            store.hits[name] = key
            return concatenate_datasets([dataset, cached], axis=1)

        def _ref_pass(self, dataset, name, batch_size):
            """TRL's reference pass without its cache file, whose path (under datasets' per-process
            temp dir for an in-memory dataset) rank 1 cannot see: measured, FileNotFoundError on
            rank 1 with --num-processes 2. Every rank gathers all log-probs and adds the columns in
            memory. DeepSpeed keeps TRL's own pass (it wraps the model in an inference engine)."""
            if self.is_deepspeed_enabled and self.ref_model is None:
                return super()._precompute_ref_logps(dataset, name, batch_size)
            import torch
            from datasets import Dataset
            from torch.utils.data import DataLoader

            loader = self.accelerator.prepare(DataLoader(
                dataset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False,
                num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory))
            model = self.ref_model or self.model
            chosen, rejected = [], []
            for batch in loader:
                c, r = self.accelerator.gather_for_metrics(self.compute_ref_log_probs(model, batch))
                chosen.append(c.float().cpu())
                rejected.append(r.float().cpu())
            columns = {"ref_chosen_logps": torch.cat(chosen).numpy(), "ref_rejected_logps": torch.cat(rejected).numpy()}
            return concatenate_datasets([dataset, Dataset.from_dict(columns)], axis=1)

    return PersistentRefDPOTrainer


def _main_decides(accelerator, value: bool) -> bool:
    """The main process's `value` on every rank: all ranks must take the same branch around a collective."""
    if accelerator.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


