"""Reference strategies: each runs, all give the same reference log-probs for the same reference,
and precomputed log-probs persist on disk so a second run skips the reference pass."""

from __future__ import annotations

import pytest
import torch

from prefdata.trainer.dpo import prepare, train
from prefdata.trainer.reference import reference_logps


@pytest.fixture(scope="module")
def sft(tiny_model_dir, tmp_path_factory):
    """A non-trivial 'SFT' adapter (random B, so base + adapter != base) and its merged model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("sft")
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(root / "adapter")
    model.merge_and_unload().save_pretrained(root / "merged")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(root / "merged")
    return {"adapter": str(root / "adapter"), "merged": str(root / "merged")}


def _ref(make_cfg, **sections):
    run = prepare(make_cfg(**sections))
    return reference_logps(run.trainer)


def _same(a, b):
    assert torch.allclose(a[0], b[0], atol=1e-4) and torch.allclose(a[1], b[1], atol=1e-4)


def test_base_reference_is_the_same_under_every_strategy(make_cfg, tiny_model_dir):
    lora = {"mode": "lora", "r": 4}
    expected = _ref(make_cfg, peft=lora, reference={"strategy": "model", "model_path": str(tiny_model_dir)})
    _same(expected, _ref(make_cfg, peft=lora, reference={"strategy": "adapter_disabled"}))
    _same(expected, _ref(make_cfg, peft=lora, reference={"strategy": "precomputed"}))
    _same(expected, _ref(make_cfg, reference={"strategy": "precomputed"}))  # full FT: the starting policy
    _same(expected, _ref(make_cfg, reference={"strategy": "model"}))


def test_sft_reference_is_the_same_under_every_strategy(make_cfg, sft):
    lora = {"mode": "lora", "r": 4}
    expected = _ref(make_cfg, peft=lora, reference={"strategy": "model", "model_path": sft["merged"]})
    # a fresh trained adapter, reference = base + the named SFT adapter
    _same(expected, _ref(make_cfg, peft=lora, reference={"strategy": "adapter", "adapter_path": sft["adapter"]}))
    # continue training the SFT adapter: TRL's frozen copy of it is the reference
    _same(expected, _ref(make_cfg, peft={**lora, "adapter_name_or_path": sft["adapter"]},
                         reference={"strategy": "adapter"}))
    _same(expected, _ref(make_cfg, peft={**lora, "adapter_name_or_path": sft["adapter"]},
                         reference={"strategy": "precomputed"}))
    base = _ref(make_cfg, peft={**lora, "adapter_name_or_path": sft["adapter"]},
                reference={"strategy": "adapter_disabled"})
    assert not torch.allclose(base[0], expected[0], atol=1e-3)  # the SFT adapter really changes the reference


def test_named_reference_adapter_stays_frozen_while_training(make_cfg, sft):
    run = prepare(make_cfg(peft={"mode": "lora", "r": 4},
                           reference={"strategy": "adapter", "adapter_path": sft["adapter"]}))
    params = dict(run.trainer.model.named_parameters())
    ref = {n: p.detach().clone() for n, p in params.items() if ".ref." in n}
    trained = {n: p.detach().clone() for n, p in params.items() if ".default." in n}
    assert ref and not any(params[n].requires_grad for n in ref)
    run.trainer.train()
    params = dict(run.trainer.model.named_parameters())
    assert all(torch.equal(p, params[n]) for n, p in ref.items())
    assert any(not torch.equal(p, params[n]) for n, p in trained.items())


def test_precomputed_logps_are_persisted_and_reused(make_cfg):
    cfg = make_cfg(data={"eval_split": "test"}, reference={"strategy": "precomputed"})
    first = train(cfg)
    assert set(first.reference_cache["writes"]) == {"train", "eval"} and not first.reference_cache["hits"]
    second = train(cfg.model_copy(update={"dpo": {**cfg.dpo, "output_dir": str(cfg.output_dir) + "-2"}}))
    assert second.reference_cache["hits"] == first.reference_cache["writes"] and not second.reference_cache["writes"]
    assert second.train_metrics["train_loss"] == pytest.approx(first.train_metrics["train_loss"], abs=1e-6)
    # a different template (max_length changes the tokenized data) is a different fingerprint
    third = train(cfg.model_copy(update={"dpo": {**cfg.dpo, "max_length": 100, "output_dir": str(cfg.output_dir) + "-3"}}))
    assert third.reference_cache["writes"] and not third.reference_cache["hits"]
