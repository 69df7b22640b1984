"""Acceptance: each real dataset, imported through the CLI, loads with `datasets` and trains in TRL unchanged.

    python -m pytest -q -m slow tests/io/test_acceptance_train.py

Also checks that `prefdata validate` predicts TRL exactly: same prompt/completion token ids,
and the examples it flags `prompt_too_long` are the ones DPOTrainer drops.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

MAX_LENGTH = 128


def _train(data_dir, model_dir, tmp_path, n_rows=24):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    torch.manual_seed(0)
    train = load_dataset("parquet", data_dir=str(data_dir))["train"].select(range(n_rows))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = DPOConfig(output_dir=str(tmp_path / "run"), bf16=False, use_cpu=True, max_length=MAX_LENGTH,
                     per_device_train_batch_size=2, max_steps=2, report_to="none", learning_rate=1e-4,
                     logging_steps=1, save_strategy="no", gradient_checkpointing=False, dataloader_num_workers=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=train,
                         processing_class=AutoTokenizer.from_pretrained(str(model_dir)))
    output = trainer.train()
    changed = sum(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters())
    return train, trainer, output, changed


@pytest.mark.parametrize("which", ["hh", "lf"])
def test_imported_real_dataset_trains_with_dpo_trainer(which, hh_import, lf_import, tiny_model_dir, tmp_path):
    import math

    from transformers import AutoTokenizer

    from prefdata.validate import check_example
    from prefdata.trainer.trl_compat import tokenize_like_trl

    data_dir = (hh_import if which == "hh" else lf_import)[0]
    train, trainer, output, changed = _train(data_dir, tiny_model_dir, tmp_path)
    assert output.global_step == 2 and math.isfinite(output.training_loss)
    assert changed > 0  # the policy moved

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    specials = tokenizer.all_special_tokens
    rows = train.to_list()
    flagged = [i for i, r in enumerate(rows) if "prompt_too_long" in check_example(tokenizer, r, MAX_LENGTH, specials)]
    assert len(trainer.train_dataset) == len(rows) - len(flagged)  # validate predicts TRL's silent drop
    kept = [r for i, r in enumerate(rows) if i not in flagged]
    for ours, theirs in zip(kept, trainer.train_dataset):
        tok = tokenize_like_trl(tokenizer, ours)
        assert tok["prompt_ids"] == theirs["prompt_ids"] and tok["chosen_ids"] == theirs["chosen_ids"]
        assert tok["rejected_ids"] == theirs["rejected_ids"]
