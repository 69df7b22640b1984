"""A tiny Mixture-of-Experts model (Mixtral architecture, built and saved locally) DPO-trains with its
router load-balancing loss: TRL 1.16 adds `router_aux_loss_coef * aux_loss` to the DPO loss and logs
`aux_loss`. At step 1 (policy == reference) the DPO part is exactly ln 2, so the logged loss must be
ln 2 + coef * aux_loss, and coef 0 switches the term (and its log) off."""

from __future__ import annotations

import math

import pytest

from prefdata.trainer.dpo import train
from prefdata.trainer.metrics import read_metrics

LN2 = math.log(2)


@pytest.fixture(scope="module")
def tiny_moe_dir(tmp_path_factory):
    """Mixtral with 4 experts (2 per token), 2 layers, hidden 64, router logits on, saved with our tokenizer."""
    import torch
    from transformers import MixtralConfig, MixtralForCausalLM

    from prefdata.tiny import build_tokenizer, default_corpus

    out = tmp_path_factory.mktemp("tiny-moe")
    tokenizer = build_tokenizer(default_corpus(seed=0))
    config = MixtralConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=1, num_key_value_heads=1, head_dim=64, num_local_experts=4, num_experts_per_tok=2,
        max_position_embeddings=512, output_router_logits=True, router_aux_loss_coef=0.02,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    MixtralForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _rows(out):
    return [r for r in read_metrics(out / "metrics.jsonl") if r["split"] == "train" and "loss" in r]


def test_router_aux_loss_is_logged_and_added_to_the_loss(make_cfg, tiny_moe_dir, tmp_path):
    coef = 0.5  # large, so the aux term is far above float noise
    with_aux = train(make_cfg(model={"path": str(tiny_moe_dir)},
                              dpo={"router_aux_loss_coef": coef, "output_dir": str(tmp_path / "aux")}))
    rows = _rows(with_aux.output_dir)
    aux = rows[0]["aux_loss"]
    assert aux > 1.0  # Mixtral's load-balancing loss, num_experts * sum(f_i * P_i): ~top_k = 2 when balanced
    assert rows[0]["loss"] == pytest.approx(LN2 + coef * aux, abs=1e-5)
    assert all("aux_loss" in r and math.isfinite(r["aux_loss"]) for r in rows)

    without = train(make_cfg(model={"path": str(tiny_moe_dir)},
                             dpo={"router_aux_loss_coef": 0.0, "output_dir": str(tmp_path / "plain")}))
    plain = _rows(without.output_dir)
    assert plain[0]["loss"] == pytest.approx(LN2, abs=1e-6) and "aux_loss" not in plain[0]
    assert plain[0]["loss"] != pytest.approx(rows[0]["loss"], abs=1e-3)  # the aux term changes the total loss


def test_model_default_coefficient_is_used_when_the_config_sets_none(make_cfg, tiny_moe_dir):
    # dpo.router_aux_loss_coef unset: TRL takes the model config's own router_aux_loss_coef (0.02 here)
    result = train(make_cfg(model={"path": str(tiny_moe_dir)}, dpo={"max_steps": 1}))
    row = _rows(result.output_dir)[0]
    assert row["loss"] == pytest.approx(LN2 + 0.02 * row["aux_loss"], abs=1e-5)
