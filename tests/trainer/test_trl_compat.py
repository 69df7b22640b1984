"""TRL internals in one place: each override and mirror checked against the installed TRL, and a
TRL outside the supported range refused at config load with one line.

    python -m pytest -q tests/trainer/test_trl_compat.py
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from prefdata.errors import ConfigError
from prefdata.trainer import trl_compat
from prefdata.trainer.config import validate_train_config
from prefdata.trainer.trl_compat import LOSS_TYPES, SUPPORTED, tokenize_like_trl, version_problem


def test_the_installed_trl_is_supported_and_others_are_refused_at_config_load(monkeypatch, tiny_model_dir,
                                                                              dpo_dir):
    assert version_problem() is None
    assert version_problem("1.16.3") is None
    problem = version_problem("1.17.0")
    assert "TRL 1.17.0 is installed" in problem and f"trl{SUPPORTED}" in problem
    monkeypatch.setattr(trl_compat, "version_problem", lambda: problem)
    monkeypatch.setattr("prefdata.trainer.config.version_problem", lambda: problem)
    raw = {"model": {"path": str(tiny_model_dir)}, "data": {"dir": str(dpo_dir)}, "dpo": {"output_dir": "/tmp/x"}}
    with pytest.raises(ConfigError) as e:
        validate_train_config(raw, "train.yaml")
    assert str(e.value).count("\n") == 1 and "TRL 1.17.0 is installed" in str(e.value)


def test_loss_types_match_the_installed_trl_source():
    import trl.trainer.dpo_trainer as src

    text = Path(src.__file__).read_text()
    handled = set(re.findall(r'elif loss_type == "(\w+)"|if loss_type == "(\w+)"', text))
    assert {a or b for a, b in handled} == set(LOSS_TYPES)


def test_the_private_methods_overridden_exist_with_the_same_signature():
    from trl import DPOTrainer

    assert list(inspect.signature(DPOTrainer._precompute_ref_logps).parameters) == [
        "self", "dataset", "name", "batch_size"]
    assert list(inspect.signature(DPOTrainer.compute_ref_log_probs).parameters) == ["self", "model", "inputs"]
    assert "self._precompute_model_hash =" in inspect.getsource(DPOTrainer.__init__)
    assert issubclass(trl_compat.dpo_trainer_with_ref_store(object()), DPOTrainer)
    assert trl_compat.dpo_trainer_with_ref_store(None) is DPOTrainer


@pytest.mark.parametrize("example", [
    {"prompt": [{"role": "user", "content": "What is 2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
     "rejected": [{"role": "assistant", "content": "5"}]},
    {"prompt": "What is 2+2?", "chosen": " 4", "rejected": " 5"},
])
def test_the_tokenization_mirror_equals_trls_own(example, tiny_model_dir):
    from transformers import AutoTokenizer
    from trl.trainer.dpo_trainer import _tokenize

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ours = tokenize_like_trl(tokenizer, example)
    prompt, chosen = example["prompt"], example["chosen"]
    if isinstance(prompt, list):
        theirs_prompt = _tokenize(tokenizer, prompt, add_generation_prompt=True)["input_ids"]
        theirs_full = _tokenize(tokenizer, prompt + chosen)["input_ids"]
    else:
        theirs_prompt = _tokenize(tokenizer, prompt)["input_ids"]
        theirs_full = _tokenize(tokenizer, prompt + chosen + tokenizer.eos_token)["input_ids"]
    assert ours["full_prompt_len"] == len(theirs_prompt)
    assert ours["sequences"][0] == list(theirs_full)
